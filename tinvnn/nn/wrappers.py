"""One line to make a backbone invariant (or equivariant): the frame-based wrappers.

* :class:`TinvWrapper`: the canonical frame of :func:`tinvnn.canonicalize` (ours; exact,
  one backbone call).
* :class:`FrameAveraging`: Puny et al. (ICLR 2022), the backbone averaged over all 2^D
  sign-flipped PCA frames (2^(D-1) for SO); exact except at repeated eigenvalues, 2^D calls.
* :class:`PCAAlign`: PCA alignment with the signs LAPACK happens to return (what PyTorch
  Geometric's ``NormalizeRotation`` does); not invariant, a peer for comparison.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from tinvnn._checks import check_choice
from tinvnn._layout import Layout
from tinvnn.canonical import (
    AMBIGUITY_ACTIONS,
    NULL_TOL,
    canonical_frame,
    check_scale,
    coincident_samples,
    principal_frame,
)
from tinvnn.frame_set import FrameSet, expand_layout, plain_frame, single_frames
from tinvnn.group import Group
from tinvnn.nn.framed import FramedWrapper

__all__ = ["TinvWrapper", "FrameAveraging", "PCAAlign"]

TIE_GAP = 1e-3
"""Relative eigen-gap below which :class:`FrameAveraging` takes the canonical axes (those of
:func:`tinvnn.canonicalize`, whose default ``gap_tol`` it is) instead of ``eigh``'s."""


