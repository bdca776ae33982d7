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

Limits: a cap ``max_frames`` keeps the largest weights minus the first dropped one (continuous);
with three or more nearly equal eigenvalues the adjacent swaps compose in a fixed order (still
invariant, not continuous there); for ``group="SO"`` the axis that completes a right-handed
frame is chosen as in :func:`tinvnn.canonicalize` (the least skewed axis, a discrete choice).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from tinvnn._checks import check_number, check_positive_int
from tinvnn._layout import Layout
from tinvnn.canonical import NULL_TOL, canonicalize
from tinvnn.frame import Frame
from tinvnn.group import sign_patterns

__all__ = [
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_THRESHOLD",
    "FrameSet",
    "cap_weights",
    "check_frame_options",
    "expand_layout",
    "frame_weight",
    "mapped_frames",
    "weighted_frames",
]

# Confidences (margins in units of their standard error) from which a decision is taken alone,
# and the cap on frames per sample: 2.5 frames per ModelNet40 test cloud of 256 points (fa: 8).
DEFAULT_THRESHOLD = 1.0
DEFAULT_MAX_FRAMES = 4
_MAX_DIM = 6  # 2^D sign patterns times 2^(D-1) orders are enumerated per sample
_NOISE_FLOOR = 1e-12  # a standard error below this (times the statistic's scale) counts as this


