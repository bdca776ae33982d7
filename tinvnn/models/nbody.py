"""Networks for the n-body benchmark: the plain message-passing GNN and EGNN, as in the EGNN code.

Both follow ``vgsatorras/egnn`` (``models/gcl.py``, ``n_body_system/model.py``) layer for
layer, written for the dense, fully connected, fixed-size systems of this task: inputs are
batched as ``(B, n, d)`` and the ``n (n - 1)`` directed edges ``i <- j`` (``i != j``) are
gathered by index, messages are summed (GNN, EGNN features) or averaged (EGNN coordinates)
over the ``n - 1`` neighbours of the receiving node.

* :class:`GNN` (the "GNN" baseline): node input ``[x, v]``, edge input ``q_i q_j``,
  ``layers`` residual GCL layers (edge MLP, sum, node MLP), a 2-layer decoder to ``d``
  numbers per node, read as the predicted positions. No symmetry at all. Two options, off in
  the EGNN code's baseline, change its inductive bias without adding any symmetry:
  ``relative=True`` adds ``[x_i - x_j, |x_i - x_j|^2]`` to the edge input, ``residual=True``
  reads the decoder's output as a displacement (``x + decoder(h)``).
* :class:`EGNN` (``EGNN_vel``): node input ``|v|``, edge input ``[q_i q_j, |x_i - x_j|^2]``
  (distances at the input frame), ``layers`` E(n)-equivariant layers with the velocity term
  ``x_i += phi_v(h_i) v_i``; returns the updated coordinates. Equivariant to rotations,
  reflections, translations and permutations by construction.

Both are called as ``model(loc, vel, charges=charges)``, the same call as the tinvnn wrappers
around :class:`GNN` (``TinvWrapper(GNN(), output="point")`` passes the canonical positions,
the velocities mapped into the frame, and ``charges`` unchanged).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["EGNN", "GNN"]


def _check_inputs(loc: torch.Tensor, vel: torch.Tensor, charges: torch.Tensor) -> None:
    if loc.dim() != 3:
        raise ValueError(f"loc: expected shape (B, n, d), got {tuple(loc.shape)}")
    if vel.shape != loc.shape:
        raise ValueError(f"vel: expected shape {tuple(loc.shape)} (as loc), got {tuple(vel.shape)}")
    if charges.shape != loc.shape[:2]:
        raise ValueError(f"charges: expected shape {tuple(loc.shape[:2])} (B, n), got {tuple(charges.shape)}")
    if loc.shape[1] < 2:
        raise ValueError(f"loc: expected at least 2 particles, got {loc.shape[1]}")


def _edges(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Receivers and senders of the fully connected graph, receiver-major: ``(n (n-1),)`` each."""
    row, col = torch.meshgrid(torch.arange(n, device=device), torch.arange(n, device=device), indexing="ij")
    keep = row != col
    return row[keep], col[keep]


