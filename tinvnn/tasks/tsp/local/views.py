"""Exactly invariant local views of TSP decisions (the local-view policy's input).

Tour construction from these views is in ``tinvnn.tasks.tsp.local.construction``.

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
* a one-hot token type (current, start, candidate);
* optionally (``LocalView.context``, policies trained with it) two scalars per point that see
  beyond the view: the share of the point's ``CONTEXT_NEIGHBOURS`` nearest cities still
  unvisited, and the distance to the nearest of those in view radii (clipped to 4; 4 when
  none is left). A candidate whose neighbours are all visited is a city the tour strands if
  it passes it by.

Every token is a function of distances and of canonical coordinates, so each decision is
invariant to translation, rotation, reflection and scale of the instance and blind to its size
and units; the scorer (``tinvnn.models.local_tsp.LocalScorer``) is permutation-equivariant over
the candidates. Tours are identical for transformed and permuted copies of an instance: a tie
at the k-th candidate's (or the 8th context neighbour's) distance, common with integer
coordinates, is decided by the distance to the instance's centroid, not by the numbering
(``tie_broken_order``). The exceptions are inputs symmetric enough that those keys tie as well
(lattices), two scores tied within float error, and a canonical frame decision within float
error of its threshold (``docs/ambiguity.md``); there ties follow the k-d tree's order (the numbering).

:func:`multi_view_features` gives the tokens of each view in several frames (the weighted frames
of ``tinvnn.weighted_frames``, continuous where the canonical frame jumps, or the 4 sign flips of
Frame Averaging), for a decision averaged over them; the frames of a view form a set that moves
with the view, so the average is exactly invariant too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

import tinvnn
from tinvnn.group import sign_patterns
from tinvnn.tasks.tsp.heuristics import TIE_RTOL, tie_broken_order
from tinvnn.tasks.tsp.local.recipe import CONTEXT_NEIGHBOURS

__all__ = [
    "FRAME_MODES",
    "LocalView",
    "context_scalars",
    "multi_view_features",
    "neighbour_table",
    "view_features",
]

#: Frames each decision's view is seen in (:func:`multi_view_features`).
FRAME_MODES = ("canonical", "weighted", "fa")

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
        context: optional (B, k + 2, NUM_CONTEXT) :func:`context_scalars` of the current city,
            the start city and the candidate slots (distances in the units of the coordinates;
            +inf where no neighbour is free; any value in unused slots), for policies trained
            with context; None otherwise.
    """

    current: Tensor
    start: Tensor
    candidates: Tensor
    valid: Tensor
    complete: Tensor
    context: Tensor | None = None

    def to(self, device: torch.device) -> LocalView:
        """The same view on ``device``."""
        context = None if self.context is None else self.context.to(device)
        return LocalView(
            self.current.to(device),
            self.start.to(device),
            self.candidates.to(device),
            self.valid.to(device),
            self.complete.to(device),
            context,
        )


