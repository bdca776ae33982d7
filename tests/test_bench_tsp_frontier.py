"""benchmarks/bench_tsp_frontier.py: children that die, resumed runs, reports of old files."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

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
