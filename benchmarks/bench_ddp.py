"""Training step time on 2 torchrun processes against 1, same global batch (issue 22).

Usage::

    python benchmarks/bench_ddp.py --repeats 5
    git worktree add /tmp/tinvnn-old f706a20   # the last commit before DDP
    python benchmarks/bench_ddp.py --repeats 5 --old /tmp/tinvnn-old

Trains a tiny PointNet (``tinvnn train``, synthetic clouds, tinv) for one epoch, alternately
on one process with batch ``B`` and on two ``torchrun`` processes (gloo, CPU) with ``B / 2``
each, one torch thread per process, and prints the median step time of each run (forward,
backward, gradient averaging, update; the harness's ``step_seconds``) and the ratio of each
neighbouring pair (the machine's load changes between runs; neighbouring pairs share it).
With ``--old`` a third run per round trains the 2 processes with that checkout (the
hand-averaged gradients before ``DistributedDataParallel``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARGS = [
    "train",
    "--method",
    "tinv",
    "--backbone",
    "pointnet",
    "--points",
    "256",
    "--width",
    "128",
    "--per-class",
    "20",
    "--test-per-class",
    "2",
    "--epochs",
    "1",
    "--device",
    "cpu",
    "--threads",
    "1",
    "--no-progress",
    "--log-every",
    "1000",
]


def _step_seconds(tree: Path, processes: int, batch: int) -> float:
    out = Path(tempfile.mkdtemp()) / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(tree)}
    head = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    launcher = head if processes > 1 else [sys.executable]
    cmd = [*launcher, "-m", "tinvnn", *ARGS, "--batch-size", str(batch), "--out", str(out)]
    subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return float(json.loads((out / "metrics.json").read_text())["history"][-1]["step_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32, help="global batch (each of 2 processes takes half)")
    parser.add_argument("--old", type=Path, default=None, help="another checkout to run on 2 processes too")
    args = parser.parse_args()
    rows = []
    for _ in range(args.repeats):
        row = {"one": _step_seconds(REPO, 1, args.batch), "two": _step_seconds(REPO, 2, args.batch // 2)}
        if args.old is not None:
            row["two_old"] = _step_seconds(args.old, 2, args.batch // 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    for key in rows[0]:
        median = 1000 * statistics.median(r[key] for r in rows)
        print(f"{key}: ms/step {[round(1000 * r[key], 1) for r in rows]}, median {median:.1f}")
    for a, b in (("two", "one"), ("two", "two_old")):
        if b in rows[0]:
            ratios = [r[a] / r[b] for r in rows]
            print(f"{a}/{b} per pair {[round(x, 2) for x in ratios]}, median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
