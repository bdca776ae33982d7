"""Classical multi-dimensional scaling from distances, canonicalized like :func:`canonicalize`.

For data that only has distances (shortest paths on a graph, geodesic distances on a
surface). Cost O(N^3) per sample (a full N x N eigen-decomposition): when coordinates exist,
call :func:`tinvnn.canonicalize`, which gives the same answer in O(N D^2).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal, overload

import torch
from torch import Tensor

from tinvnn._checks import check_finite, check_number, check_positive_int, check_tensor
from tinvnn.canonical import canonicalize
from tinvnn.frame import Frame

__all__ = ["mds", "MDSInfo", "NonEuclideanWarning"]


class NonEuclideanWarning(UserWarning):
    """The distances are not Euclidean: the Gram matrix has large negative eigenvalues."""


@dataclass(frozen=True)
class MDSInfo:
    """What classical MDS found.

    Attributes (B = 1 for an unbatched (N, N) input):
        eigenvalues: (B, dim) the kept Gram eigenvalues, before clipping (negative ones are
            clipped to 0 in the coordinates).
        negative_fraction: (B,) sum of |negative Gram eigenvalues| over sum of |all|: 0 for
            Euclidean distances, larger the less Euclidean they are.
        clipped: (B,) number of kept eigenvalues that were negative and clipped to 0.
        frame: the canonical frame of the MDS coordinates.
    """

    eigenvalues: Tensor
    negative_fraction: Tensor
    clipped: Tensor
    frame: Frame


@overload
def mds(
    dist: Tensor,
    dim: int,
    *,
    mask: Tensor | None = ...,
    scale: bool = ...,
    return_info: Literal[False] = ...,
    on_ambiguity: str = ...,
    gap_tol: float = ...,
    sign_tol: float = ...,
    symmetry_tol: float | None = ...,
    negative_tol: float = ...,
) -> Tensor: ...


@overload
def mds(
    dist: Tensor,
    dim: int,
    *,
    mask: Tensor | None = ...,
    scale: bool = ...,
    return_info: Literal[True],
    on_ambiguity: str = ...,
    gap_tol: float = ...,
    sign_tol: float = ...,
    symmetry_tol: float | None = ...,
    negative_tol: float = ...,
) -> tuple[Tensor, MDSInfo]: ...


@overload
def mds(
    dist: Tensor,
    dim: int,
    *,
    mask: Tensor | None = ...,
    scale: bool = ...,
    return_info: bool,
    on_ambiguity: str = ...,
    gap_tol: float = ...,
    sign_tol: float = ...,
    symmetry_tol: float | None = ...,
    negative_tol: float = ...,
) -> Tensor | tuple[Tensor, MDSInfo]: ...


def mds(
    dist: Tensor,
    dim: int,
    *,
    mask: Tensor | None = None,
    scale: bool = True,
    return_info: bool = False,
    on_ambiguity: str = "ignore",
    gap_tol: float = 1e-3,
    sign_tol: float = 1e-3,
    symmetry_tol: float | None = None,
    negative_tol: float = 1e-4,
) -> Tensor | tuple[Tensor, MDSInfo]:
    """Canonical coordinates from pairwise distances (classical MDS + tinvnn's sign, tie and scale rules).

    ``mds(torch.cdist(x, x), x.shape[-1])`` equals ``canonicalize(x)`` up to float error.
    Distances carry no handedness, so only the group O (rotations and reflections) applies.

    Args:
        dist: (N, N) or (B, N, N) symmetric, non-negative, finite distances (zero diagonal).
        dim: number of output coordinates (1 <= dim <= N).
        mask: (B, N) bool for padded batches; rows/columns of padding are ignored and their
            output rows are 0.
        scale: divide by the RMS radius of the embedded points.
        return_info: also return :class:`MDSInfo`.
        on_ambiguity, gap_tol, sign_tol: as in :func:`canonicalize`.
        symmetry_tol: largest allowed ``|d_ij - d_ji|`` and diagonal entry, relative to the
            largest distance (default: 1e-6 in float64; ``10 sqrt(eps)`` of a lower precision,
            3.5e-3 in float32, since ``torch.cdist``'s fast path leaves diagonal entries of order
            ``sqrt(eps)``; at most 1e-2, float16 and bfloat16 included).
        negative_tol: a :class:`NonEuclideanWarning` is issued when a sample's
            ``negative_fraction`` exceeds this.

    Returns:
        (N, dim) or (B, N, dim) in ``dist.dtype``, and the :class:`MDSInfo` if asked.

    Raises:
        ValueError: not square, not symmetric, negative or non-finite entries, a non-zero
            diagonal, ``dim`` not an integer in [1, N], a mask that does not fit, or an option
            of the wrong type (each message names the argument).
    """
    check_tensor(dist, "dist")
    if dist.dim() not in (2, 3) or dist.shape[-1] != dist.shape[-2]:
        raise ValueError(f"dist must be a square matrix (N, N) or a batch (B, N, N), got {tuple(dist.shape)}")
    n = dist.shape[-1]
    check_positive_int(dim, "dim")
    if dim > n:
        raise ValueError(f"dim must be between 1 and N={n}, got {dim}")
    if symmetry_tol is None:
        eps = torch.finfo(dist.dtype).eps if dist.is_floating_point() else 0.0
        symmetry_tol = min(max(1e-6, 10 * math.sqrt(eps)), 1e-2) if eps > torch.finfo(torch.float64).eps else 1e-6
    check_number(symmetry_tol, "symmetry_tol")
    check_number(negative_tol, "negative_tol")
    for flag, name in ((scale, "scale"), (return_info, "return_info")):
        if not isinstance(flag, bool):
            raise ValueError(f"{name}: expected True or False, got {flag!r}")
    d = dist.to(torch.float64)
    d = d if d.dim() == 3 else d[None]
    if mask is not None:
        if dist.dim() != 3:
            raise ValueError(f"mask needs a batch of distance matrices (B, N, N), got {tuple(dist.shape)}")
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != dist.shape[:2]:
            raise ValueError(
                f"mask must be a bool tensor of shape {tuple(dist.shape[:2])}, got {getattr(mask, 'shape', mask)}"
            )
    valid = torch.ones(d.shape[:2], dtype=torch.bool, device=d.device) if mask is None else mask
    if mask is not None and dim > int(mask.sum(1).min()):
        raise ValueError(f"dim must be at most the smallest number of real points, {int(mask.sum(1).min())}, got {dim}")
    pair = valid[:, :, None] & valid[:, None, :]
    d = torch.where(pair, d, torch.zeros_like(d))  # padding may hold anything
    check_finite(d if dist.dim() == 3 else d[0], "dist")
    biggest = d.abs().amax((-1, -2)).clamp_min(1e-300)
    if bool((d < 0).any()):
        raise ValueError("dist must be non-negative, got negative entries")
    asym = (d - d.mT).abs().amax((-1, -2)) / biggest
    if bool((asym > symmetry_tol).any()):
        raise ValueError(
            f"dist must be symmetric, got |d_ij - d_ji| up to {float(asym.max()):.3g} of the largest distance"
        )
    diag = torch.diagonal(d, dim1=-2, dim2=-1).abs().amax(-1) / biggest
    if bool((diag > symmetry_tol).any()):
        raise ValueError(
            f"dist must have a zero diagonal, got entries up to {float(diag.max()):.3g} of the largest distance"
        )

    gram = _double_centre(d * d, valid)
    if not bool(torch.isfinite(gram).all()):
        raise ValueError(
            f"dist: distances up to {float(biggest.max()):.3g} overflow float64 when squared; rescale them "
            "(e.g. divide by the largest)"
        )
    evals, evecs = torch.linalg.eigh(gram)
    evals, evecs = evals.flip(-1), evecs.flip(-1)
    kept = evals[:, :dim]
    coords = evecs[:, :, :dim] * kept.clamp_min(0).sqrt()[:, None, :]
    negative = evals.clamp_max(0).abs().sum(-1) / evals.abs().sum(-1).clamp_min(1e-300)
    if bool((negative > negative_tol).any()):
        warnings.warn(
            f"distances are not Euclidean: negative Gram eigenvalues carry up to {float(negative.max()):.2%} "
            "of the spectrum; they are dropped (see MDSInfo.negative_fraction)",
            NonEuclideanWarning,
            stacklevel=2,
        )
    z, frame = canonicalize(
        coords,
        mask=mask,
        scale=scale,
        return_frame=True,
        on_ambiguity=on_ambiguity,
        gap_tol=gap_tol,
        sign_tol=sign_tol,
    )
    z = z.to(dist.dtype)
    if dist.dim() == 2:
        z = z[0]
    if not return_info:
        return z
    return z, MDSInfo(kept, negative, (kept < 0).sum(-1), frame)


def _double_centre(d2: Tensor, valid: Tensor) -> Tensor:
    """``-1/2 J D^2 J`` over the valid points of each sample; rows of padding are 0. (B, N, N)."""
    w = valid.to(d2.dtype)
    n = w.sum(-1)[:, None]
    row = (d2 * w[:, None, :]).sum(-1) / n  # (B, N) mean over valid columns
    total = (row * w).sum(-1, keepdim=True) / n
    gram = -0.5 * (d2 - row[:, :, None] - row[:, None, :] + total[:, :, None])
    return gram * (w[:, :, None] * w[:, None, :])
