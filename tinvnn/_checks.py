"""Input validation: one place that raises ``ValueError`` saying what was expected and what came.

Every public function of tinvnn validates through these helpers, so the messages, the
docstrings and the tests describe the same contract.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import torch
from torch import Tensor

__all__ = ["check_bool", "check_choice", "check_finite", "check_number", "check_positive_int", "check_tensor"]


def check_tensor(x: object, name: str) -> Tensor:
    """Raise unless ``x`` is a floating-point tensor."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def check_finite(x: Tensor, name: str) -> None:
    """Raise if ``x`` holds NaN or Inf, naming the first offending index."""
    if x.numel() and bool(torch.isfinite(x.sum())):
        return  # NaN and Inf propagate through a sum (an overflow only sends us to the full check)
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        where = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"{name} must be finite, got NaN or Inf at index {where}")


def check_choice(value: object, name: str, choices: Collection[str]) -> str:
    """Raise unless ``value`` is one of ``choices``; the message lists the valid names."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return str(value)


def check_bool(value: object, name: str) -> bool:
    """Raise unless ``value`` is True or False (a truthy string such as ``"no"`` is refused)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return value


def check_positive_int(value: object, name: str) -> int:
    """Raise unless ``value`` is an int >= 1 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return value


def check_number(value: object, name: str, *, positive: bool = False) -> float:
    """Raise unless ``value`` is a finite real number, > 0 when ``positive``, else >= 0."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):  # type: ignore[operator]
        kind = "positive" if positive else "non-negative"
        raise ValueError(f"{name}: expected a finite {kind} number, got {value!r}")
    return float(value)  # type: ignore[arg-type]