class TinvWrapper(FramedWrapper):
    """Make ``backbone`` exactly invariant (or equivariant) by feeding it canonical coordinates.

    Args:
        backbone: any module called as ``backbone(z)`` or ``backbone(z, vectors)`` with the
            layout of the wrapper's input (see :meth:`forward`).
        group: a :class:`~tinvnn.group.Group`, or ``"O"`` (rotations and reflections),
            ``"SO"`` (rotations only), ``"SO2z"`` (rotations about z, "up" kept) or ``"O2z"``
            (also the mirrors in vertical planes).
        scale: also invariant to uniform scaling (inputs divided by the RMS radius).
        output: ``"invariant"`` (class logits, energies: returned as is), ``"vector"``
            (per-point vectors mapped back by R, and s when ``scale_vectors``) or ``"point"``
            (per-point positions mapped back by the full frame).
        scale_vectors: vectors have length units (velocities, displacements: True) or not
            (unit normals: False). Applies to vector inputs and vector outputs.
        on_ambiguity: as in :func:`tinvnn.canonicalize`.
        sign_augment: in training mode only, flip the canonical axes of each sample by random
            signs that keep the frame in the group (:meth:`~tinvnn.group.Group.random_signs`: any
            of the 2^D patterns for ``"O"``, an even number of flips for ``"SO"``, in-plane
            flips only for ``"O2z"`` and ``"SO2z"``, the latter both or neither):
            the backbone learns from the 2^D (or 2^(D-1)) sign-flipped frames that Frame
            Averaging runs at once, at the cost of one. Training outputs are then random in
            those signs; in eval mode the canonical frame is used and the model is exactly
            invariant. Helps where the sign rule is fragile (small ``sign_margin``) and as
            data augmentation on small training sets.

    Shape:
        pos (B, N, D) [+ mask (B, N)], (N, D) or flat (N_total, D) + batch; the backbone sees
        the same layout.

    Example:
        >>> model = TinvWrapper(nn.Sequential(nn.Linear(3, 8), nn.ReLU()), output="invariant")
        >>> model(torch.randn(2, 10, 3)).shape
        torch.Size([2, 10, 8])
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        group: Group | str = "O",
        scale: bool = True,
        output: str = "invariant",
        scale_vectors: bool = True,
        on_ambiguity: str = "ignore",
        sign_augment: bool = False,
    ) -> None:
        super().__init__(backbone, group=group, scale=scale, output=output, scale_vectors=scale_vectors)
        self.on_ambiguity = check_choice(on_ambiguity, "on_ambiguity", AMBIGUITY_ACTIONS)
        self.sign_augment = sign_augment

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, on_ambiguity={self.on_ambiguity!r}, sign_augment={self.sign_augment}"

    def frame_set(self, pos: Tensor, mask: Tensor | None, batch: Tensor | None) -> FrameSet:
        dense, frame = canonical_frame(
            pos, mask=mask, batch=batch, scale=self.scale, group=self.group, on_ambiguity=self.on_ambiguity
        )
        if self.sign_augment and self.training:
            signs = self.group.random_signs(frame.num_samples, pos.shape[-1], frame.R)
            frame = dataclasses.replace(frame, R=frame.R * signs[:, None, :])
            dense = dense * signs.to(dense.dtype).reshape(signs.shape[0], 1, -1)
        return single_frames(frame, frame.layout.from_dense(dense))


class PCAAlign(FramedWrapper):
    """PCA alignment without sign fixing (PyG ``NormalizeRotation``): a non-invariant peer.

    Same arguments and shapes as :class:`TinvWrapper`. The group makes the frame its member
    (:meth:`~tinvnn.group.Group.proper_axes`: with ``group="SO"`` the last axis is flipped when
    needed so that ``det R = +1``). A group that keeps an axis (``"SO2z"``, ``"O2z"``) aligns
    the principal axes of the points projected on the plane perpendicular to it and keeps the
    axis (:func:`tinvnn.canonical.principal_frame`).
    """

    def frame_set(self, pos: Tensor, mask: Tensor | None, batch: Tensor | None) -> FrameSet:
        layout = Layout.from_input(pos, mask, batch)
        centre, evals, axes = principal_frame(pos, layout, self.group)
        axes = self.group.proper_axes(axes)
        frame = plain_frame(centre, axes, _scale(centre, evals, self.scale), evals, layout)
        return single_frames(frame, frame.to_canonical(pos, scale=self.scale))


class FrameAveraging(FramedWrapper):
    """Frame Averaging (Puny et al., ICLR 2022) over the sign-flipped PCA frames.

    Runs the backbone once per frame, batched: the sign-flipped frames in the group
    (:meth:`~tinvnn.group.Group.sign_flips`: 2^D frames for ``group="O"``, 2^(D-1) for ``"SO"``,
    where the last axis completes a right-handed frame; for a group that keeps an axis, the
    in-plane principal axes flipped and the axis kept: 4 frames for ``"O2z"``, 2 for ``"SO2z"``),
    and averages invariant outputs or
    the back-mapped vector/point outputs. Where covariance eigenvalues are tied (relative gap
    below ``TIE_GAP``), PCA's axes are undefined (those ``eigh`` returns depend on the input's
    orientation): there the sign flips are those of the canonical axes of
    :func:`tinvnn.canonicalize` (tie rule, or its fallback for symmetric shapes), so the
    average stays exactly invariant.

    Same arguments and layouts as :class:`TinvWrapper`. Tensors among the backbone keyword
    arguments are treated as per-sample (or per-point) and repeated per frame.
    """

    def frame_set(self, pos: Tensor, mask: Tensor | None, batch: Tensor | None) -> FrameSet:
        layout = Layout.from_input(pos, mask, batch)
        centre, evals, axes = principal_frame(pos, layout, self.group)
        tied = _tied(evals[:, : self.group.free_axes(pos.shape[-1])])
        if bool(tied.any()):  # eigh's basis of a tied eigenspace is arbitrary: the canonical axes there
            _, canonical = canonical_frame(pos, mask=mask, batch=batch, scale=self.scale, group=self.group)
            axes = torch.where(tied[:, None, None], canonical.R.to(axes.dtype), axes)
        signs = self.group.sign_flips(axes)  # (B, F, D)
        count = signs.shape[1]
        sample = torch.arange(layout.num_samples, device=axes.device).repeat_interleave(count)
        frames_layout, point_index = expand_layout(layout, sample)
        rotations = (axes[:, None] * signs[:, :, None, :]).flatten(0, 1)
        scale = _scale(centre, evals, self.scale)
        frame = plain_frame(centre[sample], rotations, scale[sample], evals[sample], frames_layout)
        weight = torch.full((len(sample),), 1.0 / count, dtype=torch.float64, device=axes.device)
        frames = FrameSet(frame, pos, sample, weight, layout, point_index)
        return dataclasses.replace(frames, points=frame.to_canonical(frames.repeat(pos), scale=self.scale))


def _tied(evals: Tensor) -> Tensor:
    """(B,) bool: samples with a relative gap below ``TIE_GAP`` between consecutive non-null
    eigenvalues (B, D) (descending), where PCA's axes are not determined."""
    with torch.no_grad():
        live = evals[:, 1:] > NULL_TOL * evals[:, :1]
        return (((evals[:, :-1] - evals[:, 1:]) < TIE_GAP * evals[:, :1]) & live).any(-1)


def _scale(centre: Tensor, evals: Tensor, scale: bool) -> Tensor:
    """(B,) RMS radius of each sample (raising where the points coincide), or ones."""
    if not scale:
        return torch.ones_like(evals[:, 0])
    radius = evals.sum(-1).sqrt()
    check_scale(coincident_samples(centre, radius))
    return radius