def _sum_per_receiver(messages: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, n (n-1), F)`` receiver-major messages -> ``(B, n, F)`` sums."""
    return messages.reshape(messages.shape[0], n, n - 1, messages.shape[-1]).sum(dim=2)


class _GCL(nn.Module):
    """Residual graph convolution: ``h_i + phi_h(h_i, sum_j phi_e(h_i, h_j, e_ij))``."""

    def __init__(self, hidden: int, edge_dim: int) -> None:
        super().__init__()
        self.edge_mlp = nn.Sequential(
            nn.Linear(2 * hidden + edge_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU()
        )
        self.node_mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, h: torch.Tensor, edge_attr: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
        messages = self.edge_mlp(torch.cat([h[:, row], h[:, col], edge_attr], dim=-1))
        agg = _sum_per_receiver(messages, h.shape[1])
        update: torch.Tensor = self.node_mlp(torch.cat([h, agg], dim=-1))
        return h + update


class GNN(nn.Module):
    """The plain message-passing baseline on raw coordinates (EGNN code's ``GNN``, recurrent).

    Args:
        hidden: feature width (benchmark: 64).
        layers: message-passing layers (benchmark: 4).
        dim: spatial dimension ``d``.
        relative: edge input ``[q_i q_j, x_i - x_j, |x_i - x_j|^2]`` instead of ``q_i q_j``
            (relative positions in the input's own axes: still no rotation symmetry).
        residual: predict ``x + decoder(h)`` instead of ``decoder(h)``.

    Shape:
        loc, vel: ``(B, n, d)``; charges: ``(B, n)``; returns ``(B, n, d)`` predicted positions.

    Example:
        >>> model = GNN(hidden=8, layers=1, relative=True, residual=True)
        >>> model(torch.randn(2, 5, 3), torch.randn(2, 5, 3), charges=torch.ones(2, 5)).shape
        torch.Size([2, 5, 3])
    """

    def __init__(
        self, hidden: int = 64, layers: int = 4, *, dim: int = 3, relative: bool = False, residual: bool = False
    ) -> None:
        super().__init__()
        self.hidden, self.layers, self.dim, self.relative, self.residual = hidden, layers, dim, relative, residual
        self.embedding = nn.Linear(2 * dim, hidden)
        self.gcl = nn.ModuleList(_GCL(hidden, edge_dim=dim + 2 if relative else 1) for _ in range(layers))
        self.decoder = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, loc: torch.Tensor, vel: torch.Tensor, *, charges: torch.Tensor) -> torch.Tensor:
        _check_inputs(loc, vel, charges)
        row, col = _edges(loc.shape[1], loc.device)
        edge_attr = (charges[:, row] * charges[:, col]).unsqueeze(-1).to(loc.dtype)
        if self.relative:
            diff = loc[:, row] - loc[:, col]  # (B, E, d): x_i - x_j
            edge_attr = torch.cat([edge_attr, diff, (diff * diff).sum(dim=-1, keepdim=True)], dim=-1)
        h = self.embedding(torch.cat([loc, vel], dim=-1))
        for layer in self.gcl:
            h = layer(h, edge_attr, row, col)
        out: torch.Tensor = self.decoder(h)
        return loc + out if self.residual else out

    def extra_repr(self) -> str:
        return (
            f"hidden={self.hidden}, layers={self.layers}, dim={self.dim}, "
            f"relative={self.relative}, residual={self.residual}"
        )


class _EGCLVel(nn.Module):
    """One E(n)-equivariant layer with the velocity term (EGNN code's ``E_GCL_vel``, recurrent)."""

    def __init__(self, hidden: int, edge_dim: int) -> None:
        super().__init__()
        self.edge_mlp = nn.Sequential(
            nn.Linear(2 * hidden + 1 + edge_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU()
        )
        self.node_mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        last = nn.Linear(hidden, 1, bias=False)
        nn.init.xavier_uniform_(last.weight, gain=0.001)
        self.coord_mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), last)
        self.coord_mlp_vel = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(
        self,
        h: torch.Tensor,
        x: torch.Tensor,
        vel: torch.Tensor,
        edge_attr: torch.Tensor,
        row: torch.Tensor,
        col: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n = h.shape[1]
        diff = x[:, row] - x[:, col]  # (B, E, d): x_i - x_j
        radial = (diff * diff).sum(dim=-1, keepdim=True)
        messages = self.edge_mlp(torch.cat([h[:, row], h[:, col], radial, edge_attr], dim=-1))
        trans = (diff * self.coord_mlp(messages)).clamp(-100.0, 100.0)
        x = x + _sum_per_receiver(trans, n) / (n - 1) + self.coord_mlp_vel(h) * vel
        h = h + self.node_mlp(torch.cat([h, _sum_per_receiver(messages, n)], dim=-1))
        return h, x


class EGNN(nn.Module):
    """EGNN with velocities (Satorras et al. 2021, ``EGNN_vel``) as the equivariant-layer peer.

    Args:
        hidden: feature width (benchmark: 64).
        layers: equivariant layers (benchmark: 4).

    Shape:
        loc, vel: ``(B, n, d)``; charges: ``(B, n)``; returns ``(B, n, d)`` predicted positions.

    Example:
        >>> model = EGNN(hidden=8, layers=1)
        >>> model(torch.randn(2, 5, 3), torch.randn(2, 5, 3), charges=torch.ones(2, 5)).shape
        torch.Size([2, 5, 3])
    """

    def __init__(self, hidden: int = 64, layers: int = 4) -> None:
        super().__init__()
        self.hidden, self.layers = hidden, layers
        self.embedding = nn.Linear(1, hidden)
        self.gcl = nn.ModuleList(_EGCLVel(hidden, edge_dim=2) for _ in range(layers))

    def forward(self, loc: torch.Tensor, vel: torch.Tensor, *, charges: torch.Tensor) -> torch.Tensor:
        _check_inputs(loc, vel, charges)
        row, col = _edges(loc.shape[1], loc.device)
        diff = loc[:, row] - loc[:, col]
        edge_attr = torch.stack([(charges[:, row] * charges[:, col]).to(loc.dtype), (diff * diff).sum(dim=-1)], dim=-1)
        h = self.embedding(vel.norm(dim=-1, keepdim=True))
        x = loc
        for layer in self.gcl:
            h, x = layer(h, x, vel, edge_attr, row, col)
        return x

    def extra_repr(self) -> str:
        return f"hidden={self.hidden}, layers={self.layers}"
