"""Random elements of the groups tinvnn is invariant to: orthogonal maps, similarities.

Convention: points are row vectors and a similarity ``(Q, s, t)`` acts as
``x -> s * x @ Q.T + t`` (column form ``s Q x + t``); vectors as ``v -> s * v @ Q.T``
(or ``v @ Q.T`` for quantities without length units).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["random_orthogonal", "random_similarity", "sign_patterns", "signed_permutations", "Similarity"]


def random_orthogonal(
    d: int,
    batch_shape: tuple[int, ...] = (),
    *,
    det: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """Haar-random orthogonal matrices.

    Args:
        d: dimension.
        batch_shape: leading batch dims.
        det: ``None`` uniform on O(d); ``1`` uniform on SO(d) (rotations); ``-1`` uniform on the
            reflections ``O(d) \\ SO(d)``.

    Returns:
        (*batch_shape, d, d) with ``Q @ Q.T = I``.

    Example:
        >>> q = random_orthogonal(3, det=1)
        >>> torch.allclose(q @ q.T, torch.eye(3, dtype=q.dtype)) and bool(torch.linalg.det(q) > 0)
        True
    """
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    if det not in (None, 1, -1):
        raise ValueError(f"det must be None, 1 or -1, got {det!r}")
    gauss = torch.randn(*batch_shape, d, d, generator=generator, dtype=torch.float64, device=device)
    q, r = torch.linalg.qr(gauss)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)  # Haar (Mezzadri 2007)
    if det is not None:
        wrong = torch.linalg.det(q) * det < 0
        q = torch.where(wrong[..., None, None], q * _flip_first(d, q), q)
    return q.to(dtype)


def sign_patterns(d: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> Tensor:
    """All 2^d sign vectors (the diagonal reflections of the axes), (2^d, d) in {+1, -1}.

    Row p holds the binary digits of p, most significant first, as +1 (0) or -1 (1): the first
    row is all +1 (the identity). ``d = 0`` gives one empty row.

    Example:
        >>> sign_patterns(2).tolist()
        [[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]]
    """
    shifts = torch.arange(d - 1, -1, -1, device=device)
    bits = (torch.arange(2**d, device=device)[:, None] >> shifts) & 1
    return (1 - 2 * bits).to(dtype)


def signed_permutations(d: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> Tensor:
    """The 2^d d! signed permutation matrices (the symmetries of the d-cube), (K, d, d).

    ``x @ P`` reorders the coordinates of row vectors ``x`` and flips some of their signs: every
    way of choosing a frame from d unsigned, unordered axes. The identity comes first; the
    ``det = +1`` ones (half of them) are the rotations among them.

    Example:
        >>> p = signed_permutations(3)
        >>> p.shape, bool((p[0] == torch.eye(3, dtype=p.dtype)).all())
        (torch.Size([48, 3, 3]), True)
    """
    eye = torch.eye(d, dtype=dtype, device=device)
    perms = torch.stack([eye[list(order)] for order in itertools.permutations(range(d))])  # (d!, d, d)
    signs = sign_patterns(d, dtype=dtype, device=device)  # (2^d, d)
    return (perms[None] * signs[:, None, None, :]).flatten(0, 1)


def _flip_first(d: int, like: Tensor) -> Tensor:
    flip = torch.ones(d, dtype=like.dtype, device=like.device)
    flip[0] = -1
    return flip


@dataclass(frozen=True)
class Similarity:
    """A similarity ``x -> s * x @ Q.T + t`` per sample.

    Attributes:
        Q: (*batch, D, D) orthogonal.
        s: (*batch,) positive scale.
        t: (*batch, D) translation.
    """

    Q: Tensor
    s: Tensor
    t: Tensor

    def points(self, x: Tensor) -> Tensor:
        """Transform points (*batch, N, ..., D) (computed in float64, returned in ``x.dtype``)."""
        return self._apply(x, scale=True, shift=True)

    def vectors(self, v: Tensor, *, scale: bool = True) -> Tensor:
        """Transform vectors (*batch, N, ..., D): rotate, and scale when they have length units."""
        return self._apply(v, scale=scale, shift=False)

    def _apply(self, x: Tensor, *, scale: bool, shift: bool) -> Tensor:
        nb = self.s.dim()
        y = x.to(torch.float64)
        extra = y.dim() - nb - 1  # dims between the batch dims and the coordinate
        view = self.Q.shape[:nb] + (1,) * (extra - 1) + self.Q.shape[-2:]
        y = y @ self.Q.reshape(view).mT if extra >= 1 else y @ self.Q.mT
        if scale:
            y = y * self.s.reshape(self.s.shape + (1,) * (y.dim() - nb))
        if shift:
            y = y + self.t.reshape(self.t.shape[:-1] + (1,) * (y.dim() - nb - 1) + self.t.shape[-1:])
        return y.to(x.dtype)


def random_similarity(
    d: int,
    batch_shape: tuple[int, ...] = (),
    *,
    group: str = "O",
    scale_range: tuple[float, float] | None = (0.5, 2.0),
    translation: float = 0.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Similarity:
    """A random similarity per sample, in float64.

    Args:
        d: dimension.
        batch_shape: leading batch dims.
        group: ``"O"`` (any orthogonal map) or ``"SO"`` (rotations only).
        scale_range: ``(lo, hi)``, scale drawn log-uniformly; ``None`` for no scaling.
        translation: standard deviation of each translation coordinate (0 for none).
    """
    if group not in ("O", "SO"):
        raise ValueError(f"group must be one of ['O', 'SO'], got {group!r}")
    q = random_orthogonal(d, batch_shape, det=1 if group == "SO" else None, generator=generator, device=device)
    if scale_range is None:
        s = torch.ones(batch_shape, dtype=torch.float64, device=device)
    else:
        lo, hi = scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < lo <= hi, got {scale_range}")
        u = torch.rand(batch_shape, generator=generator, dtype=torch.float64, device=device)
        s = torch.exp(torch.log(torch.tensor(lo, dtype=torch.float64)) * (1 - u) + torch.log(torch.tensor(hi, dtype=torch.float64)) * u)
    t = translation * torch.randn(*batch_shape, d, generator=generator, dtype=torch.float64, device=device)
    return Similarity(q, s, t)
