"""What a task supplies to the run harness (:func:`tinvnn.training.fit`).

A task owns its model, data and objective; the harness owns everything else (device, seeding,
the epoch loop, gradients across processes, resume, checkpoints, progress, metrics). The split
follows Lightning's ``LightningModule`` / ``Trainer``; a task is a small subclass of
:class:`Task`:

* :meth:`Task.build_model`: the freshly initialised network;
* :meth:`Task.train_data` (a :class:`TrainData`: a dataset the harness reads through a
  ``DataLoader`` with a ``DistributedSampler``; the model is wrapped in
  ``DistributedDataParallel`` under torchrun) where a step is one forward and one backward,
  or :meth:`Task.batches` (this process's share of the epoch's batches, gradients averaged by
  hand) where a step calls the model many times (REINFORCE rollouts);
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
from torch.utils.data import Dataset

from tinvnn.config import Config

__all__ = ["EpochContext", "Task", "TrainData"]


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


@dataclass(frozen=True)
class TrainData:
    """One epoch's training data, read by the harness through a ``DataLoader``.

    The harness samples ``dataset`` with a ``DistributedSampler`` (``num_replicas`` = the number
    of processes, ``drop_last=True``: every process gets as many items as the others, so as
    many batches), shuffled by ``(task.seed, epoch)`` when ``shuffle``, and batches it with
    ``--workers`` loader processes (pinned memory on CUDA). The model the step receives is then
    wrapped in ``DistributedDataParallel`` under torchrun: ``training_step`` must call it once
    (its ``forward``) and return a loss whose backward is the step's only one.

    Attributes:
        dataset: a map-style dataset: items are samples (``batch_size`` set, stacked by the
            default collate) or whole batches (``batch_size`` None).
        batch_size: samples per batch and process; None: each item is one batch.
        shuffle: shuffle the items each epoch; False keeps their order (process r takes items
            r, r + W, r + 2W, ... of W processes).
        drop_last: drop a last, smaller batch (with ``batch_size``).
    """

    dataset: Dataset[Any]
    batch_size: int | None
    shuffle: bool = True
    drop_last: bool = False


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

    def train_data(self, ctx: EpochContext) -> TrainData | None:
        """The epoch's training data for a ``DataLoader`` and ``DistributedDataParallel`` (see
        :class:`TrainData`); None (the default): the harness calls :meth:`batches` instead.

        Called once per epoch, before any step; it may draw from ``ctx.generator``.
        """
        return None

    def batches(self, ctx: EpochContext) -> Sequence[Any]:
        """This process's training batches of one epoch, in order (a list, or a sized sequence).

        The path for steps that call the model many times or outside its ``forward`` (a policy's
        rollouts): ``DistributedDataParallel`` synchronises gradients through one ``forward`` per
        backward, so the harness averages these steps' gradients over processes itself. Every
        process must return as many batches as the others. Used when :meth:`train_data` is None.
        """
        raise NotImplementedError(f"{type(self).__name__}: define train_data (a DataLoader's dataset) or batches")

    @abstractmethod
    def training_step(self, model: nn.Module, batch: Any, ctx: EpochContext) -> tuple[Tensor, dict[str, float]]:
        """The scalar loss of one batch and extra numbers to log (averaged per epoch)."""

    @abstractmethod
    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Validation numbers of ``model`` (in eval mode, under no_grad), on rank 0 only."""

    def meta(self) -> dict[str, Any]:
        """Plain data stored beside the configuration in every checkpoint (class names, ...)."""
        return {}
