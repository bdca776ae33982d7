"""Point-cloud classification as a task of the run harness (:func:`tinvnn.training.fit`).

:class:`~tinvnn.tasks.classification.recipe.ClassifierTrainConfig` defines the run;
:class:`ClassificationTask` supplies the model (the recipe's
:func:`~tinvnn.tasks.classification.recipe.build_classifier`), the epoch's batches
(shuffled, transformed by the training protocol and the method's augmentation, each process
taking every K-th cloud under torchrun), the cross-entropy step and the test accuracy under ``test_protocol``. AdamW with a
cosine schedule over ``epochs``. :func:`train` runs it and returns the metrics.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.functional import cross_entropy

from tinvnn.tasks.classification.datasets import PointCloudDataset, load_dataset
from tinvnn.tasks.classification.distill import distillation_loss, teacher_logits
from tinvnn.tasks.classification.evaluate import evaluate
from tinvnn.tasks.classification.methods import train_augmentation
from tinvnn.tasks.classification.protocols import parse_protocol
from tinvnn.tasks.classification.recipe import ClassifierTrainConfig, build_classifier
from tinvnn.training import EpochContext, RunOptions, Task, fit

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
        self.teacher = None if config.teacher is None else teacher_logits(config.teacher, self.train_set, self.train_protocol)

    def _load(self, split: str, per_class: int | None) -> PointCloudDataset:
        c = self.config
        return load_dataset(c.dataset, split, points=c.points, root=c.data_dir, seed=c.seed, per_class=per_class)

    def lr_factor(self, epoch: int, epochs: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))

    def build_model(self) -> nn.Module:
        return build_classifier(self.config, self.train_set.num_classes)

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.AdamW(model.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)

    def batches(self, ctx: EpochContext) -> list[Tensor]:
        size = self.config.batch_size
        order = torch.randperm(len(self.train_set), generator=ctx.generator)
        order = order[: len(order) - len(order) % ctx.world][ctx.rank :: ctx.world]  # equal shares
        steps = len(order) // size
        if steps == 0:
            raise ValueError(
                f"expected at least batch_size * processes = {size * ctx.world} training clouds, got {len(self.train_set)}"
            )
        return [order[i * size : (i + 1) * size] for i in range(steps)]

    def training_step(self, model: nn.Module, batch: Tensor, ctx: EpochContext) -> tuple[Tensor, dict[str, float]]:
        points = self.train_protocol.apply(self.train_set.points[batch], ctx.generator)
        if self.augmentation is not None:
            points = self.augmentation.apply(points, ctx.generator)
        labels = self.train_set.labels[batch].to(ctx.device)
        logits = model(points.to(ctx.device))
        if self.teacher is None:
            loss = cross_entropy(logits, labels)
        else:
            c = self.config
            loss = distillation_loss(logits, labels, self.teacher[batch].to(ctx.device), weight=c.distill_weight, temperature=c.temperature)
        if self.config.feature_transform:
            regulariser: Tensor = _backbone(model).feature_transform_loss  # type: ignore[assignment]
            loss = loss + FEATURE_TRANSFORM_WEIGHT * regulariser
        return loss, {"train_accuracy": float((logits.argmax(dim=1) == labels).float().mean())}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        result = evaluate(model, self.test_set, self.test_protocol, seed=self.config.seed)
        return {"test_accuracy": result.accuracy}  # under config.test_protocol

    def meta(self) -> dict[str, Any]:
        return {"classes": list(self.train_set.classes)}


def _backbone(model: nn.Module) -> nn.Module:
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
    return {"config": config.to_dict(), **task.meta(), "history": result.history, "best": result.best,
            "final": result.final, **result.extra}  # fmt: skip
