"""Optimality gaps of a policy (or a classical heuristic) on test sets and TSPLIB instances.

Gaps are ``100 * (length / reference - 1)`` in percent, where ``length`` is measured in the
instance's own units: Euclidean for random instances (reference: LKH-3 through elkai, times
the transformation's length factor), the file's TSPLIB metric for TSPLIB instances
(reference: the known optimum). A transformed TSPLIB instance is solved on its transformed
coordinates and its tour mapped back to the original cities, so its length uses the exact
TSPLIB metric of the original file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from tinvnn.models.attention_tsp import AttentionTSP
from tinvnn.tasks.tsp.attention.decoding import decode_tours
from tinvnn.tasks.tsp.attention.variants import Variant
from tinvnn.tasks.tsp.heuristics import euclidean_matrix, greedy_edge, nearest_neighbour, two_opt
from tinvnn.tasks.tsp.objective import gap_percent, matrix_tour_length
from tinvnn.tasks.tsp.transforms import apply_transform
from tinvnn.tasks.tsp.tsplib import TSPLIBInstance, instance_matrix, planar_coordinates

__all__ = ["HEURISTICS", "Decoding", "evaluate_test_set", "heuristic_gaps", "evaluate_tsplib"]


@dataclass(frozen=True)
class Decoding:
    """How tours are decoded (see ``tinvnn.tasks.tsp.attention.decoding.decode_tours``)."""

    decode: str = "greedy"
    samples: int = 1
    two_opt: bool = False


def evaluate_test_set(
    model: AttentionTSP,
    variant: Variant,
    coords: Tensor,
    reference: Tensor,
    *,
    transforms: Sequence[str] = ("identity",),
    decoding: Decoding = Decoding(),
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Mean gap (percent) of the policy on each transformed copy of a test set.

    Args:
        coords: (B, N, 2) float64 instances; reference: (B,) their reference lengths.
        transforms: names from ``tinvnn.tasks.tsp.transforms.TRANSFORMS``; each copy is
            drawn with ``seed``, so every variant sees the same transformed instances.

    Returns:
        ``{transform: {"gap": mean %, "gap_max": max %, "length": mean length / factor}}``.
    """
    results = {}
    for name in transforms:
        moved, factor, _ = apply_transform(name, coords, seed=seed)
        _, lengths = decode_tours(
            model,
            variant,
            moved,
            decode=decoding.decode,
            samples=decoding.samples,
            two_opt=decoding.two_opt,
            generator=torch.Generator().manual_seed(seed),
        )
        gaps = gap_percent(lengths, reference * factor)
        results[name] = {
            "gap": gaps.mean().item(),
            "gap_max": gaps.max().item(),
            "length": (lengths / factor).mean().item(),
        }
    return results


HEURISTICS = ("nearest_neighbour", "greedy_edge", "greedy_edge+2opt")


def _heuristic_tour(name: str, dist: np.ndarray) -> np.ndarray:
    if name == "nearest_neighbour":
        return nearest_neighbour(dist, 0)
    if name == "greedy_edge":
        return greedy_edge(dist)
    if name == "greedy_edge+2opt":
        return two_opt(dist, greedy_edge(dist))
    raise ValueError(f"unknown heuristic {name!r}; expected one of {', '.join(HEURISTICS)}")


def heuristic_gaps(coords: Tensor, reference: Tensor, name: str) -> Tensor:
    """(B,) gaps (percent) of a classical heuristic on Euclidean instances (B, N, 2)."""
    lengths = [
        matrix_tour_length(d, _heuristic_tour(name, d)) for d in (euclidean_matrix(c.numpy()) for c in coords.double())
    ]
    return gap_percent(torch.tensor(lengths, dtype=torch.float64), reference)


def evaluate_tsplib(
    model: AttentionTSP | None,
    variant: Variant | None,
    instances: Sequence[TSPLIBInstance],
    optima: dict[str, float],
    *,
    transform: str = "identity",
    decoding: Decoding = Decoding(),
    heuristic: str | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Solve each TSPLIB instance (policy, or ``heuristic`` when given) and measure it in the file's metric.

    Returns:
        One record per instance: ``name``, ``n``, ``length``, ``optimum`` (or None), ``gap``
        (percent, or None) and ``tour`` (0-based original city indices).
    """
    records = []
    for inst in instances:
        dist = instance_matrix(inst)
        if heuristic is not None:
            tour = _heuristic_tour(heuristic, dist)
        else:
            if model is None or variant is None:
                raise ValueError("expected a model and a variant, or a heuristic")
            planar = torch.from_numpy(planar_coordinates(inst))[None]
            moved, _, order = apply_transform(transform, planar, seed=seed)
            tours, _ = decode_tours(
                model,
                variant,
                moved,
                decode=decoding.decode,
                samples=decoding.samples,
                two_opt=decoding.two_opt,
                generator=torch.Generator().manual_seed(seed),
            )
            tour = order.gather(1, tours)[0].numpy()
        length = matrix_tour_length(dist, tour)
        optimum = optima.get(inst.name)
        records.append(
            {
                "name": inst.name,
                "n": inst.num_cities,
                "length": length,
                "optimum": optimum,
                "gap": None if optimum is None else gap_percent(length, optimum).item(),
                "tour": [int(c) for c in tour],
            }
        )
    return records
