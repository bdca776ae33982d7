"""How often is a real shape near-ambiguous for the canonical frame? Measured on ModelNet40.

    python benchmarks/ambiguity_modelnet.py [--data-dir DIR] [--json out.json]

For every shape (train and test, 1,024 points) it records the frame diagnostics of
``tinvnn.canonicalize`` and reports, at several tolerances, the fraction of shapes whose
relative eigen-gap or sign margin is small. For each shape whose sign margin is below
``--margin`` it also checks whether a wrong sign would be *harmless*: the shape is (nearly)
symmetric under the flip of its least skewed axis, measured as the Chamfer distance between
the canonical points and their mirror image, relative to the mean nearest-neighbour spacing.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter

import numpy as np
import torch

from tinvnn import canonicalize
from tinvnn.paths import data_dir


def mirror_chamfer(z: torch.Tensor, axis: int) -> float:
    """Chamfer distance between ``z`` (N, 3) and its mirror image along ``axis``, in units of the
    mean nearest-neighbour spacing of ``z`` (about 1 or less: symmetric under that flip)."""
    flipped = z.clone()
    flipped[:, axis] *= -1
    self_d = torch.cdist(z, z)
    self_d.fill_diagonal_(float("inf"))
    spacing = self_d.amin(1).mean()
    cross = torch.cdist(z, flipped)
    return float((cross.amin(1).mean() + cross.amin(0).mean()) / 2 / spacing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="data directory (default: $TINVNN_DATA)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--margin", type=float, default=1e-2, help="sign margin below which symmetry is checked")
    args = parser.parse_args()
    root = data_dir(args.data_dir) / "modelnet40"
    points, labels, classes = [], [], None
    for split in ("train", "test"):
        with np.load(root / f"{split}.npz") as f:
            points.append(f["points"].astype(np.float32))
            labels.append(f["labels"].astype(np.int64))
            classes = [str(c) for c in f["classes"]]
    x = torch.from_numpy(np.concatenate(points))
    y = np.concatenate(labels)
    start = time.perf_counter()
    frames = [canonicalize(chunk.double(), return_frame=True) for chunk in x.split(512)]
    elapsed = time.perf_counter() - start
    z = torch.cat([f[0] for f in frames])
    gap = torch.cat([f[1].eigen_gap for f in frames])
    sign = torch.cat([f[1].sign_margin for f in frames])
    tie = torch.cat([f[1].tie_used for f in frames])
    ambiguous = torch.cat([f[1].ambiguous for f in frames])
    total = len(x)

    table = {
        "shapes": total,
        "seconds": elapsed,
        "gap_below": {str(t): float((gap < t).float().mean()) for t in (1e-3, 1e-2, 5e-2, 1e-1)},
        "sign_margin_below": {str(t): float((sign < t).float().mean()) for t in (1e-3, 1e-2, 5e-2, 1e-1)},
        "tie_rule_used": float(tie.float().mean()),
        "ambiguous_default": float(ambiguous.float().mean()),
    }
    # For shapes with a small sign margin: is the shape symmetric under the weakest axis flip?
    idx = (sign < args.margin).nonzero().flatten().tolist()
    harmless = 0
    for i in idx:
        zi = z[i]
        skewness = ((zi**3).mean(0) / (zi**2).mean(0) ** 1.5).abs()
        if mirror_chamfer(zi, int(skewness.argmin())) < 1.0:
            harmless += 1
    table["small_margin_symmetric"] = harmless / max(len(idx), 1)
    table["small_margin_count"] = len(idx)
    per_class = Counter(classes[int(y[i])] for i in (gap < 1e-2).nonzero().flatten().tolist())
    table["small_gap_classes"] = per_class.most_common(8)
    per_class_sign = Counter(classes[int(y[i])] for i in (sign < 1e-2).nonzero().flatten().tolist())
    table["small_sign_margin_classes"] = per_class_sign.most_common(8)

    print(f"{total} ModelNet40 shapes canonicalized in {elapsed:.2f} s")
    print("fraction with relative eigen-gap below:", {k: f"{v:.2%}" for k, v in table["gap_below"].items()})
    print("fraction with sign margin below:      ", {k: f"{v:.2%}" for k, v in table["sign_margin_below"].items()})
    print(
        f"tie rule used (gap < 1e-3): {table['tie_rule_used']:.2%}; "
        f"flagged ambiguous at defaults: {table['ambiguous_default']:.2%}"
    )
    print(
        f"shapes with sign margin < {args.margin:g} that are mirror-symmetric under that flip: "
        f"{table['small_margin_symmetric']:.0%} of {len(idx)}"
    )
    print("classes with most gap < 1e-2:", table["small_gap_classes"])
    print("classes with most sign margin < 1e-2:", table["small_sign_margin_classes"])
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(table, handle, indent=2)


if __name__ == "__main__":
    main()
