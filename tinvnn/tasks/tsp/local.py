"""Exactly invariant local views of TSP decisions, and tour construction from them.

A decision state of a partial tour is seen through a **local view** (INViT's idea, made exactly
invariant): the current city ``c``, the start city ``s`` and the ``k`` unvisited cities nearest
to ``c``. Its tokens are

* the canonical coordinates (``tinvnn.canonicalize(..., scale=True)``) of the view's points
  ``[c, s', x_1 .. x_k]``, where ``s' = c + (s - c) min(1, 2 r / |s - c|)`` is the start city
  pulled to at most twice the view radius ``r = max_j |x_j - c|`` (so a far start does not
  set the view's scale);
* invariant scalars: ``|p - c| / r`` and ``(|p - s| - |c - s|) / r`` (clipped to [-4, 4]) per
  point, and per view ``log(1 + |c - s| / r)``, the fraction of candidate slots in use and
  whether the candidates are all the unvisited cities;
* a one-hot token type (current, start, candidate).

Every token is a function of distances and of canonical coordinates, so each decision is
invariant to translation, rotation, reflection and scale of the instance and blind to its size
and units; the scorer (``tinvnn.models.local_tsp.LocalScorer``) is permutation-equivariant over
the candidates. Tours are identical for transformed and permuted copies of an instance when no
two distances of a view (or two scores) tie within float error and no canonical frame decision
is within float error of its threshold (``docs/ambiguity.md``); on exactly tied inputs
(lattices) ties follow the city order.

Construction costs O(N k log N) time and O(N) memory: candidates come from a k-d tree
(``scipy.spatial.cKDTree``) over the unvisited cities, rebuilt whenever half of them have been
visited; no N x N matrix is formed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

import tinvnn
from tinvnn.models.local_tsp import LocalScorer
from tinvnn.tasks.tsp.heuristics import UnvisitedIndex

__all__ = ["NUM_FEATURES", "LocalView", "view_features", "invariant_starts", "construct_tours", "check_cities"]

#: Features per token: 2 canonical coordinates, 2 distance ratios, 3 view scalars, 3 token types.
NUM_FEATURES = 10
_START_PULL = 2.0
_CLIP = 4.0


@dataclass(frozen=True)
class LocalView:
    """A batch of B decision states seen locally, with k candidate slots each.

    Attributes:
        current: (B, 2) the current city.
        start: (B, 2) the start city of the tour.
        candidates: (B, k, 2) the nearest unvisited cities, nearest first; unused slots hold
            any finite value.
        valid: (B, k) bool, True for the slots in use (at least one per state).
        complete: (B,) bool, True where the candidates are all the unvisited cities.
    """

    current: Tensor
    start: Tensor
    candidates: Tensor
    valid: Tensor
    complete: Tensor


def view_features(view: LocalView, *, axis_signs: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Invariant tokens of local views (see the module docstring).

    Args:
        view: B states with k slots; any floating dtype (computed in that dtype).
        axis_signs: optional (B, 2) of +-1 multiplying the canonical coordinates (training
            augmentation over the frame's sign choices); None at inference.

    Returns:
        ``(tokens, mask)``: (B, k + 2, NUM_FEATURES) in ``view.current.dtype`` and (B, k + 2)
        bool; token 0 is the current city, 1 the start city, 2.. the candidates. Unused slots
        have all-zero tokens and ``mask`` False.
    """
    cur, start, cand, valid = view.current, view.start, view.candidates, view.valid
    b, k, _ = cand.shape
    cand = torch.where(valid[..., None], cand, cur[:, None])
    dist_cur = (cand - cur[:, None]).norm(dim=-1)  # (B, k)
    radius = dist_cur.amax(-1).clamp_min(torch.finfo(cur.dtype).tiny)  # (B,)
    to_start = start - cur
    start_dist = to_start.norm(dim=-1)
    pull = (_START_PULL * radius / start_dist.clamp_min(torch.finfo(cur.dtype).tiny)).clamp(max=1.0)
    points = torch.cat([cur[:, None], (cur + pull[:, None] * to_start)[:, None], cand], 1)  # (B, k + 2, 2)
    mask = torch.cat([valid.new_ones(b, 2), valid], 1)
    z = tinvnn.canonicalize(points, mask=mask, scale=True)
    if axis_signs is not None:
        z = z * axis_signs[:, None]
    near = (points - cur[:, None]).norm(dim=-1) / radius[:, None]
    closing = ((points - start[:, None]).norm(dim=-1) - start_dist[:, None]) / radius[:, None]
    per_view = torch.stack(
        [torch.log1p(start_dist / radius), valid.sum(-1).to(cur.dtype) / k, view.complete.to(cur.dtype)], -1
    )
    kind = torch.zeros(k + 2, 3, dtype=cur.dtype, device=cur.device)
    kind[0, 0], kind[1, 1], kind[2:, 2] = 1.0, 1.0, 1.0
    tokens = torch.cat(
        [
            z,
            near[..., None],
            closing.clamp(-_CLIP, _CLIP)[..., None],
            per_view[:, None].expand(b, k + 2, 3),
            kind.expand(b, k + 2, 3),
        ],
        -1,
    )
    return tokens * mask[..., None], mask


