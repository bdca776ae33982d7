"""Random TSP instances: seeded generation for training, fixed test sets and structured validation.

Convention: an instance is a (N, 2) tensor of city coordinates, a batch is (B, N, 2); cities
are numbered 0..N-1 in row order. Random instances are uniform in the unit square [0, 1]^2,
as in Kool et al. and POMO.

``FAMILIES`` (uniform, clustered, lattice) are the local-view policy's default training data;
``VALIDATION_FAMILIES`` adds structured families (exact and jittered lattices, drilling-like rows
with gaps, clustered mixed with uniform, duplicate cities), for measuring the policy where one
canonical frame per view is fragile. ``TRAINING_FAMILIES`` are those a training run may name
(``ImitationConfig.families``): all but ``duplicates``. Training and validation instances of a
family differ by their seeds (``benchmarks/bench_tsp_multiview.py`` draws its suites from seeds
near 20,261,207; training tours from ``seed * 1,000,003 + round``, DAgger instances from 2e9 up).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "FAMILIES",
    "TEST_SEED",
    "TEST_SET_SIZES",
    "uniform_instances",
    "clustered_instances",
    "lattice_instances",
    "drilling_instances",
    "mixed_instances",
    "duplicate_instances",
    "fixed_test_set",
    "VALIDATION_FAMILIES",
    "TRAINING_FAMILIES",
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
    jitter: float | None = None,
) -> Tensor:
    """``num`` instances of ``num_cities`` distinct cities on a jittered lattice, like drilled boards.

    A square grid of side ``ceil(sqrt(num_cities / f))`` with the fill fraction ``f`` uniform
    in [0.3, 0.9]; the cities are a random subset of its nodes, each moved by a normal jitter
    of 0 to 0.15 grid steps (half the instances have none: exactly collinear rows, as in
    TSPLIB's d-, pcb- and u- instances), scaled into [0, 1]^2.

    Args:
        jitter: the jitter's standard deviation in grid steps for every instance (0: exact
            lattices); None draws it as above. The random draws are the same either way, so
            the nodes of instance b do not depend on ``jitter``.

    Shape:
        returns (num, num_cities, 2).
    """
    _check_sizes(num, num_cities)
    if jitter is not None and not 0.0 <= jitter < 0.5:
        raise ValueError(f"jitter: expected None or a number in [0, 0.5) grid steps, got {jitter!r}")
    out = torch.empty(num, num_cities, 2, dtype=torch.float64)
    for b in range(num):
        fill = 0.3 + 0.6 * float(torch.rand(1, generator=generator, dtype=torch.float64))
        side = max(2, int(torch.tensor(num_cities / fill).sqrt().ceil()))
        nodes = torch.randperm(side * side, generator=generator)[:num_cities]
        grid = torch.stack([nodes // side, nodes % side], -1).double()
        drawn = 0.15 * float(torch.rand(1, generator=generator)) * float(torch.rand(1, generator=generator) < 0.5)
        grid = grid + (drawn if jitter is None else jitter) * torch.randn(
            num_cities, 2, generator=generator, dtype=torch.float64
        )
        out[b] = grid / (side - 1)
    return out.to(dtype)


def drilling_instances(
    num: int,
    num_cities: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``num`` drilling-like instances: ``num_cities`` distinct holes on a few parallel rows, with gaps.

    Each instance draws 3 to 8 rows (at most ``isqrt(1.4 num_cities)``, so that small instances have
    as many heights as rows) of ``L = ceil(1.4 num_cities / rows)`` hole positions at
    unit pitch, at distinct random integer heights in [0, L); runs of 1 to ``L // 4``
    consecutive positions are then removed at random until ``num_cities`` holes remain (long
    gaps and single missing holes, as on printed circuit boards). Half the instances are turned
    by 90 degrees. Coordinates are integers divided by ``L - 1`` (exactly collinear rows, many
    equal distances: the views where one canonical frame is most fragile), cities in random order.

    Shape:
        returns (num, num_cities, 2).
    """
    _check_sizes(num, num_cities)
    out = torch.empty(num, num_cities, 2, dtype=torch.float64)
    for b in range(num):
        rows = min(int(torch.randint(3, 9, (1,), generator=generator)), math.isqrt(14 * num_cities // 10))
        length = max(2, -(-14 * num_cities // (10 * rows)))
        heights = torch.randperm(length, generator=generator)[:rows]
        keep = torch.ones(rows, length, dtype=torch.bool)
        while int(keep.sum()) > num_cities:
            line = int(torch.randint(rows, (1,), generator=generator))
            first = int(torch.randint(length, (1,), generator=generator))
            run = int(torch.randint(1, max(2, length // 4 + 1), (1,), generator=generator))
            holes = keep[line].nonzero()[:, 0]
            gap = holes[(holes >= first) & (holes < first + run)][: int(keep.sum()) - num_cities]
            keep[line, gap] = False
        row, pos = keep.nonzero(as_tuple=True)
        points = torch.stack([pos.double(), heights[row].double()], -1)
        if float(torch.rand(1, generator=generator)) < 0.5:
            points = points.flip(-1)
        out[b] = points[torch.randperm(num_cities, generator=generator)] / (length - 1)
    return out.to(dtype)


def mixed_instances(
    num: int,
    num_cities: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``num`` instances mixing Gaussian clusters (:func:`clustered_instances`) with uniform cities.

    A share uniform in [0.3, 0.7] of the ``num_cities`` cities lies in clusters, the rest is
    uniform in [0, 1]^2; cities in random order.

    Shape:
        returns (num, num_cities, 2).
    """
    _check_sizes(num, num_cities)
    out = torch.empty(num, num_cities, 2, dtype=torch.float64)
    for b in range(num):
        share = 0.3 + 0.4 * float(torch.rand(1, generator=generator, dtype=torch.float64))
        clustered = min(max(round(share * num_cities), 3), num_cities)
        parts = [clustered_instances(1, clustered, generator=generator, dtype=torch.float64)[0]]
        if clustered < num_cities:
            parts.append(torch.rand(num_cities - clustered, 2, generator=generator, dtype=torch.float64))
        out[b] = torch.cat(parts)[torch.randperm(num_cities, generator=generator)]
    return out.to(dtype)


def duplicate_instances(
    num: int,
    num_cities: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``num`` clustered instances in which some cities share a point (TSPLIB allows it: a280).

    ``num_cities - d`` distinct cities from :func:`clustered_instances`, with ``d`` uniform in
    [1, ceil(num_cities / 20)]; then ``d`` copies of cities drawn from them (a point may hold
    three or more), all in random order.

    Shape:
        returns (num, num_cities, 2).
    """
    _check_sizes(num, num_cities)
    out = torch.empty(num, num_cities, 2, dtype=torch.float64)
    for b in range(num):
        copies = int(torch.randint(1, max(2, -(-num_cities // 20) + 1), (1,), generator=generator))
        distinct = max(3, num_cities - copies)
        base = clustered_instances(1, distinct, generator=generator, dtype=torch.float64)[0]
        twins = base[torch.randint(distinct, (num_cities - distinct,), generator=generator)]
        out[b] = torch.cat([base, twins])[torch.randperm(num_cities, generator=generator)]
    return out.to(dtype)


#: Instance families (the local-view policy's training data) and their generators.
FAMILIES = {"uniform": uniform_instances, "clustered": clustered_instances, "lattice": lattice_instances}


def _exact_lattice(
    num: int, num_cities: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """:func:`lattice_instances` without jitter: every row and column exactly collinear."""
    return lattice_instances(num, num_cities, generator=generator, dtype=dtype, jitter=0.0)


def _jittered_lattice(
    num: int, num_cities: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """:func:`lattice_instances` with a jitter of 0.1 grid steps in every instance."""
    return lattice_instances(num, num_cities, generator=generator, dtype=dtype, jitter=0.1)


#: Structured validation families (never drawn by the default training data) besides the training families.
VALIDATION_FAMILIES = {
    **FAMILIES,
    "lattice-exact": _exact_lattice,
    "lattice-jitter": _jittered_lattice,
    "drilling": drilling_instances,
    "mixed": mixed_instances,
    "duplicates": duplicate_instances,
}

#: Families a training run may draw (``ImitationConfig.families``): every validation family but
#: ``duplicates``, which tour construction merges into its distinct cities, i.e. clustered instances.
TRAINING_FAMILIES = {name: generate for name, generate in VALIDATION_FAMILIES.items() if name != "duplicates"}
