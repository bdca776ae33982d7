"""The symmetry groups tinvnn is invariant to, as objects, and their random elements.

A group is an instance of a :class:`Group` subclass: :class:`Orthogonal` (O(d), rotations and
reflections, what MDS leaves) and :class:`Rotations` (SO(d), ``det = +1``). Each knows its
elements (:meth:`Group.contains`, :meth:`Group.random_orthogonal`) and the rule that picks its
own member among the sign-flipped principal frames (:meth:`Group.handed_axis`,
:meth:`Group.orient`, :meth:`Group.sign_flips`, :meth:`Group.random_signs`,
:meth:`Group.proper_axes`); the engine asks the group and never compares its name. Translation
and uniform scale are handled by every engine function alike (centring always; scale with
``scale=True``), so a group object is the orthogonal part only. The strings ``"O"`` and
``"SO"`` are aliases (:data:`GROUPS`, :func:`as_group`). Adding a group: ``docs/extend-group.md``.

Convention: points are row vectors and a similarity ``(Q, s, t)`` acts as
``x -> s * x @ Q.T + t`` (column form ``s Q x + t``); vectors as ``v -> s * v @ Q.T``
(or ``v @ Q.T`` for quantities without length units).
"""

from __future__ import annotations

import abc
import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "GROUPS",
    "GROUP_NAMES",
    "Group",
    "Orthogonal",
    "Rotations",
    "Similarity",
    "as_group",
    "random_orthogonal",
    "random_similarity",
    "sign_patterns",
    "signed_permutations",
]


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

    Shape:
        () -> (*batch_shape, d, d).

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
    out: Tensor = q.to(dtype)
    return out


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