@dataclass(frozen=True)
class FrameSet:
    """The frames of a batch of B samples, ragged: F frames in all, sample-major.

    Attributes:
        frame: :class:`~tinvnn.Frame` of the F frames; its layout is that of the frames' points
            (padded (F, N, D), or flat with one sample id per frame).
        points: the canonical points in each frame, (F, N, D) or flat (M, D).
        sample: (F,) int64, the sample each frame belongs to (non-decreasing).
        weight: (F,) float64, positive, summing to one per sample.
        layout: the input's layout (B samples).
        point_index: flat inputs only, (M,) the input row each row of ``points`` copies.
    """

    frame: Frame
    points: Tensor
    sample: Tensor
    weight: Tensor
    layout: Layout
    point_index: Tensor | None = None

    @property
    def identity(self) -> bool:
        """One frame per sample, laid out like the input: repeating and averaging do nothing."""
        return self.frame.layout is self.layout

    def counts(self) -> Tensor:
        """(B,) number of frames of each sample."""
        return torch.bincount(self.sample, minlength=self.layout.num_samples)

    def repeat(self, x: Tensor) -> Tensor:
        """A per-sample (B, ...) or per-point (laid out like the input) tensor, for every frame.

        Returns (F, ...) or, per point, the frames' layout ((F, N, ...) or flat (M, ...)).
        """
        if self.identity:
            return x
        if self.layout.kind == "single":
            return x.unsqueeze(0).index_select(0, self.sample.to(x.device))
        if self.point_index is not None and x.shape[0] == self.layout.shape[0]:
            return x.index_select(0, self.point_index.to(x.device))
        if x.shape[0] != self.layout.num_samples:
            raise ValueError(
                f"expected a per-sample tensor ({self.layout.num_samples}, ...) or one laid out like the points "
                f"{self.layout.shape}, got {tuple(x.shape)}"
            )
        return x.index_select(0, self.sample.to(x.device))

    def average(self, values: Tensor) -> Tensor:
        """Weighted average over each sample's frames: the inverse layout of :meth:`repeat`.

        Shape:
            (F, ...) -> (B, ...); per point (F, N, ...) -> the input's layout; flat (M, ...) ->
            (N_total, ...). A single-sample input drops the leading 1.
        """
        if self.identity:
            return values
        weight = self.weight.to(device=values.device, dtype=values.dtype)
        if self.point_index is not None and values.shape[0] == self.points.shape[0]:
            rows, target = self.frame.layout.flat_index()[0], self.point_index
            size = self.layout.shape[0]
        else:
            rows, target, size = None, self.sample, self.layout.num_samples
        w = weight if rows is None else weight.index_select(0, rows.to(values.device))
        w = w.reshape(-1, *([1] * (values.dim() - 1)))
        out = values.new_zeros(size, *values.shape[1:]).index_add_(0, target.to(values.device), values * w)
        return out[0] if self.layout.kind == "single" else out


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
    group: str = "O",
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
        :class:`FrameSet`; for a confident sample exactly one frame, the canonical one.

    Shape:
        pos (B, N, D) -> F frames, points (F, N, D); flat (N_total, D) -> points (M, D).

    Example:
        >>> fs = weighted_frames(torch.randn(4, 256, 3))
        >>> fs.counts().tolist(), fs.average(fs.points.mean(1)).shape   # doctest: +SKIP
        ([2, 1, 4, 1], torch.Size([4, 3]))
    """
    check_frame_options(threshold, max_frames)
    z, frame = canonicalize(pos, mask=mask, batch=batch, scale=scale, group=group, return_frame=True)
    layout = frame.layout
    d = z.shape[-1]
    if d > _MAX_DIM:
        raise ValueError(f"weighted frames enumerate 2^(2D-1) patterns per sample: expected D <= {_MAX_DIM}, got {d}")
    dense = layout.to_dense(z)
    with torch.no_grad():
        null = frame.eigenvalues <= NULL_TOL * frame.eigenvalues[:, :1]
        skew, sign_c, order_c = _confidences(dense.detach().to(torch.float64), layout, null)
        if not orders:
            order_c = torch.full_like(order_c, float("inf"))
        signs, perms, order_bits = _patterns(d, dense.device)  # (P, D) in old-axis order, (P, D), (P, D-1)
        keep = frame_weight(signs[None] * sign_c[:, None, :], threshold)  # (B, P, D)
        if group == "SO":
            # The least skewed axis (a null one if any) completes a right-handed frame, as in
            # canonicalize: its sign is not a decision of its own.
            pick = torch.where(null, float("-inf"), skew.abs()).argmin(-1)
            own = torch.nn.functional.one_hot(pick, d).bool()[:, None, :]
            keep = torch.where(own, 1.0, keep)
            parity = signs.prod(-1) * order_bits.prod(-1)  # (P,): det of the pattern (each swap is -1)
            keep = keep * (parity > 0)[None, :, None]
        weight = keep.prod(-1) * frame_weight(order_bits[None] * order_c[:, None, :], threshold).prod(-1)
        weight = cap_weights(weight, max_frames)
        if draw:
            choice = torch.multinomial(weight.cpu(), 1).squeeze(1).to(weight.device)
            sample = torch.arange(weight.shape[0], device=weight.device)
            pattern, w = choice, torch.ones_like(weight[:, 0])
        else:
            sample, pattern = weight.nonzero(as_tuple=True)
            w = weight[sample, pattern]
    perm = perms[pattern]  # (F, D): new axis i is old axis perm[i], with sign[i]
    sign = signs[pattern].gather(1, perm)  # signs in new-axis order
    maps = torch.eye(d, dtype=torch.float64, device=perm.device)[perm].mT * sign[:, None, :]
    return mapped_frames(frame, dense, sample, maps, w)


def mapped_frames(frame: Frame, dense: Tensor, sample: Tensor, maps: Tensor, weight: Tensor) -> FrameSet:
    """Frames ``R P``: the canonical frame of sample ``sample[f]`` followed by an orthogonal
    map ``maps[f]`` of its canonical coordinates, with the given weights.

    Args:
        frame: the canonical frames of B samples (:func:`tinvnn.canonicalize`).
        dense: their canonical points in the dense view of ``frame.layout``, (B, N, D).
        sample: (F,) int64, non-decreasing, the sample of each frame.
        maps: (F, D, D) orthogonal, acting on row vectors: the frame's points are ``z @ maps[f]``.
            For signed permutations the eigenvalues are reordered with the axes.
        weight: (F,) the frames' weights, summing to one per sample (may carry gradients).

    Returns:
        :class:`FrameSet` with points (F, N, D) (flat inputs: (M, D)).
    """
    layout = frame.layout
    frame_layout, point_index = expand_layout(layout, sample)
    points = frame_layout.from_dense(dense.index_select(0, sample) @ maps.to(dense.dtype))
    rep = lambda x: x.index_select(0, sample)  # noqa: E731
    eigenvalues = (rep(frame.eigenvalues)[:, None, :] @ (maps * maps).to(frame.eigenvalues.dtype)).squeeze(1)
    frames = Frame(
        t=rep(frame.t), R=rep(frame.R) @ maps.to(frame.R.dtype), s=rep(frame.s), eigenvalues=eigenvalues,
        eigen_gap=rep(frame.eigen_gap), sign_margin=rep(frame.sign_margin), tie_margin=rep(frame.tie_margin),
        tie_used=rep(frame.tie_used), ambiguous=rep(frame.ambiguous), layout=frame_layout,
    )  # fmt: skip
    return FrameSet(frames, points, sample, weight, layout, point_index)


# ------------------------------------------------------------------------------------ steps
def _confidences(z: Tensor, layout: Layout, null: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Skewness (B, D), sign confidences (B, D) and order confidences (B, D-1) of canonical
    points z (B, N, D); ``null`` (B, D) marks axes without extent (their decisions move nothing).

    Padding rows of ``z`` are zero and every statistic is a mean over real points, so padding
    contributes nothing (the centred points have mean zero: ``E[u] = 0``).
    """
    n = layout.counts.to(z.dtype)[:, None]
    mean = lambda x: x.sum(1) / n  # noqa: E731  # (B, N, D) -> (B, D); padding rows are zero
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


