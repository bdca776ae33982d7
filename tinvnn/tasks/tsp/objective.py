"""Tour validity and tour length in the instance's own units, and optimality gaps.

Convention: a tour is a permutation of the city indices 0..N-1; the salesman returns from
the last city to the first, so a tour of N cities has N edges. Lengths of random instances
are Euclidean in the coordinates' units (float64); TSPLIB lengths follow the file's
EDGE_WEIGHT_TYPE (``tinvnn.tasks.tsp.tsplib.distance_matrix``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["check_tours", "tour_length", "matrix_tour_length", "gap_percent"]


def check_tours(tours: Tensor, num_cities: int) -> None:
    """Raise ValueError unless every row of ``tours`` (..., N) is a permutation of 0..N-1."""
    if tours.shape[-1] != num_cities:
        raise ValueError(
            f"expected tours of {num_cities} cities, each a permutation of 0..{num_cities - 1}, "
            f"got shape {tuple(tours.shape)}"
        )
    if tours.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"expected integer tours, got {tours.dtype}")
    ordered = tours.sort(-1).values
    expected = torch.arange(num_cities, device=tours.device).expand_as(ordered)
    if not torch.equal(ordered, expected):
        bad = (ordered != expected).any(-1).nonzero()[0].tolist()
        where = f"tour at index {bad}" if bad else "the tour"
        raise ValueError(f"{where} is not a permutation of 0..{num_cities - 1}")


def tour_length(coords: Tensor, tours: Tensor) -> Tensor:
    """Euclidean length of closed tours, computed in float64.

    Args:
        coords: (B, N, 2) coordinates.
        tours: (B, N) or (B, S, N) permutations of 0..N-1.

    Returns:
        (B,) or (B, S) float64 lengths in the units of ``coords``.

    Example:
        >>> square = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])
        >>> tour_length(square, torch.tensor([[0, 1, 2, 3]])).item()
        4.0
    """
    check_tours(tours, coords.shape[1])
    squeeze = tours.dim() == 2
    if squeeze:
        tours = tours[:, None]
    b, s, n = tours.shape
    pts = coords.double()[:, None].expand(b, s, n, 2).gather(2, tours[..., None].expand(b, s, n, 2))
    length: Tensor = (pts - pts.roll(-1, dims=2)).norm(dim=-1).sum(-1)
    return length[:, 0] if squeeze else length


def matrix_tour_length(dist: np.ndarray, tour: np.ndarray | Tensor) -> float:
    """Length of one closed tour under an (N, N) distance matrix (e.g. TSPLIB's integer metric)."""
    tour_t = torch.as_tensor(np.asarray(tour), dtype=torch.long)
    check_tours(tour_t, dist.shape[0])
    t = tour_t.numpy()
    return float(dist[t, np.roll(t, -1)].sum())


def gap_percent(length: Tensor | float, optimum: Tensor | float) -> Tensor:
    """Optimality gap ``100 * (length / optimum - 1)`` in percent (float64)."""
    length = torch.as_tensor(length, dtype=torch.float64)
    optimum = torch.as_tensor(optimum, dtype=torch.float64)
    if (optimum <= 0).any():
        raise ValueError("expected positive optimal lengths")
    return 100.0 * (length / optimum - 1.0)
