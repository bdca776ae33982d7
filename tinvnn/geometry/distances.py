"""Distance matrices that :func:`tinvnn.mds` and :func:`tinvnn.geometry.landmark_mds` accept.

* :func:`euclidean_distances`: exact pairwise Euclidean distances (differences, not the Gram
  trick, so the diagonal is exactly zero and small distances keep their digits).
* :func:`shortest_path_distances`: lengths of shortest paths on an undirected weighted graph
  given as a PyG-style ``edge_index`` (Dijkstra from :mod:`scipy.sparse.csgraph`).
* :func:`knn_graph` and :func:`geodesic_distances`: the symmetrised k-nearest-neighbour graph
  of a point cloud with Euclidean edge lengths, and shortest paths on it -- approximate
  geodesic distances, which do not change when an articulated shape bends, so their MDS
  coordinates are a bending-invariant canonical form (Elad & Kimmel 2003).

Graph conventions: nodes are ``0 .. N-1``; ``edge_index`` is ``(2, E)`` with one column per
edge; edges are undirected (``u -> v`` also gives ``v -> u``); a pair listed more than once
keeps its smallest weight; self-loops are ignored; weights must be finite and non-negative
(zero is allowed). Distances are returned in float64. A graph that is not connected has
infinite distances, which MDS cannot embed: these functions raise
:class:`DisconnectedGraphError`, naming the components; embed each component on its own
(:func:`connected_components` gives the labels).
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import torch

from tinvnn._optional import require

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = [
    "DisconnectedGraphError",
    "connected_components",
    "euclidean_distances",
    "geodesic_distances",
    "knn_graph",
    "shortest_path_distances",
]

ArrayLike = torch.Tensor | np.ndarray


def _scipy(module: str) -> ModuleType:
    """``scipy.<module>``; scipy is optional (extra ``tasks``), so a missing one gets a one-line error."""
    return require(f"scipy.{module}", "tinvnn.geometry")


class DisconnectedGraphError(ValueError):
    """The graph has more than one connected component, so some distances are infinite."""


def euclidean_distances(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Pairwise Euclidean distances ``|x_i - y_j|``, computed from differences.

    Args:
        x: ``(N, d)`` or ``(B, N, d)`` points.
        y: ``(M, d)`` or ``(B, M, d)`` points; default ``x``.

    Returns:
        ``(N, M)`` or ``(B, N, M)`` distances in the dtype of ``x`` (float16 and bfloat16 are
        computed in float64).

    Example:
        >>> euclidean_distances(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))
        tensor([[0., 5.],
                [5., 0.]])
    """
    if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3) or not x.is_floating_point():
        raise ValueError(f"x: expected a floating-point tensor of shape (N, d) or (B, N, d), got {_describe(x)}")
    y = x if y is None else y
    if (
        not isinstance(y, torch.Tensor)
        or y.dim() != x.dim()
        or y.shape[-1] != x.shape[-1]
        or y.shape[:-2] != x.shape[:-2]
    ):
        raise ValueError(
            f"y: expected a tensor of shape {tuple(x.shape[:-2])} + (M, {x.shape[-1]}), got {_describe(y)}"
        )
    work = torch.float64 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype  # no half cdist on CPU
    return torch.cdist(x.to(work), y.to(work), compute_mode="donot_use_mm_for_euclid_dist").to(x.dtype)


def _describe(value: object) -> str:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return f"{type(value).__name__} of dtype {value.dtype} and shape {tuple(value.shape)}"
    return type(value).__name__


def _as_numpy(value: ArrayLike, name: str) -> np.ndarray:
    """``value`` as a NumPy array; floating tensors in float64 (NumPy has no bfloat16). Complex,
    structured and object arrays are refused (a cast would drop the imaginary part silently)."""
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise ValueError(f"{name}: expected real numbers, got complex dtype {value.dtype}")
        value = value.detach().cpu()
        return (value.to(torch.float64) if value.is_floating_point() else value).numpy()
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            kind = "complex" if value.dtype.kind == "c" else "non-numeric"
            raise ValueError(f"{name}: expected real numbers, got {kind} dtype {value.dtype}")
        return value
    raise ValueError(f"{name}: expected a torch.Tensor or numpy.ndarray, got {type(value).__name__}")


