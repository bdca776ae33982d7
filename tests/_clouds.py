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
