"""Training of the TSP-20 attention model (``tinvnn tsp train``): REINFORCE with POMO's shared
multi-start baseline. Its settings, :class:`~tinvnn.tasks.tsp.attention.recipe.AttentionConfig`,
live in the recipe.

Each training instance is decoded N times by sampling, rollout k forced to start at city k
(POMO, Kwon et al. 2020). The baseline of a rollout is the mean length of the N rollouts of
its instance, so the advantage is ``L_k - mean_j L_j`` and the loss is
``mean(advantage * log p(tour_k))``.

Why this baseline and not Kool's greedy rollout: it needs no second (frozen) policy, no
baseline evaluation pass and no t-test schedule, so every forward pass of a small CPU budget
trains; the N starts of a TSP instance are exchangeable, which makes the shared mean a
low-variance, unbiased-enough baseline; and the same multi-start decoding is the strongest
inference mode (``decode="multistart"``).

Lengths in the loss are measured on the coordinates the network sees (the variant's input),
so the reward's unit is the variant's normalised unit; evaluation always measures lengths
in the instance's own units.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from tinvnn.models.attention_tsp import AttentionTSP
from tinvnn.tasks.tsp.attention.decoding import decode_tours
from tinvnn.tasks.tsp.attention.recipe import AttentionConfig, build_attention_model
from tinvnn.tasks.tsp.attention.variants import get_variant
from tinvnn.tasks.tsp.instances import fixed_test_set, uniform_instances
from tinvnn.tasks.tsp.objective import tour_length
from tinvnn.training import EpochContext, RunOptions, Task, fit

__all__ = ["ReinforceTask", "VALIDATION_SEED", "train_attention"]

#: Seed of the fixed validation instances (Kool et al.'s validation seed).
VALIDATION_SEED = 4321


class ReinforceTask(Task):
    """REINFORCE with the POMO baseline on fresh uniform instances; validation: greedy length."""

    monitor = ("val_length", "min")
    resumable_changes = ("steps", "eval_every")

    def __init__(self, config: AttentionConfig) -> None:
        super().__init__(config)
        self.config: AttentionConfig = config
        self.variant = get_variant(config.variant)
        self.validation = fixed_test_set(config.num_cities, config.val_instances, seed=VALIDATION_SEED)

    @property
    def epochs(self) -> int:
        return math.ceil(self.config.steps / self.config.steps_per_epoch)

    def build_model(self) -> nn.Module:
        return build_attention_model(self.config)

    def batches(self, ctx: EpochContext) -> range:
        """Step numbers, not a dataset: a step draws fresh instances and rolls the policy out
        through ``rollout`` (one decoder call per city), outside ``forward``, which
        ``DistributedDataParallel`` cannot follow; the harness averages these gradients itself."""
        done = ctx.epoch * self.config.steps_per_epoch
        return range(min(self.config.steps_per_epoch, self.config.steps - done))

    def training_step(self, model: nn.Module, batch: int, ctx: EpochContext) -> tuple[Tensor, dict[str, float]]:
        c, g = self.config, ctx.generator
        # every process draws the same instances and takes its share, so the data do not depend on the process count
        coords = uniform_instances(c.batch_size * ctx.world, c.num_cities, generator=g, dtype=torch.float64)[
            ctx.rank :: ctx.world
        ]
        inputs = self.variant.train_input(coords, g).to(ctx.device)
        starts = torch.arange(c.num_cities, device=ctx.device).expand(len(coords), c.num_cities)
        policy: AttentionTSP = model  # type: ignore[assignment]
        sampler = g if ctx.device.type == "cpu" else _device_generator(g, ctx.device)
        tours, log_prob = policy.rollout(inputs.float(), starts, sample=True, generator=sampler)
        with torch.no_grad():
            lengths = tour_length(inputs, tours).float()  # (B, N) in the input's units
            advantage = lengths - lengths.mean(1, keepdim=True)
        loss = (advantage * log_prob).mean()
        return loss, {"sampled_length": float(tour_length(coords, tours.cpu()).mean())}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        _, lengths = decode_tours(model, self.variant, self.validation.to(device), decode="greedy")  # type: ignore[arg-type]
        return {"val_length": float(lengths.mean())}


def _device_generator(g: torch.Generator, device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded from the CPU generator ``g`` (sampling on a GPU needs one there)."""
    return torch.Generator(device).manual_seed(int(torch.randint(2**62, (1,), generator=g)))


def train_attention(
    config: AttentionConfig, options: RunOptions | None = None
) -> tuple[AttentionTSP, list[dict[str, Any]]]:
    """Train a policy on fresh uniform instances under the run harness.

    Returns:
        ``(model, history)``: the trained network (last weights, eval mode) and one record per
        epoch (mean loss, sampled length, validation greedy length, seconds).
    """
    run = fit(ReinforceTask(config), options)
    return run.model, run.history  # type: ignore[return-value]
