"""Random TSP instances (uniform, clustered, lattice): seeded generation for training and fixed test sets.

Convention: an instance is a (N, 2) tensor of city coordinates, a batch is (B, N, 2); cities
are numbered 0..N-1 in row order. Random instances are uniform in the unit square [0, 1]^2,
as in Kool et al. and POMO.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "FAMILIES",
    "TEST_SEED",
    "TEST_SET_SIZES",
    "uniform_instances",
    "clustered_instances",
    "lattice_instances",
    "fixed_test_set",
]

#: Seed of the fixed test sets (Kool et al. use 1234 for their test data).
TEST_SEED = 1234
#: Number of instances in the fixed test set of each size (the issue's sizes).
TEST_SET_SIZES = {20: 1000, 50: 1000, 100: 200}


def _check_sizes(num: int, num_cities: int) -> None:
    if num < 1 or num_cities < 3:
        raise ValueError(f"expected num >= 1 and num_cities >= 3, got num={num}, num_cities={num_cities}")


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
    _check_sizes(num, num_cities)
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


def clustered_instances(
    num: int,
    num_cities: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``num`` instances of ``num_cities`` cities in Gaussian clusters inside [0, 1]^2.

    Each instance draws 3 to 12 cluster centres uniform in [0.1, 0.9]^2 and one spread per
    cluster, uniform in [0.01, 0.08]; every city picks a cluster uniformly and lies at a
    normal offset from its centre, clipped to [0, 1]^2. (The generator of Bossek et al.'s
    "clustered" TSP instances, used by INViT and LEHD for generalisation tests, in spirit.)

    Shape:
        returns (num, num_cities, 2).
    """
    _check_sizes(num, num_cities)
    out = torch.empty(num, num_cities, 2, dtype=torch.float64)
    for b in range(num):
        clusters = int(torch.randint(3, 13, (1,), generator=generator))
        centres = 0.1 + 0.8 * torch.rand(clusters, 2, generator=generator, dtype=torch.float64)
        spread = 0.01 + 0.07 * torch.rand(clusters, 1, generator=generator, dtype=torch.float64)
        which = torch.randint(clusters, (num_cities,), generator=generator)
        noise = torch.randn(num_cities, 2, generator=generator, dtype=torch.float64)
        out[b] = (centres[which] + spread[which] * noise).clamp(0.0, 1.0)
    return out.to(dtype)


def lattice_instances(
    num: int,
    num_cities: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``num`` instances of ``num_cities`` distinct cities on a jittered lattice, like drilled boards.

    A square grid of side ``ceil(sqrt(num_cities / f))`` with the fill fraction ``f`` uniform
    in [0.3, 0.9]; the cities are a random subset of its nodes, each moved by a normal jitter
    of 0 to 0.15 grid steps (half the instances have none: exactly collinear rows, as in
    TSPLIB's d-, pcb- and u- instances), scaled into [0, 1]^2.

    Shape:
        returns (num, num_cities, 2).
    """
    _check_sizes(num, num_cities)
    out = torch.empty(num, num_cities, 2, dtype=torch.float64)
    for b in range(num):
        fill = 0.3 + 0.6 * float(torch.rand(1, generator=generator, dtype=torch.float64))
        side = max(2, int(torch.tensor(num_cities / fill).sqrt().ceil()))
        nodes = torch.randperm(side * side, generator=generator)[:num_cities]
        grid = torch.stack([nodes // side, nodes % side], -1).double()
        jitter = 0.15 * float(torch.rand(1, generator=generator)) * float(torch.rand(1, generator=generator) < 0.5)
        grid = grid + jitter * torch.randn(num_cities, 2, generator=generator, dtype=torch.float64)
        out[b] = grid / (side - 1)
    return out.to(dtype)


#: Instance families (the local-view policy's training data) and their generators.
FAMILIES = {"uniform": uniform_instances, "clustered": clustered_instances, "lattice": lattice_instances}
