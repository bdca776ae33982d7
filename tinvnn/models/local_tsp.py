"""Candidate scorer of the local-view TSP policy (``tinvnn.tasks.tsp.local``).

A small transformer over the tokens of one local view (current city, start city, k candidate
slots), without positional encoding, so it is equivariant to permutations of the candidates.
Unused slots are all-zero tokens that take part in the attention like any other (no padding
mask: that path is 3x slower on CPU); their logits are meaningless and the caller masks them. Each
candidate's score is an MLP of its final embedding next to those of the current and start
cities (LEHD's "light encoder, heavy decoder" reduced to one local view).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["LocalScorer"]


class LocalScorer(nn.Module):
    """Scores (logits) of the candidates of B local views.

    Args:
        in_features: features per token.
        dim: embedding width.
        layers: transformer encoder layers.
        heads: attention heads.

    Shape:
        tokens (B, k + 2, in_features) (token 0 the current city, 1 the start city) -> (B, k)
        logits of the candidate slots.

    Example:
        >>> scorer = LocalScorer(10, dim=32, layers=1, heads=2)
        >>> scorer(torch.randn(4, 18, 10)).shape
        torch.Size([4, 16])
    """

    def __init__(self, in_features: int, *, dim: int = 128, layers: int = 2, heads: int = 8) -> None:
        super().__init__()
        self.embed = nn.Linear(in_features, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Sequential(nn.Linear(3 * dim, dim), nn.ReLU(), nn.Linear(dim, 1))
        self.options = {"in_features": in_features, "dim": dim, "layers": layers, "heads": heads}

    def forward(self, tokens: Tensor) -> Tensor:
        h = self.norm(self.encoder(self.embed(tokens)))
        k = h.shape[1] - 2
        context = torch.cat([h[:, :1], h[:, 1:2]], -1).expand(-1, k, -1)
        return self.head(torch.cat([h[:, 2:], context], -1))[..., 0]

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.options.items())
