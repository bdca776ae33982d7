"""Point-set generators for the engine's tests (imported by the test modules)."""

from __future__ import annotations

import torch
from torch import Tensor


def skewed_cloud(n: int, d: int, *, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> Tensor:
    """(n, d) anisotropic, skewed random points: distinct eigenvalues and non-zero third moments
    in general (a generic, non-symmetric shape), in a random orientation."""
    spread = torch.linspace(3.0, 1.0, d, dtype=torch.float64)
    x = _exponential(n, d, generator)  # skewed
    x = (x + 0.3 * torch.randn(n, d, generator=generator, dtype=torch.float64)) * spread
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=generator, dtype=torch.float64))
    return (x @ q).to(dtype)


def grid(side: int, d: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """(side**d, d) regular grid: all eigenvalues equal, every odd moment zero."""
    axes = [torch.arange(side, dtype=dtype)] * d
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d)


def whitened(n: int, d: int, *, generator: torch.Generator) -> Tensor:
    """(n, d) generic points made exactly isotropic (covariance = identity): every eigenvalue
    tied but no symmetry, so only the tie rule can orient them."""
    x = _exponential(n, d, generator) + torch.randn(n, d, generator=generator, dtype=torch.float64)
    x = x - x.mean(0)
    cov = x.T @ x / n
    evals, evecs = torch.linalg.eigh(cov)
    return x @ evecs @ torch.diag(evals.rsqrt()) @ evecs.T


def same_point_set(a: Tensor, b: Tensor, atol: float) -> bool:
    """True when every point of ``a`` has a point of ``b`` within ``atol`` and vice versa."""
    a, b = a.to(torch.float64), b.to(torch.float64)
    dist = (a[:, None] - b[None]).norm(dim=-1)  # exact; torch.cdist's matmul path loses digits
    return bool(dist.amin(1).max() <= atol and dist.amin(0).max() <= atol)


def _exponential(n: int, d: int, generator: torch.Generator) -> Tensor:
    return -torch.log1p(-torch.rand(n, d, generator=generator, dtype=torch.float64))


def symmetric_shapes() -> dict[str, Tensor]:
    """Perfectly symmetric point sets (float64), by name: the Platonic solids, regular polygons
    (2-D), prisms, an antiprism, the 4-simplex, a cylinder of 5 rings x 36 points (exact C36),
    and a cube with 1e-9 noise (nearly, not exactly, symmetric)."""
    import itertools
    import math

    def t(rows: list[list[float]] | list[tuple[float, ...]]) -> Tensor:
        return torch.tensor(rows, dtype=torch.float64)

    def polygon(n: int, z: float | None = None, phase: float = 0.0) -> list[list[float]]:
        pts = [[math.cos(2 * math.pi * k / n + phase), math.sin(2 * math.pi * k / n + phase)] for k in range(n)]
        return pts if z is None else [p + [z] for p in pts]

    phi = (1 + 5**0.5) / 2
    cube = t(list(itertools.product([-1.0, 1.0], repeat=3)))
    octa = t([[s * (i == k) for k in range(3)] for i in range(3) for s in (-1.0, 1.0)])
    ico = t([p for a, b in itertools.product([-1.0, 1.0], [-phi, phi]) for p in ([0, a, b], [a, b, 0], [b, 0, a])])
    dodeca = t(
        list(itertools.product([-1.0, 1.0], repeat=3))
        + [p for a, b in itertools.product([-1 / phi, 1 / phi], [-phi, phi]) for p in ([0, a, b], [a, b, 0], [b, 0, a])]
    )
    basis = torch.randn(5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    basis[:, 0] = 1.0
    simplex4 = torch.linalg.qr(basis)[0][:, 1:]  # rows: the 5 vertices of a regular 4-simplex
    rings = [p for z in (-1.0, -0.5, 0.0, 0.5, 1.0) for p in polygon(36, z)]
    noise = 1e-9 * torch.randn(8, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return {
        "cube": cube,
        "tetrahedron": t([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]),
        "octahedron": octa,
        "icosahedron": ico,
        "dodecahedron": dodeca,
        "square": t(polygon(4)),
        "pentagon": t(polygon(5)),
        "hexagon": t(polygon(6)),
        "heptagon": t(polygon(7)),
        "pentagonal prism": t(polygon(5, -0.6) + polygon(5, 0.6)),
        "hexagonal prism": t(polygon(6, -0.6) + polygon(6, 0.6)),
        "square antiprism": t(polygon(4, -0.5) + polygon(4, 0.5, math.pi / 4)),
        "4-simplex": simplex4,
        "cylinder 5x36": t(rings),
        "cube + 1e-9 noise": cube + noise,
    }


def set_distance(a: Tensor, b: Tensor) -> float:
    """Symmetric Hausdorff distance between the rows of ``a`` and ``b`` (float64)."""
    a, b = a.to(torch.float64), b.to(torch.float64)
    dist = (a[:, None] - b[None]).norm(dim=-1)
    return float(torch.maximum(dist.amin(1).max(), dist.amin(0).max()))
