"""Small backbones for the wrapper tests (imported by the test modules)."""

from __future__ import annotations

import torch
from torch import nn


class PointMLP(nn.Module):
    """Per-point MLP, optionally pooled; takes optional vectors and per-point features."""

    def __init__(self, pool: bool, d: int = 3, vec: bool = False, feat: int = 0) -> None:
        super().__init__()
        self.pool, self.vec = pool, vec
        self.net = nn.Sequential(nn.Linear(d * (2 if vec else 1) + feat, 32), nn.Tanh(), nn.Linear(32, d)).double()

    def forward(
        self,
        z: torch.Tensor,
        v: torch.Tensor | None = None,
        *,
        mask: torch.Tensor | None = None,
        charge: torch.Tensor | None = None,
    ) -> torch.Tensor:
        parts = [z] + ([v] if v is not None else []) + ([charge] if charge is not None else [])
        out = self.net(torch.cat(parts, -1))
        if mask is not None:
            out = out * mask[..., None]
        return out.mean(-2) if self.pool else out


class FlatSquares(nn.Module):
    """Per-sample sum of squared coordinates of a flat batch."""

    def forward(self, z: torch.Tensor, *, batch: torch.Tensor) -> torch.Tensor:
        return torch.zeros(int(batch.max()) + 1, 3, dtype=z.dtype).index_add(0, batch, z**2)


class Lambda(nn.Module):
    """A module around a function without parameters."""

    def __init__(self, fn) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.fn = fn

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fn(z)