def _adjacency(edge_index: ArrayLike, num_nodes: int, weight: ArrayLike | None) -> sp.csr_matrix:
    """Validated symmetric CSR adjacency: both directions of each pair, with its smallest weight."""
    if not isinstance(num_nodes, (int, np.integer)) or num_nodes < 1:
        raise ValueError(f"num_nodes: expected a positive integer, got {num_nodes!r}")
    edges = _as_numpy(edge_index, "edge_index")
    if edges.ndim != 2 or edges.shape[0] != 2:
        raise ValueError(f"edge_index: expected shape (2, E), got {tuple(edges.shape)}")
    if edges.size and not np.issubdtype(edges.dtype, np.integer):
        raise ValueError(f"edge_index: expected integer node indices, got dtype {edges.dtype}")
    edges = edges.astype(np.int64)
    if edges.size and (edges.min() < 0 or edges.max() >= num_nodes):
        raise ValueError(
            f"edge_index: expected node indices in [0, {num_nodes - 1}], got values in [{edges.min()}, {edges.max()}]"
        )
    if weight is None:
        w = np.ones(edges.shape[1])
    else:
        w = _as_numpy(weight, "weight").astype(np.float64)
        if w.shape != (edges.shape[1],):
            raise ValueError(f"weight: expected shape ({edges.shape[1]},) (one per edge), got {tuple(w.shape)}")
        if not np.all(np.isfinite(w)):
            bad = np.flatnonzero(~np.isfinite(w))
            raise ValueError(
                f"weight: expected finite weights, got {w[bad[0]]} at edge {bad[0]} ({bad.size} non-finite)"
            )
        if np.any(w < 0):
            bad = np.flatnonzero(w < 0)
            raise ValueError(
                f"weight: expected non-negative weights (shortest paths are undefined with negative ones), "
                f"got {w[bad[0]]} at edge {bad[0]} ({bad.size} negative)"
            )
    u, v = np.minimum(edges[0], edges[1]), np.maximum(edges[0], edges[1])
    keep = u != v
    u, v, w = u[keep], v[keep], w[keep]
    # Smallest weight per pair: sort by (pair, weight) and keep each pair's first entry.
    order = np.lexsort((w, v, u))
    u, v, w = u[order], v[order], w[order]
    first = np.ones(u.size, dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, w = u[first], v[first], w[first]
    # Both directions stored, so Dijkstra runs as directed (no per-call symmetrisation); no
    # duplicates remain to be summed, and csr_matrix keeps explicit zeros as weight-0 edges.
    adj = _scipy("sparse").csr_matrix(
        (np.concatenate([w, w]), (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(num_nodes, num_nodes)
    )
    adj.sort_indices()
    return adj


def _components_or_raise(adj: sp.csr_matrix, hint: str) -> None:
    count, labels = _scipy("sparse.csgraph").connected_components(adj, directed=True, connection="weak")
    if count == 1:
        return
    sizes = np.bincount(labels, minlength=count)
    order = np.argsort(-sizes, kind="stable")
    parts = []
    for c in order[:5]:
        nodes = np.flatnonzero(labels == c)
        shown = ", ".join(str(i) for i in nodes[:5]) + (", ..." if nodes.size > 5 else "")
        parts.append(f"{sizes[c]} nodes [{shown}]")
    more = f", and {count - 5} more" if count > 5 else ""
    raise DisconnectedGraphError(
        f"expected a connected graph, got {count} connected components: {'; '.join(parts)}{more}. "
        f"Distances between components are infinite; {hint}"
    )


def connected_components(edge_index: ArrayLike, num_nodes: int) -> torch.Tensor:
    """Component label of every node (labels ``0 .. C-1``, undirected).

    Shape:
        edge_index: ``(2, E)``; returns ``(N,)`` int64.
    """
    adj = _adjacency(edge_index, num_nodes, None)
    _, labels = _scipy("sparse.csgraph").connected_components(adj, directed=True, connection="weak")
    return torch.from_numpy(labels.astype(np.int64))


def _sources(sources: ArrayLike | None, num_nodes: int) -> np.ndarray | None:
    if sources is None:
        return None
    idx = np.atleast_1d(_as_numpy(sources, "sources"))
    if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise ValueError(f"sources: expected a 1-D array of node indices, got {idx.dtype} of shape {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= num_nodes):
        raise ValueError(
            f"sources: expected node indices in [0, {num_nodes - 1}], got values in [{idx.min()}, {idx.max()}]"
        )
    return idx.astype(np.int64)


def shortest_path_distances(
    edge_index: ArrayLike,
    num_nodes: int,
    *,
    weight: ArrayLike | None = None,
    sources: ArrayLike | None = None,
) -> torch.Tensor:
    """Shortest-path lengths on an undirected weighted graph (Dijkstra).

    Args:
        edge_index: ``(2, E)`` integer node pairs.
        num_nodes: ``N``; nodes without edges are allowed only if ``N == 1``.
        weight: ``(E,)`` finite, non-negative edge lengths; default 1 (hop counts).
        sources: ``(S,)`` nodes to measure from; default all (``S = N``, an ``(N, N)`` matrix).

    Returns:
        ``(S, N)`` float64 distances.

    Raises:
        ValueError: bad shapes, indices out of range, negative or non-finite weights.
        DisconnectedGraphError: the graph is not connected (the message lists the components).

    Example:
        >>> shortest_path_distances(torch.tensor([[0, 1], [1, 2]]), 3)
        tensor([[0., 1., 2.],
                [1., 0., 1.],
                [2., 1., 0.]], dtype=torch.float64)
    """
    adj = _adjacency(edge_index, num_nodes, weight)
    idx = _sources(sources, num_nodes)
    _components_or_raise(
        adj, "embed each component separately (labels from tinvnn.geometry.connected_components) or add edges."
    )
    dist = _scipy("sparse.csgraph").dijkstra(adj, directed=True, indices=idx)
    return torch.from_numpy(np.atleast_2d(dist))


def knn_graph(points: ArrayLike, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges from every point to its ``k`` nearest other points, with their Euclidean lengths.

    Used undirected (as :func:`shortest_path_distances` does), this is the symmetrised k-NN
    graph: ``i`` and ``j`` are joined when either is among the other's ``k`` nearest.

    Args:
        points: ``(N, d)`` coordinates.
        k: neighbours per point, ``1 <= k <= N - 1``.

    Returns:
        ``edge_index`` ``(2, N k)`` int64 and ``weight`` ``(N k,)`` float64.
    """
    pts = _as_numpy(points, "points").astype(np.float64)
    if pts.ndim != 2 or pts.shape[0] < 2:
        raise ValueError(f"points: expected shape (N, d) with N >= 2, got {tuple(pts.shape)}")
    if not np.all(np.isfinite(pts)):
        raise ValueError("points: expected finite coordinates, got NaN or infinity")
    n = pts.shape[0]
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= n - 1:
        raise ValueError(f"k: expected an integer in [1, {n - 1}] (N - 1), got {k!r}")
    dist, nbr = _scipy("spatial").cKDTree(pts).query(pts, k=k + 1)
    # Drop each point itself; with duplicate points the query may list a twin first, so drop by index.
    rows = np.repeat(np.arange(n), k + 1).reshape(n, k + 1)
    not_self = nbr != rows
    not_self[not_self.sum(axis=1) > k, -1] = False  # the point itself was not returned: drop the farthest
    src = rows[not_self].reshape(n, k)
    dst = nbr[not_self].reshape(n, k)
    w = dist[not_self].reshape(n, k)
    if not np.all(np.isfinite(w)):
        raise ValueError(
            f"points: distances overflow float64 (coordinates up to {np.abs(pts).max():.3g}); rescale the points"
        )
    edge_index = torch.from_numpy(np.stack([src.ravel(), dst.ravel()]).astype(np.int64))
    return edge_index, torch.from_numpy(w.ravel())


def geodesic_distances(points: ArrayLike, k: int, *, sources: ArrayLike | None = None) -> torch.Tensor:
    """Approximate geodesic distances: shortest paths on the symmetrised k-NN graph.

    Args:
        points: ``(N, d)`` coordinates.
        k: neighbours per point (typically 6-12 for surfaces sampled densely enough).
        sources: ``(S,)`` points to measure from; default all.

    Returns:
        ``(S, N)`` float64 distances.

    Raises:
        DisconnectedGraphError: the k-NN graph falls apart (increase ``k``).
    """
    edge_index, weight = knn_graph(points, k)
    n = len(points)
    adj = _adjacency(edge_index, n, weight)
    idx = _sources(sources, n)
    _components_or_raise(adj, f"increase k (got k={k}) or embed each component separately.")
    return torch.from_numpy(np.atleast_2d(_scipy("sparse.csgraph").dijkstra(adj, directed=True, indices=idx)))
