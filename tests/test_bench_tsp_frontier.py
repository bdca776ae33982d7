"""benchmarks/bench_tsp_frontier.py: children that die, resumed runs, reports of old files."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tinvnn.tasks.tsp.local.recipe import ImitationConfig, build_scorer
from tinvnn.training import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def _load_bench() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("bench_tsp_frontier", ROOT / "benchmarks" / "bench_tsp_frontier.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_tsp_frontier"] = module
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail, rather than hang, when a call waits for more than 60 s."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError("still waiting after 60 s")

    before = signal.signal(signal.SIGALRM, expire)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, before)


def _exit_nine() -> list[dict[str, object]]:
    os._exit(9)


def _killed() -> list[dict[str, object]]:
    os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer does
    return []


def _raises() -> list[dict[str, object]]:
    raise RuntimeError("no tour")


@pytest.mark.usefixtures("alarm")
def test_a_child_that_dies_without_a_result_gives_an_error_record() -> None:
    assert bench._in_child(lambda: [{"method": "m", "seconds": 1.0}]) == [{"method": "m", "seconds": 1.0}]
    assert bench._in_child(_raises) == [{"error": "RuntimeError: no tour"}]
    assert bench._in_child(_exit_nine) == [{"error": "the child exited with code 9, no result"}]
    assert bench._in_child(_killed) == [{"error": "the child exited with code -9, no result"}]


GREEDY, SEARCH, LONGER = "policy greedy", "policy + search, N/200 s", "policy + search, N/100 s"
DEFAULT = "policy default (tsp solve)"


def test_resuming_records_each_row_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As in ``_jobs``, the policy's job makes the rows asked for plus its construction's row; a
    run records only rows that are asked for and not recorded yet."""
    case = bench.Case("c", np.zeros((4, 2)), lambda tour: float(tour.sum()), None, lambda: np.arange(4))
    runs: list[tuple[str, ...]] = []

    def jobs(case: Any, instance: Any, args: argparse.Namespace) -> list[tuple[tuple[str, ...], Any]]:
        chosen = tuple(m for m in (GREEDY, SEARCH, LONGER) if m in args.methods)

        def work() -> list[dict[str, Any]]:
            runs.append(chosen)
            row = {"tour": np.arange(4), "seconds": 1.0, "cpu_seconds": 1.0, "peak_mib": 1.0}
            return [{"method": m, **row} for m in dict.fromkeys((GREEDY, *chosen))]

        return [(chosen, work)]

    monkeypatch.setattr(bench, "_band_cases", lambda band, args: [(case, None)])
    monkeypatch.setattr(bench, "_jobs", jobs)
    monkeypatch.setattr(bench, "_in_child", lambda work: work())
    out = tmp_path / "frontier.json"
    for methods in ([SEARCH], [GREEDY, LONGER], [GREEDY, SEARCH, LONGER]):
        bench._run(argparse.Namespace(out=out, bands=["tsplib"], methods=methods))
    records = json.loads(out.read_text())["records"]
    assert [r["method"] for r in records] == [SEARCH, GREEDY, LONGER]
    assert runs == [(SEARCH,), (GREEDY, LONGER)]  # the third run found every row done


def _record(method: str, length: float, **extra: Any) -> dict[str, Any]:
    row = {"band": "tsplib", "instance": "eil51", "n": 51, "length": length, "optimum": 400.0, "method": method}
    return row | {"seconds": 2.0, "cpu_seconds": 1.0, "peak_mib": 100.0, **extra}


def test_report_keeps_the_last_record_of_each_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "old.json"
    records = [_record(GREEDY, 440.0), _record("nearest neighbour", 500.0), _record(GREEDY, 420.0, cpu_seconds=3.0)]
    path.write_text(json.dumps({"records": records}))
    bench._report(argparse.Namespace(files=[path]))
    table = capsys.readouterr().out
    assert "**TSPLIB 51-150** (1 instance; gap against the optimum)" in table
    assert "| nearest neighbour | 25.00 | 1.0 | 2.0 | 100 |  |\n" in table
    assert "| policy greedy | 5.00 | 3.0 | 2.0 | 100 |  |\n" in table  # the later record only, not a mean of both


def test_the_search_rows_count_the_neighbour_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The neighbour lists are the search's setup: their time (100 s here, on the bench's clocks)
    is in every row that searches, and counts against the budgets; not in the construction's row."""
    config = ImitationConfig(k=6, dim=16, layers=1, heads=2)
    torch.manual_seed(0)
    checkpoint = save_checkpoint(tmp_path / "local.pt", {"model": build_scorer(config).state_dict()}, config.to_dict())
    coords = np.random.default_rng(0).random((30, 2))
    case = bench.Case("c", coords, lambda tour: 0.0, None, lambda: np.arange(30))
    shift = [0.0]
    clocks = types.SimpleNamespace(
        perf_counter=lambda: time.perf_counter() + shift[0], process_time=lambda: time.process_time() + shift[0]
    )

    def slow(build: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        def lists(*args: Any) -> np.ndarray:
            shift[0] += 100.0
            return build(*args)

        return lists

    monkeypatch.setattr(bench, "time", clocks)
    for kind, build in list(bench.CANDIDATES.items()):
        monkeypatch.setitem(bench.CANDIDATES, kind, slow(build))
    rows = bench._policy(case, checkpoint, bench.ROWS, default_separately=False)()
    assert [r["method"] for r in rows] == [GREEDY, *bench.SEARCHES, DEFAULT]
    assert rows[0]["seconds"] < 100 and rows[0]["cpu_seconds"] < 100
    for row in rows[1:]:
        assert row["seconds"] > 100 and row["cpu_seconds"] > 100
    assert all(r["exceeded"] and np.array_equal(r["tour"], rows[0]["tour"]) for r in rows[1:-1])
