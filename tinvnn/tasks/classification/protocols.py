"""Train and test transformation protocols for point clouds: I, z, O2z, SO3, O3, +scale, +translate.

A protocol is written ``ROTATION[+scale][+translate]``, e.g. ``z``, ``SO3+scale``,
``O3+scale+translate``; a train/test pair is written ``z/SO3`` (train under z, test under SO3).

Convention (one place): every cloud gets its own random transformation
``x' = s * x @ R.T + t`` for row-vector points x: rotate first, then scale, then translate.

* ``I``: R = identity.
* ``z``: rotation by a uniform angle in [0, 2 pi) about the vertical z axis (any heading: the
  group ``"SO2z"``).
* ``O2z``: the mirror ``x -> -x`` with probability 1/2 (a reflection in a vertical plane), then
  as ``z`` (the group ``"O2z"``). "Up" stays up under both.
* ``SO3``: Haar-uniform rotation (det +1, the group ``"SO"``). ``O3``: Haar-uniform orthogonal
  map (det +1 or -1, the group ``"O"``).

Each rotation protocol is the Haar draw of one :class:`~tinvnn.group.Group`
(:data:`ROTATION_GROUPS`, :meth:`Group.random_orthogonal`); :func:`protocol_for` goes the other way.
* ``+scale``: s uniform in [0.5, 2]; otherwise s = 1.
* ``+translate``: t uniform in [-1, 1]^3; otherwise t = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from tinvnn.group import GROUPS, Group, as_group

__all__ = ["ROTATIONS", "ROTATION_GROUPS", "Protocol", "parse_protocol", "protocol_for", "random_rotations"]

ROTATION_GROUPS: dict[str, Group | None] = {
    "I": None,
    "z": GROUPS["SO2z"],
    "O2z": GROUPS["O2z"],
    "SO3": GROUPS["SO"],
    "O3": GROUPS["O"],
}
"""The group each rotation protocol draws from (Haar-uniformly); None: the identity."""
ROTATIONS = tuple(ROTATION_GROUPS)
SCALE_RANGE = (0.5, 2.0)
TRANSLATE_RANGE = 1.0


@dataclass(frozen=True)
class Protocol:
    """A random transformation family; see the module docstring for the convention."""

    rotation: str = "I"
    scale: bool = False
    translate: bool = False

    def __post_init__(self) -> None:
        if self.rotation not in ROTATIONS:
            raise ValueError(f"unknown rotation protocol {self.rotation!r}; expected one of {ROTATIONS}")

    def __str__(self) -> str:
        return self.rotation + "+scale" * self.scale + "+translate" * self.translate

    @property
    def is_identity(self) -> bool:
        return self.rotation == "I" and not self.scale and not self.translate

    def apply(self, points: Tensor, generator: torch.Generator) -> Tensor:
        """Transform every cloud by its own random draw.

        Shape:
            points (B, N, 3) -> (B, N, 3), same dtype.
        """
        if points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f"expected points of shape (B, N, 3), got {tuple(points.shape)}")
        if self.is_identity:
            return points
        batch = points.shape[0]
        rot = random_rotations(self.rotation, batch, generator).to(points.dtype)
        out = points @ rot.transpose(1, 2)
        if self.scale:
            lo, hi = SCALE_RANGE
            s = lo + (hi - lo) * torch.rand(batch, generator=generator, dtype=torch.float64)
            out = out * s.to(points.dtype)[:, None, None]
        if self.translate:
            t = TRANSLATE_RANGE * (2 * torch.rand(batch, 1, 3, generator=generator, dtype=torch.float64) - 1)
            out = out + t.to(points.dtype)
        return out


def parse_protocol(text: str) -> Protocol:
    """Parse ``ROTATION[+scale][+translate]`` (e.g. ``SO3+scale``) into a :class:`Protocol`.

    Example:
        >>> parse_protocol("z+scale")
        Protocol(rotation='z', scale=True, translate=False)
    """
    rotation, *extras = text.split("+")
    unknown = set(extras) - {"scale", "translate"}
    if unknown or len(set(extras)) != len(extras):
        raise ValueError(f"bad protocol {text!r}: expected ROTATION[+scale][+translate] with ROTATION in {ROTATIONS}")
    return Protocol(rotation, "scale" in extras, "translate" in extras)


def protocol_for(group: Group | str) -> Protocol:
    """The rotation protocol that draws ``group``'s elements (a group or its alias).

    Raises:
        ValueError: no protocol draws that group (e.g. rotations about a tilted axis).

    Example:
        >>> protocol_for("SO2z")
        Protocol(rotation='z', scale=False, translate=False)
    """
    g = as_group(group)
    for rotation, drawn in ROTATION_GROUPS.items():
        if drawn == g:
            return Protocol(rotation)
    raise ValueError(f"no rotation protocol draws the group {g!r}; protocols draw {list(ROTATION_GROUPS)}")


def random_rotations(kind: str, batch: int, generator: torch.Generator) -> Tensor:
    """``batch`` random matrices of the rotation protocol ``kind`` (one of :data:`ROTATIONS`):
    Haar-random elements of its group, :data:`ROTATION_GROUPS`.

    Shape:
        -> (batch, 3, 3) float64; apply to row vectors as ``x @ R.T``.
    """
    if kind not in ROTATION_GROUPS:
        raise ValueError(f"unknown rotation protocol {kind!r}; expected one of {ROTATIONS}")
    group = ROTATION_GROUPS[kind]
    if group is None:
        return torch.eye(3, dtype=torch.float64).expand(batch, 3, 3).clone()
    return group.random_orthogonal(3, (batch,), generator=generator)
