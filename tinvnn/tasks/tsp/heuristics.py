"""Classical TSP heuristics: nearest neighbour, greedy edge, insertion, 2-opt.

Two families, both returning a tour as an (N,) int64 array, a permutation of 0..N-1:

* on an (N, N) symmetric distance matrix in the instance's own metric (Euclidean for random
  instances, the TSPLIB convention for TSPLIB files): ``nearest_neighbour``, ``greedy_edge``,
  ``two_opt`` (best improvement, O(N^2) per move). Ties are broken by the lowest index.
* on (N, 2) coordinates, Euclidean, without an N x N matrix (for thousands of cities):
  ``nearest_neighbour_tour`` (k-d tree, O(N log N)), ``greedy_edge_tour`` (greedy matching on
  the k-nearest-neighbour graph, fragments joined nearest end first), ``insertion_tour``
  (farthest or random insertion, cheapest position; O(N^2) time, O(N) memory). The
  improvement step for these sizes is ``tinvnn.tasks.tsp.improve.improve_tour``.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

from tinvnn.geometry.distances import euclidean_distances
from tinvnn.tasks.tsp.improve import neighbour_lists

__all__ = [
    "TIE_RTOL",
    "UnvisitedIndex",
    "tie_broken_order",
    "euclidean_matrix",
    "nearest_neighbour",
    "greedy_edge",
    "two_opt",
    "two_opt_batch",
    "nearest_neighbour_tour",
    "greedy_edge_tour",
    "insertion_tour",
]


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
    adjacency = _greedy_fragments(n, iu, ju, dist[iu, ju])
    start = next(c for c in range(n) if len(adjacency[c]) == 1)  # one end of the Hamiltonian path
    return np.asarray(_walk(adjacency, start), dtype=np.int64)


def _greedy_fragments(n: int, first: np.ndarray, second: np.ndarray, length: np.ndarray) -> list[list[int]]:
    """Adjacency of the paths that greedy matching of the edges (first[e], second[e]) builds."""
    parent = list(range(n))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    adjacency: list[list[int]] = [[] for _ in range(n)]
    edges = 0
    for e in np.argsort(length, kind="stable").tolist():
        a, b = int(first[e]), int(second[e])
        if len(adjacency[a]) == 2 or len(adjacency[b]) == 2 or root(a) == root(b):
            continue
        parent[root(a)] = root(b)
        adjacency[a].append(b)
        adjacency[b].append(a)
        edges += 1
        if edges == n - 1:
            break
    return adjacency


def _walk(adjacency: list[list[int]], start: int) -> list[int]:
    """The cities of the path that starts at the end ``start``."""
    path, prev = [start], -1
    while True:
        nxt = [c for c in adjacency[path[-1]] if c != prev]
        if not nxt:
            return path
        prev = path[-1]
        path.append(nxt[0])


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


#: Distances that differ by at most this fraction count as tied (integer coordinates give exact
#: ties, which a rotation or scaling turns into float-error differences).
TIE_RTOL = 1e-9


def tie_broken_order(dist: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The order of ascending distances in which distances tied within ``TIE_RTOL`` follow ``key``.

    A k-d tree orders tied distances by its own structure, i.e. by the city numbering; with an
    invariant ``key`` (e.g. the distance to the instance's centroid) the order, and so which
    cities fall within the k nearest, is the same for every rotated, scaled, translated or
    renumbered copy unless the keys tie too (symmetric configurations).

    Shape:
        dist (..., m) ascending (a k-d tree query), key (..., m) -> (..., m) int64 indices into
        the last axis.
    """
    gap = np.diff(dist, axis=-1) > TIE_RTOL * np.abs(dist[..., 1:])
    group = np.concatenate([np.zeros(dist.shape[:-1] + (1,), dtype=np.int64), np.cumsum(gap, -1)], -1)
    return np.lexsort((key, group), axis=-1)


