"""benchmarks/gpu_check.sh: the GPU check's steps, run on CPU with tiny settings (``--tiny``), write
one summary file that holds the engine rows and the training run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def _run(*args: str, out: Path, data: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    if data is not None:
        env["TINVNN_DATA"] = str(data)
    return subprocess.run(
        ["bash", str(SCRIPT), *args, "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow  # three interpreters start: about 20 s on an idle core
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_tiny_mode_runs_every_step_and_writes_the_summary(tmp_path: Path) -> None:
    done = _run("--tiny", out=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    rows = summary["engine"]["rows"]
    assert [row["B"] for row in rows] == [2, 4] and all(row["N"] == 64 for row in rows)
    timed = {"canonicalize", "pointnet", "tinv pointnet", "dgcnn", "tinv dgcnn"}  # no compiled call in tiny mode
    assert all(set(row["seconds"]) == timed and min(row["seconds"].values()) > 0 for row in rows)
    run = summary["run"]
    assert run["epochs_planned"] == run["epochs_done"] == 2 and run["exit_status"] == 0
    assert run["config"]["method"] == "fa" and run["config"]["points"] == 64
    assert 0 <= run["best_test_accuracy"] <= 1 and (tmp_path / "pointnet1024" / "checkpoint.pt").is_file()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bad_argument_and_missing_data_are_refused_at_once(tmp_path: Path) -> None:
    done = _run("--fast", out=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "gpu_check.sh: unknown argument '--fast' (expected --tiny, --out DIR, --budget SECONDS)\n"
    done = _run(out=tmp_path, data=tmp_path)
    assert done.returncode == 2 and not (tmp_path / "engine.json").exists()
    expected = f"no ModelNet40 at '{tmp_path}/modelnet40' (set TINVNN_DATA to the folder holding modelnet40/)"
    assert done.stderr == f"gpu_check.sh: {expected}\n"
