"""Exact rescaling by a power of two: what scale-invariant code does to numbers near float64's
limits (1e-300, 1e300) so that their squares neither overflow nor underflow, changing nothing
else (every product, sum, square root and ratio scales exactly, so tours, orders and canonical
coordinates stay bit for bit those of the numbers as given)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["unit_exponent", "to_unit_range"]


def unit_exponent(values: np.ndarray) -> int:
    """The power of two ``e`` with the largest ``|value|`` in ``[2^(e-1), 2^e)``; 0 when there are
    none, all are zero or the largest is not finite.

    Example:
        >>> unit_exponent(np.array([3.0, -0.5]))
        2
    """
    largest = float(np.abs(values).max(initial=0.0))
    return math.frexp(largest)[1] if math.isfinite(largest) and largest > 0 else 0


def to_unit_range(values: np.ndarray) -> np.ndarray:
    """``values`` times the power of two that brings the largest magnitude into [0.5, 1) (exact).

    Shape:
        (...) -> (...) float64.
    """
    values = np.asarray(values, dtype=np.float64)
    scaled: np.ndarray = np.ldexp(values, -unit_exponent(values))
    return scaled
