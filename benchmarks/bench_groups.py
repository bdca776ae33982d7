"""What each symmetry group costs: canonicalize and a wrapped PointNet per batch, paired.

    python benchmarks/bench_groups.py [--batch 32] [--points 256] [--width 256] [--repeats 30]

For the groups "O" (the fused kernel where numba is installed), "O" by tensor operations
(``FAST_KERNELS`` off), "SO2z" and "O2z" (rotations about z: their own frame step, tensor
operations): milliseconds per batch of ``canonicalize`` and of ``TinvWrapper(PointNet)`` in eval
mode (the PointNet of ``tinvnn train``), float32 clouds from a fixed seed. The configurations run
round-robin, ``--repeats`` rounds, and each reports its median CPU time (``time.process_time``:
the time this process ran, so the figures hold on a shared machine) and its ratio to "O" of the
same round (median of the ratios).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

import tinvnn
import tinvnn._fast
from tinvnn.nn import TinvWrapper
from tinvnn.tasks.classification.methods import build_backbone

CONFIGS = (("O", "O", True), ("O (tensor path)", "O", False), ("SO2z", "SO2z", False), ("O2z", "O2z", False))


def _timed(fn: Callable[[], object], fast: bool) -> float:
    """CPU milliseconds of one call of ``fn`` with the fused kernel on or off."""
    tinvnn._fast.FAST_KERNELS = fast
    start = time.process_time()
    fn()
    return 1e3 * (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="clouds per batch")
    parser.add_argument("--points", type=int, default=256, help="points per cloud")
    parser.add_argument("--width", type=int, default=256, help="PointNet global feature width")
    parser.add_argument("--repeats", type=int, default=30, help="round-robin rounds")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    pos = (torch.randn(args.batch, args.points, 3, generator=gen) * torch.tensor([3.0, 2.0, 1.0])) ** 2
    backbone = build_backbone("pointnet", 40, width=args.width).eval()  # as `tinvnn train` builds it
    models = {group: TinvWrapper(backbone, group=group).eval() for _, group, _ in CONFIGS}
    times: dict[str, dict[str, list[float]]] = {"canonicalize": {}, "TinvWrapper(PointNet)": {}}
    with torch.no_grad():
        for _ in range(2):  # warm-up (numba compilation, allocator)
            for _, group, fast in CONFIGS:
                _timed(lambda g=group: tinvnn.canonicalize(pos, group=g), fast)
                _timed(lambda g=group: models[g](pos), fast)
        for _ in range(args.repeats):
            for name, group, fast in CONFIGS:
                times["canonicalize"].setdefault(name, []).append(
                    _timed(lambda g=group: tinvnn.canonicalize(pos, group=g), fast)
                )
                times["TinvWrapper(PointNet)"].setdefault(name, []).append(_timed(lambda g=group: models[g](pos), fast))
    tinvnn._fast.FAST_KERNELS = True
    results = {
        study: {
            name: {
                "ms": statistics.median(values),
                "vs_O": statistics.median(v / o for v, o in zip(values, per_group["O"])),
            }
            for name, values in per_group.items()
        }
        for study, per_group in times.items()
    }
    print(f"B = {args.batch}, N = {args.points}, width {args.width}, {args.repeats} rounds, CPU ms per batch (median)")
    print(f"{'':24s}" + "".join(f"{name:>20s}" for name, _, _ in CONFIGS))
    for study, per_group in results.items():
        cells = "".join(f"{r['ms']:9.2f} ms ({r['vs_O']:4.2f}x)" for r in per_group.values())
        print(f"{study:24s}{cells}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
