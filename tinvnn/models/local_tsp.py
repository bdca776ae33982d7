"""Candidate scorer of the local-view TSP policy (``tinvnn.tasks.tsp.local``; its views: ``local.views``).

A small transformer over the tokens of one local view (current city, start city, k candidate
slots), without positional encoding, so it is equivariant to permutations of the candidates.
Unused slots are all-zero tokens that take part in the attention like any other (no padding
mask: that path is 3x slower on CPU); their logits are meaningless and the caller masks them.
The layers hold the parameters of ``nn.TransformerEncoderLayer`` (pre-norm, ReLU, no dropout)
and ``forward`` applies them directly, which skips PyTorch's per-call fast-path checks (1.4x
faster for the one-view batches of tour construction). Each
candidate's score is an MLP of its final embedding next to those of the current and start
cities (LEHD's "light encoder, heavy decoder" reduced to one local view).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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
        h = self.embed(tokens)
        b, t, d = h.shape
        for layer in self.encoder.layers:
            attn = layer.self_attn
            q, k, v = F.linear(layer.norm1(h), attn.in_proj_weight, attn.in_proj_bias).chunk(3, -1)
            q, k, v = (z.view(b, t, attn.num_heads, d // attn.num_heads).transpose(1, 2) for z in (q, k, v))
            mixed = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
            h = h + attn.out_proj(mixed)
            h = h + layer.linear2(F.relu(layer.linear1(layer.norm2(h))))
        h = self.norm(h)
        k = t - 2
        context = torch.cat([h[:, :1], h[:, 1:2]], -1).expand(-1, k, -1)
        scores: Tensor = self.head(torch.cat([h[:, 2:], context], -1))
        return scores[..., 0]

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.options.items())
