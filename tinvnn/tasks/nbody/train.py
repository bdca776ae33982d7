"""The n-body task on the run harness (:func:`tinvnn.training.fit`), EGNN benchmark protocol.

Adam with weight decay 1e-12, batch 100, MSE on the predicted positions; validation every
``eval_every`` epochs and the test MSE reported at the best validation epoch (the protocol of
the EGNN code's ``main_nbody.py``; ``best.pt`` holds that model). Learning rates: 1e-3 for the
GNN family, 5e-4 for EGNN.

The models, their configuration (:class:`~tinvnn.tasks.nbody.recipe.NBodyTrainConfig`) and
their build live in :mod:`~tinvnn.tasks.nbody.recipe`, shared with evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from tinvnn.tasks.nbody.dataset import NBodySplit
from tinvnn.tasks.nbody.evaluate import evaluate_mse
from tinvnn.tasks.nbody.recipe import NBodyTrainConfig, build_nbody_model
from tinvnn.training import BEST, EpochContext, RunOptions, Task, TrainData, fit, load_checkpoint

__all__ = ["NBodyTask", "TrainResult", "train_nbody"]


@dataclass
class TrainResult:
    """What a run achieved.

    Attributes:
        best_epoch: epoch (1-based) with the lowest validation MSE.
        best_val_mse: that validation MSE.
        test_mse: test MSE of the model at ``best_epoch``.
        seconds_per_step: median wall time of one training step (forward, backward, Adam),
            the median of the epochs' medians.
        train_seconds: wall time of the epochs trained, validation included.
        history: ``(epoch, train_mse, val_mse)`` at each validation.
    """

    best_epoch: int
    best_val_mse: float
    test_mse: float
    seconds_per_step: float
    train_seconds: float
    history: list[tuple[int, float, float]]


class NBodyTask(Task):
    """Predict positions after one time unit; select on the validation MSE, report the test MSE."""

    monitor = ("val_mse", "min")
    resumable_changes = ("epochs", "eval_every")

    def __init__(self, config: NBodyTrainConfig, data: dict[str, NBodySplit]) -> None:
        super().__init__(config)
        self.config: NBodyTrainConfig = config
        self.data = data

    def build_model(self) -> nn.Module:
        return build_nbody_model(self.config)

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=self.config.learning_rate, weight_decay=self.config.weight_decay)

    def train_data(self, ctx: EpochContext) -> TrainData:
        """The training systems, ``(loc, vel, charges, target)`` each, shuffled every epoch."""
        return TrainData(TensorDataset(*self.data["train"].tensors()), self.config.batch_size)

    def training_step(
        self, model: nn.Module, batch: list[Tensor], ctx: EpochContext
    ) -> tuple[Tensor, dict[str, float]]:
        part = NBodySplit(*batch).to(ctx.device)
        pred = model(part.loc, part.vel, charges=part.charges)
        return nn.functional.mse_loss(pred, part.target), {}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        return {"val_mse": evaluate_mse(model, self.data["val"]), "test_mse": evaluate_mse(model, self.data["test"])}


def train_nbody(
    config: NBodyTrainConfig, data: dict[str, NBodySplit], options: RunOptions | None = None
) -> tuple[nn.Module, TrainResult]:
    """Train ``config.model`` on ``data["train"]``, select on ``data["val"]``, report ``data["test"]``.

    Args:
        config: the run.
        data: splits from :func:`tinvnn.tasks.nbody.dataset.load_nbody`.
        options: the run directory and execution (:class:`~tinvnn.training.RunOptions`);
            ``<out>/best.pt`` holds the model of the best validation epoch.

    Returns:
        The model with the best validation weights loaded (eval mode), and the :class:`TrainResult`.

    Raises:
        TrainingDiverged: a non-finite training loss.
        ValueError: no validation gave a finite MSE.
    """
    run = fit(NBodyTask(config, data), options)
    best = run.best
    if not best:
        if not any("val_mse" in r for r in run.history):
            raise ValueError(
                f"the run in {run.out} stopped before its first validation (every {config.eval_every} epochs): "
                "no best model yet; resume it"
            )
        raise ValueError(
            f"training diverged: expected a finite validation MSE, got {run.final.get('val_mse')} at every validation"
        )
    model = run.model
    model.load_state_dict(
        load_checkpoint(Path(run.out) / BEST, map_location=next(model.parameters()).device)["state"]["model"]
    )
    model.eval()
    history = [(r["epoch"], r["loss"], r["val_mse"]) for r in run.history if "val_mse" in r]
    result = TrainResult(
        best_epoch=best["epoch"],
        best_val_mse=best["val_mse"],
        test_mse=best["test_mse"],
        seconds_per_step=_median([r["step_seconds"] for r in run.history]),
        train_seconds=sum(r["seconds"] for r in run.history),
        history=history,
    )
    return model, result


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else math.nan
