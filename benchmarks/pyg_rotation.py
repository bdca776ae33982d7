"""Does a PyG normalisation pipeline give the same points for a rotated copy of a shape?

    python benchmarks/pyg_rotation.py [--data-dir DIR] [--shape 0] [--copies 50] [--json out.json]

Takes one ModelNet40 test shape (``<data>/modelnet40/test.npz``, 1,024 points; without the
data, the embedded synthetic "mug"), rotates it by ``--copies`` uniformly random rotations, and
runs each copy through PyG's ``Center + NormalizeScale + NormalizeRotation`` and through
``Center + NormalizeScale + tinvnn.pyg.CanonicalizePose``. A copy counts as changed when some
output coordinate differs from the unrotated shape's output by more than 1e-4 (float32); the
worst difference is in units of the normalised shape (radius 1).
"""

from __future__ import annotations

import argparse
import json

import torch
import torch_geometric.transforms as T
from torch_geometric.data import Data

from tinvnn import random_orthogonal
from tinvnn.pyg import CanonicalizePose
from tinvnn.tasks.classification import load_modelnet40, make_synthetic

PIPELINES = {
    "pyg Center+NormalizeScale+NormalizeRotation": T.Compose([T.Center(), T.NormalizeScale(), T.NormalizeRotation()]),
    "tinvnn Center+NormalizeScale+CanonicalizePose": T.Compose([T.Center(), T.NormalizeScale(), CanonicalizePose()]),
}


def changed_copies(
    transform: T.BaseTransform, cloud: torch.Tensor, rotations: torch.Tensor, atol: float
) -> tuple[int, float]:
    """How many rotated copies come out different from the unrotated cloud, and the worst difference.

    Shape:
        cloud (N, 3), rotations (C, 3, 3) -> (count, max abs difference).
    """
    reference = transform(Data(pos=cloud)).pos
    errors = [float((transform(Data(pos=cloud @ r.T)).pos - reference).abs().max()) for r in rotations]
    return sum(e > atol for e in errors), max(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="data directory (default $TINVNN_DATA)")
    parser.add_argument("--shape", type=int, default=0, help="index of the ModelNet40 test shape")
    parser.add_argument("--copies", type=int, default=50, help="random rotations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    try:
        data = load_modelnet40("test", root=args.data_dir)
        cloud, source = (
            data.points[args.shape],
            f"ModelNet40 test shape {args.shape} ({data.classes[int(data.labels[args.shape])]})",
        )
    except FileNotFoundError:
        cloud, source = make_synthetic(1, points=1024).points[-1], "synthetic mug (no ModelNet40 found)"
    rotations = random_orthogonal(
        3, (args.copies,), det=1, generator=torch.Generator().manual_seed(args.seed), dtype=torch.float32
    )
    results = {"shape": source, "copies": args.copies, "pipelines": {}}
    print(f"{source}: {args.copies} random rotations")
    for name, transform in PIPELINES.items():
        count, worst = changed_copies(transform, cloud, rotations, atol=1e-4)
        results["pipelines"][name] = {"changed": count, "max_abs_difference": worst}
        print(f"  {name:<46} {count:>3}/{args.copies} copies changed, worst {worst:.3g}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
