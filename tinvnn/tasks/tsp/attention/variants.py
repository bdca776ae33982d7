"""Input variants: what coordinates the policy sees, in training and at inference.

Every variant is one object with three pure steps on float64 (B, N, 2) coordinates:

* ``train_input(coords, generator)``: the network's input for a training batch;
* ``views(coords)``: the list of inputs decoded at inference (the best tour over the views
  is kept; one view except for ``pomo8``);
* ``trains_as``: which trained weights it uses (``pomo8`` reuses ``unit``'s).

The tour found on any view is a permutation of the cities, so its length is always measured
on the original coordinates, in the instance's own units (``objective.tour_length``).

Variants:

* ``raw``: the coordinates as given.
* ``unit``: translate the bounding box's corner to the origin and divide by its longest side,
  so the cities lie in [0, 1]^2 (aspect ratio kept); today's common practice.
* ``pomo8``: ``unit`` plus POMO's x8 dihedral augmentation at inference, (x, y), (1-x, y),
  (x, 1-y), (1-x, 1-y) and the four with x and y swapped. Like rl4co, it assumes [0, 1]^2,
  which ``unit`` guarantees.
* ``symnco``: ``unit`` at inference; in training each instance is first rotated by a
  Haar-random orthogonal map (rotation or reflection), then mapped into [0, 1]^2. This is
  SymNCO's augmentation only, without its invariance regulariser.
* ``tinv``: ``tinvnn.canonicalize(coords, scale=True)``: centred at the centroid, rotated
  into the principal axes with the core's sign rule, divided by the RMS distance to the
  centroid. Identical (to floating point) for every rotation, reflection, scaling and
  translation of an instance and permuted with its cities, so the greedy tour is invariant.
* ``tinv8``: ``tinv`` plus the eight signed axis permutations of the canonical coordinates,
  (+-x, +-y) and (+-y, +-x), at inference (the analogue of ``pomo8`` about the centroid); uses
  the ``tinv`` weights and stays exactly invariant, since the views are a fixed function of
  the canonical coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from tinvnn import canonicalize, random_orthogonal

__all__ = ["Variant", "VARIANTS", "get_variant", "unit_square", "dihedral8", "signed_axis_views"]


def unit_square(coords: Tensor) -> Tensor:
    """Map each instance (B, N, 2) into [0, 1]^2: corner of the bounding box to 0, longest side to 1."""
    low = coords.amin(1, keepdim=True)
    side = (coords.amax(1, keepdim=True) - low).amax(-1, keepdim=True)
    return (coords - low) / side.clamp_min(torch.finfo(coords.dtype).tiny)


def _square_symmetries(coords: Tensor, centre: float) -> list[Tensor]:
    """The eight symmetries of an axis-aligned square centred at (centre, centre), applied to
    (B, N, 2) coordinates: each axis kept or reflected (``2 centre - t``), then x and y kept or swapped."""
    x, y = coords[..., :1], coords[..., 1:]
    fx, fy = 2 * centre - x, 2 * centre - y
    four = [(x, y), (fx, y), (x, fy), (fx, fy)]
    return [torch.cat(p, -1) for p in four] + [torch.cat(p[::-1], -1) for p in four]


def dihedral8(coords: Tensor) -> list[Tensor]:
    """POMO's eight symmetries of the unit square applied to (B, N, 2) coordinates in [0, 1]^2."""
    return _square_symmetries(coords, 0.5)


def signed_axis_views(coords: Tensor) -> list[Tensor]:
    """The eight maps (+-x, +-y), (+-y, +-x) of centred (B, N, 2) coordinates (the square's symmetries about 0)."""
    return _square_symmetries(coords, 0.0)


@dataclass(frozen=True)
class Variant:
    """One input variant; see the module docstring. Build them with :func:`get_variant`."""

    name: str

    @property
    def trains_as(self) -> str:
        """The variant whose trained weights this one uses (``pomo8`` uses ``unit``, ``tinv8`` ``tinv``)."""
        return {"pomo8": "unit", "tinv8": "tinv"}.get(self.name, self.name)

    def inference_input(self, coords: Tensor) -> Tensor:
        """The single normalised input (B, N, 2) of ``coords`` before any test-time augmentation."""
        if self.name == "raw":
            return coords
        if self.name in ("tinv", "tinv8"):
            return canonicalize(coords, scale=True)
        return unit_square(coords)

    def train_input(self, coords: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The network's input for a training batch (B, N, 2)."""
        if self.name == "symnco":
            rot = random_orthogonal(2, (coords.shape[0],), generator=generator, dtype=coords.dtype)
            return unit_square(coords @ rot)
        return self.inference_input(coords)

    def views(self, coords: Tensor) -> list[Tensor]:
        """The inputs decoded at inference; the best tour over them is kept."""
        base = self.inference_input(coords)
        if self.name == "pomo8":
            return dihedral8(base)
        if self.name == "tinv8":
            return signed_axis_views(base)
        return [base]


VARIANTS = ("raw", "unit", "pomo8", "symnco", "tinv", "tinv8")


def get_variant(name: str) -> Variant:
    """The variant called ``name``; one of ``VARIANTS``."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; expected one of {', '.join(VARIANTS)}")
    return Variant(name)
