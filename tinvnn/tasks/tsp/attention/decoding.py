"""Decoding a trained :class:`~tinvnn.models.attention_tsp.AttentionTSP` into tours.

Decoding strategies (``decode``):

* ``greedy``: one greedy rollout per view, starting at the city farthest from the centroid
  (a geometric rule, invariant to rotation, reflection, scale, translation and city order,
  so the start never breaks a variant's invariance).
* ``multistart``: POMO's inference, one greedy rollout from every city, the shortest kept.
* ``sample``: ``samples`` sampled rollouts from every city, the shortest kept.

With ``two_opt=True`` the chosen tour is then improved by 2-opt (``heuristics.two_opt``) in
the instance's own metric. Lengths are measured on the original coordinates.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tinvnn.models.attention_tsp import AttentionTSP
from tinvnn.tasks.tsp.attention.recipe import DECODINGS
from tinvnn.tasks.tsp.attention.variants import Variant
from tinvnn.tasks.tsp.heuristics import two_opt_batch
from tinvnn.tasks.tsp.objective import tour_length

__all__ = ["decode_tours", "farthest_start"]


def farthest_start(coords: Tensor) -> Tensor:
    """(B,) index of the city farthest from each instance's centroid (ties: lowest index)."""
    centred = coords.double() - coords.double().mean(1, keepdim=True)
    return centred.square().sum(-1).argmax(1)


@torch.no_grad()
def decode_tours(
    model: AttentionTSP,
    variant: Variant,
    coords: Tensor,
    *,
    decode: str = "greedy",
    samples: int = 1,
    two_opt: bool = False,
    generator: torch.Generator | None = None,
    chunk: int = 256,
) -> tuple[Tensor, Tensor]:
    """Tours and their lengths for a batch of instances.

    Args:
        model: the policy, put in eval mode here.
        variant: the input variant the model was trained with (``pomo8`` adds its 8 views).
        coords: (B, N, 2) coordinates in the instance's own units (float64 advised for
            large offsets).
        decode: ``greedy``, ``multistart`` or ``sample`` (see the module docstring).
        samples: rollouts per start city for ``sample``.
        two_opt: refine the chosen tour with 2-opt.
        generator: random source for ``sample``.
        chunk: instances decoded at once.

    Returns:
        ``(tours, lengths)``: (B, N) long and (B,) float64 Euclidean lengths in the units of
        ``coords``.
    """
    if decode not in DECODINGS:
        raise ValueError(f"unknown decoding {decode!r}; expected one of {', '.join(DECODINGS)}")
    if samples < 1:
        raise ValueError(f"expected samples >= 1, got {samples}")
    model.eval()
    dtype = next(model.parameters()).dtype
    all_tours, all_lengths = [], []
    for part in torch.split(coords, chunk):
        b, n, _ = part.shape
        if decode == "greedy":
            starts = farthest_start(part)[:, None]
        else:
            starts = torch.arange(n).repeat(samples).expand(b, n * samples)
        candidates = []  # per view: the shortest of its rollouts, (b, N) and (b,)
        for view in variant.views(part):
            tours, _ = model.rollout(view.to(dtype), starts, sample=decode == "sample", generator=generator)
            lengths = tour_length(part, tours)  # (b, S), original units
            idx = lengths.argmin(1)
            candidates.append((tours[torch.arange(b), idx], lengths[torch.arange(b), idx]))
        best_tours, best_len = candidates[0]
        for cand, cand_len in candidates[1:]:
            better = cand_len < best_len
            best_tours = torch.where(better[:, None], cand, best_tours)
            best_len = torch.where(better, cand_len, best_len)
        if two_opt:
            best_tours = two_opt_batch(part, best_tours)
            best_len = tour_length(part, best_tours)
        all_tours.append(best_tours)
        all_lengths.append(best_len)
    return torch.cat(all_tours), torch.cat(all_lengths)
