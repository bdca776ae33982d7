"""Progress output: a bar only on a terminal, plain log lines elsewhere, nothing with --no-progress."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tinvnn._progress import Progress, progress

ROOT = Path(__file__).resolve().parents[1]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()
    caplog.set_level(logging.INFO, logger="tinvnn.progress")
    bar = Progress(range(4), desc="epoch 1/2", unit="step", stream=stream, interval=0.0)
    assert bar.mode == "lines"
    for step, _ in enumerate(bar, 1):
        bar.set_postfix(loss=f"{1 / step:.2f}")
    assert stream.getvalue() == ""  # nothing drawn on the stream
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4  # one per step (interval 0); the last count is not written twice
    assert re.fullmatch(r"epoch 1/2: 1/4 step \(25%\), \d+ s, [\d.e+]+ step/s, loss=1\.00", lines[0])
    assert re.fullmatch(r"epoch 1/2: 4/4 step \(100%\), \d+ s, [\d.e+]+ step/s, loss=0\.25", lines[-1])


def test_the_last_line_comes_once_when_the_loop_ends_between_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tinvnn.progress")
    bar = Progress(total=10, desc="tours", unit="round", stream=io.StringIO(), interval=0.0)
    bar.update(4)
    bar.interval = 3600.0  # the next updates come before the next periodic line is due
    bar.update(6)
    bar.close()
    bar.close()
    counts = [r.getMessage().split(",")[0] for r in caplog.records]
    assert counts == ["tours: 4/10 round (40%)", "tours: 10/10 round (100%)"]


def test_a_short_loop_writes_no_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tinvnn.progress")
    assert list(Progress(range(3), desc="quick", stream=io.StringIO())) == [0, 1, 2]  # 10 s interval
    assert caplog.records == []


def test_bar_only_on_a_terminal() -> None:
    pytest.importorskip("tqdm")
    stream = _Terminal()
    with Progress(total=3, desc="labels", unit="instance", stream=stream) as bar:
        assert bar.mode == "bar"
        bar.update(3)
    assert "labels" in stream.getvalue() and "3/3" in stream.getvalue()


def test_disabled_prints_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tinvnn.progress")
    stream = _Terminal()
    bar = Progress(total=2, desc="off", enabled=False, stream=stream, interval=0.0)
    bar.update(2)
    bar.close()
    assert (bar.mode, stream.getvalue(), caplog.records) == ("off", "", [])
    assert list(progress([1, 2], desc="off", enabled=False)) == [1, 2]


def test_update_counts_without_an_iterable() -> None:
    bar = Progress(desc="manual", total=5, enabled=False)
    bar.update(2)
    bar.update()
    assert bar.n == 3
    with pytest.raises(TypeError) as info:
        next(iter(bar))
    assert str(info.value) == "Progress: nothing to iterate over (pass an iterable, or call update())"


def test_redirected_training_log_reads_line_by_line(tmp_path: Path) -> None:
    """`tinvnn train > log 2>&1`: no carriage return, every line one message (issue 22)."""
    log = tmp_path / "log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TINVNN_DATA": str(tmp_path / "none")}
    args = [
        "train",
        "--method",
        "none",
        "--points",
        "32",
        "--width",
        "16",
        "--per-class",
        "3",
        "--test-per-class",
        "1",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--out",
        str(tmp_path / "run"),
    ]
    with log.open("w") as out:
        run = subprocess.run(
            [sys.executable, "-m", "tinvnn", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
    raw = log.read_bytes()  # bytes: reading text would turn each carriage return into a newline
    text = raw.decode()
    assert run.returncode == 0, text
    assert b"\r" not in raw and b"\x1b" not in raw
    lines = text.splitlines()
    assert [line.split(" ", 2)[:2] for line in lines[:2]] == [["INFO", "epoch"], ["INFO", "epoch"]]
    assert all(re.fullmatch(r"INFO epoch \d/2 loss=\S+ .*\(eta \d+s\)", line) for line in lines[:2]), lines
    assert len(lines) == 3 and lines[2].startswith("{"), lines  # the final metrics as one JSON line


_JIT_MODULE = """
import numba

@numba.njit(cache=True)
def twice(x):
    return 2 * x
"""

_FIRST_USE = """
import logging, sys
import jitted
from tinvnn._progress import announce_compilation
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stdout)
announce_compilation(jitted, "the test kernel")
print(jitted.twice(2), jitted.twice(3), jitted.twice(2.5))
"""


def test_compilation_is_announced_once_and_not_on_a_cache_hit(tmp_path: Path) -> None:
    """Issue 22: numba's first compilation took seconds without a word; a cached load says nothing."""
    pytest.importorskip("numba")
    (tmp_path / "jitted.py").write_text(_JIT_MODULE)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
        "OMP_NUM_THREADS": "1",
    }
    runs = [
        subprocess.run([sys.executable, "-c", _FIRST_USE], capture_output=True, text=True, env=env, timeout=300)
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    # two signatures (int, float) compiled in the first process: one line; all from the cache in the second
    assert runs[0].stdout.splitlines() == ["INFO compiling the test kernel (first use only, cached) ...", "4 6 5.0"]
    assert runs[1].stdout.splitlines() == ["4 6 5.0"]


def test_the_fused_kernel_is_announced(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("numba")
    import tinvnn._fast as fast

    seen = []
    monkeypatch.setattr(fast, "announce_compilation", lambda module, what: seen.append((module.__name__, what)))
    assert fast.load_kernels.__wrapped__() is not None
    assert seen == [("tinvnn._kernels", "the fused kernel")]
