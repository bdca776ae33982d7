"""Neural reconstruction: re-decode segments of a tour with the local-view policy, keep improvements.

A round cuts the tour into disjoint segments of ``length`` edges (positions ``o + j length`` to
``o + (j + 1) length``, offset ``o`` drawn per round) and re-decodes every segment's inner
cities with the policy, in both directions: from its first end ``a`` the path must finish at
its last end ``b``, which takes the role of the tour's start city in the local view (the city
the tour returns to), and from ``b`` back to ``a``. Each decision sees the current city, that
end and the ``k`` nearest inner cities not yet placed (the whole segment's decisions of all
segments and both directions in one forward pass per step); with a context policy, the context
of a point counts as free the inner cities of its own segment not yet placed. A segment's new
path replaces the old one where it is shorter by more than ``1e-9`` relative, so the tour never
gets longer. This is the "random reconstruction" of LEHD/TTPL with an exactly invariant policy.

Invariance: the offsets and lengths are drawn from ``seed`` and act on tour positions; candidate
ties are decided by the distance to the instance's centroid (``tie_broken_order``); so the
result is invariant to rotation, reflection, scale and translation, and to renumbering for a
tour given in an invariant order (from an invariant start), as the policy's tours are.

Cost per round: O(N length) distances and (length - 1) forward passes of ``2 N / length`` views.
"""

from __future__ import annotations

import random
import time

import numpy as np
import torch
from torch import Tensor

from tinvnn.models.local_tsp import LocalScorer
from tinvnn.tasks.tsp.heuristics import tie_broken_order
from tinvnn.tasks.tsp.local.construction import view_scores
from tinvnn.tasks.tsp.local.recipe import NUM_CONTEXT, NUM_FEATURES
from tinvnn.tasks.tsp.local.views import LocalView, context_scalars, neighbour_table

__all__ = ["decode_paths", "reconstruct"]

_ACCEPT_RTOL = 1e-9
_FAR = 1e300  # the distance of cities already placed


