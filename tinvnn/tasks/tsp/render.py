"""Rendering a tour: the plot ``tinvnn tsp solve`` saves and its title.

The ``.tour`` file is written by :func:`tinvnn.tasks.tsp.tsplib.write_tour` (beside the reader
of the same format). Matplotlib is imported when a plot is drawn, not before.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tinvnn._io import atomic_write

__all__ = ["plot_tour", "tour_title"]


def tour_title(
    name: str,
    num_cities: int,
    method: str,
    length: float,
    *,
    optimum: float | None = None,
    gap: float | None = None,
    explicit: bool = False,
) -> str:
    """Plot title: instance, method, length and (when the optimum is known) gap.

    Example:
        >>> tour_title("eil51", 51, "local policy, greedy", 440.0, optimum=426.0, gap=3.29)
        'eil51 (51 cities): local policy, greedy\\nlength 440, gap 3.29 % to optimum 426'
    """
    title = f"{name} ({num_cities} cities): {method}\nlength {length:.0f}"
    if gap is not None and optimum is not None:
        title += f", gap {gap:.2f} % to optimum {optimum:.0f}"
    if explicit:
        title += "\n(cities drawn at their MDS coordinates)"
    return title


def plot_tour(coords: np.ndarray, tour: Sequence[int] | np.ndarray, title: str, path: str | os.PathLike[str]) -> Path:
    """Draw the closed tour (N,) over the cities (N, 2) and save it as a PNG at ``path``
    (atomically: a failed write leaves any earlier file at ``path`` as it was)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    closed = [*(int(c) for c in tour), int(tour[0])]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot(coords[closed, 0], coords[closed, 1], "-", lw=1, color="tab:blue")
    ax.plot(coords[:, 0], coords[:, 1], "o", ms=3 if len(coords) <= 1000 else 1, color="tab:red")
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")
    fig.tight_layout()
    try:
        atomic_write(path, lambda handle: fig.savefig(handle, dpi=100, format="png"))
    finally:
        plt.close(fig)
    return path
