"""The symmetry groups tinvnn is invariant to, as objects, and their random elements.

A group is an instance of a :class:`Group` subclass: :class:`Orthogonal` (O(d), rotations and
reflections, what MDS leaves) and :class:`Rotations` (SO(d), ``det = +1``). Each knows its
elements (:meth:`Group.contains`, :meth:`Group.random_orthogonal`) and the rule that picks its
own member among the sign-flipped principal frames (:meth:`Group.handed_axis`,
:meth:`Group.orient`, :meth:`Group.sign_flips`, :meth:`Group.random_signs`,
:meth:`Group.proper_axes`); the engine asks the group and never compares its name. Translation
and uniform scale are handled by every engine function alike (centring always; scale with
``scale=True``), so a group object is the orthogonal part only. :class:`AxialRotations` (SO(2)
or O(2) about a given axis, "up" kept) has a frame step of its own (:meth:`Group.axis_split`).
The strings ``"O"``, ``"SO"``, ``"SO2z"`` and ``"O2z"`` are aliases (:data:`GROUPS`,
:func:`as_group`). Adding a group: ``docs/extend-group.md``.

Convention: points are row vectors and a similarity ``(Q, s, t)`` acts as
``x -> s * x @ Q.T + t`` (column form ``s Q x + t``); vectors as ``v -> s * v @ Q.T``
(or ``v @ Q.T`` for quantities without length units).
"""

from __future__ import annotations

import abc
import itertools
import math
import numbers
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "GROUPS",
    "GROUP_NAMES",
    "AxialRotations",
    "AxisSplit",
    "Group",
    "Orthogonal",
    "Rotations",
    "Similarity",
    "as_group",
    "axis_angle_rotation",
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


