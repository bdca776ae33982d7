"""Classical TSP heuristics on a distance matrix: nearest neighbour, greedy edge, 2-opt.

All functions take an (N, N) symmetric NumPy distance matrix in the instance's own metric
(Euclidean for random instances, the TSPLIB convention for TSPLIB files) and return a tour
as an (N,) int64 array, a permutation of 0..N-1. Ties are broken by the lowest index.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from tinvnn.geometry.distances import euclidean_distances

__all__ = ["euclidean_matrix", "nearest_neighbour", "greedy_edge", "two_opt", "two_opt_batch"]


def _check_matrix(dist: np.ndarray) -> int:
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1] or dist.shape[0] < 3:
        raise ValueError(f"expected an (N, N) distance matrix with N >= 3, got shape {dist.shape}")
    return dist.shape[0]


def euclidean_matrix(coords: np.ndarray | Tensor) -> np.ndarray:
    """(N, N) float64 Euclidean distances of (N, 2) coordinates, as NumPy
    (:func:`tinvnn.geometry.euclidean_distances` computes them)."""
    return euclidean_distances(torch.as_tensor(np.asarray(coords, dtype=np.float64))).numpy()


def nearest_neighbour(dist: np.ndarray, start: int = 0) -> np.ndarray:
    """Start at ``start`` and always move to the nearest unvisited city."""
    n = _check_matrix(dist)
    if not 0 <= start < n:
        raise ValueError(f"expected start in [0, {n}), got {start}")
    tour = [start]
    visited = np.zeros(n, dtype=bool)
    visited[start] = True
    for _ in range(n - 1):
        row = np.where(visited, np.inf, dist[tour[-1]])
        nxt = int(row.argmin())
        tour.append(nxt)
        visited[nxt] = True
    return np.asarray(tour, dtype=np.int64)


def greedy_edge(dist: np.ndarray) -> np.ndarray:
    """Greedy edge insertion: add the shortest edges that keep degrees <= 2 and close no early cycle."""
    n = _check_matrix(dist)
    iu, ju = np.triu_indices(n, 1)
    order = np.argsort(dist[iu, ju], kind="stable")
    parent = list(range(n))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    degree = np.zeros(n, dtype=np.int64)
    adjacency: list[list[int]] = [[] for _ in range(n)]
    edges = 0
    for k in order:
        a, b = int(iu[k]), int(ju[k])
        if degree[a] == 2 or degree[b] == 2 or root(a) == root(b):
            continue
        parent[root(a)] = root(b)
        degree[a] += 1
        degree[b] += 1
        adjacency[a].append(b)
        adjacency[b].append(a)
        edges += 1
        if edges == n - 1:
            break
    start = int(np.flatnonzero(degree == 1)[0])  # one end of the Hamiltonian path
    tour, prev = [start], -1
    while len(tour) < n:
        nxt = next(c for c in adjacency[tour[-1]] if c != prev)
        prev = tour[-1]
        tour.append(nxt)
    return np.asarray(tour, dtype=np.int64)


def two_opt(dist: np.ndarray, tour: np.ndarray, *, max_iter: int = 10_000) -> np.ndarray:
    """Best-improvement 2-opt from ``tour`` until no move shortens it (or ``max_iter`` moves).

    A move removes edges (t[i], t[i+1]) and (t[j], t[j+1]) and reverses t[i+1..j].
    """
    n = _check_matrix(dist)
    tour = np.asarray(tour, dtype=np.int64).copy()
    if sorted(tour.tolist()) != list(range(n)):
        raise ValueError(f"expected a permutation of 0..{n - 1}")
    tol = 1e-10 * float(dist.max())
    for _ in range(max_iter):
        a, b = tour, np.roll(tour, -1)
        delta = dist[a[:, None], a[None, :]] + dist[b[:, None], b[None, :]] - dist[a, b][:, None] - dist[a, b][None, :]
        delta = np.triu(delta, 2)  # j >= i + 2; i = 0 with j = n - 1 is the same edge pair
        delta[0, n - 1] = 0.0
        i, j = np.unravel_index(int(delta.argmin()), delta.shape)
        if delta[i, j] >= -tol:
            break
        tour[i + 1 : j + 1] = tour[i + 1 : j + 1][::-1]
    return tour


def two_opt_batch(coords: Tensor, tours: Tensor) -> Tensor:
    """2-opt every tour (B, N) of Euclidean instances (B, N, 2); returns (B, N) long."""
    out = [
        torch.from_numpy(two_opt(euclidean_matrix(c.double().cpu().numpy()), t.cpu().numpy()))
        for c, t in zip(coords, tours)
    ]
    return torch.stack(out).to(tours.device)
