"""Weighted frames: the canonical frame where its decisions are confident, a weighted set where not.

A single canonical frame is a discontinuous function of the input (no continuous
canonicalization exists for O(d): Dym, Lawrence, Siegel, "Equivariant Frames and the
Impossibility of Continuous Canonicalization", ICML 2024). It jumps wherever one of its
decisions changes: an axis sign (the sign of a skewness) or the order of two nearly equal
eigenvalues. Their answer, implemented here, is a *weighted* frame: per sample a small set of
frames with weights that are continuous functions of the input.

Per sample and per decision a **confidence** ``c`` = the decision's margin divided by its own
sampling noise, both estimated from the sample (see ``docs/ambiguity.md``):

* sign of canonical axis k: the skewness ``g = E[u^3]`` (``u = z_k / sd_k``) divided by its
  delta-method standard error ``sqrt(E[(u^3 - 3u - 3/2 g (u^2 - 1))^2] / N)`` (``sqrt(6 / N)``
  for Gaussian points);
* order of canonical axes k and k+1: the variance gap ``v_k - v_{k+1}`` (``v_k = E[z_k^2]``)
  divided by ``sqrt(E[(z_k^2 - z_{k+1}^2 - v_k + v_{k+1})^2] / N)``.

Each decision keeps its canonical choice with probability ``phi(c)`` and takes the alternative
(the flipped axis, the swapped pair) with ``phi(-c) = 1 - phi(c)``, where
``phi(c) = 1/2 + (3x - x^3) / 4``, ``x = clamp(c / threshold, -1, 1)``: continuous (C^1), 1/2 on
the decision boundary, exactly 1 (and the alternative exactly 0) beyond ``threshold``. A frame's
weight is the product over decisions; frames of weight 0 are dropped, so a confident sample keeps
its one canonical frame. Everything is computed from canonical (invariant) quantities, so the
weighted set of frames moves with the input: a weighted average of any backbone over it is
exactly invariant, and equivariant for outputs mapped back through each frame.

Limits: a cap ``max_frames`` keeps the largest weights minus the first dropped one (continuous;
weights within 1e-6 of each other count as equal, ties kept by pattern index, so that rounding
cannot choose the frames of a symmetric shape: :func:`tinvnn.frame_set.cap_weights`);
with three or more nearly equal eigenvalues the adjacent swaps compose in a fixed order (still
invariant, not continuous there); where the group decides an axis's sign itself
(:meth:`tinvnn.group.Group.handed_axis`: for ``Rotations()``, ``"SO"``, the axis that completes
a right-handed frame), it is chosen as in :func:`tinvnn.canonicalize` from the skewness (for
SO the least skewed axis, a discrete choice), and only patterns in the group are kept. A group
that keeps an axis (:class:`tinvnn.group.AxialRotations`) keeps it out of every decision: only
the in-plane axes are flipped or swapped.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tinvnn._checks import check_number, check_positive_int
from tinvnn._layout import Layout
from tinvnn.canonical import NULL_TOL, canonical_frame
from tinvnn.frame_set import FrameSet, cap_weights, mapped_frames
from tinvnn.group import Group, as_group, sign_patterns

__all__ = ["DEFAULT_MAX_FRAMES", "DEFAULT_THRESHOLD", "check_frame_options", "frame_weight", "weighted_frames"]

# Confidences (margins in units of their standard error) from which a decision is taken alone,
# and the cap on frames per sample: 2.5 frames per ModelNet40 test cloud of 256 points (fa: 8).
DEFAULT_THRESHOLD = 1.0
DEFAULT_MAX_FRAMES = 4
_MAX_DIM = 6  # 2^D sign patterns times 2^(D-1) orders are enumerated per sample
_NOISE_FLOOR = 1e-12  # a standard error below this (times the statistic's scale) counts as this


def frame_weight(confidence: Tensor, threshold: float) -> Tensor:
    """Weight of keeping a decision whose confidence is ``confidence``: ``phi(c)`` in [0, 1].

    ``phi(c) = 1/2 + (3x - x^3) / 4`` with ``x = clamp(c / threshold, -1, 1)``; ``phi(-c) = 1 - phi(c)``,
    ``phi(0) = 1/2``, ``phi(c) = 1`` for ``c >= threshold``. Any shape.
    """
    x = (confidence / threshold).clamp(-1.0, 1.0)
    return 0.5 + (3 * x - x**3) / 4


def check_frame_options(threshold: float, max_frames: int | None) -> None:
    """Raise unless ``threshold`` is a finite number > 0 and ``max_frames`` None or an int >= 1."""
    check_number(threshold, "threshold", positive=True)
    if max_frames is not None:
        check_positive_int(max_frames, "max_frames")


def weighted_frames(
    pos: Tensor,
    *,
    mask: Tensor | None = None,
    batch: Tensor | None = None,
    scale: bool = True,
    group: Group | str = "O",
    threshold: float = DEFAULT_THRESHOLD,
    max_frames: int | None = DEFAULT_MAX_FRAMES,
    orders: bool = True,
    draw: bool = False,
) -> FrameSet:
    """Weighted canonical frames of each sample (see the module docstring and ``docs/ambiguity.md``).

    Args:
        pos: (N, D), (B, N, D) with optional bool ``mask`` (B, N), or flat (N_total, D) with
            ``batch`` (N_total,), as in :func:`tinvnn.canonicalize`. D <= 6.
        scale, group: as in :func:`tinvnn.canonicalize`.
        threshold: confidence (margin over its standard error) from which a decision keeps
            only its canonical choice. Larger: more frames, smoother; 0 is not allowed.
        max_frames: at most this many frames per sample (None: no cap). The weights above the
            cap's first dropped weight are kept, minus that weight (so they stay continuous).
        orders: also weigh the order of nearly equal variances (else signs only).
        draw: one frame per sample, drawn with probability equal to its weight (from the global
            CPU generator), with weight 1: the cheap training mode.

    Returns:
        :class:`~tinvnn.FrameSet`; for a confident sample exactly one frame, the canonical one.

    Shape:
        pos (B, N, D) -> F frames, points (F, N, D); flat (N_total, D) -> points (M, D).

    Example:
        >>> fs = weighted_frames(torch.randn(4, 256, 3))
        >>> fs.counts().tolist(), fs.average(fs.points.mean(1)).shape   # doctest: +SKIP
        ([2, 1, 4, 1], torch.Size([4, 3]))
    """
    check_frame_options(threshold, max_frames)
    group = as_group(group)
    dense, frame = canonical_frame(pos, mask=mask, batch=batch, scale=scale, group=group)
    layout = frame.layout
    d = dense.shape[-1]
    if d > _MAX_DIM:
        raise ValueError(f"weighted frames enumerate 2^(2D-1) patterns per sample: expected D <= {_MAX_DIM}, got {d}")
    with torch.no_grad():
        null = frame.eigenvalues <= NULL_TOL * frame.eigenvalues[:, :1]
        skew, sign_c, order_c = _confidences(dense.detach().to(torch.float64), layout, null)
        if not orders:
            order_c = torch.full_like(order_c, float("inf"))
        # A kept axis (rotations about an axis) takes part in no order decision.
        order_c[:, group.free_axes(d) - 1 :] = float("inf")
        signs, perms, order_bits = _patterns(d, dense.device)  # (P, D) in old-axis order, (P, D), (P, D-1)
        # Pattern p maps canonical points z to z @ maps[p]: new axis i is old axis perms[p, i], signed.
        pattern_maps = (
            torch.eye(d, dtype=torch.float64, device=perms.device)[perms].mT * signs.gather(1, perms)[:, None, :]
        )
        keep = frame_weight(signs[None] * sign_c[:, None, :], threshold)  # (B, P, D)
        # The axis the group decides itself (for SO the least skewed, a null one if any) is no
        # decision of the sign rule; patterns outside the group get weight 0.
        own = group.handed_axis(skew.abs(), null)
        if own is not None:
            keep = torch.where(own[:, None, :], 1.0, keep)
        keep = keep * group.canonical_group().contains(pattern_maps)[None, :, None]
        weight = keep.prod(-1) * frame_weight(order_bits[None] * order_c[:, None, :], threshold).prod(-1)
        weight = cap_weights(weight, max_frames)
        if draw:
            choice = torch.multinomial(weight.cpu(), 1).squeeze(1).to(weight.device)
            sample = torch.arange(weight.shape[0], device=weight.device)
            pattern, w = choice, torch.ones_like(weight[:, 0])
        else:
            sample, pattern = weight.nonzero(as_tuple=True)
            w = weight[sample, pattern]
    return mapped_frames(frame, dense, sample, pattern_maps[pattern], w)


# ------------------------------------------------------------------------------------ steps
def _confidences(z: Tensor, layout: Layout, null: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Skewness (B, D), sign confidences (B, D) and order confidences (B, D-1) of canonical
    points z (B, N, D); ``null`` (B, D) marks axes without extent (their decisions move nothing).

    Padding rows of ``z`` are zero and every statistic is a mean over real points, so padding
    contributes nothing (the centred points have mean zero: ``E[u] = 0``).
    """
    n = layout.counts.to(z.dtype)[:, None]

    def mean(x: Tensor) -> Tensor:  # (B, N, D) -> (B, D); padding rows are zero
        return x.sum(1) / n

    weight = None if layout.mask is None else layout.mask.to(z.dtype)[..., None]
    var = mean(z * z)
    u = z / var.clamp_min(1e-300).sqrt()[:, None, :]
    skew = mean(u**3)
    influence = u**3 - 3 * u - 1.5 * skew[:, None, :] * (u * u - 1)
    if weight is not None:
        influence = influence * weight
    noise = (mean(influence**2) / n).sqrt().clamp_min(_NOISE_FLOOR)
    sign_c = torch.where(null, float("inf"), skew / noise)
    gap = var[:, :-1] - var[:, 1:]
    influence = z[..., :-1] ** 2 - z[..., 1:] ** 2 - gap[:, None, :]
    if weight is not None:
        influence = influence * weight
    noise = (mean(influence**2) / n).sqrt().clamp_min(_NOISE_FLOOR * var[:, :1])
    order_c = torch.where(null[:, 1:], float("inf"), gap / noise)
    return skew, sign_c, order_c


def _patterns(d: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Every combination of axis signs and adjacent swaps: signs (P, D), permutations (P, D)
    and order bits (P, D-1), P = 2^D 2^(D-1).

    Pattern p = (sign bits, order bits), sign-major. An order bit is +1 where the pattern keeps
    the canonical order of a pair, -1 where it swaps it; the swaps are applied left to right.
    The first pattern is the identity (the canonical frame).
    """
    order = sign_patterns(d - 1, device=device)  # (2^(D-1), D-1)
    perms = []
    for bits in order.tolist():
        perm = list(range(d))
        for j, bit in enumerate(bits):
            if bit < 0:
                perm[j], perm[j + 1] = perm[j + 1], perm[j]
        perms.append(perm)
    signs = sign_patterns(d, device=device).repeat_interleave(len(perms), 0)
    perm_t = torch.tensor(perms, dtype=torch.int64, device=device).repeat(2**d, 1)
    return signs, perm_t, order.repeat(2**d, 1)
