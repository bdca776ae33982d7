"""Input validation: one place that raises ``ValueError`` saying what was expected and what came.

Every public function of tinvnn validates through these helpers, so the messages, the
docstrings and the tests describe the same contract.
"""

from __future__ import annotations

from collections.abc import Collection

import torch
from torch import Tensor

__all__ = ["check_choice", "check_finite", "check_tensor"]


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
