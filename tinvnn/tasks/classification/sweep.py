"""Accuracy as the test rotation angle grows: every cloud turned by the same angle about its own
random axis (fixed by the seed), 0 to 180 degrees; saved as a PNG plot and JSON."""

from __future__ import annotations

import json
import math
import os
import textwrap
from pathlib import Path

import torch
from torch import Tensor, nn

from tinvnn._io import atomic_write_all
from tinvnn.group import axis_angle_rotation
from tinvnn.tasks.classification.datasets import PointCloudDataset
from tinvnn.tasks.classification.evaluate import predict

__all__ = ["angle_sweep", "chance_level", "save_sweep", "sweep_outputs"]


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
        accuracies.append(float((pred == data.labels).double().mean()))
    return accuracies


def chance_level(labels: Tensor) -> float:
    """Accuracy of always answering the most frequent class: the level a classifier must beat.

    Equals 1 / C on a class-balanced set. Shape: labels (S,) int.
    """
    if labels.numel() == 0:
        raise ValueError("chance_level needs at least one label")
    return float(torch.bincount(labels).max()) / labels.numel()


def save_sweep(
    curves: dict[str, list[float]],
    angles_deg: list[float],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    chance: float | None = None,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Plot accuracy-versus-angle curves to ``path`` (PNG) and write the numbers next to it (.json).

    Args:
        curves: label -> accuracies (fractions), one per angle.
        angles_deg: (A,) test rotation angles in degrees.
        path: the PNG file.
        title: what a reader needs without the terminal: dataset, training budget, test set
            (e.g. ``"ModelNet40: PointNet, 10 epochs on 80 clouds/class ..."``).
        chance: accuracy of guessing (:func:`chance_level` of the test labels), drawn as a
            dashed line.
        overwrite: replace existing files (else, as :func:`sweep_outputs`, FileExistsError).

    Returns:
        (png path, json path); the JSON holds the angles, curves, title and chance level. Both
        are written as one (atomically: a failure leaves neither changed).
    """
    png, js = sweep_outputs(path, overwrite=overwrite)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, acc in curves.items():
        ax.plot(angles_deg, [100 * a for a in acc], marker="o", label=label)
    if chance is not None:
        ax.axhline(100 * chance, color="grey", linestyle="--", linewidth=1, label=f"chance ({100 * chance:.1f}%)")
    lines = (title or "accuracy vs test rotation angle").splitlines()
    ax.set_title("\n".join(textwrap.fill(line, 80) for line in lines), fontsize=9)
    ax.set_xlabel("test rotation angle about a random axis (degrees)")
    ax.set_ylabel("accuracy (%)")
    ax.set_xlim(0, 180)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    numbers = json.dumps({"title": title, "chance": chance, "angles_deg": angles_deg, "accuracy": curves}, indent=2)
    try:
        atomic_write_all(
            {
                png: lambda handle: fig.savefig(handle, dpi=120, format="png"),
                js: lambda handle: handle.write(numbers.encode()),
            }
        )
    finally:
        plt.close(fig)
    return png, js


def sweep_outputs(path: str | os.PathLike[str], *, overwrite: bool = False) -> tuple[Path, Path]:
    """The PNG ``path`` and the JSON beside it that :func:`save_sweep` writes, checked before any work.

    Raises:
        ValueError: ``path`` does not end in ``.png``.
        FileExistsError: either file exists and ``overwrite`` is False.
    """
    png = Path(path)
    if png.suffix.lower() != ".png":
        raise ValueError(f"out: expected a .png file name (the JSON goes beside it), got {png}")
    js = png.with_suffix(".json")
    existing = [str(p) for p in (png, js) if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{' and '.join(existing)} exist; pass --overwrite (overwrite=True) to replace them")
    return png, js
