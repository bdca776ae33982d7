"""Canonical, invariant and distance-preserving coordinates of point sets (the tinvnn engine).

Classical MDS of a Euclidean point set equals PCA of the centred points
(``B = -1/2 J D^2 J = Xc Xc^T`` shares its non-zero spectrum with ``Xc^T Xc``), so the engine
never builds an N x N matrix: it centres the points, forms the D x D covariance, and
eigen-decomposes it, in O(N D^2). What remains is to remove the ambiguities MDS leaves:

1. **Scale** (``scale=True``): divide by ``s``, the RMS distance to the centroid.
2. **Ties** (relative eigen-gap below ``gap_tol``): inside a (nearly) repeated eigenspace
   the axes are chosen one by one as the direction maximising the fourth moment
   ``E[(z . u)^4]`` of the points (the third or sixth where the fourth is isotropic), which
   does not depend on the arbitrary basis ``eigh`` returns.
3. **Signs**: axis k points where the points' coordinate z_k is skewed: the sign of its
   skewness ``E[z_k^3] / sd_k^3``, else (at or below ``sign_tol``) of ``E[z_k |z|^2] / sd_k`` or
   ``E[z_k^5] / sd_k^5``. Where all vanish (a centrally symmetric shape), the axis is oriented
   relative to an earlier one by the mixed moments ``E[z_j^3 z_k]`` or ``E[z_j z_k^3]``.
4. **The group's own rule** (:meth:`tinvnn.group.Group.orient`): for ``Rotations()``
   (``group="SO"``), if the axes form a left-handed frame, the axis with the smallest sign
   margin (or a null axis) is flipped, so ``det R = +1`` and mirror images stay different;
   ``Orthogonal()`` (``"O"``) keeps the signs.
5. **Fallback** (:mod:`tinvnn._fallback`): where these rules leave the frame undecided (the
   sample is ``ambiguous``), the candidate frame (sign patterns of the axes, or frames built
   from the points) whose canonical point set is lexicographically smallest.

Every rule is a function of invariant quantities, so the result is exactly invariant whenever
the decisions it takes are not within float error of a threshold; ``Frame`` reports how close
each sample is, and a decision within 1% of its threshold sets ``Frame.ambiguous``. See
``docs/conventions.md`` and ``docs/ambiguity.md``.

Execution: the common path (distinct eigenvalues, every sign decided by the skewness or the
first fallback) is a fixed sequence of batched tensor operations on a coordinate-major
float64 copy of the points; ties and the rest of the sign rule run in a separate branch for
the whole batch, chosen by one flag (``torch.cond`` under ``torch.compile``), with the tie
rule's search in :mod:`tinvnn._ties`. Where it applies, the fused kernel (dispatch in
:mod:`tinvnn._fast`) finishes the samples clear of every threshold and hands the others to the
tensor path.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import Literal, NamedTuple, TypeVar, overload

import numpy as np
import torch
from torch import Tensor

from tinvnn._checks import check_bool, check_choice, check_finite, check_number
from tinvnn._compile import branch
from tinvnn._fallback import point_frames, sign_frames, smallest, tolerance
from tinvnn._fast import kernel_frames
from tinvnn._layout import Layout
from tinvnn._ties import TIE_TOL, tie_rotations
from tinvnn.frame import Frame
from tinvnn.group import AxisSplit, Group, as_group

__all__ = [
    "AMBIGUITY_ACTIONS",
    "AmbiguityWarning",
    "NULL_TOL",
    "canonical_frame",
    "canonicalize",
    "check_scale",
    "coincident_samples",
    "principal_axes",
    "principal_frame",
]

AMBIGUITY_ACTIONS = ("ignore", "warn", "raise")
# Axes whose variance is below NULL_TOL times the largest one carry no extent: their sign and
# orientation cannot change the canonical points, so they are left out of the ambiguity report.
NULL_TOL = 1e-10
_ZERO_SCALE_TOL = 64 * torch.finfo(torch.float64).eps
_PRECISION_TOL = 16  # gap_tol and sign_tol are at least this many of the input's eps (float16: 0.016)
# A statistic within this fraction of its threshold sits on it: rounding can take the decision
# either way, so the sample counts as ambiguous (sign chain, tie-or-not eigen-gap).
_BAND = 1e-2
# RMS radii float64 can square without overflow or loss of digits to underflow.
_MIN_EXTENT, _MAX_EXTENT = 1e-150, 1e150
# The checks and the frame are shared by the torch path (tensors) and the kernel's (NumPy arrays).
Array = TypeVar("Array", Tensor, np.ndarray)


class AmbiguityWarning(UserWarning):
    """A sample's canonical frame is within tolerance of an ambiguous decision."""