class UnvisitedIndex:
    """The unvisited cities of a tour under construction, with a k-d tree over them.

    The tree is rebuilt whenever half of the cities it holds have been visited, so queries stay
    O(k log N) and the total rebuild cost O(N log N). Tied distances are ordered by the distance
    to the centroid of all cities (:func:`tie_broken_order`).

    Args:
        coords: (N, 2) coordinates.
        first: the city the tour starts at (visited).
    """

    def __init__(self, coords: np.ndarray, first: int) -> None:
        self.coords = coords
        self.centre_distance = np.linalg.norm(coords - coords.mean(0), axis=1)
        self.unvisited = np.ones(len(coords), dtype=bool)
        self.left = len(coords)
        self.visit(first)
        self._rebuild()

    def _rebuild(self) -> None:
        self.ids = np.flatnonzero(self.unvisited)
        if len(self.ids):  # with none left, nothing is queried
            self.tree = cKDTree(self.coords[self.ids])

    def visit(self, city: int) -> None:
        """Mark ``city`` visited."""
        self.unvisited[city] = False
        self.left -= 1

    def nearest(self, point: np.ndarray, k: int) -> np.ndarray:
        """The (at most k) unvisited cities nearest to ``point`` (2,), nearest first; a tie at
        the k-th distance is decided by the distance to the centroid, not by the numbering."""
        if 2 * self.left < len(self.ids):
            self._rebuild()
        want = min(k, self.left)
        ask = min(2 * k + 1, len(self.ids))
        while True:
            dist, j = self.tree.query(point, ask)
            found = self.ids[np.atleast_1d(j)]
            free = self.unvisited[found]
            found, dist = found[free], np.atleast_1d(dist)[free]
            if len(found) == self.left:  # every unvisited city
                return found[tie_broken_order(dist, self.centre_distance[found])[:want]]
            if len(found) > want:
                bound = dist[want - 1] * (1.0 + TIE_RTOL)
                if dist[want] > bound:  # no tie at the k-th distance
                    return found[:want]
                if dist[-1] > bound:  # the tied group is complete: decide it by the key
                    return found[tie_broken_order(dist, self.centre_distance[found])[:want]]
            ask = min(4 * ask, len(self.ids))


def nearest_neighbour_tour(coords: np.ndarray, start: int = 0) -> np.ndarray:
    """Nearest neighbour from ``start`` on (N, 2) coordinates, with a k-d tree (O(N log N))."""
    coords = np.asarray(coords, dtype=np.float64)
    tour = [start]
    left = UnvisitedIndex(coords, start)
    while left.left:
        (city,) = left.nearest(coords[tour[-1]], 1)
        left.visit(int(city))
        tour.append(int(city))
    return np.asarray(tour, dtype=np.int64)


def greedy_edge_tour(coords: np.ndarray, neighbours: int = 10) -> np.ndarray:
    """Greedy edge on the ``neighbours``-nearest-neighbour graph of (N, 2) coordinates.

    The greedy matching leaves paths (fragments); they are joined into one tour by always
    moving from the current path's end to the nearest end of a path not yet used.
    """
    coords = np.asarray(coords, dtype=np.float64)
    n = len(coords)
    near = neighbour_lists(coords, neighbours)
    first = np.repeat(np.arange(n), near.shape[1])
    second = near.reshape(-1)
    keep = first < second
    length = np.linalg.norm(coords[first[keep]] - coords[second[keep]], axis=1)
    adjacency = _greedy_fragments(n, first[keep], second[keep], length)
    ends = [c for c in range(n) if len(adjacency[c]) < 2]
    other = {}
    for c in ends:
        if c not in other:
            path = _walk(adjacency, c)
            other[c], other[path[-1]] = path[-1], c
    index = np.asarray(ends)
    left = UnvisitedIndex(coords[index], 0)
    position = {c: i for i, c in enumerate(ends)}
    tour = _walk(adjacency, ends[0])
    if other[ends[0]] != ends[0]:
        left.visit(position[other[ends[0]]])
    while left.left:
        (i,) = left.nearest(coords[tour[-1]], 1)
        end = ends[int(i)]
        left.visit(int(i))
        if other[end] != end:
            left.visit(position[other[end]])
        tour += _walk(adjacency, end)
    return np.asarray(tour, dtype=np.int64)


def insertion_tour(coords: np.ndarray, order: str = "farthest", *, seed: int = 0) -> np.ndarray:
    """Farthest or random insertion on (N, 2) coordinates, each city at its cheapest position.

    ``farthest`` starts from the city farthest from the centroid and next inserts the city
    farthest from the tour; ``random`` inserts the cities in a seeded random order.
    """
    if order not in ("farthest", "random"):
        raise ValueError(f"order: expected 'farthest' or 'random', got {order!r}")
    coords = np.asarray(coords, dtype=np.float64)
    n = len(coords)
    if order == "random":
        sequence = np.random.default_rng(seed).permutation(n).tolist()
    else:
        sequence = [int(np.linalg.norm(coords - coords.mean(0), axis=1).argmax())]
    tour = [sequence[0]]
    gap = np.linalg.norm(coords - coords[tour[0]], axis=1)  # distance to the tour (farthest)
    gap[tour[0]] = -1.0
    for step in range(1, n):
        city = sequence[step] if order == "random" else int(gap.argmax())
        t = np.asarray(tour)
        a, b = coords[t], coords[np.roll(t, -1)]
        x = coords[city]
        cost = np.linalg.norm(a - x, axis=1) + np.linalg.norm(b - x, axis=1) - np.linalg.norm(a - b, axis=1)
        tour.insert(int(cost.argmin()) + 1, city)
        if order == "farthest":
            gap = np.minimum(gap, np.linalg.norm(coords - x, axis=1))
            gap[city] = -1.0
    return np.asarray(tour, dtype=np.int64)
