"""Point-cloud classification as a task of the run harness (:func:`tinvnn.training.fit`).

:class:`~tinvnn.tasks.classification.recipe.ClassifierTrainConfig` defines the run;
:class:`ClassificationTask` supplies the model (the recipe's
:func:`~tinvnn.tasks.classification.recipe.build_classifier`), the epoch's batches
(a dataset of clouds the harness reads through a ``DataLoader``, shuffled and shared among
processes by a ``DistributedSampler`` under torchrun; transformed in the step by the training
protocol and the method's augmentation), the cross-entropy step (``DistributedDataParallel``
under torchrun) and the test accuracy under ``test_protocol``. AdamW with a cosine schedule
over ``epochs``. :func:`train` runs it and returns the metrics.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.functional import cross_entropy
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from tinvnn.tasks.classification.datasets import PointCloudDataset, load_dataset
from tinvnn.tasks.classification.distill import distillation_loss, teacher_logits
from tinvnn.tasks.classification.evaluate import evaluate
from tinvnn.tasks.classification.methods import train_augmentation
from tinvnn.tasks.classification.protocols import parse_protocol
from tinvnn.tasks.classification.recipe import ClassifierTrainConfig, build_classifier
from tinvnn.training import EpochContext, RunOptions, Task, TrainData, fit

__all__ = ["ClassificationTask", "train"]

FEATURE_TRANSFORM_WEIGHT = 1e-3  # PointNet's weight of the feature T-Net regulariser


class ClassificationTask(Task):
    """Train a wrapped backbone on point clouds; monitor the test accuracy under ``test_protocol``."""

    monitor = ("test_accuracy", "max")
    resumable_changes = ("epochs", "eval_every", "data_dir")

    def __init__(self, config: ClassifierTrainConfig) -> None:
        super().__init__(config)
        self.config: ClassifierTrainConfig = config
        self.train_set = self._load("train", config.per_class)
        self.test_set = self._load("test", config.test_per_class)
        self.train_protocol = parse_protocol(config.train_protocol)
        self.test_protocol = parse_protocol(config.test_protocol)
        self.augmentation = train_augmentation(config.method, config.group)
        self.teacher = (
            None if config.teacher is None else teacher_logits(config.teacher, self.train_set, self.train_protocol)
        )

    def _load(self, split: str, per_class: int | None) -> PointCloudDataset:
        c = self.config
        return load_dataset(c.dataset, split, points=c.points, root=c.data_dir, seed=c.seed, per_class=per_class)

    def lr_factor(self, epoch: int, epochs: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))

    def build_model(self) -> nn.Module:
        return build_classifier(self.config, self.train_set.num_classes)

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.AdamW(model.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)

    def train_data(self, ctx: EpochContext) -> TrainData:
        size = self.config.batch_size
        if len(self.train_set) // ctx.world < size:
            raise ValueError(
                f"expected at least batch_size * processes = {size * ctx.world} training clouds, "
                f"got {len(self.train_set)}"
            )
        return TrainData(_Clouds(self.train_set), size, drop_last=True)

    def training_step(
        self, model: nn.Module, batch: tuple[Tensor, Tensor, Tensor], ctx: EpochContext
    ) -> tuple[Tensor, dict[str, float]]:
        points, labels, index = batch
        points = self.train_protocol.apply(points, ctx.generator)
        if self.augmentation is not None:
            points = self.augmentation.apply(points, ctx.generator)
        labels = labels.to(ctx.device)
        logits = model(points.to(ctx.device))
        if self.teacher is None:
            loss = cross_entropy(logits, labels)
        else:
            c = self.config
            teacher = self.teacher[index].to(ctx.device)
            loss = distillation_loss(logits, labels, teacher, weight=c.distill_weight, temperature=c.temperature)
        if self.config.feature_transform:
            regulariser: Tensor = _backbone(model).feature_transform_loss  # type: ignore[assignment]
            loss = loss + FEATURE_TRANSFORM_WEIGHT * regulariser
        return loss, {"train_accuracy": float((logits.argmax(dim=1) == labels).float().mean())}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        result = evaluate(model, self.test_set, self.test_protocol, seed=self.config.seed)
        return {"test_accuracy": result.accuracy}  # under config.test_protocol

    def meta(self) -> dict[str, Any]:
        return {"classes": list(self.train_set.classes)}


class _Clouds(Dataset[tuple[Tensor, Tensor, Tensor]]):
    """The training clouds as a map-style dataset: item i is ``(points (N, 3), label, i)``."""

    def __init__(self, data: PointCloudDataset) -> None:
        self.points, self.labels = data.points, data.labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor, Tensor]:
        return self.points[i], self.labels[i], torch.tensor(i)


def _backbone(model: nn.Module) -> nn.Module:
    if isinstance(model, DistributedDataParallel):  # the step's model under torchrun
        model = model.module
    return getattr(model, "backbone", model)


def train(config: ClassifierTrainConfig, options: RunOptions | None = None) -> dict[str, Any]:
    """Train ``config.method`` on ``config.dataset`` under the run harness; return the metrics.

    Args:
        config: the run.
        options: where and how (run directory, device, resume, ...); default :class:`RunOptions`.

    Returns:
        ``{"config", "classes", "history": [per-epoch dicts], "best", "final"}``; under torchrun
        also ``"param_checksums"`` (one per rank, equal when the replicas agree).
    """
    task = ClassificationTask(config)
    result = fit(task, options)
    return {
        "config": config.to_dict(),
        **task.meta(),
        "history": result.history,
        "best": result.best,
        "final": result.final,
        **result.extra,
    }
