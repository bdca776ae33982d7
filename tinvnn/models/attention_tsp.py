"""Attention encoder-decoder for the travelling salesman problem (after Kool et al., ICLR 2019).

The network maps 2-D city coordinates to a distribution over tours. It knows nothing of
datasets, input normalisation or invariance: the caller decides what coordinates it sees
(``tinvnn.tasks.tsp.attention.variants``) and which decoding to run
(``tinvnn.tasks.tsp.attention.decoding``).

Architecture (Kool's Attention Model; POMO's forced starts):

* encoder: a linear embedding of each city's coordinates, then ``num_layers`` blocks of
  multi-head self-attention and a feed-forward layer, each with a skip connection and batch
  norm. No positional encoding, so the encoder is permutation-equivariant.
* decoder, one city per step: the context is ``[graph mean, first city, last city]``
  (a learned placeholder for the first and last city before the first choice); a masked
  multi-head glimpse over the cities gives the query of a single-head compatibility whose
  logits are clipped with ``tanh_clip * tanh(.)``; visited cities are masked.

Several rollouts per instance share one encoding: ``starts`` (B, S) forces the first city of
each of the S rollouts (POMO's multi-start), otherwise the first city is chosen by the
decoder from the placeholder context (Kool's single rollout).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["AttentionTSP"]


class _SkipBatchNorm(nn.Module):
    """``BatchNorm(x + f(x))`` over the feature dimension of a (B, N, E) tensor."""

    def __init__(self, inner: nn.Module, embed_dim: int) -> None:
        super().__init__()
        self.inner = inner
        self.norm = nn.BatchNorm1d(embed_dim, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = x + self.inner(x)
        normed: Tensor = self.norm(y.reshape(-1, y.shape[-1]))
        return normed.reshape(y.shape)


class _SelfAttention(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(embed_dim, num_heads, bias=False, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        mixed: Tensor = self.mha(x, x, x, need_weights=False)[0]
        return mixed


class AttentionTSP(nn.Module):
    """Kool-style attention model over (B, N, 2) coordinates.

    Args:
        embed_dim: width E of the city embeddings.
        num_layers: encoder blocks.
        num_heads: heads of the encoder attention and of the decoder glimpse; divides E.
        ff_dim: hidden width of the encoder feed-forward layers.
        tanh_clip: C in ``C * tanh(logits)`` (Kool and POMO use 10).

    Shape:
        coordinates (B, N, 2) -> embeddings (B, N, E); tours (B, S, N) long.

    Example:
        >>> model = AttentionTSP(embed_dim=16, num_layers=1, num_heads=2, ff_dim=32)
        >>> tours, logp = model.rollout(torch.rand(4, 10, 2), starts=torch.arange(10).expand(4, 10))
        >>> tours.shape, logp.shape
        (torch.Size([4, 10, 10]), torch.Size([4, 10]))
    """

    def __init__(
        self,
        embed_dim: int = 64,
        num_layers: int = 3,
        num_heads: int = 4,
        ff_dim: int = 256,
        *,
        tanh_clip: float = 10.0,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim must be divisible by num_heads, got {embed_dim} and {num_heads}")
        self.embed_dim, self.num_heads, self.tanh_clip = embed_dim, num_heads, tanh_clip
        self.init_embed = nn.Linear(2, embed_dim)
        layers: list[nn.Module] = []
        for _ in range(num_layers):
            layers.append(_SkipBatchNorm(_SelfAttention(embed_dim, num_heads), embed_dim))
            ff = nn.Sequential(nn.Linear(embed_dim, ff_dim), nn.ReLU(), nn.Linear(ff_dim, embed_dim))
            layers.append(_SkipBatchNorm(ff, embed_dim))
        self.encoder = nn.Sequential(*layers)
        # Decoder projections, as in Kool's AttentionModel.
        self.project_node = nn.Linear(embed_dim, 3 * embed_dim, bias=False)  # glimpse K, V; logit K
        self.project_graph = nn.Linear(embed_dim, embed_dim, bias=False)
        self.project_step = nn.Linear(2 * embed_dim, embed_dim, bias=False)
        self.project_out = nn.Linear(embed_dim, embed_dim, bias=False)
        self.placeholder = nn.Parameter(torch.empty(2 * embed_dim).uniform_(-1, 1))

    def __repr__(self) -> str:
        return (
            f"AttentionTSP(embed_dim={self.embed_dim}, num_layers={len(self.encoder) // 2}, "
            f"num_heads={self.num_heads}, tanh_clip={self.tanh_clip})"
        )

    def encode(self, coords: Tensor) -> Tensor:
        """City embeddings (B, N, E) of coordinates (B, N, 2)."""
        if coords.dim() != 3 or coords.shape[-1] != 2:
            raise ValueError(f"expected coordinates of shape (B, N, 2), got {tuple(coords.shape)}")
        emb: Tensor = self.encoder(self.init_embed(coords))
        return emb

    def rollout(
        self,
        coords: Tensor,
        starts: Tensor | None = None,
        *,
        sample: bool = False,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Decode S tours per instance, greedily or by sampling.

        Args:
            coords: (B, N, 2) coordinates as the model should see them.
            starts: (B, S) long, the forced first city of each rollout; None decodes one
                rollout per instance (S = 1) whose first city the decoder chooses.
            sample: sample each step from the policy instead of taking the arg max.
            generator: random source of the sampling.

        Returns:
            ``(tours, log_prob)``: tours (B, S, N) long, a permutation of 0..N-1 per rollout;
            log_prob (B, S), the summed log-probability of the decoder's choices (forced
            starts excluded).
        """
        batch, n, _ = coords.shape
        emb = self.encode(coords)  # (B, N, E)
        graph = emb.mean(1)  # (B, E)
        glimpse_k, glimpse_v, logit_k = self.project_node(emb).chunk(3, dim=-1)
        fixed_ctx = self.project_graph(graph)  # (B, E)
        h, d = self.num_heads, self.embed_dim // self.num_heads

        def heads(x: Tensor) -> Tensor:  # (B, N, E) -> (B, H, N, d)
            return x.view(batch, n, h, d).transpose(1, 2)

        gk, gv = heads(glimpse_k), heads(glimpse_v)
        s = 1 if starts is None else starts.shape[1]
        visited = torch.zeros(batch, s, n, dtype=torch.bool, device=coords.device)
        tours = torch.empty(batch, s, n, dtype=torch.long, device=coords.device)
        log_prob = torch.zeros(batch, s, dtype=emb.dtype, device=coords.device)
        arange_b = torch.arange(batch, device=coords.device)[:, None]
        first = last = None
        for step in range(n):
            if step == 0 and starts is not None:
                choice = starts
            else:
                if first is None:
                    step_ctx = self.placeholder.expand(batch, s, -1)
                else:
                    step_ctx = torch.cat([emb[arange_b, first], emb[arange_b, last]], dim=-1)
                query = fixed_ctx[:, None] + self.project_step(step_ctx)  # (B, S, E)
                q = query.view(batch, s, h, d).transpose(1, 2)  # (B, H, S, d)
                compat = q @ gk.transpose(-1, -2) / math.sqrt(d)  # (B, H, S, N)
                compat = compat.masked_fill(visited[:, None], float("-inf"))
                glimpse = (compat.softmax(-1) @ gv).transpose(1, 2).reshape(batch, s, self.embed_dim)
                glimpse = self.project_out(glimpse)
                logits = glimpse @ logit_k.transpose(-1, -2) / math.sqrt(self.embed_dim)  # (B, S, N)
                logits = self.tanh_clip * torch.tanh(logits)
                logits = logits.masked_fill(visited, float("-inf"))
                logp = logits.log_softmax(-1)
                if sample:
                    flat = logp.exp().reshape(-1, n)
                    choice = torch.multinomial(flat, 1, generator=generator).view(batch, s)
                else:
                    choice = logp.argmax(-1)
                log_prob = log_prob + logp.gather(-1, choice[..., None]).squeeze(-1)
            if first is None:
                first = choice
            last = choice
            tours[:, :, step] = choice
            visited = visited.scatter(-1, choice[..., None], True)
        return tours, log_prob
