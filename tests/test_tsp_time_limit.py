"""The anytime search (``time_limit`` / ``--time-limit``) and the Or-opt moves made of reversals."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pytest
import torch

from tinvnn.cli import main
from tinvnn.tasks.tsp import improve
from tinvnn.tasks.tsp.heuristics import euclidean_matrix, nearest_neighbour_tour
from tinvnn.tasks.tsp.improve import improve_tour
from tinvnn.tasks.tsp.local import solver
from tinvnn.tasks.tsp.local.recipe import ImitationConfig, build_scorer, load_local_policy
from tinvnn.tasks.tsp.local.solver import LocalDecoding, solve_local
from tinvnn.tasks.tsp.objective import matrix_tour_length
from tinvnn.tasks.tsp.tsplib import TSPLIBInstance, write_tsplib
from tinvnn.training import save_checkpoint
from tinvnn.tsp import solve


@pytest.fixture
def local_checkpoint(tmp_path: Path) -> Path:
    config = ImitationConfig(k=6, dim=16, layers=1, heads=2)
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "local.pt", {"model": build_scorer(config).state_dict()}, config.to_dict())


def _refused(*args: object, **kwargs: object) -> NoReturn:
    raise AssertionError("called after the deadline")


def test_or_opt_moves_keep_tours_valid_and_never_longer() -> None:
    """Small instances make the moved segments wrap around the array and touch the tour's ends."""
    rng = np.random.default_rng(3)
    for n in (5, 6, 7, 9, 12, 40):
        for _ in range(20):
            coords = rng.random((n, 2))
            dist = euclidean_matrix(coords)
            start = rng.permutation(n)
            for kicks in (0, 30):
                better = improve_tour(coords, start, neighbours=n - 1, kicks=kicks, seed=int(rng.integers(99)))
                assert sorted(better.tolist()) == list(range(n))
                assert matrix_tour_length(dist, better) <= matrix_tour_length(dist, start) + 1e-12


def test_more_kicks_extend_the_same_search() -> None:
    coords = np.random.default_rng(5).random((300, 2))
    dist = euclidean_matrix(coords)
    start = nearest_neighbour_tour(coords)
    lengths = [matrix_tour_length(dist, improve_tour(coords, start, kicks=kicks, seed=2)) for kicks in (0, 50, 400)]
    assert lengths[0] > lengths[1] >= lengths[2]


def test_deadline_stops_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    coords = np.random.default_rng(6).random((200, 2))
    start = np.random.default_rng(7).permutation(200)
    # a passed deadline: no move at all, and no setup (no neighbour lists)
    with monkeypatch.context() as patch:
        patch.setattr(improve, "neighbour_lists", _refused)
        np.testing.assert_array_equal(improve_tour(coords, start, deadline=time.perf_counter()), start)
    begin = time.perf_counter()
    tour = improve_tour(coords, start, kicks=None, deadline=begin + 0.3)
    assert 0.3 <= time.perf_counter() - begin < 30.0  # kicks run until the deadline, then stop (loose: a busy CI)
    dist = euclidean_matrix(coords)
    assert matrix_tour_length(dist, tour) < matrix_tour_length(dist, improve_tour(coords, start))
    with pytest.raises(ValueError, match=r"^kicks=None \(kicks until the deadline\) needs a deadline$"):
        improve_tour(coords, start, kicks=None)
    with pytest.raises(ValueError, match=r"^kicks: expected a non-negative number of kicks, got -1$"):
        improve_tour(coords, start, kicks=-1)


def test_solve_local_until_the_deadline(local_checkpoint: Path) -> None:
    scorer, _ = load_local_policy(local_checkpoint)
    coords = np.random.default_rng(8).random((60, 2))
    decoding = LocalDecoding("greedy", kicks=None)
    assert decoding.describe() == "local policy, greedy + 2-opt/Or-opt/3-opt + kicks until the time limit"
    with pytest.raises(ValueError, match=r"^kicks=None \(kicks until the time limit\) needs a deadline$"):
        solve_local(scorer, coords, k=6, decoding=decoding)
    late = solve_local(scorer, coords, k=6, decoding=decoding, deadline=time.perf_counter())
    assert list(late.stages) == ["construct"]  # construction completes, the search is skipped
    room = 3 * late.seconds["construct"] + 0.2  # construction's time on this machine, and then some
    timed = solve_local(scorer, coords, k=6, decoding=decoding, deadline=time.perf_counter() + room)
    assert list(timed.stages) == ["construct", "2-opt/Or-opt/3-opt", "kicks"] and timed.length <= late.length


