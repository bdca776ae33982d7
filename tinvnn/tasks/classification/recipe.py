"""The point-cloud classifier's recipe: its configuration, how to build it and how to load it.

Shared by training (:mod:`~tinvnn.tasks.classification.train`) and inference (evaluation,
``tinvnn classify``); it imports neither.

* :class:`ClassifierConfig`: what the model is (method, backbone, group, sizes, frame options).
* :class:`ClassifierTrainConfig`: the run that trained it (data, protocols, optimisation);
  every checkpoint stores it, so loading reads it.
* :func:`build_classifier`: the backbone wrapped for the method, freshly initialised.
* :func:`load_classifier`: a trained classifier from its checkpoint, on a device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tinvnn._checks import check_number, check_positive_int
from tinvnn.checkpoint import CheckpointMismatchError, load_checkpoint, load_weights, read_config, run_checkpoint_file
from tinvnn.config import Config, option
from tinvnn.group import GROUP_NAMES
from tinvnn.tasks.classification.datasets import DATASETS
from tinvnn.tasks.classification.methods import BACKBONES, METHODS, build_backbone, check_method_options, wrap_backbone
from tinvnn.tasks.classification.protocols import parse_protocol
from tinvnn.weighted_frames import DEFAULT_MAX_FRAMES, DEFAULT_THRESHOLD

__all__ = [
    "DISTILL_WEIGHT",
    "TEMPERATURE",
    "ClassifierConfig",
    "ClassifierTrainConfig",
    "build_classifier",
    "load_classifier",
]

DISTILL_WEIGHT, TEMPERATURE = 0.5, 4.0  # distillation defaults (Hinton et al.'s usual temperature)


@dataclass(frozen=True)
class ClassifierConfig(Config):
    """What a classifier is: the backbone, the invariance method around it, the points it reads.

    Keys added after the first checkpoints default to the behaviour those were trained with
    (``sign_augment=False``, the weighted frames' default ``threshold`` and ``max_frames``).
    """

    method: str = option("tinv", "invariance method", choices=METHODS)
    backbone: str = option("pointnet", "backbone network", choices=tuple(BACKBONES))
    group: str = option(
        "O",
        "O (rotations and reflections), SO (rotations only), SO2z (rotations about z: 'up' kept) "
        "or O2z (also the mirrors in vertical planes)",
        choices=GROUP_NAMES,
    )
    points: int = option(1024, "points per cloud (reproducible subset)")
    width: int = option(1024, "global feature width (1024 in the papers)")
    k: int = option(20, "DGCNN neighbours")
    feature_transform: bool = option(False, "PointNet feature T-Net")
    sign_augment: bool = option(False, "tinv: random axis signs of the canonical frame in training (eval stays exact)")
    threshold: float = option(
        DEFAULT_THRESHOLD, "weighted methods: confidence beyond which a frame decision keeps one choice"
    )
    max_frames: int = option(DEFAULT_MAX_FRAMES, "weighted methods: at most this many frames per cloud")

    def __post_init__(self) -> None:
        for name, value, valid in (
            ("method", self.method, METHODS),
            ("backbone", self.backbone, tuple(BACKBONES)),
            ("group", self.group, GROUP_NAMES),
        ):
            if value not in valid:
                raise ValueError(f"unknown {name} {value!r}; expected one of {valid}")
        for name in ("points", "width", "k"):
            check_positive_int(getattr(self, name), name)
        check_method_options(
            self.method, sign_augment=self.sign_augment, threshold=self.threshold, max_frames=self.max_frames
        )
        if self.backbone == "dgcnn" and self.k >= self.points:
            raise ValueError(f"k: expected fewer DGCNN neighbours than points per cloud ({self.points}), got {self.k}")


@dataclass(frozen=True)
class ClassifierTrainConfig(ClassifierConfig):
    """Everything that defines a classification run (``tinvnn train --help`` shows each flag).

    ``per_class``/``test_per_class``: synthetic clouds per class (defaults 100/30), or for
    ModelNet40 at most this many clouds per class (default: all). Keys added after the first
    checkpoints default to the behaviour those were trained with (no ``teacher``). With
    ``teacher`` the loss is :func:`~tinvnn.tasks.classification.distill.distillation_loss`.
    """

    retired_keys = frozenset({"out"})  # moved to RunOptions

    dataset: str = option(
        "synthetic", "synthetic (embedded, no files) or modelnet40 (<data>/modelnet40/*.npz)", choices=DATASETS
    )
    data_dir: str | None = option(None, "data directory (None: $TINVNN_DATA, else ./data)")
    per_class: int | None = option(
        None, "synthetic: training clouds per class (None: 100); modelnet40: cap per class (None: all)"
    )
    test_per_class: int | None = option(None, "the same for the test split (None: 30 synthetic, all modelnet40)")
    train_protocol: str = option("z", "ROTATION[+scale][+translate], ROTATION in I, z, O2z, SO3, O3")
    test_protocol: str = option("SO3", "protocol of the test accuracy during training")
    epochs: int = option(20, "passes over the training set")
    batch_size: int = option(32, "clouds per step (per process under torchrun)")
    lr: float = option(1e-3, "AdamW learning rate (cosine schedule over the epochs)")
    weight_decay: float = option(1e-4, "AdamW weight decay")
    teacher: str | None = option(
        None, "distil from this classifier checkpoint (its logits on the training clouds, computed once)"
    )
    distill_weight: float = option(
        DISTILL_WEIGHT, "with --teacher: weight of the distillation term (the rest: cross-entropy with the labels)"
    )
    temperature: float = option(TEMPERATURE, "with --teacher: softmax temperature of the distillation term")
    seed: int = option(0, "seed of initialisation, shuffling and training transformations")
    eval_every: int = option(1, "epochs between test evaluations")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; expected one of {DATASETS}")
        parse_protocol(self.train_protocol)
        parse_protocol(self.test_protocol)
        for name in ("epochs", "batch_size", "eval_every"):
            check_positive_int(getattr(self, name), name)
        check_number(self.lr, "lr", positive=True)
        check_number(self.temperature, "temperature", positive=True)
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ValueError(f"distill_weight: expected a number in [0, 1], got {self.distill_weight}")
        if self.teacher is None and (self.distill_weight, self.temperature) != (DISTILL_WEIGHT, TEMPERATURE):
            raise ValueError("distill_weight, temperature: options of --teacher only")
        check_number(self.weight_decay, "weight_decay")
        if self.batch_size < 2:
            raise ValueError(f"batch_size: expected >= 2 (batch norm), got {self.batch_size}")


def build_classifier(config: ClassifierConfig, num_classes: int) -> nn.Module:
    """The backbone ``config`` names, wrapped for its method and group, freshly initialised.

    Shape:
        the returned module maps points (B, N, 3) -> logits (B, num_classes).
    """
    backbone = build_backbone(
        config.backbone, num_classes, width=config.width, k=config.k, feature_transform=config.feature_transform
    )
    return wrap_backbone(
        config.method,
        backbone,
        group=config.group,
        sign_augment=config.sign_augment,
        threshold=config.threshold,
        max_frames=config.max_frames,
    )


def load_classifier(
    path: str | os.PathLike[str], device: str | torch.device = "cpu", *, expected: dict[str, Any] | None = None
) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
    """Rebuild the trained classifier of a checkpoint written by :func:`~.train.train`.

    Args:
        path: the checkpoint (``checkpoint.pt`` or ``best.pt``), or a run directory (its
            ``checkpoint.pt``).
        device: where the model goes (a ``torch.device`` or its name; ``tinvnn.runtime.resolve_device``
            turns a ``--device`` value into one).
        expected: if given, configuration values the checkpoint must have (e.g.
            ``{"backbone": "dgcnn"}``); a difference raises ``CheckpointMismatchError``.

    Returns:
        (model in eval mode on ``device``, the :class:`ClassifierTrainConfig` as a dict with every
        key, meta dict with ``classes`` and the training history).

    Raises:
        CheckpointMismatchError: not a point-cloud classifier checkpoint, or its weights do not
            fit its own configuration.
    """
    path = run_checkpoint_file(path)
    payload = load_checkpoint(path, expected)
    config = read_config(payload, ClassifierTrainConfig, path, what="point-cloud classifier")
    meta = payload["meta"]
    classes = meta.get("classes")
    if not isinstance(classes, list) or not classes or "model" not in payload["state"]:
        raise CheckpointMismatchError(f"{path} is not a point-cloud classifier checkpoint (no class names or weights)")
    model = load_weights(build_classifier(config, len(classes)), payload, path, what="classifier")
    return model.to(device).eval(), config.to_dict(), meta