def axis_angle_rotation(axis: Tensor, angle: Tensor) -> Tensor:
    """Rotations by ``angle`` (radians, right-handed) about ``axis`` (any non-zero length), by
    Rodrigues' formula ``I + sin(a) K + (1 - cos(a)) K^2``.

    Shape:
        axis (3,) or (*batch, 3), angle (*batch) -> (*batch, 3, 3), in ``angle``'s dtype (the
        default dtype for an integer angle).

    Example:
        >>> r = axis_angle_rotation(torch.tensor([0.0, 0.0, 2.0]), torch.tensor([math.pi / 2]))
        >>> torch.allclose(torch.tensor([1.0, 0.0, 0.0]) @ r[0].T, torch.tensor([0.0, 1.0, 0.0]), atol=1e-7)
        True
    """
    dtype = angle.dtype if angle.is_floating_point() else torch.get_default_dtype()
    angle = angle.to(dtype)
    axis = axis.to(angle)
    axis = axis / axis.norm(dim=-1, keepdim=True)
    x, y, z = axis.expand(*angle.shape, 3).unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*angle.shape, 3, 3)
    eye = torch.eye(3, dtype=angle.dtype, device=angle.device)
    sin, cos = angle.sin()[..., None, None], angle.cos()[..., None, None]
    rotation: Tensor = eye + sin * k + (1 - cos) * (k @ k)
    return rotation


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
        group: the orthogonal part's :class:`Group` (or its alias, :data:`GROUPS`).
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
    """The group's short name (``"O"``, ``"SO"``, ``"SO2z"``), used in reprs and messages only."""
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
        """The axes whose signs the group decides instead of the sign rule, (B, D) bool (one-hot
        for SO(D); the kept axis, and for SO(2) one in-plane axis, for :class:`AxialRotations`),
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

    def axis_split(self, d: int) -> AxisSplit | None:
        """For a group that keeps an axis (:class:`AxialRotations`): the basis that puts it last
        and the group acting on the plane perpendicular to it, which the engine's frame step
        asks for; None (the default) for a group acting on the whole space."""
        return None

    def free_axes(self, d: int) -> int:
        """How many of the ``d`` canonical axes the frame rule chooses (the first ones); the
        others are the kept axis, which no sign or order decision touches."""
        return d if self.axis_split(d) is None else d - 1

    def canonical_group(self) -> Group:
        """The group as it acts on canonical coordinates (the maps ``z -> z @ P`` that keep a
        canonical frame ``R`` a frame of the group, ``R P``): the group itself for O(D) and
        SO(D); rotations about the last canonical axis for :class:`AxialRotations`."""
        return self

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


class AxisSplit(NamedTuple):
    """How a group that keeps an axis acts (:meth:`Group.axis_split`).

    Attributes:
        basis: (D, D) float64 orthonormal, ``det = +1``, the kept axis its last column: points
            ``x @ basis`` have their coordinates in the plane first and the height last.
        plane: the group acting on the in-plane coordinates (D - 1 of them).
    """

    basis: Tensor
    plane: Group

    def lift(self, plane: Tensor) -> Tensor:
        """``basis diag(plane, 1)`` (*, D, D) for in-plane maps or frames ``plane`` (*, D-1, D-1):
        the frame whose last column is the kept axis (with autograd through ``plane``)."""
        column = plane.new_zeros(*plane.shape[:-1], 1)
        row = torch.cat(
            [plane.new_zeros(*plane.shape[:-2], 1, plane.shape[-1]), plane.new_ones(*plane.shape[:-2], 1, 1)], -1
        )
        return self.basis.to(plane) @ torch.cat([torch.cat([plane, column], -1), row], -2)


def _axial_basis(axis: tuple[float, float, float]) -> Tensor:
    """:meth:`AxialRotations.basis` of ``axis``."""
    a = torch.tensor(axis, dtype=torch.float64)
    a = a / a.norm()
    e = torch.zeros(3, dtype=torch.float64)
    e[int(a.abs().argmin())] = 1.0
    b1 = e - (e @ a) * a
    b1 = b1 / b1.norm()
    return torch.stack([b1, torch.linalg.cross(a, b1), a], 1)


@dataclass(frozen=True, repr=False)
class AxialRotations(Group):
    """Rotations of R^3 about a given ``axis`` (SO(2), "up" is known, e.g. gravity), and with
    ``reflections=True`` also the reflections in the planes that contain the axis (O(2)). The
    axis keeps its direction: the flip ``up -> -up`` is not in either group. Aliases ``"SO2z"``
    and ``"O2z"`` (axis z).

    The canonical frame (``docs/conventions.md``, rule 9) keeps the axis as the last canonical
    axis and chooses the first two from the points projected on the plane perpendicular to it,
    by the engine's own rules run in 2-D (SO(2) or O(2), :attr:`AxisSplit.plane`).

    Args:
        axis: the kept direction, 3 numbers, any non-zero length (stored as a unit vector, so
            ``(0, 0, 2)`` is the z axis of ``"SO2z"``).
        reflections: also the reflections in planes containing the axis.

    Example:
        >>> g = AxialRotations()
        >>> bool(g.contains(torch.diag(torch.tensor([-1.0, -1.0, 1.0])))), bool(g.contains(-torch.eye(3)))
        (True, False)
    """

    axis: tuple[float, float, float] = (0.0, 0.0, 1.0)
    reflections: bool = False
    _basis: Tensor = field(init=False, repr=False, compare=False)  # built once in __post_init__
    kernel_handedness = None

    def __post_init__(self) -> None:
        axis = tuple(self.axis)
        if len(axis) != 3 or not all(
            isinstance(a, numbers.Real) and not isinstance(a, bool) and math.isfinite(a) for a in axis
        ):
            raise ValueError(f"axis must be 3 finite numbers, got {self.axis!r}")
        if not any(axis):
            raise ValueError(f"axis must be a non-zero vector, got {self.axis!r}")
        if not isinstance(self.reflections, bool):
            raise ValueError(f"reflections must be a bool, got {self.reflections!r}")
        length = math.hypot(*(float(a) for a in axis))
        object.__setattr__(self, "axis", tuple(float(a) / length for a in axis))  # unit: (0, 0, 2) is z
        object.__setattr__(self, "_basis", _axial_basis(self.axis))

    @property
    def name(self) -> str:  # type: ignore[override]
        """``"SO2"`` or ``"O2"`` followed by ``z`` or the axis."""
        where = "z" if self.axis == (0.0, 0.0, 1.0) else str(list(self.axis))
        return ("O2" if self.reflections else "SO2") + where

    @property
    def plane(self) -> Group:
        """The group acting on the plane perpendicular to the axis: O(2) or SO(2)."""
        return Orthogonal() if self.reflections else Rotations()

    def basis(self) -> Tensor:
        """(3, 3) float64, ``det = +1``: the axis's unit vector last, first an in-plane unit
        vector built from the coordinate axis least aligned with it (the first of equals), then
        their cross product. The identity for the z axis. (Built once per axis; a copy.)"""
        return self._basis.clone()

    def axis_split(self, d: int) -> AxisSplit:
        _check_dim(self, d)
        return AxisSplit(self.basis(), self.plane)

    def canonical_group(self) -> Group:
        return AxialRotations(reflections=self.reflections) if self.axis != (0.0, 0.0, 1.0) else self

    def random_orthogonal(
        self,
        d: int,
        batch_shape: tuple[int, ...] = (),
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Haar-random elements: a uniform angle about the axis, after (with ``reflections``) the
        reflection in the plane spanned by the axis and the second column of :meth:`basis` with
        probability 1/2 (the mirror ``x -> -x`` for the z axis). Draws: the mirror coins first, then
        the angles, each one ``torch.rand`` over ``batch_shape`` (the protocols ``z`` and ``O2z`` of
        :mod:`tinvnn.tasks.classification.protocols` are these draws)."""
        _check_dim(self, d)

        def uniform() -> Tensor:
            return torch.rand(batch_shape, generator=generator, dtype=torch.float64, device=device)

        coin = uniform() if self.reflections else None
        angle = 2 * math.pi * uniform()
        q = axis_angle_rotation(torch.tensor(self.axis, dtype=torch.float64, device=device), angle)
        if coin is not None:
            basis = self._basis.to(q)
            mirror = torch.ones(*batch_shape, 3, dtype=torch.float64, device=device)
            mirror[..., 0] = torch.where(coin < 0.5, -1.0, 1.0)
            q = q @ (basis * mirror[..., None, :]) @ basis.mT
        return q.to(dtype)

    def contains(self, q: Tensor) -> Tensor:
        _check_dim(self, q.shape[-1])
        a = torch.tensor(self.axis, dtype=q.dtype, device=q.device)
        a = a / a.norm()
        kept = torch.isclose(q @ a, a.expand(q.shape[:-1]), atol=1e-9).all(-1)
        proper: Tensor = kept if self.reflections else kept & (torch.linalg.det(q) > 0)
        return proper

    def handed_axis(self, margins: Tensor, null: Tensor) -> Tensor:
        """The kept axis (last), and the plane's handed axis among the first two (SO(2))."""
        own = self.plane.handed_axis(margins[:, :-1], null[:, :-1])
        plane = torch.zeros_like(null[:, :-1]) if own is None else own
        return torch.cat([plane, torch.ones_like(null[:, -1:])], -1)

    def orient(self, axes: Tensor, signs: Tensor, margins: Tensor, null: Tensor) -> tuple[Tensor, Tensor]:
        """The plane's rule on the in-plane axes (``axes`` (B, 3, 3) columns: two in-plane axes,
        then the axis); the axis's sign ``+1`` and margin ``inf``."""
        local = self.basis().to(axes).mT @ axes
        plane_signs, plane_margins = self.plane.orient(local[:, :-1, :-1], signs[:, :-1], margins[:, :-1], null[:, :-1])
        return (
            torch.cat([plane_signs, torch.ones_like(signs[:, -1:])], -1),
            torch.cat([plane_margins, torch.full_like(margins[:, -1:], float("inf"))], -1),
        )

    def sign_flips(self, axes: Tensor) -> Tensor:
        """The plane's sign flips of the in-plane axes (4 frames for O(2), 2 for SO(2)), the axis kept."""
        local = self.basis().to(axes).mT @ axes
        plane = self.plane.sign_flips(local[:, :-1, :-1])
        return torch.cat([plane, torch.ones_like(plane[..., :1])], -1)

    def random_signs(self, b: int, d: int, like: Tensor) -> Tensor:
        _check_dim(self, d)
        plane = self.plane.random_signs(b, d - 1, like)
        return torch.cat([plane, torch.ones_like(plane[:, :1])], -1)

    def proper_axes(self, axes: Tensor) -> Tensor:
        """The plane's rule on the in-plane block (SO(2): the second axis flipped where needed)."""
        basis = self.basis().to(axes)
        local = basis.mT @ axes
        block = local[:, :-1, :-1]
        plane = self.plane.proper_axes(block)
        if plane is block:
            return axes
        local = torch.cat([torch.cat([plane, local[:, -1:, :-1]], 1), local[:, :, -1:]], 2)
        return basis @ local

    def __repr__(self) -> str:
        return f"AxialRotations(axis={self.axis}, reflections={self.reflections})"


def _check_dim(group: Group, d: int) -> None:
    if d != 3:
        raise ValueError(f"{group.name}: rotations about an axis act on 3-D points, got D = {d}")


GROUPS: dict[str, Group] = {
    "O": Orthogonal(),
    "SO": Rotations(),
    "SO2z": AxialRotations(),
    "O2z": AxialRotations(reflections=True),
}
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
