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

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from tinvnn.models.attention_tsp import AttentionTSP
from tinvnn.tasks.tsp.instances import uniform_instances
from tinvnn.tasks.tsp.objective import tour_length
from tinvnn.tasks.tsp.variants import get_variant
from tinvnn.training import CheckpointMismatchError, load_checkpoint, save_checkpoint, seed_everything

__all__ = ["DEFAULT_CHECKPOINT", "TrainConfig", "build_model", "load_policy", "train"]

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything a training run depends on (stored in the checkpoint)."""

    variant: str = "tinv"
    num_cities: int = 20
    embed_dim: int = 64
    num_layers: int = 3
    num_heads: int = 4
    ff_dim: int = 256
    batch_size: int = 32
    steps: int = 3000
    lr: float = 1e-3
    weight_decay: float = 1e-6
    grad_clip: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if get_variant(self.variant).trains_as != self.variant:
            raise ValueError(
                f"{self.variant} adds test-time views to another model; train variant "
                f"{get_variant(self.variant).trains_as!r}"
            )
        for name in ("num_cities", "batch_size", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"expected {name} >= 1, got {getattr(self, name)}")


def build_model(config: TrainConfig | dict) -> AttentionTSP:
    """The untrained network of a configuration."""
    cfg = asdict(config) if isinstance(config, TrainConfig) else config
    return AttentionTSP(cfg["embed_dim"], cfg["num_layers"], cfg["num_heads"], cfg["ff_dim"])


def train(
    config: TrainConfig,
    *,
    checkpoint: str | Path | None = None,
    log_every: int = 50,
    callback: Callable[[int, dict], None] | None = None,
) -> tuple[AttentionTSP, list[dict]]:
    """Train a policy on fresh uniform instances each step; save it to ``checkpoint`` if given.

    Returns:
        ``(model, history)``: the trained network (eval mode) and one record per
        ``log_every`` steps (step, mean sampled length, seconds).
    """
    generator = seed_everything(config.seed)
    variant = get_variant(config.variant)
    model = build_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n = config.num_cities
    starts = torch.arange(n).expand(config.batch_size, n)
    history: list[dict] = []
    start_time, running = time.perf_counter(), math.nan
    model.train()
    for step in range(1, config.steps + 1):
        coords = uniform_instances(config.batch_size, n, generator=generator, dtype=torch.float64)
        inputs = variant.train_input(coords, generator)
        tours, log_prob = model.rollout(inputs.float(), starts, sample=True, generator=generator)
        with torch.no_grad():
            lengths = tour_length(inputs, tours).float()  # (B, N) in the input's units
            advantage = lengths - lengths.mean(1, keepdim=True)
        loss = (advantage * log_prob).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        mean_len = tour_length(coords, tours).mean().item()
        running = mean_len if math.isnan(running) else 0.95 * running + 0.05 * mean_len
        if step % log_every == 0 or step == config.steps:
            record = {"step": step, "sampled_length": running, "seconds": time.perf_counter() - start_time}
            history.append(record)
            log.info("step %d  sampled length %.4f  %.0fs", step, running, record["seconds"])
            if callback is not None:
                callback(step, record)
            if checkpoint is not None:
                save_checkpoint(checkpoint, {"model": model.state_dict(), "step": step}, asdict(config), {"history": history})
    model.eval()
    return model, history


def load_policy(path: str | Path) -> tuple[AttentionTSP, TrainConfig]:
    """The trained network and configuration stored in a checkpoint written by :func:`train`."""
    payload = load_checkpoint(path)
    known = {f.name for f in fields(TrainConfig)}
    if set(payload["config"]) != known or "model" not in payload["state"]:
        raise CheckpointMismatchError(
            f"{path} is not a TSP policy checkpoint: expected config keys {sorted(known)}, "
            f"got {sorted(payload['config'])}"
        )
    config = TrainConfig(**payload["config"])
    model = build_model(config)
    model.load_state_dict(payload["state"]["model"])
    model.eval()
    return model, config


#: The small pretrained tinv checkpoint shipped inside the package (TSP-20; see docs/benchmarks.md#3-tsp).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "tsp20_tinv.pt"
