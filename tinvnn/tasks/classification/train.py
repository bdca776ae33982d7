"""Point-cloud classification as a task of the run harness (:func:`tinvnn.training.fit`).

:class:`TrainConfig` defines the run; :class:`ClassificationTask` supplies the model (a
backbone wrapped for the method), the epoch's batches (shuffled, transformed by the training
protocol and the method's augmentation, each process taking every K-th cloud under
torchrun), the cross-entropy step and the test accuracy under ``test_protocol``. AdamW with a
cosine schedule over ``epochs``. :func:`train` runs it and returns the metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.functional import cross_entropy

from tinvnn._checks import check_number, check_positive_int
from tinvnn.canonical import GROUPS
from tinvnn.tasks.classification.datasets import DATASETS, PointCloudDataset, load_dataset
from tinvnn.tasks.classification.distill import distillation_loss, teacher_logits
from tinvnn.tasks.classification.evaluate import evaluate
from tinvnn.tasks.classification.methods import (
    BACKBONES,
    METHODS,
    build_backbone,
    build_model,
    check_method_options,
    train_augmentation,
)
from tinvnn.tasks.classification.protocols import parse_protocol
from tinvnn.training import Config, EpochContext, RunOptions, Task, fit, option
from tinvnn.weighted_frames import DEFAULT_MAX_FRAMES, DEFAULT_THRESHOLD

__all__ = ["ClassificationTask", "TrainConfig", "train"]

FEATURE_TRANSFORM_WEIGHT = 1e-3  # PointNet's weight of the feature T-Net regulariser
DISTILL_WEIGHT, TEMPERATURE = 0.5, 4.0  # distillation defaults (Hinton et al.'s usual temperature)


@dataclass(frozen=True)
class TrainConfig(Config):
    """Everything that defines a classification run (``tinvnn train --help`` shows each flag).

    ``per_class``/``test_per_class``: synthetic clouds per class (defaults 100/30), or for
    ModelNet40 at most this many clouds per class (default: all). Keys added after the first
    checkpoints default to the behaviour those were trained with (``sign_augment=False``, the weighted
    frames' default ``threshold`` and ``max_frames``, no ``teacher``). With ``teacher`` the
    loss is :func:`~tinvnn.tasks.classification.distill.distillation_loss`.
    """

    retired_keys = frozenset({"out"})  # moved to RunOptions

    method: str = option("tinv", "invariance method", choices=METHODS)
    backbone: str = option("pointnet", "backbone network", choices=BACKBONES)
    group: str = option("O", "O (rotations and reflections) or SO (rotations only)", choices=GROUPS)
    dataset: str = option("synthetic", "synthetic (embedded, no files) or modelnet40 (<data>/modelnet40/*.npz)", choices=DATASETS)
    data_dir: str | None = option(None, "data directory (None: $TINVNN_DATA, else ./data)")
    points: int = option(1024, "points per cloud (reproducible subset)")
    per_class: int | None = option(None, "synthetic: training clouds per class (None: 100); modelnet40: cap per class (None: all)")
    test_per_class: int | None = option(None, "the same for the test split (None: 30 synthetic, all modelnet40)")
    train_protocol: str = option("z", "ROTATION[+scale][+translate], ROTATION in I, z, SO3, O3")
    test_protocol: str = option("SO3", "protocol of the test accuracy during training")
    epochs: int = option(20, "passes over the training set")
    batch_size: int = option(32, "clouds per step (per process under torchrun)")
    lr: float = option(1e-3, "AdamW learning rate (cosine schedule over the epochs)")
    weight_decay: float = option(1e-4, "AdamW weight decay")
    width: int = option(1024, "global feature width (1024 in the papers)")
    k: int = option(20, "DGCNN neighbours")
    feature_transform: bool = option(False, "PointNet feature T-Net")
    sign_augment: bool = option(False, "tinv: random axis signs of the canonical frame in training (eval stays exact)")
    threshold: float = option(DEFAULT_THRESHOLD, "weighted methods: confidence beyond which a frame decision keeps one choice")
    max_frames: int = option(DEFAULT_MAX_FRAMES, "weighted methods: at most this many frames per cloud")
    teacher: str | None = option(None, "distil from this classifier checkpoint (its logits on the training clouds, computed once)")
    distill_weight: float = option(DISTILL_WEIGHT, "with --teacher: weight of the distillation term (the rest: cross-entropy with the labels)")
    temperature: float = option(TEMPERATURE, "with --teacher: softmax temperature of the distillation term")
    seed: int = option(0, "seed of initialisation, shuffling and training transformations")
    eval_every: int = option(1, "epochs between test evaluations")

    def __post_init__(self) -> None:
        for name, value, valid in (
            ("method", self.method, METHODS),
            ("backbone", self.backbone, BACKBONES),
            ("group", self.group, GROUPS),
            ("dataset", self.dataset, DATASETS),
        ):
            if value not in valid:
                raise ValueError(f"unknown {name} {value!r}; expected one of {valid}")
        parse_protocol(self.train_protocol)
        parse_protocol(self.test_protocol)
        for name in ("points", "epochs", "batch_size", "width", "k", "eval_every"):
            check_positive_int(getattr(self, name), name)
        check_number(self.lr, "lr", positive=True)
        check_number(self.temperature, "temperature", positive=True)
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ValueError(f"distill_weight: expected a number in [0, 1], got {self.distill_weight}")
        if self.teacher is None and (self.distill_weight, self.temperature) != (DISTILL_WEIGHT, TEMPERATURE):
            raise ValueError("distill_weight, temperature: options of --teacher only")
        check_number(self.weight_decay, "weight_decay")
        check_method_options(self.method, sign_augment=self.sign_augment, threshold=self.threshold,
                             max_frames=self.max_frames)  # fmt: skip
        if self.backbone == "dgcnn" and self.k >= self.points:
            raise ValueError(f"k: expected fewer DGCNN neighbours than points per cloud ({self.points}), got {self.k}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size: expected >= 2 (batch norm), got {self.batch_size}")


class ClassificationTask(Task):
    """Train a wrapped backbone on point clouds; monitor the test accuracy under ``test_protocol``."""

    monitor = ("test_accuracy", "max")
    resumable_changes = ("epochs", "eval_every", "data_dir")

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.config: TrainConfig = config
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
        c = self.config
        backbone = build_backbone(c.backbone, self.train_set.num_classes, width=c.width, k=c.k,
                                  feature_transform=c.feature_transform)  # fmt: skip
        return build_model(c.method, backbone, group=c.group, sign_augment=c.sign_augment, threshold=c.threshold,
                           max_frames=c.max_frames)  # fmt: skip

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


def train(config: TrainConfig, options: RunOptions | None = None) -> dict[str, Any]:
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