def _path_lengths(coords: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """Lengths (S,) of open paths (S, L) of city indices."""
    steps = coords[paths[:, 1:]] - coords[paths[:, :-1]]
    return np.sqrt((steps**2).sum(-1)).sum(-1)


def decode_paths(
    model: LocalScorer,
    coords: np.ndarray,
    paths: np.ndarray,
    *,
    k: int,
    frames: str = "canonical",
    neighbours: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Re-decode the inner cities of S open paths with the policy, keeping each path's ends.

    Args:
        model: the scorer (float64 for exact invariance).
        coords: (N, 2) city coordinates.
        paths: (S, L) city indices, L >= 3, distinct within a path (different paths may share
            cities: each is decoded on its own).
        k: candidate slots per decision.
        frames: frames of each view (``tinvnn.tasks.tsp.local.construction.view_scores``).
        neighbours: :func:`~tinvnn.tasks.tsp.local.views.neighbour_table` of ``coords`` for a
            context policy (computed when None and needed).

    Returns:
        (S, L) new paths with the same ends and the same inner cities.
    """
    s, length = paths.shape
    inner = paths[:, 1:-1]  # (S, M) the cities to place
    m = length - 2
    points = torch.from_numpy(coords)
    context = model.embed.in_features == NUM_FEATURES + NUM_CONTEXT
    if context and neighbours is None:
        neighbours = neighbour_table(coords)
    slot_of = _SlotLookup(inner, len(coords)) if context else None
    key = np.linalg.norm(coords - coords.mean(0), axis=1)[inner]  # (S, M) tie-break key
    gap = np.sqrt(((coords[inner][:, :, None] - coords[inner][:, None]) ** 2).sum(-1))  # (S, M, M)
    from_end = np.sqrt(((coords[paths[:, :1]] - coords[inner]) ** 2).sum(-1))  # (S, M)
    rows = np.arange(s)
    out = paths.copy()
    current = np.full(s, -1)  # slot of the current city in ``inner``; -1: the first end
    free = np.ones((s, m), dtype=bool)
    slots = min(k, m)
    with torch.no_grad():
        for step in range(m):
            dist = np.where(current[:, None] < 0, from_end, gap[rows, np.maximum(current, 0)])
            dist = np.where(free, dist, _FAR)  # finite, so that tie_broken_order sees no inf - inf
            order = np.argsort(dist, axis=1, kind="stable")
            order = np.take_along_axis(
                order,
                tie_broken_order(np.take_along_axis(dist, order, 1), np.take_along_axis(key, order, 1)),
                1,
            )[:, :slots]
            valid = np.take_along_axis(free, order, 1)
            if m - step == 1:
                pick = np.zeros(s, dtype=np.int64)
            else:
                cand = inner[rows[:, None], order]  # (S, slots) global ids
                here = np.where(current < 0, paths[:, 0], inner[rows, np.maximum(current, 0)])
                view = LocalView(
                    points[here],
                    points[paths[:, -1]],
                    points[torch.from_numpy(cand)],
                    torch.from_numpy(valid),
                    torch.from_numpy(free.sum(1) <= slots),
                    _context(neighbours, slot_of, free, here, paths[:, -1], cand) if context else None,
                )
                pick = view_scores(model, view, frames)[0].argmax(-1).numpy()
            current = order[rows, pick]
            free[rows, current] = False
            out[:, step + 1] = inner[rows, current]
    return out


class _SlotLookup:
    """Where cities sit among each path's inner cities: ``(S, M)`` ids, looked up per path."""

    def __init__(self, inner: np.ndarray, num_cities: int) -> None:
        self.m = inner.shape[1]
        self.base = np.arange(len(inner), dtype=np.int64) * num_cities  # paths as disjoint id ranges
        keys = (inner + self.base[:, None]).reshape(-1)
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]

    def __call__(self, cities: np.ndarray) -> np.ndarray:
        """Slot (S, ...) of each city of path s among its inner cities, -1 where not inner."""
        query = cities + self.base.reshape(-1, *([1] * (cities.ndim - 1)))
        pos = np.minimum(np.searchsorted(self.keys, query), len(self.keys) - 1)
        return np.where(self.keys[pos] == query, self.order[pos] % self.m, -1)


def _context(
    neighbours: tuple[np.ndarray, np.ndarray] | None,
    slot_of: _SlotLookup | None,
    free: np.ndarray,
    here: np.ndarray,
    end: np.ndarray,
    cand: np.ndarray,
) -> Tensor:
    """Context scalars (S, k + 2, NUM_CONTEXT) of the current city, the end and the candidates:
    a neighbour is free where it is an inner city of the same path not yet placed (``free``, (S, M))."""
    assert neighbours is not None and slot_of is not None
    near, dist = neighbours
    cities = np.concatenate([here[:, None], end[:, None], cand], 1)  # (S, k + 2)
    slot = slot_of(near[cities])  # (S, k + 2, m)
    rows = np.arange(len(cities))[:, None, None]
    open_ = (slot >= 0) & free[rows, np.maximum(slot, 0)]
    return torch.from_numpy(context_scalars(open_, dist[cities]))


def reconstruct(
    model: LocalScorer,
    coords: np.ndarray,
    tour: np.ndarray,
    *,
    k: int,
    rounds: int = 10,
    lengths: tuple[int, int] = (10, 40),
    seed: int = 0,
    frames: str = "canonical",
    seconds: float | None = None,
) -> np.ndarray:
    """Improve ``tour`` by rounds of segment re-decoding (see the module docstring).

    Args:
        model: the scorer.
        coords: (N, 2) distinct city coordinates.
        tour: (N,) a permutation of 0..N-1.
        k: candidate slots per decision.
        rounds: rounds of reconstruction (at most; see ``seconds``).
        lengths: each round's segment length (edges) is drawn uniformly from this inclusive
            range (capped at N).
        seed: seed of the offsets and lengths.
        frames: frames of each decision's view.
        seconds: stop after the round during which this much CPU time has passed (None: no limit).

    Returns:
        (N,) int64 tour, never longer than ``tour``.
    """
    n = len(tour)
    if sorted(np.asarray(tour).tolist()) != list(range(n)):
        raise ValueError(f"expected a permutation of 0..{n - 1}")
    low, high = lengths
    if not 3 <= low <= high:
        raise ValueError(f"lengths: expected 3 <= low <= high, got {lengths}")
    coords = np.asarray(coords, dtype=np.float64)
    tour = np.asarray(tour, dtype=np.int64).copy()
    if n < 5:
        return tour
    neighbours = neighbour_table(coords) if model.embed.in_features == NUM_FEATURES + NUM_CONTEXT else None
    draw, start = random.Random(seed), time.process_time()
    for _ in range(rounds):
        length = min(draw.randint(low, high), n - 1)
        count = n // length
        offset = draw.randrange(n)
        index = (offset + np.arange(count)[:, None] * length + np.arange(length + 1)) % n  # (S, length + 1)
        old = tour[index]
        both = np.concatenate([old, old[:, ::-1]])
        new = decode_paths(model, coords, both, k=k, frames=frames, neighbours=neighbours)
        new = np.stack([new[:count], new[count:, ::-1]], 1)  # (S, 2, length + 1), both as a -> b
        new_len = _path_lengths(coords, new.reshape(2 * count, -1)).reshape(count, 2)
        best = new_len.argmin(1)
        better = new_len[np.arange(count), best] < _path_lengths(coords, old) * (1 - _ACCEPT_RTOL)
        tour[index[better]] = new[np.arange(count), best][better]
        if seconds is not None and time.process_time() - start >= seconds:
            break
    return tour
