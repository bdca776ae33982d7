"""Cities at one point: TSPLIB allows them (a280 has two), the policy needs distinct cities.

:func:`merge_duplicates` keeps one city of each group of equal coordinates;
:func:`expand_tour` puts the others back right after it (zero-length edges in a planar metric:
no tour through the distinct cities gets longer by visiting a twin next to its city, so the
merged instance loses nothing). Both depend only on coordinates and the input order within a
group, so tours stay invariant to rotation, reflection, scale and translation, and to
renumbering up to the order of cities at one point.
"""

from __future__ import annotations

import numpy as np

__all__ = ["expand_tour", "merge_duplicates"]


def merge_duplicates(coords: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The cities to keep and the group of each kept city.

    Args:
        coords: (N, 2) city coordinates.

    Returns:
        ``keep`` (M,) int64, the first city (lowest index) of each point in input order, and
        ``groups``: M arrays, ``groups[i]`` the cities (ascending) at the point of ``keep[i]``.

    Example:
        >>> keep, groups = merge_duplicates(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]))
        >>> keep.tolist(), [g.tolist() for g in groups]
        ([0, 1], [[0, 2], [1]])
    """
    coords = np.asarray(coords, dtype=np.float64)
    # + 0.0 makes -0.0 and 0.0 one point
    _, first, inverse = np.unique(coords + 0.0, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(first, kind="stable")  # points in order of their first city
    keep = first[order].astype(np.int64)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    labels = rank[inverse]
    by_point = np.argsort(labels, kind="stable").astype(np.int64)  # ascending cities within a point
    groups = np.split(by_point, np.cumsum(np.bincount(labels, minlength=len(keep)))[:-1])
    return keep, groups


def expand_tour(tour: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """A tour (M,) of the kept cities (indices into ``keep``) as a tour (N,) of every city: each
    kept city followed by its twins in ascending order.

    Example:
        >>> expand_tour(np.array([1, 0]), [np.array([0, 2]), np.array([1])]).tolist()
        [1, 0, 2]
    """
    return np.concatenate([groups[int(c)] for c in tour]).astype(np.int64)
