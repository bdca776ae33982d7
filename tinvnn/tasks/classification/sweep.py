"""Accuracy as the test rotation angle grows: every cloud turned by the same angle about its own
random axis (fixed by the seed), 0 to 180 degrees; saved as a PNG plot and JSON."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
from torch import nn

from tinvnn.tasks.classification.datasets import PointCloudDataset
from tinvnn.tasks.classification.evaluate import predict
from tinvnn.tasks.classification.protocols import axis_angle_rotation

__all__ = ["angle_sweep", "save_sweep"]


def angle_sweep(
    model: nn.Module, data: PointCloudDataset, angles_deg: list[float], *, seed: int = 0, batch_size: int = 64
) -> list[float]:
    """Accuracy of ``model`` on ``data`` rotated by each angle (degrees) about per-cloud random axes.

    The axes are drawn once from ``seed`` (uniform on the sphere) and shared by all angles and
    models, so curves of different models are comparable point by point.

    Shape:
        angles_deg (A,) -> accuracies (A,) as fractions in [0, 1].
    """
    g = torch.Generator().manual_seed(seed)
    axes = torch.randn(len(data), 3, generator=g, dtype=torch.float64)
    accuracies = []
    for angle in angles_deg:
        rot = axis_angle_rotation(axes, torch.full((len(data),), math.radians(angle), dtype=torch.float64))
        points = (data.points.double() @ rot.transpose(1, 2)).to(data.points.dtype)
        pred = predict(model, points, batch_size=batch_size).argmax(dim=1)
        accuracies.append(float((pred == data.labels).float().mean()))
    return accuracies


def save_sweep(curves: dict[str, list[float]], angles_deg: list[float], path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Plot accuracy-versus-angle curves to ``path`` (PNG) and write the numbers next to it (.json).

    Returns:
        (png path, json path).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png = Path(path)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, acc in curves.items():
        ax.plot(angles_deg, [100 * a for a in acc], marker="o", label=label)
    ax.set_xlabel("test rotation angle about a random axis (degrees)")
    ax.set_ylabel("accuracy (%)")
    ax.set_xlim(0, 180)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
    js = png.with_suffix(".json")
    js.write_text(json.dumps({"angles_deg": angles_deg, "accuracy": curves}, indent=2))
    return png, js
