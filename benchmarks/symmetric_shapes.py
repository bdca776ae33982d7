"""Invariance of the canonical point set and of every frame-based wrapper on perfectly symmetric shapes.

    PYTHONPATH=. python benchmarks/symmetric_shapes.py [--trials 8] [--dtype float64] [--json out.json]

For each shape of ``tests/_clouds.py::symmetric_shapes`` (Platonic solids, regular polygons,
prisms, an antiprism, the 4-simplex, a 5 x 36 cylinder, a cube with 1e-9 noise) and each group
("O", "SO"), ``--trials`` random group elements with a random scale, shift and permutation (made in float64,
then the shape and its copies rounded to ``--dtype``, whose rounding noise the rules must ignore):

* ``canonical``: the largest set distance (Hausdorff, in units of the RMS radius) between
  ``canonicalize`` of the shape and of its transformed copy;
* ``tinv``, ``weighted``, ``fa``: the largest relative change of an invariant output (a
  random per-point MLP, mean-pooled) of ``TinvWrapper``, ``WeightedFrames`` (defaults) and
  ``FrameAveraging``;
* ``grad``: the largest |d sum(canonicalize(x)^3) / dx| over the trials (NaN if any is NaN);
* ``fallback``: how the engine's certificate says the frame was decided, and the time of
  ``canonicalize`` on the shape (median of 20 calls).

An error (e.g. ``LinAlgError``) is printed in place of the figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _backbones import PointMLP  # noqa: E402
from _clouds import set_distance, symmetric_shapes  # noqa: E402

import tinvnn  # noqa: E402
from tinvnn.group import as_group  # noqa: E402
from tinvnn.nn import FrameAveraging, TinvWrapper, WeightedFrames  # noqa: E402


def measure(x: torch.Tensor, group: str, trials: int, seed: int, dtype: torch.dtype) -> dict[str, object]:
    g = torch.Generator().manual_seed(seed)
    d = x.shape[1]
    torch.manual_seed(seed)
    backbone = PointMLP(pool=True, d=d).to(dtype)
    wrappers = {
        "tinv": TinvWrapper(backbone, group=group).eval(),
        "weighted": WeightedFrames(backbone, group=group).eval(),
        "fa": FrameAveraging(backbone, group=group).eval(),
    }
    copies = []
    for _ in range(trials):
        q = as_group(group).random_orthogonal(d, generator=g)
        perm = torch.randperm(len(x), generator=g)
        scale = float(torch.rand((), generator=g, dtype=torch.float64)) * 3 + 0.5
        shift = torch.randn(d, generator=g, dtype=torch.float64) * 5
        copies.append((x @ q.T * scale + shift)[perm].to(dtype))
    x = x.to(dtype)
    row: dict[str, object] = {}

    def run(name: str, fn) -> None:  # type: ignore[no-untyped-def]
        try:
            row[name] = fn()
        except Exception as err:  # noqa: BLE001 - a measurement script reports any failure
            row[name] = f"{type(err).__name__}: {str(err)[:40]}"

    run(
        "canonical",
        lambda: max(
            set_distance(tinvnn.canonicalize(x, group=group).double(), tinvnn.canonicalize(c, group=group).double())
            for c in copies
        ),
    )
    for name, model in wrappers.items():

        def wrapped(model=model) -> float:  # type: ignore[no-untyped-def]
            with torch.no_grad():
                ref = model(x)
                return max(float((model(c) - ref).double().norm() / ref.double().norm()) for c in copies)

        run(name, wrapped)

    def grad() -> float:
        worst = 0.0
        for c in [x, *copies]:
            c = c.clone().requires_grad_(True)
            tinvnn.canonicalize(c, group=group).pow(3).sum().backward()
            assert c.grad is not None
            worst = max(worst, float(c.grad.abs().max()))
        return worst

    run("grad", grad)

    def certificate() -> str:
        _, frame = tinvnn.canonicalize(x, group=group, return_frame=True)
        fallback = getattr(frame, "fallback", None)
        return "-" if fallback is None else str(int(fallback[0]))

    run("fallback", certificate)

    def timing() -> float:
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            tinvnn.canonicalize(x, group=group)
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1e3

    run("ms", timing)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=["float64", "float32", "float16", "bfloat16"], default="float64")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = {}
    columns = ["canonical", "tinv", "weighted", "fa", "grad", "fallback", "ms"]
    print(f"{'shape':<20} {'group':<5} " + " ".join(f"{c:>10}" for c in columns))
    for name, x in symmetric_shapes().items():
        for group in ("O", "SO"):
            row = measure(x, group, args.trials, args.seed, getattr(torch, args.dtype))
            rows[f"{name}/{group}"] = row
            cells = [f"{v:10.1e}" if isinstance(v, float) else f"{str(v)[:10]:>10}" for v in (row[c] for c in columns)]
            print(f"{name:<20} {group:<5} " + " ".join(cells), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