def cap_weights(weight: Tensor, max_frames: int | None) -> Tensor:
    """Keep at most ``max_frames`` weights per row (B, P), continuously; rows sum to one.

    The weights are lowered by the largest dropped weight (the (K+1)-th largest), which leaves
    rows with at most K frames unchanged and makes a frame's weight reach zero before it is
    dropped. Rows whose K+1 largest weights are all equal (an exactly symmetric sample) keep
    their first K largest frames, equally weighted.
    """
    if max_frames is not None and max_frames < weight.shape[1]:
        top = weight.topk(max_frames + 1, dim=1)
        lowered = (weight - top.values[:, -1:]).clamp_min(0)
        tied = lowered.sum(1) <= 0
        if bool(tied.any()):
            first = torch.zeros_like(weight).scatter_(1, top.indices[:, :max_frames], 1.0)
            lowered = torch.where(tied[:, None], first, lowered)
        weight = lowered
    return weight / weight.sum(1, keepdim=True)


def expand_layout(layout: Layout, sample: Tensor) -> tuple[Layout, Tensor | None]:
    """The layout of frames whose points copy those of samples ``sample`` (F,) of ``layout``,
    and for flat inputs the input row (M,) of each frame row (else None).

    Single and padded inputs give a padded (F, N, D) layout, flat inputs a flat one with one
    sample id per frame.
    """
    counts = layout.counts.index_select(0, sample)
    mask = None if layout.mask is None else layout.mask.index_select(0, sample)
    if layout.kind != "flat":
        return Layout("padded", (len(sample), layout.shape[-1]), len(sample), counts, mask), None
    ids, slot_in = layout.flat_index()
    order = torch.argsort(ids, stable=True)  # input rows grouped by sample, in input order
    starts = torch.cumsum(layout.counts, 0) - layout.counts
    frame_of_row = torch.arange(len(sample), device=sample.device).repeat_interleave(counts)
    offset = torch.arange(len(frame_of_row), device=sample.device) - (torch.cumsum(counts, 0) - counts)[frame_of_row]
    point_index = order[starts[sample][frame_of_row] + offset]
    frames = Layout("flat", (len(frame_of_row),), len(sample), counts, mask, (frame_of_row, slot_in[point_index]))
    return frames, point_index
