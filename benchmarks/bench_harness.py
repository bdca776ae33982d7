"""Training step time of the run harness against the loops it replaced (issue 9).

Usage::

    git worktree add /tmp/tinvnn-old ff05812          # the last commit with the three old loops
    python benchmarks/bench_harness.py --old /tmp/tinvnn-old --repeats 3

Runs, alternately in fresh processes (one torch thread each), a short TSP-20 REINFORCE run and a
short n-body tinv-GNN run with the old code and with this checkout, and prints the median step
time of each and the new/old ratio of each neighbouring pair (the machine's load changes
between runs; neighbouring pairs share it).
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

_CHILD = r"""
import json, sys, tempfile
sys.path.insert(0, sys.argv[1])
import torch
torch.set_num_threads(1)
old = sys.argv[2] == "old"
tmp = tempfile.mkdtemp()
from tinvnn.tasks.nbody.dataset import NBodyConfig, load_nbody
from tinvnn.tasks.nbody.train import train_nbody
if old:  # the module names of the old tree
    from tinvnn.tasks.nbody.train import TrainConfig as NBodyTrainConfig
    from tinvnn.tasks.tsp.reinforce import TrainConfig as AttentionConfig, train as train_attention
else:
    from tinvnn.tasks.nbody.recipe import NBodyTrainConfig
    from tinvnn.tasks.tsp.attention.recipe import AttentionConfig
    from tinvnn.tasks.tsp.attention.reinforce import train_attention
data_config = NBodyConfig(n_train=1000, n_val=100, n_test=100)
data = load_nbody(data_config, root=tmp)
nbody = NBodyTrainConfig(model="tinv_gnn", epochs=3, eval_every=3, data=data_config)
if old:
    import time
    began = time.perf_counter()
    train_attention(AttentionConfig(variant="tinv", steps=60), log_every=1000)
    tsp = (time.perf_counter() - began) / 60
    _, result = train_nbody(nbody, data)
else:
    from tinvnn.training import RunOptions
    _, history = train_attention(AttentionConfig(variant="tinv", steps=60, steps_per_epoch=60, eval_every=1000),
                       RunOptions(out=tmp + "/tsp", progress=False))
    tsp = history[-1]["seconds"] / 60
    _, result = train_nbody(nbody, data, RunOptions(out=tmp + "/nbody", progress=False))
print(json.dumps({"tsp": tsp, "nbody": result.seconds_per_step}))
"""


def _measure(tree: Path, kind: str) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TINVNN_CACHE": tempfile.mkdtemp()}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tree), kind], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=Path, required=True, help="a checkout of the old code (git worktree of ff05812)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for _ in range(args.repeats):
        old, new = _measure(args.old, "old"), _measure(REPO, "new")
        rows.append({"old": old, "new": new})
        print(json.dumps(rows[-1]), flush=True)
    for task in ("tsp", "nbody"):
        ratios = [r["new"][task] / r["old"][task] for r in rows]
        print(
            f"{task}: old {[round(1000 * r['old'][task], 1) for r in rows]} ms, "
            f"new {[round(1000 * r['new'][task], 1) for r in rows]} ms, "
            f"new/old {[round(x, 2) for x in ratios]}, median {statistics.median(ratios):.2f}"
        )


if __name__ == "__main__":
    main()