@pytest.mark.parametrize("slow", ["neighbour_lists", "improve_tour"])
def test_nothing_starts_after_the_deadline(local_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, slow: str) -> None:
    """A step that ends past the deadline is the last: no further tour is improved, no kicks."""
    scorer, _ = load_local_policy(local_checkpoint)
    coords = np.random.default_rng(8).random((60, 2))
    decoding = LocalDecoding("multistart", starts=4, kicks=None)
    room = 3 * solve_local(scorer, coords, k=6, decoding=decoding, deadline=0.0).seconds["construct"] + 0.2
    deadline = time.perf_counter() + room
    calls: list[str] = []

    def outlast(*args: Any, **kwargs: Any) -> np.ndarray:  # the step, finished just after the deadline
        calls.append(slow)
        result: np.ndarray = getattr(improve, slow)(*args, **kwargs)
        time.sleep(max(deadline - time.perf_counter(), 0.0) + 0.01)
        return result

    if slow == "neighbour_lists":  # the solver reads it from its table of candidate lists
        monkeypatch.setitem(solver.CANDIDATES, decoding.candidates, outlast)
    else:
        monkeypatch.setattr(solver, slow, outlast)
    solution = solve_local(scorer, coords, k=6, decoding=decoding, deadline=deadline)
    assert calls == [slow]  # one call: the first tour's improvement, not the other three's or the kicks
    assert list(solution.stages) == (
        ["construct"] if slow == "neighbour_lists" else ["construct", "2-opt/Or-opt/3-opt"]
    )
    assert sorted(solution.tour.tolist()) == list(range(60))


def test_the_search_ends_soon_after_the_deadline(local_checkpoint: Path) -> None:
    """Past the deadline or the end of the construction (which always completes), whichever is
    later, at most the step under way finishes: well under a second on 2,000 cities."""
    scorer, _ = load_local_policy(local_checkpoint)
    coords = np.random.default_rng(10).random((2000, 2))
    decoding = LocalDecoding("greedy", kicks=None)
    limit = 1e-9  # first within the construction, then just after it (about the first's construction time)
    for _ in range(2):
        begin = time.perf_counter()
        solution = solve_local(scorer, coords, k=6, decoding=decoding, deadline=begin + limit, progress=False)
        construction = solution.seconds["construct"]
        assert time.perf_counter() - begin - max(limit, construction) < 1.0  # loose: a busy machine
        limit = construction + 0.05


def test_time_limit_returns_a_valid_tour_and_never_a_worse_one(local_checkpoint: Path) -> None:
    coords = np.random.default_rng(9).uniform(0, 100, (120, 2))
    tiny = solve(coords, checkpoint=local_checkpoint, decode="greedy", time_limit=1e-9)
    assert sorted(tiny.tour.tolist()) == list(range(120)) and tiny.time_limit_exceeded
    assert tiny.method == (
        "local policy, greedy + 2-opt/Or-opt/3-opt + kicks until the time limit, time limit 1e-09 s "
        "(exceeded before the search began)"
    )
    record = tiny.record()
    assert record["time_limit"] == 1e-9 and record["time_limit_exceeded"] is True
    lengths = []
    first = tiny.seconds + 0.1  # about the construction's time on this (possibly busy) machine
    for limit in (first, 2 * first + 0.2):
        result = solve(coords, checkpoint=local_checkpoint, decode="greedy", time_limit=limit, seed=1)
        assert sorted(result.tour.tolist()) == list(range(120)) and result.seconds >= limit
        lengths.append(result.length)
    assert not result.time_limit_exceeded and result.seconds < limit + tiny.seconds + 1.0  # loose: a busy machine
    assert lengths[1] <= lengths[0] <= tiny.length and lengths[1] < tiny.length
    counted = solve(coords, checkpoint=local_checkpoint, decode="greedy", kicks=5, time_limit=30.0)
    assert counted.seconds < 30.0 and counted.method.endswith("+ 5 kicks, time limit 30 s")


@pytest.mark.parametrize("limit", [0, -1.0, math.nan, math.inf, True, "5"])
def test_bad_time_limits_are_refused(local_checkpoint: Path, limit: object) -> None:
    with pytest.raises(ValueError, match=rf"^time_limit: expected a finite positive number of seconds, got {limit!r}$"):
        solve(np.eye(5, 2), checkpoint=local_checkpoint, time_limit=limit)  # type: ignore[arg-type]


def test_time_limit_applies_to_the_local_policy_only() -> None:
    with pytest.raises(ValueError, match=r"^time_limit applies to the local policy's search; the attention model"):
        solve(np.random.default_rng(0).uniform(0, 1, (10, 2)), model="attention", time_limit=1.0)


def test_time_limit_on_the_command_line(
    local_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for value, shown in (("0", "0"), ("-2", "-2"), ("nan", "nan"), ("inf", "inf")):
        assert main(["tsp", "solve", "missing.tsp", "--time-limit", value]) == 2
        assert capsys.readouterr().err == (
            f"tinvnn: error: --time-limit: expected a finite positive number of seconds, got {shown}\n"
        )
    path = write_tsplib(
        TSPLIBInstance("t", np.random.default_rng(1).uniform(0, 50, (40, 2)), "EUC_2D"), tmp_path / "t.tsp"
    )
    assert main(["tsp", "solve", str(path), "--checkpoint", str(local_checkpoint), "--time-limit", "1e-9"]) == 0
    out = capsys.readouterr().out
    assert "time limit: 1e-09 s, exceeded before the search began (the constructed tour)" in out
    assert (
        main(["tsp", "solve", str(path), "--checkpoint", str(local_checkpoint), "--time-limit", "0.2", "--json"]) == 0
    )
    capsys.readouterr()
