"""Reinforcement fine-tuning of the local-view policy (``tinvnn tsp finetune``): REINFORCE with
POMO's shared baseline. Its settings, :class:`~tinvnn.tasks.tsp.local.recipe.LocalReinforceConfig`,
live in the recipe (the command line needs them without this training module).

Imitation (behaviour cloning, then DAgger) teaches the policy LKH-3's next city; it never
sees what a decision costs the rest of the tour. This stage optimises the tour length itself,
starting from an imitation policy:

1. per training step, one random instance (of ``families`` in turn, by default uniform,
   clustered and lattice; ``min_cities`` to ``max_cities`` cities) is decoded ``starts`` times
   by sampling from the policy (``construct_tours(sample=True)``), each rollout from its own
   random start city;
   the states are recorded without gradients (``on_step``);
2. the advantage of rollout ``j`` is ``(L_j - mean L) / mean L`` (POMO's shared baseline,
   Kwon et al. 2020, relative so that instances of any size weigh alike);
3. one batched forward pass over all recorded states scores the chosen cities again, with
   gradients, and the loss is ``mean_j advantage_j * sum_t log p(a_jt)``.

Recording and re-scoring instead of backpropagating through the rollout keeps the memory of
one batch of states and lets the rollout reuse the fast no-grad construction path. Rollouts and
validation see ``k`` candidates (default: the init's ``inference_k``, the k it decides with).
Validation is the greedy gap to LKH-3 on the imitation runs' random 200-city instances, which
also picks ``best.pt``. :func:`export_finetuned` writes the shipped form, which
``tinvnn.tasks.tsp.local.recipe.load_local_policy`` reads like any imitation policy.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from tinvnn.checkpoint import load_checkpoint, load_weights, read_config, run_checkpoint_file, save_checkpoint
from tinvnn.models.local_tsp import LocalScorer
from tinvnn.tasks.tsp.instances import TRAINING_FAMILIES
from tinvnn.tasks.tsp.local.construction import construct_tours
from tinvnn.tasks.tsp.local.imitation import greedy_gap, validation_instances
from tinvnn.tasks.tsp.local.recipe import (
    DEFAULT_LOCAL_CHECKPOINT,
    INFERENCE_K_KEY,
    ImitationConfig,
    LocalReinforceConfig,
    build_scorer,
    inference_k,
    training_families,
)
from tinvnn.tasks.tsp.objective import tour_length
from tinvnn.tasks.tsp.reference import reference_lengths
from tinvnn.training import EpochContext, RunOptions, Task, fit

__all__ = ["LocalReinforceTask", "reinforce_loss", "train_local_reinforce", "export_finetuned"]

_SEED_BASE = 4_000_000_000  # disjoint from the tours', DAgger's, validation's and the test sets' seeds


def _init_path(config: LocalReinforceConfig) -> Path:
    return Path(config.init or DEFAULT_LOCAL_CHECKPOINT)


def reinforce_loss(
    model: LocalScorer, coords: np.ndarray, starts: np.ndarray, *, k: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """POMO-baseline REINFORCE loss of ``len(starts)`` sampled rollouts on one instance.

    Args:
        model: the candidate scorer (its parameters' dtype is used for the tokens).
        coords: (N, 2) float64 cities.
        starts: (S,) distinct start cities.
        k: candidate slots per view.
        generator: draws the sampled moves.

    Returns:
        ``(loss, lengths)``: the scalar loss (with gradients) and the (S,) rollout lengths.
    """
    steps: list[tuple[Tensor, Tensor, Tensor]] = []
    tours = construct_tours(
        model,
        coords,
        starts.tolist(),
        k=k,
        sample=True,
        generator=generator,
        on_step=lambda *state: steps.append(state),
    )
    model.train()
    lengths = tour_length(torch.from_numpy(coords)[None], torch.from_numpy(tours)[None])[0]
    advantage = ((lengths - lengths.mean()) / lengths.mean()).to(next(model.parameters()).dtype)
    tokens, valid, picks = (torch.cat(parts) for parts in zip(*steps))
    log_p = torch.log_softmax(model(tokens).masked_fill(~valid, -math.inf), -1).gather(1, picks[:, None])[:, 0]
    return (advantage * log_p.view(len(steps), len(starts)).sum(0)).mean(), lengths


class LocalReinforceTask(Task):
    """REINFORCE fine-tuning as a task of the run harness (see the module docstring).

    A batch is the global index of one training instance (``epoch * steps_per_epoch + i``); its
    instance, start cities and samples come from a generator seeded by (seed, that index), so a
    resumed run sees the same instances.
    """

    monitor = ("val_greedy_gap", "min")
    resumable_changes = ("epochs",)

    def __init__(self, config: LocalReinforceConfig) -> None:
        super().__init__(config)
        self.config: LocalReinforceConfig = config
        self.init_path = _init_path(config)
        self.init_payload = load_checkpoint(self.init_path)  # read once: configuration and weights
        self.policy_config = read_config(self.init_payload, ImitationConfig, self.init_path, what="local TSP policy")
        self.k = config.k or inference_k(self.init_path, payload=self.init_payload)
        self.val_coords = validation_instances(config.val_instances)
        self.families = training_families(config.families)

    @property
    def eval_every(self) -> int:
        return 1

    def build_model(self) -> nn.Module:
        model = build_scorer(self.policy_config)
        load_weights(model, self.init_payload, self.init_path, what="local TSP policy")
        return model

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=self.config.lr)

    def batches(self, ctx: EpochContext) -> list[int]:
        """This process's instance indices: a step rolls the scorer out once per decision of
        several tours (many calls, no single ``forward`` that ``DistributedDataParallel`` could
        follow), so the harness averages these gradients itself instead."""
        steps = self.config.steps_per_epoch * ctx.world
        return list(range(ctx.epoch * steps, (ctx.epoch + 1) * steps))[ctx.rank :: ctx.world]

    def training_step(self, model: nn.Module, batch: int, ctx: EpochContext) -> tuple[Tensor, dict[str, float]]:
        c = self.config
        generator = torch.Generator().manual_seed(_SEED_BASE + 1_000_003 * c.seed + batch)
        n = int(torch.randint(c.min_cities, c.max_cities + 1, (1,), generator=generator))
        family = self.families[batch % len(self.families)]
        coords = TRAINING_FAMILIES[family](1, n, generator=generator, dtype=torch.float64)[0].numpy()
        starts = torch.randperm(n, generator=generator)[: c.starts].numpy()
        loss, lengths = reinforce_loss(model, coords, starts, k=self.k, generator=generator)  # type: ignore[arg-type]
        return loss, {"spread": float(lengths.std() / lengths.mean())}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        reference = reference_lengths(self.val_coords)  # cached on disk after the first epoch
        return {"val_greedy_gap": greedy_gap(model, self.val_coords, reference, self.k)}  # type: ignore[arg-type]

    def meta(self) -> dict[str, Any]:
        return {"init": str(self.init_path), "k": self.k}


def train_local_reinforce(config: LocalReinforceConfig, options: RunOptions | None = None) -> nn.Module:
    """Fine-tune a local policy by REINFORCE under the run harness (see :class:`LocalReinforceTask`).

    Returns:
        The fine-tuned scorer (last epoch); ``<out>/best.pt`` holds the best validation gap.
    """
    return fit(LocalReinforceTask(config), options).model


def export_finetuned(run_checkpoint: Path, out: Path) -> Path:
    """Write a fine-tuned scorer in the shipped form: the weights, the policy configuration of
    the run's ``init`` (so ``load_local_policy`` reads it) and the fine-tuning settings and
    history in the metadata (the init's other metadata too, except its ``inference_k``: the
    export's ``inference_k`` is the k the run rolled out with).

    Args:
        run_checkpoint: a checkpoint of :func:`train_local_reinforce`, or its run directory
            (then its ``checkpoint.pt``, the last epoch).
        out: the file to write.
    """
    run_checkpoint = run_checkpoint_file(run_checkpoint)
    payload = load_checkpoint(run_checkpoint)
    config = read_config(payload, LocalReinforceConfig, run_checkpoint, what="local-policy fine-tuning run")
    init = load_checkpoint(_init_path(config))
    # the init's inference k (and its sweep) was chosen for other weights: these decide at the
    # k they were fine-tuned with until a sweep (benchmarks/bench_tsp_inference_k.py) says otherwise
    kept = {key: value for key, value in init["meta"].items() if not key.startswith(INFERENCE_K_KEY)}
    run_k = payload["meta"].get("k")
    meta = {
        **kept,
        "finetune": {
            **payload["meta"],
            "config": config.to_dict(),
            "epoch": payload["state"]["epoch"],
            "source": run_checkpoint.name,
        },
    }
    if run_k is not None:
        meta[INFERENCE_K_KEY] = int(run_k)
    return save_checkpoint(out, {"model": payload["state"]["model"]}, init["config"], meta)
