"""Landmark MDS (de Silva & Tenenbaum 2004): canonical coordinates for large N in O(N m) memory.

Full classical MDS needs all ``N^2`` distances. Landmark MDS needs only the ``m x N``
distances from ``m`` landmarks to every node:

1. Choose landmarks by farthest-point sampling (:func:`farthest_point_landmarks`): start at
   ``first``, then repeatedly add the node farthest from the landmarks so far (one Dijkstra
   per landmark).
2. Classical MDS of the ``m x m`` landmark distances: ``B = -1/2 H D_m^2 H``, top ``dim``
   eigenpairs ``(lambda_k, v_k)``.
3. Triangulate every node ``a`` from its squared distances ``delta_a`` to the landmarks:
   ``x_a = 1/2 L^# (delta_mu - delta_a)`` with ``L^#`` rows ``v_k / sqrt(lambda_k)`` and
   ``delta_mu`` the mean column of ``D_m^2``. Landmarks land exactly on their own MDS
   coordinates, so with ``m = N`` the result is full classical MDS.
4. Canonicalize the ``(N, dim)`` coordinates with :func:`tinvnn.canonicalize` (``group="O"``):
   centroid of all ``N`` nodes, principal axes, the core's sign, tie and scale rules -- the
   same rules :func:`tinvnn.mds` applies, so ``m = N`` reproduces ``tinvnn.mds``.

Invariance: the output does not change under node relabelling as long as the landmark set
does not change, i.e. ``first`` names the same node; farthest-point ties are broken by the
lowest index, which relabelling can change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from tinvnn._checks import check_number
from tinvnn.canonical import canonicalize
from tinvnn.geometry.distances import _adjacency, _as_numpy, _components_or_raise, _scipy, knn_graph
from tinvnn.group import Orthogonal

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = ["farthest_point_landmarks", "geodesic_landmark_mds", "graph_landmark_mds", "landmark_mds"]


def _check_counts(num_landmarks: int, num_nodes: int, dim: int) -> None:
    if not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dim: expected a positive integer, got {dim!r}")
    if not isinstance(num_landmarks, (int, np.integer)):
        raise ValueError(f"num_landmarks: expected an integer, got {num_landmarks!r}")
    if num_landmarks < dim + 1:
        raise ValueError(
            f"num_landmarks: too few landmarks, expected at least dim + 1 = {dim + 1} to span {dim} dimensions, "
            f"got {num_landmarks}"
        )
    if num_landmarks > num_nodes:
        raise ValueError(f"num_landmarks: expected at most the number of nodes N = {num_nodes}, got {num_landmarks}")


def landmark_mds(
    landmark_dist: torch.Tensor | np.ndarray,
    landmarks: torch.Tensor | np.ndarray,
    dim: int,
    *,
    scale: bool = True,
    on_ambiguity: str = "ignore",
    symmetry_tol: float = 1e-6,
) -> torch.Tensor:
    """Canonical coordinates of ``N`` nodes from their distances to ``m`` landmarks.

    Args:
        landmark_dist: ``(m, N)`` distances from each landmark to every node (finite, >= 0);
            row ``k`` belongs to node ``landmarks[k]``, so ``landmark_dist[k, landmarks[k]]``
            is 0.
        landmarks: ``(m,)`` the landmarks' node indices (distinct), so that
            ``landmark_dist[:, landmarks]`` is the landmark-to-landmark matrix.
        dim: output dimension ``D``; needs ``m >= D + 1``.
        scale: divide by the RMS distance to the centroid (as :func:`tinvnn.mds`).
        on_ambiguity: passed to :func:`tinvnn.canonicalize`.
        symmetry_tol: largest allowed ``|d_kl - d_lk|`` of the landmark block, and
            ``d_k,landmarks[k]``, relative to the largest distance (as :func:`tinvnn.mds`).

    Returns:
        ``(N, D)`` float64 canonical coordinates.

    Raises:
        ValueError: bad shapes, non-finite or negative distances, too few landmarks, ``m > N``,
            repeated landmarks, rows that do not belong to their landmark (a non-zero
            ``landmark_dist[k, landmarks[k]]``, e.g. landmarks sorted while the rows are not),
            an asymmetric landmark block, or landmark distances of Euclidean rank below ``D``.

    Example:
        >>> x = torch.randn(50, 3, dtype=torch.float64)
        >>> idx = torch.arange(10)
        >>> landmark_mds(torch.cdist(x[idx], x), idx, 3).shape
        torch.Size([50, 3])
    """
    dist = _as_numpy(landmark_dist, "landmark_dist").astype(np.float64)
    if dist.ndim != 2:
        raise ValueError(f"landmark_dist: expected shape (m, N), got {tuple(dist.shape)}")
    m, n = dist.shape
    _check_counts(m, n, dim)
    idx = _as_numpy(landmarks, "landmarks")
    if idx.shape != (m,) or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(
            f"landmarks: expected ({m},) integer node indices (one per row), got {idx.dtype} of shape {idx.shape}"
        )
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"landmarks: expected indices in [0, {n - 1}], got values in [{idx.min()}, {idx.max()}]")
    if np.unique(idx).size != m:
        raise ValueError(f"landmarks: expected {m} distinct nodes, got {np.unique(idx).size} distinct")
    if not np.all(np.isfinite(dist)):
        raise ValueError("landmark_dist: expected finite distances, got infinity or NaN (is the graph connected?)")
    if np.any(dist < 0):
        raise ValueError(f"landmark_dist: expected non-negative distances, got minimum {dist.min()}")

    _check_landmark_block(dist[:, idx], symmetry_tol)
    with np.errstate(over="ignore"):  # an overflow is reported below, as a ValueError
        sq = dist**2  # (m, N) squared distances; the only O(N m) buffer besides the input
        overflow = not np.all(np.isfinite(sq)) or not np.isfinite(sq[:, idx].sum(axis=1)).all()
    if overflow:
        raise ValueError(
            f"landmark_dist: distances up to {dist.max():.3g} overflow float64 when squared; rescale them "
            "(e.g. divide by the largest)"
        )
    sq_m = sq[:, idx]
    mean_col = sq_m.mean(axis=1)
    centred = sq_m - mean_col[:, None] - mean_col[None, :] + mean_col.mean()
    evals, evecs = np.linalg.eigh(-0.5 * centred)
    evals, evecs = evals[::-1][:dim], evecs[:, ::-1][:, :dim]
    tol = max(evals[0], 0.0) * m * np.finfo(np.float64).eps * 10
    if not evals[-1] > tol:
        rank = int(np.sum(evals > tol))
        raise ValueError(
            f"landmarks: expected landmark distances spanning {dim} dimensions, got {rank} positive "
            f"eigenvalue(s) ({evals.tolist()}); use more or better spread landmarks or a smaller dim"
        )
    pinv = evecs / np.sqrt(evals)  # (m, D): columns v_k / sqrt(lambda_k)
    coords = 0.5 * (mean_col[None, :] @ pinv - sq.T @ pinv)  # (N, D)
    return canonicalize(torch.from_numpy(coords), scale=scale, group=Orthogonal(), on_ambiguity=on_ambiguity)


def _check_landmark_block(block: np.ndarray, symmetry_tol: float) -> None:
    """Raise unless the (m, m) landmark-to-landmark distances have a zero diagonal (row k is
    landmark k's) and are symmetric, both up to ``symmetry_tol`` times the largest entry."""
    check_number(symmetry_tol, "symmetry_tol")
    biggest = max(float(block.max()), 1e-300)
    own = np.abs(np.diagonal(block)) / biggest
    if own.max() > symmetry_tol:
        k = int(own.argmax())
        raise ValueError(
            f"landmark_dist: expected row k to hold the distances from node landmarks[k] "
            f"(landmark_dist[k, landmarks[k]] == 0), got {block[k, k]:.3g} at k = {k}; "
            "pass the landmarks in the order of the rows"
        )
    asym = np.abs(block - block.T) / biggest
    if asym.max() > symmetry_tol:
        a, b = (int(i) for i in np.unravel_index(int(asym.argmax()), asym.shape))
        raise ValueError(
            f"landmark_dist: expected symmetric distances between landmarks, got {block[a, b]:.6g} from landmark "
            f"{a} to {b} and {block[b, a]:.6g} back ({asym.max():.3g} of the largest distance)"
        )


def _farthest_points(adj: sp.csr_matrix, num_landmarks: int, first: int) -> tuple[np.ndarray, np.ndarray]:
    n = adj.shape[0]
    if not isinstance(first, (int, np.integer)) or not 0 <= first < n:
        raise ValueError(f"first: expected a node index in [0, {n - 1}], got {first!r}")
    landmarks = np.empty(num_landmarks, dtype=np.int64)
    dist = np.empty((num_landmarks, n))
    nearest = np.full(n, np.inf)
    current = int(first)
    dijkstra = _scipy("sparse.csgraph").dijkstra
    for k in range(num_landmarks):
        landmarks[k] = current
        dist[k] = dijkstra(adj, directed=True, indices=current)  # adj is symmetric
        np.minimum(nearest, dist[k], out=nearest)
        nearest[current] = -1.0  # never pick a landmark twice, even among zero-length edges
        current = int(np.argmax(nearest))
    return landmarks, dist


def farthest_point_landmarks(
    edge_index: torch.Tensor | np.ndarray,
    num_nodes: int,
    num_landmarks: int,
    *,
    weight: torch.Tensor | np.ndarray | None = None,
    first: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Farthest-point sampling of landmarks on a graph, with their distances to every node.

    Args:
        edge_index: ``(2, E)`` undirected edges (conventions of :mod:`tinvnn.geometry.distances`).
        num_nodes: ``N``.
        num_landmarks: ``m <= N``.
        weight: ``(E,)`` non-negative edge lengths; default 1.
        first: the first landmark.

    Returns:
        ``landmarks`` ``(m,)`` int64 in the order chosen, and ``(m, N)`` float64 distances.

    Raises:
        ValueError: as :func:`tinvnn.geometry.shortest_path_distances`, or ``m`` out of range.
        DisconnectedGraphError: the graph is not connected.
    """
    adj = _adjacency(edge_index, num_nodes, weight)
    if not isinstance(num_landmarks, (int, np.integer)) or not 1 <= num_landmarks <= num_nodes:
        raise ValueError(f"num_landmarks: expected an integer in [1, N = {num_nodes}], got {num_landmarks!r}")
    _components_or_raise(
        adj, "embed each component separately (labels from tinvnn.geometry.connected_components) or add edges."
    )
    landmarks, dist = _farthest_points(adj, num_landmarks, first)
    return torch.from_numpy(landmarks), torch.from_numpy(dist)


def graph_landmark_mds(
    edge_index: torch.Tensor | np.ndarray,
    num_nodes: int,
    dim: int,
    num_landmarks: int,
    *,
    weight: torch.Tensor | np.ndarray | None = None,
    first: int = 0,
    scale: bool = True,
) -> torch.Tensor:
    """Canonical ``dim``-D coordinates of a graph's nodes from its shortest-path distances.

    Farthest-point landmarks (:func:`farthest_point_landmarks`) then :func:`landmark_mds`.
    Time ``O(m (E + N log N))``, memory ``O(N m + E)``.

    Shape:
        edge_index: ``(2, E)``; weight: ``(E,)``; returns ``(N, dim)`` float64.

    Example:
        >>> ring = torch.stack([torch.arange(100), (torch.arange(100) + 1) % 100])
        >>> graph_landmark_mds(ring, 100, dim=2, num_landmarks=8).shape
        torch.Size([100, 2])
    """
    _check_counts(num_landmarks, num_nodes, dim)
    landmarks, dist = farthest_point_landmarks(edge_index, num_nodes, num_landmarks, weight=weight, first=first)
    return landmark_mds(dist, landmarks, dim, scale=scale)


def geodesic_landmark_mds(
    points: torch.Tensor | np.ndarray,
    k: int,
    dim: int,
    num_landmarks: int,
    *,
    first: int = 0,
    scale: bool = True,
) -> torch.Tensor:
    """Bending-invariant canonical form of a point cloud: landmark MDS of k-NN geodesic distances.

    Shape:
        points: ``(N, d)``; returns ``(N, dim)`` float64.

    Raises:
        DisconnectedGraphError: the k-NN graph falls apart (increase ``k``).
    """
    edge_index, weight = knn_graph(points, k)
    n = len(points)
    _check_counts(num_landmarks, n, dim)
    adj = _adjacency(edge_index, n, weight)
    _components_or_raise(adj, f"increase k (got k={k}) or embed each component separately.")
    landmarks, dist = _farthest_points(adj, num_landmarks, first)
    return landmark_mds(dist, landmarks, dim, scale=scale)