def signed_permutations(
    d: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> Tensor:
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
    group: Group | str = "O",
    scale_range: tuple[float, float] | None = (0.5, 2.0),
    translation: float = 0.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Similarity:
    """A random similarity per sample, in float64.

    Args:
        d: dimension.
        batch_shape: leading batch dims.
        group: the orthogonal part's :class:`Group` (or its alias ``"O"``, ``"SO"``).
        scale_range: ``(lo, hi)``, scale drawn log-uniformly; ``None`` for no scaling.
        translation: standard deviation of each translation coordinate (0 for none).
    """
    q = as_group(group).random_orthogonal(d, batch_shape, generator=generator, device=device)
    if scale_range is None:
        s = torch.ones(batch_shape, dtype=torch.float64, device=device)
    else:
        lo, hi = scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < lo <= hi, got {scale_range}")
        u = torch.rand(batch_shape, generator=generator, dtype=torch.float64, device=device)
        s = torch.exp(
            torch.log(torch.tensor(lo, dtype=torch.float64)) * (1 - u)
            + torch.log(torch.tensor(hi, dtype=torch.float64)) * u
        )
    t = translation * torch.randn(*batch_shape, d, generator=generator, dtype=torch.float64, device=device)
    return Similarity(q, s, t)


class Group(abc.ABC):
    """A group of orthogonal maps of R^D (acting on row vectors as ``x -> x @ Q.T``) that the
    engine makes its outputs invariant to, together with translation and (``scale=True``) scale.

    The engine computes the principal axes with signs fixed by the sign rule (an element of
    O(D)); the group then says which of the sign-flipped frames is its own (``docs/conventions.md``,
    rule 5). A subclass implements the abstract methods; the others derive from them.
    """

    name: str
    """The group's short name (``"O"``, ``"SO"``), used in reprs and messages only."""
    kernel_handedness: bool | None = None
    """How the fused CPU kernel (:mod:`tinvnn._kernels`) applies the group's rule: ``False``
    signs only, ``True`` the least certain axis completes ``det = +1``; ``None`` (a new group's
    default) the kernel does not implement it and the tensor path runs."""

    @abc.abstractmethod
    def random_orthogonal(
        self,
        d: int,
        batch_shape: tuple[int, ...] = (),
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Haar-random elements of the group in dimension ``d``, (*batch_shape, d, d)."""

    @abc.abstractmethod
    def contains(self, q: Tensor) -> Tensor:
        """Which orthogonal matrices ``q`` (..., D, D) belong to the group: (...,) bool."""

    @abc.abstractmethod
    def handed_axis(self, margins: Tensor, null: Tensor) -> Tensor | None:
        """The axis whose sign the group decides instead of the sign rule, one-hot (B, D) bool,
        given how certain each axis's sign is (``margins`` (B, D), larger is surer) and the null
        axes (B, D) bool; None when the sign rule decides every axis."""

    def orient(self, axes: Tensor, signs: Tensor, margins: Tensor, null: Tensor) -> tuple[Tensor, Tensor]:
        """Make the signed frame ``axes * signs`` a member of the group.

        Args:
            axes: (B, D, D) orthonormal columns. signs: (B, D) in {-1, +1}. margins: (B, D)
                the sign rule's margins. null: (B, D) bool, axes without extent.

        Returns:
            ``(signs, margins)`` (B, D): the handed axis flipped where the frame's determinant
            is negative, and its margin ``inf`` (its sign is no decision of the sign rule).
        """
        own = self.handed_axis(margins, null)
        if own is None:
            return signs, margins
        flip = own & (torch.linalg.det(axes.detach() * signs[:, None, :]) < 0)[:, None]
        return torch.where(flip, -signs, signs), torch.where(own, float("inf"), margins)

    @abc.abstractmethod
    def sign_flips(self, axes: Tensor) -> Tensor:
        """The sign vectors (B, F, D) that make the frames ``axes * signs`` (axes (B, D, D)) the
        group's members among the 2^D sign-flipped frames: Frame Averaging's frames."""

    @abc.abstractmethod
    def random_signs(self, b: int, d: int, like: Tensor) -> Tensor:
        """Random axis signs (B, D) in ``like``'s dtype and device that keep a member of the
        group a member (drawn from the global CPU generator whatever the device)."""

    @abc.abstractmethod
    def proper_axes(self, axes: Tensor) -> Tensor:
        """The frames ``axes`` (B, D, D) made members of the group by flipping the last axis
        where needed (PCA alignment's plain rule); ``axes`` itself when nothing changes."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@dataclass(frozen=True, repr=False)
class Orthogonal(Group):
    """O(d): every rotation and reflection. Alias ``"O"``. The sign rule decides every axis.

    Example:
        >>> Orthogonal().contains(torch.diag(torch.tensor([1.0, 1.0, -1.0]))).item()
        True
    """

    name = "O"
    kernel_handedness = False

    def random_orthogonal(
        self,
        d: int,
        batch_shape: tuple[int, ...] = (),
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        return random_orthogonal(d, batch_shape, generator=generator, dtype=dtype, device=device)

    def contains(self, q: Tensor) -> Tensor:
        return torch.ones(q.shape[:-2], dtype=torch.bool, device=q.device)

    def handed_axis(self, margins: Tensor, null: Tensor) -> Tensor | None:
        return None

    def sign_flips(self, axes: Tensor) -> Tensor:
        patterns = sign_patterns(axes.shape[-1], dtype=axes.dtype, device=axes.device)
        return patterns.expand(axes.shape[0], -1, -1)

    def random_signs(self, b: int, d: int, like: Tensor) -> Tensor:
        return (torch.randint(0, 2, (b, d)) * 2 - 1).to(device=like.device, dtype=like.dtype)

    def proper_axes(self, axes: Tensor) -> Tensor:
        return axes


@dataclass(frozen=True, repr=False)
class Rotations(Group):
    """SO(d): rotations only (``det = +1``), so a shape and its mirror image stay different.
    Alias ``"SO"``. Handedness decides one axis: a null axis if there is one (it moves no point),
    else the axis whose sign was least certain.

    Example:
        >>> Rotations().contains(torch.diag(torch.tensor([1.0, 1.0, -1.0]))).item()
        False
    """

    name = "SO"
    kernel_handedness = True

    def random_orthogonal(
        self,
        d: int,
        batch_shape: tuple[int, ...] = (),
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        return random_orthogonal(d, batch_shape, det=1, generator=generator, dtype=dtype, device=device)

    def contains(self, q: Tensor) -> Tensor:
        proper: Tensor = torch.linalg.det(q) > 0
        return proper

    def handed_axis(self, margins: Tensor, null: Tensor) -> Tensor | None:
        pick = torch.where(null, float("-inf"), margins).argmin(-1)
        return torch.nn.functional.one_hot(pick, margins.shape[-1]).bool()

    def sign_flips(self, axes: Tensor) -> Tensor:
        """The first D-1 signs free, the last fixing ``det = +1`` (2^(D-1) frames)."""
        patterns = sign_patterns(axes.shape[-1] - 1, dtype=axes.dtype, device=axes.device)
        det = torch.linalg.det(axes)[:, None, None]
        last = det * patterns.prod(-1, keepdim=True)  # (B, F, 1)
        return torch.cat([patterns.expand(axes.shape[0], -1, -1), last], -1)

    def random_signs(self, b: int, d: int, like: Tensor) -> Tensor:
        """An even number of flips: the last sign is the product of the others."""
        signs = Orthogonal().random_signs(b, d, like)
        signs[:, -1] = signs[:, :-1].prod(dim=-1)
        return signs

    def proper_axes(self, axes: Tensor) -> Tensor:
        axes = axes.clone()
        axes[..., -1] *= torch.linalg.det(axes)[:, None]
        return axes


GROUPS: dict[str, Group] = {"O": Orthogonal(), "SO": Rotations()}
"""The groups' string aliases, accepted wherever a :class:`Group` is."""
GROUP_NAMES = tuple(GROUPS)


def as_group(group: Group | str) -> Group:
    """The :class:`Group` ``group`` names: a group object as is, or an alias of :data:`GROUPS`.

    Raises:
        ValueError: neither a :class:`Group` nor one of the aliases.

    Example:
        >>> as_group("SO")
        Rotations()
    """
    if isinstance(group, Group):
        return group
    if isinstance(group, str) and group in GROUPS:
        return GROUPS[group]
    raise ValueError(f"group must be one of {sorted(GROUPS)}, got {group!r} (or pass a tinvnn.group.Group)")
