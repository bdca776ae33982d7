"""Frame sets: per sample one or more frames with weights, the points in each, and the maps
between the input's layout and the frames' (what every frame-based wrapper runs on).

A :class:`FrameSet` holds F frames for B samples, sample-major: the canonical frame alone
(:func:`single_frames`), frames derived from it by orthogonal maps of the canonical coordinates
(:func:`mapped_frames`: weighted frames, learned poses), or frames without the canonical rule
(:func:`plain_frame`: PCA alignment, Frame Averaging). Their points are laid out as the
input was (a padded (F, N, D) batch, or a flat one with one sample id per frame,
:func:`expand_layout`), so a backbone runs on all frames of a batch in one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from tinvnn._layout import Layout
from tinvnn.frame import Frame

__all__ = ["FrameSet", "cap_weights", "expand_layout", "mapped_frames", "plain_frame", "single_frames"]

# Frame weights closer than this (relative to a sample's largest) are equal as far as the cap is
# concerned: rounding differences between a shape and its rotated copy are far below it.
_WEIGHT_TOL = 1e-6


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


def single_frames(frame: Frame, points: Tensor) -> FrameSet:
    """The :class:`~tinvnn.FrameSet` of one frame per sample (weight 1), laid out like the input."""
    layout = frame.layout
    sample = torch.arange(layout.num_samples, device=layout.counts.device)
    return FrameSet(frame, points, sample, torch.ones(layout.num_samples, dtype=torch.float64), layout)


def plain_frame(t: Tensor, R: Tensor, s: Tensor, eigenvalues: Tensor, layout: Layout) -> Frame:
    """A :class:`Frame` for given axes (no canonical sign or tie rule, so no diagnostics: NaN)."""
    nan = torch.full_like(s, float("nan"))
    return Frame(
        t,
        R,
        s,
        eigenvalues,
        nan,
        nan,
        nan,
        torch.zeros_like(s, dtype=torch.bool),
        torch.zeros_like(s, dtype=torch.bool),
        layout,
    )


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

    def rep(x: Tensor) -> Tensor:
        return x.index_select(0, sample)

    eigenvalues = (rep(frame.eigenvalues)[:, None, :] @ (maps * maps).to(frame.eigenvalues.dtype)).squeeze(1)
    frames = Frame(
        t=rep(frame.t),
        R=rep(frame.R) @ maps.to(frame.R.dtype),
        s=rep(frame.s),
        eigenvalues=eigenvalues,
        eigen_gap=rep(frame.eigen_gap),
        sign_margin=rep(frame.sign_margin),
        tie_margin=rep(frame.tie_margin),
        tie_used=rep(frame.tie_used),
        ambiguous=rep(frame.ambiguous),
        layout=frame_layout,
        fallback=None if frame.fallback is None else rep(frame.fallback),
    )
    return FrameSet(frames, points, sample, weight, layout, point_index)


def cap_weights(weight: Tensor, max_frames: int | None) -> Tensor:
    """Keep at most ``max_frames`` weights per row (B, P), continuously; rows sum to one.

    The weights are lowered by the largest dropped weight (the (K+1)-th largest), which leaves
    rows with at most K frames unchanged and makes a frame's weight reach zero before it is
    dropped. Weights within ``_WEIGHT_TOL`` (relative to the row's largest) of each other count
    as equal, so that float rounding cannot choose: a lowered weight that small is dropped, and
    rows whose K+1 largest weights are all equal (an exactly symmetric sample) keep the first K
    (by column, i.e. pattern, index) of the weights equal to the largest, equally weighted.
    """
    if max_frames is not None and max_frames < weight.shape[1]:
        kth = weight.topk(max_frames + 1, dim=1).values[:, -1:]
        tol = _WEIGHT_TOL * weight.amax(1, keepdim=True)
        lowered = weight - kth
        lowered = torch.where(lowered > tol, lowered, 0.0)
        tied = lowered.sum(1) <= 0
        if bool(tied.any()):
            near = weight >= kth - tol
            first = (near & (near.cumsum(1) <= max_frames)).to(weight.dtype)
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
