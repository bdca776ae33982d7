"""What a task supplies to the run harness (:func:`tinvnn.training.fit`).

A task owns its model, data and objective; the harness owns everything else (device, seeding,
the epoch loop, gradients across processes, resume, checkpoints, progress, metrics). The split
follows Lightning's ``LightningModule`` / ``Trainer``; a task is a small subclass of
:class:`Task`:

* :meth:`Task.build_model`: the freshly initialised network;
* :meth:`Task.batches`: the training batches of one epoch (this process's share);
* :meth:`Task.training_step`: the loss of one batch (and numbers to log);
* :meth:`Task.evaluate`: validation numbers (rank 0 only), one of which, :attr:`Task.monitor`,
  selects the best checkpoint.

The configuration (a :class:`~tinvnn.config.Config`) must have the fields ``epochs``,
``seed`` and ``eval_every``, or the task overrides the properties that read them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from tinvnn.config import Config

__all__ = ["EpochContext", "Task"]


@dataclass(frozen=True)
class EpochContext:
    """Where an epoch runs.

    Attributes:
        epoch: 0-based epoch index.
        generator: CPU generator seeded by (seed, epoch), the same on every process: shuffling,
            training transformations and sampling draw from it, so a resumed run repeats them.
        rank, world: this process and the number of processes (1 without torchrun).
        device: where the model lives.
    """

    epoch: int
    generator: torch.Generator
    rank: int
    world: int
    device: torch.device


class Task(ABC):
    """Base class of a trainable task (see the module docstring).

    Attributes:
        config: the task's configuration, stored in every checkpoint.
        monitor: ``(metric, "min" | "max")``: which :meth:`evaluate` number picks ``best.pt``.
        resumable_changes: config keys a resumed run may change (``epochs`` extends a finished
            run); every other key must equal the checkpoint's.
    """

    monitor: ClassVar[tuple[str, str]] = ("loss", "min")
    resumable_changes: ClassVar[tuple[str, ...]] = ("epochs",)

    def __init__(self, config: Config) -> None:
        self.config = config

    # ----------------------------------------------------------------- schedule
    @property
    def epochs(self) -> int:
        return int(self.config.epochs)  # type: ignore[attr-defined]

    @property
    def seed(self) -> int:
        return int(self.config.seed)  # type: ignore[attr-defined]

    @property
    def eval_every(self) -> int:
        return int(self.config.eval_every)  # type: ignore[attr-defined]

    @property
    def grad_clip(self) -> float | None:
        """Gradient-norm clip (None: no clipping)."""
        return getattr(self.config, "grad_clip", None)

    @property
    def ema_decay(self) -> float | None:
        """Per-step decay of an exponential moving average of the weights (None: no average).

        With it the harness evaluates, saves (``state["model"]`` of every checkpoint, so
        ``best.pt`` and exports hold the average) and returns the averaged weights; the raw
        weights, which training continues from, are kept in ``state["raw_model"]``. The average
        starts at the initial weights without bias correction: it suits fine-tuning; from scratch,
        early averages are dominated by the initialisation. Read from ``config.ema`` (0 or
        absent: none).
        """
        return getattr(self.config, "ema", None) or None

    def lr_factor(self, epoch: int, epochs: int) -> float:
        """Learning-rate multiplier of 0-based ``epoch`` out of ``epochs`` (default: constant 1).

        A function of the epoch, not a stateful scheduler: a resumed run and a run extended to
        more epochs get the schedule of their (new) length.
        """
        return 1.0

    # ----------------------------------------------------------------- pieces
    @abstractmethod
    def build_model(self) -> nn.Module:
        """The freshly initialised model (seeded by the harness beforehand)."""

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """The optimizer (default: Adam with ``config.lr`` and ``config.weight_decay``)."""
        return torch.optim.Adam(model.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)  # type: ignore[attr-defined]

    @abstractmethod
    def batches(self, ctx: EpochContext) -> Sequence[Any]:
        """This process's training batches of one epoch, in order (a list, or a sized sequence)."""

    @abstractmethod
    def training_step(self, model: nn.Module, batch: Any, ctx: EpochContext) -> tuple[Tensor, dict[str, float]]:
        """The scalar loss of one batch and extra numbers to log (averaged per epoch)."""

    @abstractmethod
    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Validation numbers of ``model`` (in eval mode, under no_grad), on rank 0 only."""

    def meta(self) -> dict[str, Any]:
        """Plain data stored beside the configuration in every checkpoint (class names, ...)."""
        return {}
