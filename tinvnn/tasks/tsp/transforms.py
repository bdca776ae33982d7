"""Test transformations of TSP instances, each applied per instance with its own random draw.

Every transformation maps (B, N, 2) float64 coordinates to transformed coordinates, the
per-instance length factor (B,) and the city order (B, N): a tour's length on the
transformed instance equals the factor times its length on the original (1 except for
``scale``), so the reference length of a transformed copy is the factor times the
original's and gaps are comparable; transformed city k is original city ``order[:, k]``
(``arange`` except for ``permute``), so ``order.gather(1, tour)`` maps a tour back.

* ``identity``: no change.
* ``rotate``: rotation about the origin by a uniform angle in [0, 2 pi).
* ``reflect``: reflection across a line through the origin at a uniform angle.
* ``scale``: multiplication by a log-uniform factor in [1e-3, 1e4].
* ``translate``: addition of an offset uniform in [-1e5, 1e5]^2.
* ``permute``: a uniform random order of the cities.
* ``all``: rotate or reflect (probability 1/2 each), scale, translate and permute, in that order.

Use float64: a 1e5 offset leaves float32 a resolution of about 0.008.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from tinvnn.group import random_orthogonal

__all__ = ["TRANSFORMS", "apply_transform"]

SCALE_RANGE = (1e-3, 1e4)
TRANSLATE_MAX = 1e5


def _orthogonal(x: Tensor, g: torch.Generator, det: int | None) -> Tensor:
    return random_orthogonal(2, (x.shape[0],), det=det, generator=g, dtype=torch.float64)


def _ones(x: Tensor) -> Tensor:
    return torch.ones(x.shape[0], dtype=torch.float64)


def _arange(x: Tensor) -> Tensor:
    return torch.arange(x.shape[1]).expand(x.shape[0], -1).clone()


def _identity(x: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    return x.clone(), _ones(x), _arange(x)


def _rotate(x: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    return x @ _orthogonal(x, g, 1).transpose(-1, -2), _ones(x), _arange(x)


def _reflect(x: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    return x @ _orthogonal(x, g, -1).transpose(-1, -2), _ones(x), _arange(x)


def _scale(x: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    low, high = math.log(SCALE_RANGE[0]), math.log(SCALE_RANGE[1])
    factor = (low + (high - low) * torch.rand(x.shape[0], generator=g, dtype=torch.float64)).exp()
    return x * factor[:, None, None], factor, _arange(x)


def _translate(x: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    offset = (2 * torch.rand(x.shape[0], 1, 2, generator=g, dtype=torch.float64) - 1) * TRANSLATE_MAX
    return x + offset, _ones(x), _arange(x)


def _permute(x: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    order = torch.rand(x.shape[0], x.shape[1], generator=g).argsort(1)
    return x.gather(1, order[..., None].expand_as(x)), _ones(x), order


def _all(x: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    x = x @ _orthogonal(x, g, None).transpose(-1, -2)
    x, factor, _ = _scale(x, g)
    x, _, _ = _translate(x, g)
    x, _, order = _permute(x, g)
    return x, factor, order


TRANSFORMS: dict[str, Callable[[Tensor, torch.Generator], tuple[Tensor, Tensor, Tensor]]] = {
    "identity": _identity,
    "rotate": _rotate,
    "reflect": _reflect,
    "scale": _scale,
    "translate": _translate,
    "permute": _permute,
    "all": _all,
}


def apply_transform(name: str, coords: Tensor, *, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Apply the transformation ``name`` to (B, N, 2) coordinates with a seeded draw.

    The draws are made on the CPU whatever ``coords.device`` is (so a seed gives the same
    transformation on every device) and the results are returned on ``coords.device``,
    detached (test data: no gradient flows back to ``coords``).

    Returns:
        ``(coords_t, factor, order)``: (B, N, 2) float64, the (B,) length factor and the
        (B, N) long original index of each transformed city.

    Example:
        >>> x = torch.rand(4, 10, 2, dtype=torch.float64)
        >>> y, f, _ = apply_transform("scale", x)
        >>> torch.allclose(y, x * f[:, None, None])
        True
    """
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transformation {name!r}; expected one of {', '.join(TRANSFORMS)}")
    if coords.dim() != 3 or coords.shape[-1] != 2:
        raise ValueError(f"expected coordinates of shape (B, N, 2), got {tuple(coords.shape)}")
    moved, factor, order = TRANSFORMS[name](coords.detach().cpu().double(), torch.Generator().manual_seed(seed))
    return moved.to(coords.device), factor.to(coords.device), order.to(coords.device)
