"""Local-view TSP policy: exact invariance of views and tours, valid tours, imitation states,
the improvement step against the naive 2-opt, and the imitation loop's resume."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import tinvnn
from tinvnn.models.local_tsp import LocalScorer
from tinvnn.tasks.tsp.heuristics import (
    UnvisitedIndex,
    euclidean_matrix,
    greedy_edge,
    greedy_edge_tour,
    insertion_tour,
    nearest_neighbour,
    nearest_neighbour_tour,
    tie_broken_order,
    two_opt,
)
from tinvnn.tasks.tsp.improve import improve_tour, neighbour_lists
from tinvnn.tasks.tsp.local.construction import check_cities, construct_tours, invariant_starts
from tinvnn.tasks.tsp.local.imitation import (
    ImitationData,
    _instance_states,
    candidate_misses,
    export_policy,
    imitation_loss,
    train_imitation,
)
from tinvnn.tasks.tsp.local.recipe import ImitationConfig, build_scorer, inference_k, load_local_policy
from tinvnn.tasks.tsp.local.solver import LocalDecoding, solve_local
from tinvnn.tasks.tsp.local.views import LocalView, neighbour_table, view_features
from tinvnn.tasks.tsp.objective import matrix_tour_length
from tinvnn.tasks.tsp.tsplib import read_tsplib
from tinvnn.training import RunOptions, load_checkpoint

TINY = ImitationConfig(k=8, dim=16, layers=1, heads=2)


def _similarity(points: np.ndarray, seed: int, *, reflect: bool) -> np.ndarray:
    """A random rotation (and reflection), scale and translation of (..., 2) points."""
    gen = torch.Generator().manual_seed(seed)
    q = tinvnn.random_orthogonal(2, generator=gen, dtype=torch.float64).numpy()
    if reflect != (np.linalg.det(q) < 0):
        q = q @ np.diag([1.0, -1.0])
    scale = float(torch.empty(()).uniform_(0.1, 50.0, generator=gen))
    shift = torch.empty(2, dtype=torch.float64).uniform_(-100.0, 100.0, generator=gen).numpy()
    return scale * points @ q.T + shift


@pytest.fixture
def scorer() -> LocalScorer:
    torch.manual_seed(0)
    return build_scorer(TINY).double().eval()


@pytest.mark.parametrize("reflect", [False, True])
def test_view_features_invariant(reflect: bool) -> None:
    rng = np.random.default_rng(0)
    cur, start, cand = rng.random((32, 2)), 5 * rng.random((32, 2)), rng.random((32, 8, 2))
    valid = torch.from_numpy(rng.random((32, 8)) < 0.8)
    valid[:, 0] = True
    complete = torch.from_numpy(rng.random(32) < 0.5)

    def feats(f):
        view = LocalView(*(torch.from_numpy(f(x)) for x in (cur, start, cand)), valid, complete)
        return view_features(view)

    tokens, mask = feats(lambda x: x)
    moved, moved_mask = feats(lambda x: _similarity(x, 1, reflect=reflect))
    assert torch.equal(mask, moved_mask) and tokens.shape == (32, 10, 10)
    torch.testing.assert_close(moved, tokens, rtol=0, atol=1e-9)
    assert (tokens[~mask] == 0).all()


def _permuted(coords: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(len(coords))
    return coords[perm], perm


@pytest.mark.parametrize(
    "decoding",
    [LocalDecoding("greedy", improve=False), LocalDecoding("multistart", starts=4, kicks=100)],
    ids=["greedy", "multistart+kicks"],
)
def test_tours_identical_for_transformed_and_permuted_copies(scorer: LocalScorer, decoding: LocalDecoding) -> None:
    coords = np.random.default_rng(3).random((60, 2))
    base = solve_local(scorer, coords, k=TINY.k, decoding=decoding).tour
    for seed, reflect in ((1, False), (2, True)):
        moved = solve_local(scorer, _similarity(coords, seed, reflect=reflect), k=TINY.k, decoding=decoding).tour
        np.testing.assert_array_equal(moved, base)
    shuffled, perm = _permuted(coords, 4)
    np.testing.assert_array_equal(perm[solve_local(scorer, shuffled, k=TINY.k, decoding=decoding).tour], base)


def test_invariant_starts_follow_the_cities() -> None:
    coords = np.random.default_rng(5).random((200, 2))
    starts = invariant_starts(coords, 6)
    assert len(starts) == len(set(starts)) and 2 <= len(starts) <= 6
    assert invariant_starts(_similarity(coords, 7, reflect=True), 6) == starts
    shuffled, perm = _permuted(coords, 8)
    assert [int(perm[s]) for s in invariant_starts(shuffled, 6)] == starts


def test_construct_tours_valid_and_sampling_seeded(scorer: LocalScorer) -> None:
    coords = np.random.default_rng(6).random((40, 2))
    tours = construct_tours(scorer, coords, [0, 5, 39], k=TINY.k)
    assert tours.shape == (3, 40) and list(tours[:, 0]) == [0, 5, 39]
    assert all(sorted(t) == list(range(40)) for t in tours.tolist())

    def drawn(seed: int) -> np.ndarray:
        return construct_tours(
            scorer, coords, [0, 0], k=TINY.k, sample=True, generator=torch.Generator().manual_seed(seed)
        )

    np.testing.assert_array_equal(drawn(1), drawn(1))


def test_trivial_and_duplicate_cities(scorer: LocalScorer) -> None:
    for n in (1, 2, 3):
        solution = solve_local(scorer, np.random.default_rng(n).random((n, 2)), k=TINY.k)
        assert solution.tour.tolist() == list(range(n)) and solution.method.startswith("trivial")
    with pytest.raises(
        ValueError, match=r"^cities 1 and 3 \(0-based\) have the same coordinates \(duplicate cities\)$"
    ):
        check_cities(np.array([[0.0, 0.0], [1.0, 2.0], [3.0, 1.0], [1.0, 2.0]]))


@pytest.mark.parametrize("k", [1, 4, 8, 29])
def test_candidate_misses_match_brute_force(k: int) -> None:
    rng = np.random.default_rng(k)
    n = 30
    coords, tour = rng.random((n, 2)), rng.permutation(n)
    expected = 0
    for walk in (tour, np.roll(tour[::-1], 1)):  # both directions from tour[0]
        for step in range(n - 2):
            unvisited = walk[step + 1 :]
            nearest = unvisited[np.argsort(np.linalg.norm(coords[unvisited] - coords[walk[step]], axis=1))[:k]]
            expected += walk[step + 1] not in nearest
    assert candidate_misses(coords, tour, k) == expected
    assert (expected > 0) == (k < n - 2)  # a random tour jumps past its nearest cities; 29 candidates hold them all


def test_instance_states_match_brute_force() -> None:
    rng = np.random.default_rng(9)
    n, k = 30, 6
    coords, tour = rng.random((n, 2)), rng.permutation(n)
    states = _instance_states(coords, tour, 200, k, np.random.default_rng(0))
    kept = len(states["target"])
    assert kept + int(states["skipped"][0]) == 200 and kept > 50  # a random tour often jumps past the k nearest
    index = {tuple(p): i for i, p in enumerate(coords.tolist())}
    position = np.argsort(tour)
    for i in range(kept):
        cur, start = index[tuple(states["current"][i])], index[tuple(states["start"][i])]
        cands = [index[tuple(p)] for p in states["candidates"][i][states["valid"][i]].tolist()]
        nxt = cands[states["target"][i]]
        step = 1 if tour[(position[cur] + 1) % n] == nxt else -1
        assert tour[(position[cur] + step) % n] == nxt  # the tour's next city, either direction
        visited = {
            int(tour[(position[start] + step * j) % n]) for j in range((position[cur] - position[start]) * step % n + 1)
        }
        left = [c for c in range(n) if c not in visited]
        nearest = sorted(left, key=lambda c: np.linalg.norm(coords[c] - coords[cur]))[:k]
        assert cands == nearest
        assert bool(states["complete"][i]) == (len(left) <= k)


def test_improve_never_lengthens_and_reaches_naive_two_opt_optimum() -> None:
    rng = np.random.default_rng(10)
    for n in (5, 12, 80):
        coords = rng.random((n, 2))
        dist = euclidean_matrix(coords)
        start = rng.permutation(n)
        better = improve_tour(coords, start, neighbours=n - 1)
        assert sorted(better.tolist()) == list(range(n))
        assert matrix_tour_length(dist, better) <= matrix_tour_length(dist, start) + 1e-12
        # with full neighbour lists the result is a 2-opt local optimum for the naive O(N^2) search
        assert matrix_tour_length(dist, two_opt(dist, better)) == pytest.approx(
            matrix_tour_length(dist, better), abs=1e-9
        )
    coords = rng.random((300, 2))
    dist = euclidean_matrix(coords)
    nn = nearest_neighbour(dist)
    short = improve_tour(coords, nn)
    assert matrix_tour_length(dist, short) < 0.92 * matrix_tour_length(dist, nn)


def test_kicks_only_shorten_and_solution_stages(scorer: LocalScorer) -> None:
    coords = np.random.default_rng(15).random((150, 2))
    dist = euclidean_matrix(coords)
    plain = improve_tour(coords, nearest_neighbour(dist))
    kicked = improve_tour(coords, plain, kicks=300, seed=1)
    assert sorted(kicked.tolist()) == list(range(150))
    assert matrix_tour_length(dist, kicked) < matrix_tour_length(dist, plain)
    np.testing.assert_array_equal(kicked, improve_tour(coords, plain, kicks=300, seed=1))
    solution = solve_local(scorer, coords, k=TINY.k, decoding=LocalDecoding("greedy", kicks=50))
    assert list(solution.stages) == list(solution.seconds) == ["construct", "2-opt/Or-opt/3-opt", "kicks"]
    lengths = [matrix_tour_length(dist, t) for t in solution.stages.values()]
    assert lengths[0] >= lengths[1] >= lengths[2] == pytest.approx(solution.length)
    assert solution.method == "local policy, greedy + 2-opt/Or-opt/3-opt + 50 kicks"


def test_improve_with_matrix_and_neighbour_lists() -> None:
    coords = np.random.default_rng(11).random((50, 2))
    dist = euclidean_matrix(coords)
    np.testing.assert_array_equal(neighbour_lists(coords, 7), neighbour_lists(coords, 7, dist))
    tour = np.random.default_rng(12).permutation(50)
    np.testing.assert_array_equal(improve_tour(coords, tour, dist=dist), improve_tour(coords, tour))
    with pytest.raises(ValueError, match="permutation"):
        improve_tour(coords, np.zeros(50, dtype=np.int64))


def tiny_imitation_data(seed: int = 13) -> ImitationData:
    """States along nearest-neighbour tours of two 25-city instances (a stand-in for LKH-3)."""
    rng = np.random.default_rng(seed)
    coords = torch.from_numpy(rng.random((2, 25, 2)))
    tours = torch.stack([torch.from_numpy(nearest_neighbour(euclidean_matrix(c.numpy()))) for c in coords])
    return ImitationData([{"family": "uniform", "coords": coords, "tours": tours}], k=TINY.k, states_per_city=2.0)


def test_imitation_loss_and_training(tmp_path: Path) -> None:
    data = tiny_imitation_data()
    assert len(data) + data.skipped == 100
    config = TINY.replace(epochs=1, steps_per_epoch=3, batch_size=16, val_states=20, states_per_city=2.0)
    model = build_scorer(config)
    loss = imitation_loss(model, data.batch(torch.arange(16)))
    loss.backward()
    assert math.isfinite(loss.item()) and all(p.grad is not None for p in model.parameters())
    trained = train_imitation(config, RunOptions(out=str(tmp_path / "run"), progress=False), data=data)
    payload = load_checkpoint(tmp_path / "run" / "best.pt")
    assert payload["meta"]["history"][0]["val_accuracy"] >= 0 and payload["meta"]["states"] == len(data)
    exported = export_policy(tmp_path / "run", tmp_path / "policy.pt")
    assert "optimizer" not in load_checkpoint(exported)["state"]
    assert isinstance(trained, torch.nn.Module)
    with pytest.raises(ValueError, match=r"val_states: expected fewer than the \d+ states, got 500"):
        train_imitation(config.replace(val_states=500), RunOptions(out=str(tmp_path / "x"), progress=False), data=data)


def test_scalable_heuristics_agree_with_matrix_versions() -> None:
    coords = np.random.default_rng(14).random((120, 2))
    dist = euclidean_matrix(coords)
    np.testing.assert_array_equal(nearest_neighbour_tour(coords, 7), nearest_neighbour(dist, 7))
    # on the complete graph, greedy edge on candidate lists is the classical greedy edge
    assert matrix_tour_length(dist, greedy_edge_tour(coords, 119)) == pytest.approx(
        matrix_tour_length(dist, greedy_edge(dist))
    )
    for tour in (greedy_edge_tour(coords, 5), insertion_tour(coords), insertion_tour(coords, "random", seed=3)):
        assert sorted(tour.tolist()) == list(range(120))
    # farthest insertion beats nearest neighbour on uniform points (about 10 % vs 25 % above optimal)
    assert matrix_tour_length(dist, insertion_tour(coords)) < matrix_tour_length(dist, nearest_neighbour(dist))
    with pytest.raises(ValueError, match="order: expected 'farthest' or 'random', got 'cheapest'"):
        insertion_tour(coords, "cheapest")


@pytest.mark.data
def test_shipped_policy_identical_tours_on_tsplib(shared_data: Path) -> None:
    """Integer TSPLIB coordinates have many equal distances; tours still agree exactly."""
    model, config = load_local_policy()
    coords = read_tsplib(shared_data / "tsplib" / "eil101.tsp").xy()
    decoding = LocalDecoding("greedy", improve=False)
    for k in (config.k, inference_k()):  # trained with 16, decides with 24
        base = solve_local(model, coords, k=k, decoding=decoding).tour
        for seed in (0, 1):
            shuffled, perm = _permuted(_similarity(coords, seed, reflect=bool(seed)), seed)
            np.testing.assert_array_equal(perm[solve_local(model, shuffled, k=k, decoding=decoding).tour], base)


def test_tie_broken_order_follows_the_key_within_ties_only() -> None:
    dist = np.array([[0.5, 1.0, 1.0 + 1e-12, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    key = np.array([[9.0, 3.0, 1.0, 2.0, 0.0], [5.0, 4.0, 3.0, 2.0, 1.0]])
    np.testing.assert_array_equal(tie_broken_order(dist, key), [[0, 2, 3, 1, 4], [0, 1, 2, 3, 4]])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ties_at_the_kth_distance_do_not_depend_on_the_numbering(seed: int) -> None:
    """Integer coordinates (as in TSPLIB) tie many distances; which cities are the k nearest
    (candidates) and the 8 nearest (context) must not depend on the city order."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.arange(9), np.arange(7)), -1).reshape(-1, 2).astype(float)
    coords = grid[rng.choice(len(grid), 40, replace=False)]
    moved, perm = _permuted(_similarity(coords, seed, reflect=True), seed)  # moved[i] = image of coords[perm[i]]
    where = np.argsort(perm)  # where[c]: index of city c in moved
    near, _ = neighbour_table(coords)
    near_moved, _ = neighbour_table(moved)
    for c in range(len(coords)):
        assert set(perm[near_moved[where[c]]]) == set(near[c])
    for first in rng.choice(len(coords), 4, replace=False):
        index, index_moved = UnvisitedIndex(coords, int(first)), UnvisitedIndex(moved, int(where[first]))
        for city in rng.permutation(len(coords))[:20]:
            if city != first:
                index.visit(int(city)), index_moved.visit(int(where[city]))
            for k in (3, 5, 8):
                got = perm[index_moved.nearest(moved[where[first]], k)]
                assert set(got) == set(index.nearest(coords[first], k)), (first, city, k)


@pytest.mark.parametrize("k", [1, 4, 7, 40])
def test_nearest_returns_the_k_nearest_unvisited_cities(k: int) -> None:
    rng = np.random.default_rng(k)
    coords = rng.integers(0, 6, (30, 2)).astype(float) + rng.normal(0, 1e-3, (30, 2)) * (rng.random((30, 1)) < 0.5)
    coords = np.unique(coords, axis=0)
    index = UnvisitedIndex(coords, 0)
    for city in rng.permutation(np.arange(1, len(coords)))[:-1]:
        point = coords[rng.integers(len(coords))]
        got = index.nearest(point, k)
        free = np.flatnonzero(index.unvisited)
        want = min(k, len(free))
        assert len(got) == len(set(got.tolist())) == want and index.unvisited[got].all()
        dist = np.linalg.norm(coords[free] - point, axis=1)
        kth = np.sort(dist)[want - 1]
        assert (np.linalg.norm(coords[got] - point, axis=1) <= kth * (1 + 1e-9)).all()
        index.visit(int(city))
