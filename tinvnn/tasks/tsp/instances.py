"""Random uniform TSP instances: seeded generation for training and fixed test sets.

Convention: an instance is a (N, 2) tensor of city coordinates, a batch is (B, N, 2); cities
are numbered 0..N-1 in row order. Random instances are uniform in the unit square [0, 1]^2,
as in Kool et al. and POMO.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["TEST_SEED", "TEST_SET_SIZES", "uniform_instances", "fixed_test_set"]

#: Seed of the fixed test sets (Kool et al. use 1234 for their test data).
TEST_SEED = 1234
#: Number of instances in the fixed test set of each size (the issue's sizes).
TEST_SET_SIZES = {20: 1000, 50: 1000, 100: 200}


def uniform_instances(
    num: int,
    num_cities: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``num`` instances of ``num_cities`` cities uniform in [0, 1]^2.

    Shape:
        returns (num, num_cities, 2).

    Example:
        >>> uniform_instances(3, 20, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([3, 20, 2])
    """
    if num < 1 or num_cities < 3:
        raise ValueError(f"expected num >= 1 and num_cities >= 3, got num={num}, num_cities={num_cities}")
    return torch.rand(num, num_cities, 2, generator=generator, dtype=torch.float64).to(dtype)


def fixed_test_set(num_cities: int, num: int | None = None, *, seed: int = TEST_SEED) -> Tensor:
    """The fixed test set of TSP-``num_cities`` in float64: the same tensor on every call.

    Args:
        num_cities: instance size; 20, 50 or 100 have a default count (``TEST_SET_SIZES``).
        num: number of instances; the first ``num`` of a longer set are the same instances.
        seed: generator seed (default ``TEST_SEED``).

    Shape:
        returns (num, num_cities, 2) float64.
    """
    if num is None:
        if num_cities not in TEST_SET_SIZES:
            raise ValueError(
                f"no default test-set size for {num_cities} cities (known: {sorted(TEST_SET_SIZES)}); pass num"
            )
        num = TEST_SET_SIZES[num_cities]
    generator = torch.Generator().manual_seed(seed + num_cities)
    return uniform_instances(num, num_cities, generator=generator, dtype=torch.float64)