def check_cities(coords: np.ndarray) -> None:
    """Raise ValueError unless ``coords`` is (N, 2), finite, with N >= 1 distinct cities."""
    if coords.ndim != 2 or coords.shape[1] != 2 or coords.shape[0] < 1:
        raise ValueError(f"expected (N, 2) city coordinates with N >= 1, got shape {coords.shape}")
    if not np.isfinite(coords).all():
        raise ValueError("expected finite city coordinates")
    pairs = cKDTree(coords).query_pairs(0.0, output_type="ndarray")
    if len(pairs):
        i, j = sorted(pairs[0].tolist())
        raise ValueError(f"cities {i} and {j} (0-based) have the same coordinates (duplicate cities)")


def invariant_starts(coords: np.ndarray, num: int) -> list[int]:
    """Up to ``num`` distinct start cities chosen invariantly.

    The first is the city farthest from the centroid; then the extreme cities along ``num - 1``
    directions evenly spaced in the instance's canonical frame (``tinvnn.canonicalize`` of all
    cities, O(N)), then the city nearest the centroid. Duplicates are dropped.

    Shape:
        coords (N, 2) -> list of at most ``num`` city indices.
    """
    if num < 1:
        raise ValueError(f"expected num >= 1, got {num}")
    n = coords.shape[0]
    if n < 2:
        return [0]
    z = tinvnn.canonicalize(torch.from_numpy(np.asarray(coords, dtype=np.float64)), scale=True).numpy()
    radius = np.linalg.norm(z, axis=-1)
    order = [int(radius.argmax())]
    for i in range(num - 1):
        angle = 2.0 * math.pi * i / max(num - 1, 1)
        order.append(int((z @ np.array([math.cos(angle), math.sin(angle)])).argmax()))
    order.append(int(radius.argmin()))
    return list(dict.fromkeys(order))[:num]


def construct_tours(
    model: LocalScorer,
    coords: np.ndarray,
    starts: Sequence[int],
    *,
    k: int,
    sample: bool = False,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
    on_step: Callable[[Tensor, Tensor, Tensor], None] | None = None,
) -> np.ndarray:
    """Build one tour per start city by asking the scorer for each next city.

    The S tours are built side by side: each step gathers every tour's local view, scores
    them in one batch (in the model's dtype: float64 for exact invariance) and moves each tour to its best candidate (``sample=False``)
    or to one drawn from ``softmax(scores / temperature)``.

    Args:
        model: the candidate scorer.
        coords: (N, 2) distinct city coordinates.
        starts: S start cities.
        k: candidate slots per view.
        progress: show a progress bar over the N steps.
        on_step: called after each decision with the scorer's input tokens (S, k + 2,
            NUM_FEATURES) in the model's dtype, the valid slots (S, k) and the chosen slots (S,)
            (reinforcement fine-tuning records the rollout's states with it); the last city of
            each tour involves no decision.

    Returns:
        (S, N) int64 tours, each a permutation starting at its start city.
    """
    from tqdm import tqdm

    coords = np.asarray(coords, dtype=np.float64)
    n, s = coords.shape[0], len(starts)
    tours = np.empty((s, n), dtype=np.int64)
    tours[:, 0] = starts
    states = [UnvisitedIndex(coords, int(c)) for c in starts]
    points = torch.from_numpy(coords)
    dtype = next(model.parameters()).dtype
    model.eval()
    start_xy = points[tours[:, 0]]
    with torch.no_grad():
        for step in tqdm(range(1, n), desc="constructing", unit="city", disable=not progress, mininterval=1.0):
            current = tours[:, step - 1]
            if n - step == 1:
                tours[:, step] = [np.flatnonzero(u.unvisited)[0] for u in states]
                break
            cand = np.zeros((s, k), dtype=np.int64)
            valid = np.zeros((s, k), dtype=bool)
            for i, u in enumerate(states):
                found = u.nearest(coords[current[i]], k)
                cand[i, : len(found)], valid[i, : len(found)] = found, True
            view = LocalView(
                points[current],
                start_xy,
                points[torch.from_numpy(cand)],
                torch.from_numpy(valid),
                torch.tensor([u.left <= k for u in states]),
            )
            tokens = view_features(view)[0].to(dtype)
            scores = model(tokens).double().masked_fill(~view.valid, -math.inf)
            if sample:
                pick = torch.multinomial(torch.softmax(scores / temperature, -1), 1, generator=generator)[:, 0]
            else:
                pick = scores.argmax(-1)
            if on_step is not None:
                on_step(tokens, view.valid, pick)
            tours[:, step] = cand[np.arange(s), pick.numpy()]
            for i, u in enumerate(states):
                u.visit(int(tours[i, step]))
    return tours
