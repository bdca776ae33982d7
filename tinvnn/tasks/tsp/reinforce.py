"""REINFORCE with POMO's shared multi-start baseline.

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
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from tinvnn._checks import check_number, check_positive_int
from tinvnn.models.attention_tsp import AttentionTSP
from tinvnn.tasks.tsp.instances import fixed_test_set, uniform_instances
from tinvnn.tasks.tsp.objective import tour_length
from tinvnn.tasks.tsp.policy import solve
from tinvnn.tasks.tsp.variants import VARIANTS, get_variant
from tinvnn.training import (
    BEST,
    LAST,
    Config,
    EpochContext,
    RunOptions,
    Task,
    fit,
    load_checkpoint,
    load_weights,
    option,
    read_config,
)

__all__ = ["DEFAULT_CHECKPOINT", "ReinforceTask", "TrainConfig", "VALIDATION_SEED", "build_model", "load_policy", "train"]

#: Seed of the fixed validation instances (Kool et al.'s validation seed).
VALIDATION_SEED = 4321


@dataclass(frozen=True)
class TrainConfig(Config):
    """Everything a training run depends on (stored in the checkpoint).

    ``steps_per_epoch``, ``eval_every`` and ``val_instances`` came after the shipped TSP-20
    checkpoint; their defaults describe how it was trained (one stretch of steps, no validation
    affected the weights).
    """

    variant: str = option("tinv", "input variant to train (views-only variants train as their base)", choices=VARIANTS)
    num_cities: int = option(20, "cities per training instance")
    embed_dim: int = option(64, "embedding width")
    num_layers: int = option(3, "encoder layers")
    num_heads: int = option(4, "attention heads")
    ff_dim: int = option(256, "feed-forward width")
    batch_size: int = option(32, "instances per step (per process under torchrun)")
    steps: int = option(3000, "training steps in all; more with --resume extends a finished run")
    steps_per_epoch: int = option(100, "steps between checkpoints (an epoch of fresh instances)")
    lr: float = option(1e-3, "Adam learning rate")
    weight_decay: float = option(1e-6, "Adam weight decay")
    grad_clip: float = option(1.0, "gradient-norm clip (> 0)")
    eval_every: int = option(1, "epochs between validations (greedy length on fixed instances)")
    val_instances: int = option(128, "validation instances (seed 4321)")
    seed: int = option(0, "seed of initialisation, instances and sampling")

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant: expected one of {VARIANTS}, got {self.variant!r}")
        if get_variant(self.variant).trains_as != self.variant:
            raise ValueError(
                f"{self.variant} adds test-time views to another model; train variant "
                f"{get_variant(self.variant).trains_as!r}"
            )
        for name in ("num_cities", "embed_dim", "num_layers", "num_heads", "ff_dim", "batch_size", "steps",
                     "steps_per_epoch", "eval_every", "val_instances"):  # fmt: skip
            check_positive_int(getattr(self, name), name)
        if self.steps % self.steps_per_epoch:
            raise ValueError(f"steps: expected a multiple of steps_per_epoch ({self.steps_per_epoch}), got {self.steps}")
        if self.num_cities < 3:
            raise ValueError(f"num_cities: expected at least 3 cities, got {self.num_cities}")
        check_number(self.lr, "lr", positive=True)
        check_number(self.grad_clip, "grad_clip", positive=True)
        check_number(self.weight_decay, "weight_decay")


def build_model(config: TrainConfig) -> AttentionTSP:
    """The untrained network of a configuration."""
    return AttentionTSP(config.embed_dim, config.num_layers, config.num_heads, config.ff_dim)


class ReinforceTask(Task):
    """REINFORCE with the POMO baseline on fresh uniform instances; validation: greedy length."""

    monitor = ("val_length", "min")
    resumable_changes = ("steps", "eval_every")

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.config: TrainConfig = config
        self.variant = get_variant(config.variant)
        self.validation = fixed_test_set(config.num_cities, config.val_instances, seed=VALIDATION_SEED)

    @property
    def epochs(self) -> int:
        return math.ceil(self.config.steps / self.config.steps_per_epoch)

    def build_model(self) -> nn.Module:
        return build_model(self.config)

    def batches(self, ctx: EpochContext) -> range:
        done = ctx.epoch * self.config.steps_per_epoch
        return range(min(self.config.steps_per_epoch, self.config.steps - done))

    def training_step(self, model: nn.Module, batch: int, ctx: EpochContext) -> tuple[Tensor, dict[str, float]]:
        c, g = self.config, ctx.generator
        # every process draws the same instances and takes its share, so the data do not depend on the process count
        coords = uniform_instances(c.batch_size * ctx.world, c.num_cities, generator=g, dtype=torch.float64)[ctx.rank :: ctx.world]
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
        _, lengths = solve(model, self.variant, self.validation.to(device), decode="greedy")  # type: ignore[arg-type]
        return {"val_length": float(lengths.mean())}


def _device_generator(g: torch.Generator, device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded from the CPU generator ``g`` (sampling on a GPU needs one there)."""
    return torch.Generator(device).manual_seed(int(torch.randint(2**62, (1,), generator=g)))


def train(config: TrainConfig, options: RunOptions | None = None) -> tuple[AttentionTSP, list[dict]]:
    """Train a policy on fresh uniform instances under the run harness.

    Returns:
        ``(model, history)``: the trained network (last weights, eval mode) and one record per
        epoch (mean loss, sampled length, validation greedy length, seconds).
    """
    run = fit(ReinforceTask(config), options)
    return run.model, run.history  # type: ignore[return-value]


def load_policy(path: str | Path) -> tuple[AttentionTSP, TrainConfig]:
    """The trained network and configuration of a checkpoint written by :func:`train`.

    Args:
        path: a checkpoint file, or a run directory (its ``best.pt``, else ``checkpoint.pt``).
    """
    path = Path(path)
    if path.is_dir():
        path = path / BEST if (path / BEST).is_file() else path / LAST
    payload = load_checkpoint(path)
    config = read_config(payload, TrainConfig, path, what="TSP policy")
    model = build_model(config)
    load_weights(model, payload, path, what="TSP policy")
    model.eval()
    return model, config


#: The small pretrained tinv checkpoint shipped inside the package (TSP-20; see docs/benchmarks.md#3-tsp).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "tsp20_tinv.pt"