def principal_axes(
    pos: Tensor, *, mask: Tensor | None = None, batch: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Centroid and principal axes of each sample, signs as LAPACK returns them (not canonical).

    This is plain PCA alignment, what PyTorch Geometric's ``NormalizeRotation`` and Frame
    Averaging start from. Use :func:`canonicalize` for invariant coordinates.

    Args:
        pos: (N, D), (B, N, D) with optional bool ``mask`` (B, N), or flat (N_total, D) with ``batch``.

    Returns:
        ``(centre, eigenvalues, eigenvectors)`` in float64: (B, D), (B, D) descending, and
        (B, D, D) with the axes as columns.
    """
    return principal_frame(pos, Layout.from_input(pos, mask, batch, min_points=1, check_values=False))


def principal_frame(pos: Tensor, layout: Layout, group: Group | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`principal_axes` of ``pos`` in a :class:`~tinvnn._layout.Layout` the caller built.

    For a group that keeps an axis (:meth:`~tinvnn.group.Group.axis_split`), the principal
    axes it can choose: those of the points projected on the plane perpendicular to the axis,
    then the axis; the eigenvalues are the variances along them (in-plane descending, then the
    variance along the axis).

    Shape:
        pos (*layout.shape, D) -> (B, D), (B, D), (B, D, D).
    """
    split = None if group is None else group.axis_split(pos.shape[-1])
    if split is None:
        centre, _, evals, evecs, _ = _pca(pos, layout)
        return centre, evals, evecs
    centre, _, plane, heights, plane_layout = _split_points(pos, layout, split)
    _, _, evals, evecs, _ = _pca(plane, plane_layout)
    return centre, torch.cat([evals, _mean_square(heights, layout)[:, None]], -1), split.lift(evecs)


@overload
def canonicalize(
    pos: Tensor,
    *,
    mask: Tensor | None = ...,
    batch: Tensor | None = ...,
    scale: bool = ...,
    group: Group | str = ...,
    return_frame: Literal[False] = ...,
    on_ambiguity: str = ...,
    gap_tol: float = ...,
    sign_tol: float = ...,
) -> Tensor: ...


@overload
def canonicalize(
    pos: Tensor,
    *,
    mask: Tensor | None = ...,
    batch: Tensor | None = ...,
    scale: bool = ...,
    group: Group | str = ...,
    return_frame: Literal[True],
    on_ambiguity: str = ...,
    gap_tol: float = ...,
    sign_tol: float = ...,
) -> tuple[Tensor, Frame]: ...


@overload
def canonicalize(
    pos: Tensor,
    *,
    mask: Tensor | None = ...,
    batch: Tensor | None = ...,
    scale: bool = ...,
    group: Group | str = ...,
    return_frame: bool,
    on_ambiguity: str = ...,
    gap_tol: float = ...,
    sign_tol: float = ...,
) -> Tensor | tuple[Tensor, Frame]: ...


def canonicalize(
    pos: Tensor,
    *,
    mask: Tensor | None = None,
    batch: Tensor | None = None,
    scale: bool = True,
    group: Group | str = "O",
    return_frame: bool = False,
    on_ambiguity: str = "ignore",
    gap_tol: float = 1e-3,
    sign_tol: float = 1e-3,
) -> Tensor | tuple[Tensor, Frame]:
    """Canonical coordinates: invariant to translation, orthogonal maps and scale, distance-preserving.

    ``Z = (pos - t) @ R / s`` per sample, with the centroid ``t``, the canonical axes ``R``
    (principal axes with fixed signs and tie rule) and the RMS radius ``s``. Pairwise distances
    of ``Z`` are those of ``pos`` divided by ``s``; ``Z`` is permutation-equivariant.

    Args:
        pos: (N, D) one sample; (B, N, D) a batch, with optional bool ``mask`` (B, N) marking
            real points; or flat (N_total, D) with an integer ``batch`` (N_total,) of sample ids
            running 0..B-1. Any D >= 1; any floating dtype, float16 and bfloat16 included
            (computed in float64, returned in ``pos.dtype``). Each sample's RMS radius must lie
            in [1e-150, 1e150] (float64 squares it), unless its points coincide.
        mask: (B, N) bool, True for real points; padded rows of the output are 0.
        batch: (N_total,) sample id of each point (PyG convention).
        scale: divide by the RMS radius ``s`` (scale invariance). Raises for a sample whose
            points all coincide.
        group: a :class:`~tinvnn.group.Group` or its alias: ``"O"`` (:class:`~tinvnn.group.Orthogonal`,
            rotations and reflections, like MDS), ``"SO"`` (:class:`~tinvnn.group.Rotations`,
            ``det R = +1``; a shape and its mirror image give different outputs), ``"SO2z"`` or
            ``"O2z"`` (:class:`~tinvnn.group.AxialRotations`: about the z axis, which stays the
            last canonical axis; 3-D points; ``docs/conventions.md``, rule 9).
        return_frame: also return the :class:`~tinvnn.Frame` (centre, axes, scale, diagnostics).
        on_ambiguity: ``"ignore"``, ``"warn"`` (:class:`AmbiguityWarning`) or ``"raise"``
            (``ValueError``) when a sample's ``Frame.ambiguous`` is set.
        gap_tol: relative eigen-gap below which eigenvalues count as tied. (The tie rule's own
            decisiveness threshold, ``tie_margin <= 1e-3``, is fixed; see ``docs/conventions.md``.)
        sign_tol: standardised odd moment (skewness) at or below which a sign counts as ambiguous.
            All three thresholds are at least 16 machine epsilons of ``pos.dtype`` (float16:
            0.016, bfloat16: 0.125), so that a half-precision input's rounding decides nothing.

    Returns:
        ``Z`` with the layout and dtype of ``pos``, or ``(Z, frame)``.

    Shape:
        pos (N, D) -> (N, D); (B, N, D) -> (B, N, D); (N_total, D) -> (N_total, D).

    Example:
        >>> x = torch.randn(100, 3) * torch.tensor([3.0, 2.0, 1.0])
        >>> q = tinvnn.random_orthogonal(3, dtype=torch.float32)
        >>> torch.allclose(canonicalize(x), canonicalize(5 * x @ q.T + 7), atol=1e-4)
        True

    Gradients flow through the centroid, the scale and the eigenvectors; the sign and tie
    decisions are piecewise constant. Where eigenvalues are tied (relative gap below
    ``gap_tol``) the axes get no gradient (``1 / (l_i - l_j)`` factors), and a frame the
    fallback built from points is differentiated through those points: gradients are finite.

    Where the certificate leaves the frame undecided (``Frame.ambiguous``: symmetric shapes),
    the fallback decides it (``Frame.fallback``; ``docs/conventions.md``, rule 8): the output
    is then exactly invariant too, in eager mode (``torch.compile`` keeps the rule's frame).

    ``torch.compile(canonicalize, fullgraph=True)`` traces the single and padded layouts
    (``on_ambiguity="ignore"``): the rare cases (tied eigenvalues, signs the skewness cannot
    decide) run in a separate branch of ``torch.cond``, and value checks become
    ``torch._assert_async`` (a ``RuntimeError`` naming ``pos``).
    """
    check_bool(return_frame, "return_frame")
    dense, frame = canonical_frame(
        pos,
        mask=mask,
        batch=batch,
        scale=scale,
        group=group,
        on_ambiguity=on_ambiguity,
        gap_tol=gap_tol,
        sign_tol=sign_tol,
    )
    out = frame.layout.from_dense(dense)
    return (out, frame) if return_frame else out


def canonical_frame(
    pos: Tensor,
    *,
    mask: Tensor | None = None,
    batch: Tensor | None = None,
    scale: bool = True,
    group: Group | str = "O",
    on_ambiguity: str = "ignore",
    gap_tol: float = 1e-3,
    sign_tol: float = 1e-3,
) -> tuple[Tensor, Frame]:
    """:func:`canonicalize`, with the canonical points in the dense view of ``frame.layout``.

    For callers that go on working per sample (frame sets, wrappers): the points are not
    scattered back to the input's layout (``frame.layout.from_dense`` does that).

    Returns:
        ``(dense, frame)``: canonical points (B, N_max, D) in ``pos.dtype`` (padding rows 0), and
        the :class:`~tinvnn.Frame` (its ``layout`` is the input's).

    Shape:
        pos (N, D), (B, N, D) or (N_total, D) -> dense (B, N_max, D).
    """
    group = as_group(group)
    check_choice(on_ambiguity, "on_ambiguity", AMBIGUITY_ACTIONS)
    check_bool(scale, "scale")
    check_number(gap_tol, "gap_tol")
    check_number(sign_tol, "sign_tol")
    layout = Layout.from_input(pos, mask, batch, min_points=2 if scale else 1, check_values=False)
    frame, dense = _canonical_frame(pos, layout, scale=scale, group=group, gap_tol=gap_tol, sign_tol=sign_tol)
    _handle_ambiguity(frame, on_ambiguity)
    return dense, frame


def coincident_samples(centre: Array, radius: Array) -> Array:
    """(B,) bool: samples whose RMS radius (B,) is zero up to the float error of their centre (B, D)."""
    if isinstance(centre, np.ndarray):
        close: Array = radius <= _ZERO_SCALE_TOL * (np.hypot.reduce(centre, axis=-1) + radius)  # no overflow
    else:
        close = radius.detach() <= _ZERO_SCALE_TOL * (centre.detach().norm(dim=-1) + radius.detach())
    return close


def check_scale(coincident: Tensor) -> None:
    """Raise the error for scale normalisation of samples whose points all coincide ((B,) bool)."""
    message = "all points coincide, so the scale is zero (use scale=False)"
    if torch.compiler.is_compiling():
        torch._assert_async(~coincident.any(), f"pos: a sample's {message}")
    elif bool(coincident.any()):
        i = int(coincident.nonzero()[0, 0])
        raise ValueError(f"sample {i}: {message}")


# ------------------------------------------------------------------------------------ steps
def _coordinate_major(pos: Tensor, layout: Layout) -> Tensor:
    """Dense float64 points, coordinate-major: (B, D, N), padding columns 0.

    The engine works in this layout because every per-sample operation then broadcasts along
    the long, contiguous point dimension (a (B, N, 3) tensor broadcast against (B, 1, 3), or
    multiplied by a (B, 3, 3) matrix, is several times slower on CPU).
    """
    dense = layout.to_dense(pos)
    return torch.empty(dense.shape[0], dense.shape[2], dense.shape[1], dtype=torch.float64, device=pos.device).copy_(
        dense.mT
    )


def _pca(pos: Tensor, layout: Layout, grad_gap_tol: float = 1e-3) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Centroid (B, D), mean squared radius (B,), covariance eigenvalues (B, D) descending,
    eigenvectors (B, D, D) as columns, and the centred float64 points (B, D, N; padding 0) of
    ``pos`` in ``layout``.

    With autograd, samples with a relative eigen-gap below ``grad_gap_tol`` get eigenvalues
    and eigenvectors without gradient (centroid and radius keep theirs).

    Raises (naming ``pos``) for NaN/Inf and for a sample whose RMS radius float64 cannot
    square (outside [1e-150, 1e150]) unless its points coincide: one check on the covariance's
    trace, before ``eigh`` could fail on it.
    """
    x = _coordinate_major(pos, layout)
    n = _point_counts(layout.counts, x)
    centre = x.sum(-1) / n[..., 0]
    xc = x.sub_(centre[..., None])  # x is the engine's own buffer: in place (each new buffer costs page faults)
    if layout.mask is not None:
        xc.mul_(layout.mask[:, None, :])
    cov = xc @ xc.mT / n
    mean_square = torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1)
    collapsed = _check_values(mean_square, centre, xc, pos, layout)
    if collapsed is not None:  # coinciding points whose rounding residue float64 cannot square
        xc = xc.masked_fill(collapsed[:, None, None], 0.0)
        cov = cov.masked_fill(collapsed[:, None, None], 0.0)
        mean_square = mean_square.masked_fill(collapsed, 0.0)
    if cov.requires_grad and not torch.compiler.is_compiling():
        # Eigenvector gradients carry 1 / (l_i - l_j): at tied eigenvalues NaN or huge. Such
        # samples' axes are chosen by the tie rule or the fallback, not by eigh: no gradient.
        with torch.no_grad():
            lam = torch.linalg.eigvalsh(cov).flip(-1).clamp_min(0)
            tied = ((lam[:, :-1] - lam[:, 1:]) < grad_gap_tol * lam[:, :1]) & (lam[:, 1:] > NULL_TOL * lam[:, :1])
            tied = tied.any(-1)
        if bool(tied.any()):
            cov = torch.where(tied[:, None, None], cov.detach(), cov)
    evals, evecs = torch.linalg.eigh(cov)
    return centre, mean_square, evals.flip(-1).clamp_min(0), evecs.flip(-1), xc


def _check_values(mean_square: Tensor, centre: Tensor, xc: Tensor, pos: Tensor, layout: Layout) -> Tensor | None:
    """Raise unless every sample's mean squared radius (B,) is finite and float64 can square
    its points; samples whose centred points ``xc`` (B, D, N) are zero up to the float error of
    their ``centre`` (B, D) (coinciding points) pass. NaN/Inf in ``pos`` make it NaN.

    Returns the passing samples (B,) bool whose radius is nevertheless out of range (coinciding
    points whose rounding residue float64 cannot square: the caller treats them as exactly
    coinciding), or None when every radius is in range.
    """
    ok = _in_range(mean_square)
    if torch.compiler.is_compiling():
        torch._assert_async((mean_square <= _MAX_EXTENT**2).all(), "pos must be finite with RMS radii up to 1e150")
        return None
    if bool(ok.all()):
        return None
    if not bool(torch.isfinite(centre).all()):
        real = pos if layout.mask is None or layout.kind == "flat" else torch.where(layout.mask[..., None], pos, 0.0)
        check_finite(real, "pos")  # NaN or Inf: the message names its index
        raise ValueError("pos: coordinates too large, their sum overflows float64 (keep |pos| below 1e300 / N)")
    for i in (~ok).nonzero().flatten().tolist():
        spread = float(xc[i].detach().abs().max())
        if spread > _ZERO_SCALE_TOL * float(centre[i].detach().abs().max()):  # not coinciding points
            raise ValueError(
                f"pos: sample {i} has RMS radius {float(mean_square[i].detach()) ** 0.5:.3g} "
                f"(largest centred coordinate {spread:.3g}), outside [{_MIN_EXTENT:g}, {_MAX_EXTENT:g}] "
                "where float64 can square it; multiply pos by a constant first"
            )
    return ~ok


def _in_range(mean_square: Array) -> Array:
    """(B,) bool: mean squared radii (B,) of samples whose points float64 can square (False for NaN)."""
    return (mean_square >= _MIN_EXTENT**2) & (mean_square <= _MAX_EXTENT**2)


class _Tolerances(NamedTuple):
    """The decision thresholds of one call: ``gap`` (relative eigen-gap of a tie), ``sign``
    (sign margin) and ``tie`` (tie margin, ``TIE_TOL``), each raised to ``_PRECISION_TOL`` eps
    of the input's dtype, so that a float16 or bfloat16 input's rounding counts as ambiguous."""

    gap: float
    sign: float
    tie: float


def _canonical_frame(
    pos: Tensor, layout: Layout, *, scale: bool, group: Group, gap_tol: float, sign_tol: float
) -> tuple[Frame, Tensor]:
    """Frame and canonical points, dense (B, N, D) in ``pos.dtype``: by the fused kernel
    (:func:`_fast_frame`) where it applies, else by tensor operations (:func:`_torch_frame`);
    for a group that keeps an axis, its own frame step (:func:`_axial_frame`). ``gap_tol`` and
    ``sign_tol`` are the caller's, raised for half-precision inputs (:class:`_Tolerances`)."""
    floor = _PRECISION_TOL * torch.finfo(pos.dtype).eps  # a half-precision input's rounding decides nothing
    tols = _Tolerances(max(gap_tol, floor), max(sign_tol, floor), max(TIE_TOL, floor))
    split = group.axis_split(pos.shape[-1])
    if split is not None:
        return _axial_frame(pos, layout, split, scale=scale, tols=tols)
    result = _fast_frame(pos, layout, scale=scale, group=group, tols=tols)
    if result is not None:
        return result
    return _torch_frame(pos, layout, scale=scale, group=group, tols=tols)


class _Carried(NamedTuple):
    """Coordinates a frame step carries unchanged beside the ones it orients (an axial group's
    heights): dense (B, N, K) float64, centred, padding rows 0; the fallback compares them with
    the oriented ones. ``dtype``: the input's, whose rounding sets the fallback's tolerance;
    ``level`` (B,): how much coarser that rounding is at the input's offset (:func:`_rounding_levels`)."""

    values: Tensor
    dtype: torch.dtype
    level: Tensor


def _axial_frame(
    pos: Tensor, layout: Layout, split: AxisSplit, *, scale: bool, tols: _Tolerances
) -> tuple[Frame, Tensor]:
    """The frame step of a group that keeps an axis (``docs/conventions.md``, rule 9): frame
    and canonical points, dense (B, N, 3) in ``pos.dtype``.

    Centre at the 3-D centroid, one scale (the 3-D RMS radius), the axis kept as the last
    canonical axis; the in-plane axes are the engine's frame (:func:`_torch_frame`, rules 3 to
    8 in 2-D, the plane's group) of the points projected on the plane, whose fallback compares
    the whole canonical points (heights included). ``Frame.eigenvalues`` holds the in-plane
    eigenvalues, then the variance along the axis; the other diagnostics are the plane's.
    """
    centre, mean_square, plane, heights, plane_layout = _split_points(pos, layout, split)
    radius = mean_square.sqrt()
    if scale:
        check_scale(coincident_samples(centre, radius))
    # a plan within float error of the cloud's radius (a vertical line) is a point: its noise is not data
    flat = _mean_square(plane.detach(), layout).sqrt() <= _ZERO_SCALE_TOL * radius.detach()
    plane = torch.where(flat[:, None, None], torch.zeros_like(plane), plane)
    plane_frame, plane_dense = _torch_frame(
        plane,
        plane_layout,
        scale=False,
        group=split.plane,
        tols=tols,
        carried=_Carried(heights, pos.dtype, _rounding_levels(centre, radius)),
    )
    dense = torch.cat([plane_dense, heights], -1)
    if scale:
        dense = dense / radius[:, None, None]
    frame = dataclasses.replace(
        plane_frame,
        t=centre,
        R=split.lift(plane_frame.R),
        s=radius if scale else torch.ones_like(radius),
        eigenvalues=torch.cat([plane_frame.eigenvalues, _mean_square(heights, layout)[:, None]], -1),
        layout=layout,
    )
    return frame, dense.to(pos.dtype)


def _split_points(pos: Tensor, layout: Layout, split: AxisSplit) -> tuple[Tensor, Tensor, Tensor, Tensor, Layout]:
    """Centroid (B, 3) and mean squared radius (B,) of ``pos`` (checked as in :func:`_pca`), and
    its centred points in the split's basis: in-plane coordinates (B, N, 2) and heights
    (B, N, 1), dense float64 (padding rows 0), with the padded layout of the plane's points."""
    centre, mean_square, _, _, xc = _pca(pos, layout)
    local = (split.basis.to(xc).mT @ xc).mT  # (B, N, 3)
    plane_layout = Layout("padded", tuple(local.shape[:2]), local.shape[0], layout.counts, layout.mask)
    return centre, mean_square, local[..., :-1], local[..., -1:], plane_layout


def _mean_square(values: Tensor, layout: Layout) -> Tensor:
    """(B,) mean of the squared dense values (B, N, K) over each sample's real points (padding 0)."""
    return values.square().sum((1, 2)) / layout.counts.to(values.dtype)


def _torch_frame(
    pos: Tensor,
    layout: Layout,
    *,
    scale: bool,
    group: Group,
    tols: _Tolerances,
    carried: _Carried | None = None,
) -> tuple[Frame, Tensor]:
    """Frame and canonical points, dense (B, N, D) in ``pos.dtype``, by tensor operations: any
    layout, dimension, dtype and device, with autograd and under ``torch.compile``.
    ``carried``: coordinates the fallback compares beside the oriented ones (:class:`_Carried`).

    The common path (distinct eigenvalues, signs fixed by the skewness or the first fallback)
    is batched tensor work without host synchronisation; the rare cases (ties, the rest of
    the sign rule) are :func:`_slow_signs`, chosen per batch by one flag (``torch.cond``
    when compiling).
    """
    gap_tol, sign_tol = tols.gap, tols.sign
    centre, mean_square, evals, axes, xc = _pca(pos, layout, gap_tol)
    radius = mean_square.sqrt()  # RMS distance to the centroid
    degenerate = coincident_samples(centre, radius)
    if scale:
        check_scale(degenerate)
    unit = radius.masked_fill(degenerate, 1.0)
    z = (axes / unit[:, None, None]).mT @ xc  # (B, D, N) along the unsigned axes, units of the radius

    with torch.no_grad():
        lam = evals.detach()
        null = lam <= NULL_TOL * lam[:, :1]
        rel_gap = (lam[:, :-1] - lam[:, 1:]) / lam[:, :1].clamp_min(1e-300)
        live_pair = ~null[:, 1:]
        tied = (rel_gap < gap_tol) & live_pair
        # the tie decision sits on its threshold: a perturbation of rounding size switches the rule
        on_gap_tol = (live_pair & ((rel_gap - gap_tol).abs() <= _BAND * gap_tol)).any(-1)
        if lam.shape[1] > 1:
            eigen_gap = rel_gap.masked_fill(~live_pair, 1.0).amin(-1)
        else:
            eigen_gap = lam.new_ones(lam.shape[0])
        spread = (lam.sqrt() / unit[:, None]).clamp_min(1e-300)  # per-axis std, units of s
        # Once z exists, the centred buffer is scratch space unless autograd still needs it.
        scratch = None if xc.requires_grad else xc
        stats = _odd_moments(z.detach(), spread, _point_counts(layout.counts, z), scratch=scratch)
        signs, margins, undecided = _sign_chain(stats, null, sign_tol)
        rare = tied.any() | undecided.any()
    mask = layout.mask
    if mask is None:
        mask = (
            torch.ones(z.shape[0], z.shape[2], dtype=torch.bool, device=z.device)
            if torch.compiler.is_compiling()
            else None
        )
    tail = functools.partial(_finish, scale=scale, group=group, sign_tol=sign_tol, dtype=pos.dtype)
    operands = (z, axes, unit, signs, margins, spread, null, tied, layout.counts, mask)
    dense, R, sign_margin, tie_margin = branch(rare, tail, operands)
    fallback = torch.zeros_like(on_gap_tol)
    undecided = _ambiguous(sign_margin, tie_margin, on_gap_tol, tols)  # margins carry no gradient
    levels = _rounding_levels(centre, radius) if carried is None else carried.level
    noisy = _in_rounding(sign_margin, tie_margin, eigen_gap, pos.dtype if carried is None else carried.dtype, levels)
    if not torch.compiler.is_compiling():
        if bool(undecided.any()):
            dense, R, fallback = _fallback_frames(
                pos,
                layout,
                centre,
                unit,
                R,
                dense,
                undecided,
                (tie_margin < float("inf")) | on_gap_tol,
                group=group,
                scale=scale,
                carried=carried,
            )
    frame = _frame(
        centre,
        R,
        radius,
        evals,
        eigen_gap,
        on_gap_tol,
        sign_margin,
        tie_margin,
        layout,
        scale=scale,
        tols=tols,
        fallback=fallback,
        ambiguous=undecided | noisy,
    )
    return frame, dense


def _fallback_frames(
    pos: Tensor,
    layout: Layout,
    centre: Tensor,
    unit: Tensor,
    R: Tensor,
    dense: Tensor,
    undecided: Tensor,
    tie: Tensor,
    *,
    group: Group,
    scale: bool,
    carried: _Carried | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The fallback (:mod:`tinvnn._fallback`) for the ``undecided`` samples (B,) bool: their
    frame ``R`` (B, D, D) and canonical points ``dense`` (B, N, D) replaced by the candidate
    frame whose canonical point set is lexicographically smallest: sign patterns of ``R``, or
    where a tie took part (``tie`` (B,) bool) frames built from the points. Differentiable
    (through the principal axes, or the chosen points). ``carried``: coordinates compared
    beside the canonical ones (:class:`_Carried`; the candidates leave them as they are).
    Returns ``(dense, R, fallback)``, ``fallback`` (B,) bool where it decided.
    """
    tol = tolerance(torch.finfo(pos.dtype if carried is None else carried.dtype).eps)  # above the input's rounding
    x = layout.to_dense(pos).to(torch.float64)  # (B, N, D)
    proper = not bool(group.contains(_reflection(x.shape[-1]))[0])  # the group holds no reflection
    dense, R = dense.clone(), R.clone()
    fallback = torch.zeros_like(undecided)
    for i in undecided.nonzero().flatten().tolist():
        real = (
            layout.mask[i] if layout.mask is not None else torch.arange(x.shape[1], device=x.device) < layout.counts[i]
        )
        xc = x[i][real] - centre[i]  # (n, D), with autograd where pos has it
        y = (xc.detach() / unit[i].detach()).cpu().numpy()
        if carried is None:
            compared = y
        else:
            compared = np.concatenate([y, (carried.values[i][real].detach() / unit[i].detach()).cpu().numpy()], 1)
        if bool(tie[i]):
            built = point_frames(y, proper, tol)
            if built is None:
                continue
            frames, picks = built
            best = smallest(compared, _carry(frames, compared.shape[1]), tol)
            F = _gram_schmidt(xc, picks[best], torch.from_numpy(frames[0]).to(xc), proper)
        else:
            frames, patterns = sign_frames(R[i].detach().cpu().numpy(), proper)
            F = R[i] * torch.from_numpy(patterns[smallest(compared, _carry(frames, compared.shape[1]), tol)]).to(R)
        z = xc @ F
        z = z / unit[i] if scale else z
        rows = dense.new_zeros(dense.shape[1:])
        rows[real] = z.to(dense.dtype)
        dense[i], R[i] = rows, F
        fallback[i] = True
    return dense, R, fallback


def _in_rounding(sign_margin: Array, tie_margin: Array, eigen_gap: Array, dtype: torch.dtype, levels: Array) -> Array:
    """(B,) bool: a sign or tie margin, or an eigen-gap taken as distinct (no tie rule used), at
    or below the input's own rounding at its offset: ``_PRECISION_TOL`` eps of ``dtype`` times the
    rounding level (:func:`_rounding_levels`). Such a decision may be the rounding's, so the frame
    is reported ambiguous (decisions unchanged).
    Far below the default tolerances for float64, and for float32 within about 500 radii of the
    origin; it speaks for float16 and bfloat16 clouds away from the origin."""
    floor = _PRECISION_TOL * torch.finfo(dtype).eps * levels
    flags: Array = (
        (sign_margin <= floor) | (tie_margin <= floor) | ((tie_margin == float("inf")) & (eigen_gap <= floor))
    )
    return flags


def _rounding_levels(centre: Array, radius: Array) -> Array:
    """(B,) how many times coarser each sample's input rounding is, relative to its own size, than
    a centred copy's: 1 plus the centroid's largest coordinate in RMS radii (``centre`` (B, D),
    ``radius`` (B,)). A cloud 10 radii from the origin in float16 carries rounding noise of about
    10 eps of its own size."""
    levels: Array
    coincident = coincident_samples(centre, radius)  # no size to be coarse against: level 1
    if isinstance(centre, np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            levels = np.where(coincident, 1.0, 1.0 + np.abs(centre).max(-1) / radius)
    else:
        centre, radius = centre.detach().to(torch.float64), radius.detach().to(torch.float64)
        levels = torch.where(coincident, 1.0, 1.0 + centre.abs().amax(-1) / radius.clamp_min(1e-300))
    return levels


def _carry(frames: np.ndarray, d: int) -> np.ndarray:
    """Candidate frames (C, D', D') extended to (C, d, d) by the identity on the carried coordinates."""
    c, k = frames.shape[0], frames.shape[1]
    if k == d:
        return frames
    out = np.zeros((c, d, d))
    out[:, :k, :k] = frames
    out[:, np.arange(k, d), np.arange(k, d)] = 1.0
    return out


def _reflection(d: int) -> Tensor:
    """(1, D, D) the reflection of the first axis: whether a group holds it says whether its
    frames must be proper."""
    return torch.diag(torch.cat([-torch.ones(1), torch.ones(d - 1)])).to(torch.float64)[None]


def _gram_schmidt(xc: Tensor, picks: np.ndarray, completion: Tensor, proper: bool) -> Tensor:
    """The frame (D, D) of :func:`tinvnn._fallback.point_frames` for the chosen point indices
    ``picks`` (D,) (-1: complete the frame), rebuilt with autograd from the centred points
    ``xc`` (n, D); ``completion`` (D, D) supplies the directions of the completed axes."""
    columns: list[Tensor] = []
    for k, p in enumerate(picks.tolist()):
        v = xc[p] if p >= 0 else completion[:, k]
        for b in columns:
            v = v - (v @ b) * b
        columns.append(v / v.norm())
    F = torch.stack(columns, 1)
    if proper:
        F = torch.cat([F[:, :-1], F[:, -1:] * torch.sign(torch.linalg.det(F.detach()))], 1)
    return F


def _frame(
    centre: Array,
    R: Array,
    radius: Array,
    evals: Array,
    eigen_gap: Array,
    on_gap_tol: Array,
    sign_margin: Array,
    tie_margin: Array,
    layout: Layout,
    *,
    scale: bool,
    tols: _Tolerances,
    fallback: Array,
    ambiguous: Array | None = None,
) -> Frame:
    """The :class:`Frame` (tensors) of centroids (B, D), canonical axes ``R`` (B, D, D), radii
    (B,), eigenvalues (B, D), eigen-gaps (B,), gaps on ``gap_tol`` (B,) bool, sign and tie
    margins (B,), where the fallback decided (B,) bool, and ``ambiguous`` (B,) bool when the
    caller has it (:func:`_ambiguous`)."""
    if ambiguous is None:
        ambiguous = _ambiguous(sign_margin, tie_margin, on_gap_tol, tols)
    fields = {
        "t": centre,
        "R": R,
        "s": radius if scale else (np.ones_like if isinstance(radius, np.ndarray) else torch.ones_like)(radius),
        "eigenvalues": evals,
        "eigen_gap": eigen_gap,
        "sign_margin": sign_margin,
        "tie_margin": tie_margin,
        "tie_used": tie_margin < float("inf"),
        "ambiguous": ambiguous,
        "fallback": fallback,
    }
    return Frame(
        **{k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in fields.items()}, layout=layout
    )


def _ambiguous(sign_margin: Array, tie_margin: Array, on_gap_tol: Array, tols: _Tolerances) -> Array:
    """(B,) bool ``Frame.ambiguous``: a sign margin at or below ``tols.sign``, a tie margin at or
    below ``tols.tie`` or an eigen-gap on ``tols.gap`` (comparisons: no gradient)."""
    flags: Array = (sign_margin <= tols.sign) | (tie_margin <= tols.tie) | on_gap_tol
    return flags


def _kernel_bounds(gap_tol: float, sign_tol: float) -> tuple[float, float, float, float]:
    """The bounds of a clear sample for :func:`tinvnn._kernels.frames`: ``NULL_TOL``, and
    ``gap_tol`` and ``sign_tol`` widened by their ambiguity band ``_BAND`` (gap limit, then the
    skewness below which the first fallback may decide, and the size a deciding statistic needs)."""
    return NULL_TOL, gap_tol * (1 + _BAND), sign_tol * (1 - _BAND), sign_tol * (1 + _BAND)


def _fast_frame(
    pos: Tensor, layout: Layout, *, scale: bool, group: Group, tols: _Tolerances
) -> tuple[Frame, Tensor] | None:
    """Frame and canonical points (B, N, 3) by the fused kernel (:func:`tinvnn._fast.kernel_frames`),
    or None where it does not apply.

    The kernel finishes the samples that are clear of every decision threshold (no null axis,
    eigen-gaps above ``gap_tol``, every sign fixed by the skewness or the first fallback, each
    at least ``_BAND`` away from its threshold), where the rules reduce to their plain form; the
    other samples are recomputed by :func:`_torch_frame`. Returns None (the torch path for the
    whole batch, with its checks and errors) also when a sample's radius is out of range
    (NaN/Inf, radii float64 cannot square) or its points coincide.
    """
    k = kernel_frames(pos, layout, group, scale=scale, bounds=_kernel_bounds(tols.gap, tols.sign))
    if k is None:
        return None
    radius = np.sqrt(k.mean_square)
    if not _in_range(k.mean_square).all() or coincident_samples(k.centre, radius).any():
        return None
    clear = np.zeros(len(k.done), dtype=bool)  # no tie, no gap on gap_tol
    untied = np.full(len(k.done), np.inf)  # the kernel finishes no sample whose tie rule ran
    levels = _rounding_levels(k.centre, radius)
    noisy = _in_rounding(k.sign_margin, untied, k.eigen_gap, pos.dtype, levels)
    frame = _frame(
        k.centre,
        k.R,
        radius,
        k.evals,
        k.eigen_gap,
        clear,
        k.sign_margin,
        untied,
        layout,
        scale=scale,
        tols=tols,
        fallback=clear,
        ambiguous=_ambiguous(k.sign_margin, untied, clear, tols) | noisy,
    )
    out = k.out
    if not k.done.all():
        rows = torch.from_numpy(np.flatnonzero(~k.done))
        part = k.x[rows]
        part_layout = Layout.from_input(part, None, None, min_points=1, check_values=False)
        part_frame, part_out = _torch_frame(part, part_layout, scale=scale, group=group, tols=tols)
        out.index_copy_(0, rows, part_out)
        frame = dataclasses.replace(
            frame,
            **{
                f.name: getattr(frame, f.name).index_copy(0, rows, getattr(part_frame, f.name))
                for f in dataclasses.fields(frame)
                if f.name != "layout"
            },
        )
    return frame, out


def _finish(
    z: Tensor,
    axes: Tensor,
    unit: Tensor,
    signs: Tensor,
    margins: Tensor,
    spread: Tensor,
    null: Tensor,
    tied: Tensor,
    counts: Tensor,
    mask: Tensor | None,
    *,
    slow: bool,
    scale: bool,
    group: Group,
    sign_tol: float,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Signs, handedness and the output: dense canonical points (B, N, D) in ``dtype``, ``R``
    (B, D, D), sign margin (B,) and tie margin (B,).

    ``z`` (B, D, N) are the points along the unsigned ``axes`` (B, D, D) in units of ``unit``
    (B,); ``signs`` and ``margins`` (B, D) what the skewness and the first fallback decided
    (:func:`_sign_chain`). ``slow``: rotate tied eigenspaces by the tie rule and apply the
    whole sign rule instead (:func:`_slow_signs`).
    """
    tie_margin = torch.full_like(unit, float("inf"))
    if slow and (z.requires_grad or torch.compiler.is_compiling()):
        z, axes, signs, margins, tie_margin = _slow_signs(z, axes, spread, null, tied, counts, mask, sign_tol)
    elif slow:  # eager: the rare rule on the rare samples only (it is per sample)
        rows = (tied.any(-1) | ((margins <= sign_tol) & ~null).any(-1)).nonzero().squeeze(1)
        part = _slow_signs(
            z[rows],
            axes[rows],
            spread[rows],
            null[rows],
            tied[rows],
            counts[rows],
            None if mask is None else mask[rows],
            sign_tol,
        )
        for full, sub in zip((z, axes, signs, margins, tie_margin), part):
            full.index_copy_(0, rows, sub)
    signs, margins = group.orient(axes, signs, margins, null)  # the group's own rule (handedness)
    factor = signs if scale else signs * unit[:, None]
    if z.requires_grad or torch.compiler.is_compiling():
        # Not in place (torch.cond branches may not mutate); a product with the diagonal matrix,
        # so that inductor computes the signs once instead of inlining them into every point.
        dense = (torch.diag_embed(factor) @ z).mT.to(dtype).contiguous()
    else:  # in place, then transposed into the output dtype
        dense = _transposed(z.mul_(factor[..., None]), dtype)
    return dense, (axes * signs[:, None, :]).contiguous(), margins.amin(-1), tie_margin


def _transposed(z: Tensor, dtype: torch.dtype) -> Tensor:
    """(B, D, N) -> contiguous (B, N, D) in ``dtype``. For small D one strided copy per
    coordinate: about twice as fast on CPU as a single transposing copy."""
    out = z.new_empty(z.shape[0], z.shape[2], z.shape[1], dtype=dtype)
    if z.shape[1] > 8:
        return out.copy_(z.mT)
    for k in range(z.shape[1]):
        out[..., k] = z[:, k]
    return out


def _point_counts(counts: Tensor, z: Tensor) -> Tensor:
    """The number of real points per sample (B,) as a divisor: (B, 1, 1) in ``z``'s dtype
    (``[..., 0]`` for (B, D) means)."""
    return counts.to(z.dtype)[:, None, None]


def _odd_moments(z: Tensor, spread: Tensor, n: Tensor, *, scratch: Tensor | None = None) -> Tensor:
    """The first two statistics of the sign rule, (2, B, D): the skewness ``E[z_k^3] / sd_k^3``
    and ``E[z_k |z|^2] / sd_k``, for points ``z`` (B, D, N) (padding columns zero) with
    per-axis standard deviations ``spread`` (B, D) in the units of ``z``, and ``n`` real points
    per sample (:func:`_point_counts`).

    Both come from one product, ``E[z_j^2 z_k]`` (B, D, D): its diagonal and its column sums.
    ``scratch``: an optional buffer shaped like ``z`` that may be overwritten.
    """
    squares = z * z if scratch is None else torch.mul(z, z, out=scratch)
    third = squares @ z.mT / n  # (B, D, D): E[z_j^2 z_k]
    return torch.stack([torch.diagonal(third, dim1=-2, dim2=-1) / spread**3, third.sum(-2) / spread])


def _sign_chain(stats: Tensor, null: Tensor, sign_tol: float) -> tuple[Tensor, Tensor, Tensor]:
    """Signs (B, D) in {-1, +1}, margins (B, D; ``inf`` on null axes) and undecided axes (B, D)
    from a chain of statistics ``stats`` (K, B, D): the first whose magnitude exceeds
    ``sign_tol`` decides, else the largest (and the axis is undecided).

    A statistic at or before the decider within ``_BAND`` of ``sign_tol`` puts the decision on
    its threshold (rounding could hand it to a neighbour of the opposite sign): the margin is
    then at most ``sign_tol``, so the sample counts as ambiguous. (A loop over the K
    statistics: elementwise selections cost less than argmax and gather on these small tensors.)
    """
    size = stats.abs()
    reach = size > sign_tol
    near = (size - sign_tol).abs() <= _BAND * sign_tol
    chosen = stats[-1]
    for i in range(stats.shape[0] - 2, -1, -1):  # the largest; the earliest among equals
        chosen = torch.where(size[i] >= chosen.abs(), stats[i], chosen)
    for i in range(stats.shape[0] - 1, -1, -1):  # the first that reaches sign_tol
        chosen = torch.where(reach[i], stats[i], chosen)
    on_tol, open_ = near[0], ~reach[0]  # open_: no statistic so far reached sign_tol
    for i in range(1, stats.shape[0]):
        on_tol = on_tol | (open_ & near[i])
        open_ = open_ & ~reach[i]
    margins = chosen.abs()
    margins = torch.where(on_tol, margins.clamp_max(sign_tol), margins)
    signs = (chosen < 0).to(stats.dtype).mul_(-2.0).add_(1.0)
    return signs, torch.where(null, float("inf"), margins), open_ & ~null


def _slow_signs(
    z: Tensor,
    axes: Tensor,
    spread: Tensor,
    null: Tensor,
    tied: Tensor,
    counts: Tensor,
    mask: Tensor | None,
    sign_tol: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The rare cases: the tie rule and the whole sign rule. Returns the rotated points (B, D, N)
    and axes (B, D, D), signs and margins (B, D), and tie margins (B,).

    Samples without ties are rotated by the identity, which leaves their points bit for bit,
    so their first two statistics, and hence their signs, are those of the common path.
    """
    with torch.no_grad():
        q, tie_margin = tie_rotations(z.detach(), tied, counts, mask)
    axes, z = axes @ q, q.mT @ z
    with torch.no_grad():
        zd = z.detach()
        n = _point_counts(counts, zd)
        first_two = _odd_moments(zd, spread, n)
        squares = zd * zd
        cubes = squares * zd
        fifth = (cubes * squares).sum(-1) / n[..., 0] / spread**5
        signs, margins, undecided = _sign_chain(torch.cat([first_two, fifth[None]]), null, sign_tol)
        # Odd moments all vanish (a flip of axis k is a symmetry of the marginal): orient axis k
        # relative to an earlier axis j by E[z_j^3 z_k] / (sd_j^3 sd_k) or E[z_j z_k^3] / (sd_j sd_k^3).
        mixed = (cubes @ zd.mT) / n / (spread[:, :, None] ** 3 * spread[:, None, :])
        sign_cols, margin_cols = list(signs.unbind(-1)), list(margins.unbind(-1))
        for k in range(1, zd.shape[1]):
            need = undecided[:, k]
            for j in range(k):
                for stat in (mixed[:, j, k], mixed[:, k, j]):
                    ok = need & (stat.abs() > sign_tol) & ~null[:, j]
                    sign_cols[k] = torch.where(ok, torch.sign(stat) * sign_cols[j], sign_cols[k])
                    margin_cols[k] = torch.where(ok, stat.abs(), margin_cols[k])
                    need = need & ~ok
    return z, axes, torch.stack(sign_cols, -1), torch.stack(margin_cols, -1), tie_margin


def _decided(frame: Frame, i: int) -> bool:
    """Whether the fallback decided sample ``i``'s frame."""
    return frame.fallback is not None and bool(frame.fallback[i])


def _handle_ambiguity(frame: Frame, action: str) -> None:
    if action == "ignore" or not bool(frame.ambiguous.any()):
        return
    idx = frame.ambiguous.nonzero().flatten().tolist()
    msg = (
        f"{len(idx)} sample(s) have a near-ambiguous canonical frame (first: {idx[:5]}; "
        f"sign margin {float(frame.sign_margin[idx[0]]):.2e}, tie margin {float(frame.tie_margin[idx[0]]):.2e}). "
        f"{'The fallback decided it (exactly invariant; Frame.fallback)' if _decided(frame, idx[0]) else 'Kept as is'}"
        ": a small perturbation of the shape (or the input's rounding far from the origin: centre the "
        "points before a cast to lower precision) may still change it; see docs/ambiguity.md"
    )
    if action == "raise":
        raise ValueError(msg)
    warnings.warn(msg, AmbiguityWarning, stacklevel=4)