def neighbour_table(coords: np.ndarray, m: int = CONTEXT_NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """Each city's ``min(m, N - 1)`` nearest other cities, nearest first, from a k-d tree; a tie
    at the m-th distance is decided by the distance to the centroid (``tie_broken_order``).

    Shape:
        coords (N, 2) -> indices (N, m') int64 and distances (N, m') float64.
    """
    n = len(coords)
    m = min(m, n - 1)
    out_idx, out_dist = np.empty((n, m), dtype=np.int64), np.empty((n, m))
    if m == 0:
        return out_idx, out_dist
    tree, key = cKDTree(coords), np.linalg.norm(coords - coords.mean(0), axis=1)
    rows, ask = np.arange(n), min(m + 1, n - 1)
    while len(rows):  # fetch past the ties of each row's m-th distance (lattices have many)
        dist, idx = tree.query(coords[rows], ask + 1)
        dist, idx = np.asarray(dist).reshape(len(rows), -1)[:, 1:], np.asarray(idx).reshape(len(rows), -1)[:, 1:]
        done = (dist[:, -1] > dist[:, m - 1] * (1.0 + TIE_RTOL)) | (ask == n - 1)
        order = tie_broken_order(dist[done], key[idx[done]])[:, :m]
        out_idx[rows[done]] = np.take_along_axis(idx[done], order, 1)
        out_dist[rows[done]] = np.take_along_axis(dist[done], order, 1)
        rows, ask = rows[~done], min(2 * ask, n - 1)
    return out_idx, out_dist


def context_scalars(free: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """The context of points from the visit state of their nearest cities.

    Args:
        free: (..., m) bool, True where the neighbour is unvisited.
        distances: (..., m) the distances to those neighbours.

    Returns:
        (..., NUM_CONTEXT) float64: the share of free neighbours (0 when m = 0) and the
        distance to the nearest free one (+inf when none).
    """
    share = free.sum(-1) / max(free.shape[-1], 1)
    return np.stack([share, np.where(free, distances, np.inf).min(-1, initial=np.inf)], -1)


def _view_points(view: LocalView) -> tuple[Tensor, Tensor, Tensor]:
    """The points a view is framed by, its token mask and its invariant (frame-free) token parts.

    Returns:
        ``(points, mask, scalars)``: (B, k + 2, 2) ``[c, s', x_1 .. x_k]`` (unused slots at
        ``c``), (B, k + 2) bool and (B, k + 2, F - 2), F the token width.
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
    near = (points - cur[:, None]).norm(dim=-1) / radius[:, None]
    closing = ((points - start[:, None]).norm(dim=-1) - start_dist[:, None]) / radius[:, None]
    per_view = torch.stack(
        [torch.log1p(start_dist / radius), valid.sum(-1).to(cur.dtype) / k, view.complete.to(cur.dtype)], -1
    )
    kind = torch.zeros(k + 2, 3, dtype=cur.dtype, device=cur.device)
    kind[0, 0], kind[1, 1], kind[2:, 2] = 1.0, 1.0, 1.0
    parts = [
        near[..., None],
        closing.clamp(-_CLIP, _CLIP)[..., None],
        per_view[:, None].expand(b, k + 2, 3),
        kind.expand(b, k + 2, 3),
    ]
    if view.context is not None:
        context = view.context.to(cur.dtype)
        parts += [context[..., :1], (context[..., 1:] / radius[:, None, None]).clamp(max=_CLIP)]
    return points, mask, torch.cat(parts, -1)


def view_features(view: LocalView, *, axis_signs: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Invariant tokens of local views (see the module docstring), in each view's canonical frame.

    Args:
        view: B states with k slots; any floating dtype (computed in that dtype).
        axis_signs: optional (B, 2) of +-1 multiplying the canonical coordinates (training
            augmentation over the frame's sign choices); None at inference.

    Returns:
        ``(tokens, mask)``: (B, k + 2, F) in ``view.current.dtype`` and (B, k + 2) bool, F =
        NUM_FEATURES, plus NUM_CONTEXT with ``view.context``; token 0 is the current city, 1
        the start city, 2.. the candidates. Unused slots have all-zero tokens and ``mask`` False.
    """
    points, mask, scalars = _view_points(view)
    z = tinvnn.canonicalize(points, mask=mask, scale=True)
    if axis_signs is not None:
        z = z * axis_signs[:, None]
    return torch.cat([z, scalars], -1) * mask[..., None], mask


def multi_view_features(view: LocalView, frames: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Tokens of each view in each of its frames, for averaging a scorer over them.

    Args:
        view: B states with k slots (as in :func:`view_features`).
        frames: ``"canonical"`` (one frame per view, as :func:`view_features`), ``"weighted"``
            (:func:`tinvnn.weighted_frames` of the view's points: the canonical frame where its
            sign and order decisions are confident, up to 4 frames with weights continuous in
            the input where not) or ``"fa"`` (Frame Averaging: the 4 sign flips of the
            canonical axes, weight 1/4 each).

    Returns:
        ``(tokens, mask, sample, weight)``: (F, k + 2, features), (F, k + 2) bool, (F,) int64
        the view of each frame (non-decreasing) and (F,) float64 weights summing to one per
        view; F frames in all. The frames of a view form a set that moves with the view, so a
        weighted average over them is exactly invariant.
    """
    if frames not in FRAME_MODES:
        raise ValueError(f"frames: expected one of {', '.join(FRAME_MODES)}, got {frames!r}")
    points, mask, scalars = _view_points(view)
    b = len(points)
    if frames == "weighted":
        frame_set = tinvnn.weighted_frames(points, mask=mask, scale=True)
        z, sample, weight = frame_set.points, frame_set.sample, frame_set.weight
    else:
        z = tinvnn.canonicalize(points, mask=mask, scale=True)
        copies = 1 if frames == "canonical" else 4
        signs = sign_patterns(2, dtype=z.dtype, device=z.device)[:copies]  # (copies, 2)
        z = (z[:, None] * signs[None, :, None]).flatten(0, 1)
        sample = torch.arange(b, device=z.device).repeat_interleave(copies)
        weight = torch.full((b * copies,), 1.0 / copies, dtype=torch.float64, device=z.device)
    mask = mask.index_select(0, sample)
    tokens = torch.cat([z, scalars.index_select(0, sample)], -1) * mask[..., None]
    return tokens, mask, sample, weight
