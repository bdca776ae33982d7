"""Knowledge distillation (Hinton, Vinyals and Dean, 2015) from a trained classifier.

A costly invariant model (Frame Averaging: 8 backbone calls per cloud) teaches a cheap one
(weighted frames: 2.5 calls on average): the student fits, besides the labels, the teacher's
softened class distribution. Both are exactly invariant, so the teacher's logits are computed
once per training cloud, whatever transformation the training protocol draws later.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import Tensor
from torch.nn.functional import cross_entropy, kl_div, log_softmax

from tinvnn.group import as_group
from tinvnn.tasks.classification.datasets import PointCloudDataset
from tinvnn.tasks.classification.evaluate import predict
from tinvnn.tasks.classification.protocols import Protocol, random_rotations
from tinvnn.tasks.classification.recipe import load_classifier

__all__ = ["INVARIANT_METHODS", "distillation_loss", "teacher_logits"]

#: Methods whose models are exactly invariant (``pca`` is not: LAPACK picks its axis signs).
INVARIANT_METHODS = ("fa", "tinv", "weighted", "weighted_draw", "learned")

log = logging.getLogger(__name__)


def teacher_logits(
    path: str | os.PathLike[str], data: PointCloudDataset, protocol: Protocol, *, batch_size: int = 64
) -> Tensor:
    """The logits of the classifier checkpoint ``path`` on every cloud of ``data`` (CPU, eval mode).

    Computed once on the untransformed clouds, which is only right for a teacher invariant to
    the training ``protocol``: anything else is refused.

    Raises:
        ValueError: the teacher is not exactly invariant (method not in
            :data:`INVARIANT_METHODS`), is invariant to a group that does not hold the
            rotations ``protocol`` draws (group SO and O3, SO2z and SO3, ...), or was trained on
            other classes (names or order).

    Shape:
        -> (S, C) float32 for S clouds of C classes.
    """
    model, config, meta = load_classifier(path)
    if config["method"] not in INVARIANT_METHODS:
        raise ValueError(
            f"teacher: {path} is a {config['method']!r} model, not exactly invariant; "
            f"expected one of {INVARIANT_METHODS}"
        )
    if not bool(as_group(config["group"]).contains(random_rotations(protocol.rotation, 16, torch.Generator())).all()):
        raise ValueError(
            f"teacher: {path} is invariant to group {config['group']} only, but the training protocol {protocol} "
            "draws rotations outside it"
        )
    if list(meta["classes"]) != list(data.classes):
        raise ValueError(
            f"teacher: {path} was trained on other classes than the training data "
            f"({len(meta['classes'])} vs {len(data.classes)}, or another order)"
        )
    log.info("teacher %s: logits of %d training clouds", path, len(data))
    with torch.no_grad():
        return predict(model, data.points, batch_size=batch_size)


def distillation_loss(logits: Tensor, labels: Tensor, teacher: Tensor, *, weight: float, temperature: float) -> Tensor:
    """``(1 - weight) * CE(logits, labels) + weight * T^2 * KL(softmax(teacher / T) || softmax(logits / T))``.

    The T^2 factor keeps the gradient of the soft term on the scale of the hard one (Hinton et
    al.). The KL term is averaged over the batch.

    Shape:
        logits (B, C), labels (B,) int64, teacher (B, C) -> scalar.
    """
    soft = kl_div(
        log_softmax(logits / temperature, -1),
        log_softmax(teacher / temperature, -1),
        reduction="batchmean",
        log_target=True,
    )
    return (1.0 - weight) * cross_entropy(logits, labels) + weight * temperature**2 * soft
