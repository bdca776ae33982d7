"""The improvement step's two loops (compiled and Python) and its 3-opt neighbourhood: the same
tours move for move, a full 3-opt local optimum against brute force, the kicks' generator
against splitmix64's reference outputs, and the deadline in the compiled loop."""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import pytest
import torch
from scipy.spatial import Delaunay

from tinvnn import _fast
from tinvnn.tasks.tsp import improve
from tinvnn.tasks.tsp.heuristics import euclidean_matrix, greedy_edge_tour
from tinvnn.tasks.tsp.improve import candidate_lists, improve_tour, neighbour_lists
from tinvnn.tasks.tsp.instances import drilling_instances
from tinvnn.tasks.tsp.objective import matrix_tour_length
from tinvnn.tsp import solve

# loading the compiled loop here makes every search below use it (small ones included)
compiled_available = pytest.mark.skipif(not improve.load_compiled_search(), reason="numba not installed (tinvnn[fast])")


@pytest.fixture(params=["compiled", "python"])
def loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test through each loop (the compiled one skipped without numba)."""
    if request.param == "compiled" and not improve.load_compiled_search():  # loaded: used for any search
        pytest.skip("numba not installed (tinvnn[fast])")
    monkeypatch.setattr(_fast, "FAST_KERNELS", request.param == "compiled")
    yield request.param


def _both(monkeypatch: pytest.MonkeyPatch, *args: object, **kwargs: object) -> tuple[np.ndarray, np.ndarray]:
    tours = []
    for fast in (True, False):
        monkeypatch.setattr(_fast, "FAST_KERNELS", fast)
        tours.append(improve_tour(*args, **kwargs))  # type: ignore[arg-type]
    return tours[0], tours[1]


@compiled_available
@pytest.mark.parametrize("three_opt", [True, False])
def test_compiled_and_python_loops_return_the_same_tour(monkeypatch: pytest.MonkeyPatch, three_opt: bool) -> None:
    """Same moves in the same order: identical tours, with kicks, on coordinates of any scale
    (including ties and duplicate cities) and on integer distance matrices."""
    rng = np.random.default_rng(0)
    for trial in range(24):
        n = int(rng.integers(5, 160))
        coords = rng.random((n, 2)) * 10.0 ** rng.uniform(-200, 200)
        if trial % 4 == 0:
            coords = np.round(coords / coords.max() * 4) / 4  # a lattice: equal distances, duplicates
        dist = np.ceil(euclidean_matrix(coords / coords.max()) * 50) if trial % 3 == 0 else None
        start = rng.permutation(n)
        for kicks in (0, 40):
            fast, slow = _both(monkeypatch, coords, start, dist=dist, kicks=kicks, seed=trial, three_opt=three_opt)
            np.testing.assert_array_equal(fast, slow)


def _best_three_opt_gain(dist: np.ndarray, tour: np.ndarray) -> float:
    """The largest gain of any move that cuts the tour in three places and reconnects the
    segments in any order and orientation (brute force, O(N^3))."""
    n, length = len(tour), matrix_tour_length(dist, tour)
    best = 0.0
    for i, j, k in itertools.combinations(range(n), 3):
        one, two, rest = tour[i + 1 : j + 1], tour[j + 1 : k + 1], np.concatenate([tour[k + 1 :], tour[: i + 1]])
        for x, y in itertools.permutations((one, two)):
            for fx, fy in itertools.product((1, -1), repeat=2):
                best = max(best, length - matrix_tour_length(dist, np.concatenate([rest, x[::fx], y[::fy]])))
    return best


def test_full_candidate_lists_give_a_three_opt_local_optimum(loop: str) -> None:
    rng = np.random.default_rng(1)
    for n in (6, 9, 18):
        coords = rng.random((n, 2))
        dist = euclidean_matrix(coords)
        tour = improve_tour(coords, rng.permutation(n), neighbours=n - 1)
        assert sorted(tour.tolist()) == list(range(n))
        assert _best_three_opt_gain(dist, tour) < 1e-9


def test_three_opt_shortens_two_opt_or_opt_optima(loop: str) -> None:
    coords = np.random.default_rng(2).random((400, 2))
    dist = euclidean_matrix(coords)
    start = np.random.default_rng(3).permutation(400)
    without = matrix_tour_length(dist, improve_tour(coords, start, three_opt=False))
    assert matrix_tour_length(dist, improve_tour(coords, start)) < without


def test_kicks_draw_splitmix64() -> None:
    """The reference outputs of splitmix64 (Vigna's C code) from seed 1234567."""
    draws = improve._Draws(1234567)
    assert [draws.below(2**64) for _ in range(3)] == [6457827717110365317, 3203168211198807973, 9817491932198370423]
    cuts = improve._Draws(5).cuts(6)
    assert len(set(cuts)) == 3 and cuts == sorted(cuts) and 1 <= cuts[0] and cuts[-1] <= 5


def test_the_search_stops_at_the_deadline(loop: str) -> None:
    coords = np.random.default_rng(4).random((3000, 2))
    start = np.random.default_rng(5).permutation(3000)
    for budget in (0.05, 0.4):  # inside the first local search, then among the kicks
        begin = time.process_time()
        tour = improve_tour(coords, start, kicks=None, deadline=begin + budget, clock=time.process_time)
        assert budget <= time.process_time() - begin < budget + 0.5
        assert sorted(tour.tolist()) == list(range(3000))


def test_candidate_lists_add_delaunay_neighbours_beyond_the_nearest() -> None:
    rng = np.random.default_rng(6)
    coords = rng.random((300, 2))
    near, lists = neighbour_lists(coords, 10), candidate_lists(coords, 10, delaunay=6)
    assert lists.shape == (300, 16)
    np.testing.assert_array_equal(lists[:, :10], near)
    padded = lists < 0  # short rows end in -1
    assert (padded[:, :-1] <= padded[:, 1:]).all()
    lengths = np.where(padded, np.inf, np.linalg.norm(coords[lists] - coords[:, None], axis=-1))
    assert (lengths == np.maximum.accumulate(lengths, axis=1)).all()  # nearest first: the search may stop early
    tri = Delaunay(coords)
    indptr, linked = tri.vertex_neighbor_vertices
    for city in range(300):
        delaunay = set(linked[indptr[city] : indptr[city + 1]].tolist()) - set(near[city].tolist())
        extra = set(lists[city, 10:].tolist()) - set(near[city].tolist()) - {-1}
        assert extra <= delaunay and len(extra) == min(6, len(delaunay))
    # the lists depend on the distances only: a similarity transform and a renumbering map them
    perm = rng.permutation(300)
    angle = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * np.array([1, -1])
    moved = candidate_lists(3.7 * coords[perm] @ rot.T + 11.0, 10, delaunay=6)
    inverse = np.argsort(perm)
    for city in range(300):
        row, mapped = lists[city], moved[inverse[city]]
        assert set(perm[mapped[mapped >= 0]].tolist()) == set(row[row >= 0].tolist())


def test_candidate_lists_link_rows_that_nearest_neighbours_keep_apart() -> None:
    """Two rows of 30 closely spaced cities: the 10 nearest of each city lie in its own row."""
    jitter = 1e-3 * np.random.default_rng(7).random((60, 2))
    coords = np.array([[x * 0.1, y] for y in (0.0, 2.0) for x in range(30)]) + jitter
    row = np.arange(60) // 30
    assert (row[neighbour_lists(coords, 10)] == row[:, None]).all()
    lists = candidate_lists(coords, 10)
    assert (row[lists] != row[:, None]).any(axis=1).mean() > 0.5
    on_a_line = np.stack([np.arange(20.0), 2 * np.arange(20.0)], axis=1)
    np.testing.assert_array_equal(candidate_lists(on_a_line, 5), neighbour_lists(on_a_line, 5))
    dist = euclidean_matrix(coords)
    np.testing.assert_array_equal(candidate_lists(coords, 10, dist), neighbour_lists(coords, 10, dist))


def test_delaunay_candidates_join_drilling_rows() -> None:
    """A drilling-like instance (rows of closely spaced holes) from its greedy-edge tour: the 10
    nearest never join two rows, so the search cannot repair the row changes; Delaunay
    candidates (the default) can. Through ``solve``: the option, its labels and its error."""
    coords = drilling_instances(1, 300, generator=torch.Generator().manual_seed(2), dtype=torch.float64)[0].numpy()
    dist, start = euclidean_matrix(coords), greedy_edge_tour(coords)
    nearest = improve_tour(coords, start, kicks=2000, near=neighbour_lists(coords, 10))
    delaunay = improve_tour(coords, start, kicks=2000)  # the default candidate lists
    np.testing.assert_array_equal(delaunay, improve_tour(coords, start, kicks=2000, near=candidate_lists(coords, 10)))
    assert matrix_tour_length(dist, delaunay) < 0.9 * matrix_tour_length(dist, nearest)
    solved = solve(coords, decode="greedy", kicks=20)  # Delaunay candidates: the default
    assert solved.method == "local policy, greedy + 2-opt/Or-opt/3-opt + 20 kicks"
    nearest_only = solve(coords, decode="greedy", kicks=20, candidates="nearest")
    assert nearest_only.method == "local policy, greedy + 2-opt/Or-opt/3-opt (nearest candidates) + 20 kicks"
    assert sorted(solved.tour.tolist()) == sorted(nearest_only.tour.tolist()) == list(range(300))
    with pytest.raises(ValueError, match=r"^candidates: expected one of nearest, delaunay, got 'voronoi'$"):
        solve(coords, candidates="voronoi")


def test_small_searches_run_the_python_loop_until_the_compiled_one_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []

    @functools.cache
    def load() -> ModuleType:
        loaded.append("kernel")
        return improve

    monkeypatch.setattr(improve, "_load_kernel", load)
    clock = time.perf_counter
    assert improve._kernel(200, improve._Stop(300, None, clock)) is None  # 0.46 s of Python: not worth a load
    assert improve._kernel(200, improve._Stop(None, clock() + 0.5, clock)) is None
    assert loaded == []
    assert improve._kernel(200, improve._Stop(None, clock() + 5.0, clock)) is improve
    assert improve._kernel(5000, improve._Stop(0, None, clock)) is improve
    assert improve._kernel(200, improve._Stop(300, None, clock)) is improve  # loaded: always
    monkeypatch.setattr(_fast, "FAST_KERNELS", False)
    assert improve._kernel(5000, improve._Stop(0, None, clock)) is None
    assert loaded == ["kernel"]
