"""DGCNN classifier (Wang et al., ACM TOG 2019): EdgeConv on a dense k-NN graph, in plain PyTorch.

The k-nearest-neighbour graph is recomputed in feature space before every EdgeConv (the
"dynamic" graph) with a dense (B, N, N) distance matrix, so it suits the point counts of
ModelNet40 (1,024) on one device. Usable on its own: ``DGCNN(40)(points)`` with (B, N, 3).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from tinvnn.models.pointnet import masked_max, point_inputs, run_single_cloud

__all__ = ["DGCNN", "EdgeConv", "knn"]


def knn(x: Tensor, k: int, mask: Tensor | None = None) -> Tensor:
    """Indices of the k nearest neighbours of every point (itself included), by Euclidean distance.

    Padded points (mask False) are never chosen as neighbours of anyone while a real point is left.

    Shape:
        x (B, C, N), mask (B, N) or None -> indices (B, N, k), values in [0, N).
    """
    if not 1 <= k <= x.shape[-1]:
        raise ValueError(f"expected 1 <= k <= N = {x.shape[-1]}, got k = {k}")
    sq = x.square().sum(dim=1)
    dist = sq[:, :, None] + sq[:, None, :] - 2 * x.transpose(1, 2) @ x
    if mask is not None:
        dist = dist.masked_fill(~mask[:, None, :], float("inf"))
    return dist.topk(k, dim=-1, largest=False).indices


class EdgeConv(nn.Module):
    """EdgeConv: h_i = max_{j in kNN(i)} MLP([x_i, x_j - x_i]).

    Shape:
        x (B, C_in, N), neighbours (B, N, k) -> (B, C_out, N).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Conv2d(2 * in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(0.2),
        )

    def forward(self, x: Tensor, neighbours: Tensor) -> Tensor:
        batch, channels, n = x.shape
        k = neighbours.shape[-1]
        flat = x.transpose(1, 2).reshape(batch * n, channels)
        offset = torch.arange(batch, device=x.device).view(batch, 1, 1) * n
        gathered = flat[(neighbours + offset).reshape(-1)].view(batch, n, k, channels)
        centre = x.transpose(1, 2)[:, :, None, :].expand(-1, -1, k, -1)
        edge = torch.cat([centre, gathered - centre], dim=-1).permute(0, 3, 1, 2)
        features: Tensor = self.mlp(edge)
        return features.amax(dim=-1)


class DGCNN(nn.Module):
    """DGCNN classification network.

    EdgeConv layers ``edge_widths`` (graph recomputed in feature space before each), their
    outputs concatenated -> 1x1 conv to ``embedding`` channels -> max and mean pooling ->
    MLP ``head_widths`` with dropout -> logits. Defaults are the paper's: k = 20,
    (64, 64, 128, 256), 1024, (512, 256), dropout 0.5.

    Args:
        num_classes: number of output logits.
        in_channels: channels per point (3, plus 3 per extra vector, plus extra features).
        k: neighbours per point (at most the number of points).
        edge_widths, embedding, head_widths, dropout: sizes.

    Shape:
        pos (B, N, 3); vectors (B, N, 3) or (B, N, K, 3) or None; features (B, N, F) or None;
        mask (B, N) bool or None -> logits (B, num_classes). One cloud (N, 3) with (N, ...)
        extras and no mask -> (num_classes,).

    Example:
        >>> net = DGCNN(10, k=8, embedding=128, head_widths=(64,))
        >>> net.eval()(torch.randn(2, 50, 3)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        num_classes: int,
        *,
        in_channels: int = 3,
        k: int = 20,
        edge_widths: Sequence[int] = (64, 64, 128, 256),
        embedding: int = 1024,
        head_widths: Sequence[int] = (512, 256),
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if not edge_widths:
            raise ValueError(f"expected at least one EdgeConv width, got {edge_widths!r}")
        self.in_channels = in_channels
        self.k = k
        channels = [in_channels, *edge_widths]
        self.edges = nn.ModuleList(EdgeConv(a, b) for a, b in zip(channels[:-1], channels[1:]))
        self.embed = nn.Sequential(
            nn.Conv1d(sum(edge_widths), embedding, 1, bias=False), nn.BatchNorm1d(embedding), nn.LeakyReLU(0.2)
        )
        head: list[nn.Module] = []
        width_in = 2 * embedding
        for width in head_widths:
            head += [
                nn.Linear(width_in, width, bias=False),
                nn.BatchNorm1d(width),
                nn.LeakyReLU(0.2),
                nn.Dropout(dropout),
            ]
            width_in = width
        head.append(nn.Linear(width_in, num_classes))
        self.head = nn.Sequential(*head)

    def forward(
        self,
        pos: Tensor,
        vectors: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        features: Tensor | None = None,
    ) -> Tensor:
        if pos.dim() == 2:
            return run_single_cloud(self, pos, vectors, mask, features)
        x = point_inputs(pos, vectors, features, self.in_channels).transpose(1, 2)
        outs = []
        for edge in self.edges:
            x = edge(x, knn(x, min(self.k, x.shape[-1]), mask))
            outs.append(x)
        h = self.embed(torch.cat(outs, dim=1))
        if mask is None:
            mean = h.mean(dim=-1)
        else:
            weights = mask[:, None, :].to(h.dtype)
            mean = (h * weights).sum(dim=-1) / weights.sum(dim=-1).clamp_min(1)
        logits: Tensor = self.head(torch.cat([masked_max(h, mask), mean], dim=1))
        return logits
