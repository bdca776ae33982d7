"""Accuracy of a classifier under a test protocol, and invariance audits.

Loading a trained classifier is :func:`tinvnn.tasks.classification.recipe.load_classifier`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from tinvnn import check_invariance
from tinvnn.tasks.classification.datasets import PointCloudDataset
from tinvnn.tasks.classification.protocols import Protocol

__all__ = ["EvalResult", "audit", "evaluate", "predict"]


@dataclass(frozen=True)
class EvalResult:
    """Overall and per-class accuracy (fractions in [0, 1]) and the predicted labels."""

    protocol: str
    accuracy: float
    per_class_accuracy: dict[str, float]
    predictions: Tensor

    def summary(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "accuracy": self.accuracy, "per_class_accuracy": self.per_class_accuracy}


@torch.no_grad()
def predict(model: nn.Module, points: Tensor, *, batch_size: int = 64) -> Tensor:
    """Logits of ``model`` (put in eval mode) on all clouds, in batches.

    Shape:
        points (S, N, 3) -> logits (S, C).
    """
    model.eval()
    device = next(model.parameters()).device
    out = torch.cat(
        [model(points[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(points), batch_size)]
    )
    if not bool(torch.isfinite(out).all()):
        raise ValueError("the model returned NaN or Inf logits (diverged or damaged weights): no accuracy to report")
    return out


def evaluate(
    model: nn.Module, data: PointCloudDataset, protocol: Protocol, *, batch_size: int = 64, seed: int = 0
) -> EvalResult:
    """Accuracy on ``data`` with every cloud transformed by ``protocol``.

    The random transformations come from ``seed`` only, so every model sees the same test clouds.
    """
    g = torch.Generator().manual_seed(seed)
    points = torch.cat([protocol.apply(data.points[i : i + 1024], g) for i in range(0, len(data), 1024)])
    pred = predict(model, points, batch_size=batch_size).argmax(dim=1)
    correct = pred == data.labels
    per_class = {
        name: float(correct[data.labels == c].double().mean())
        for c, name in enumerate(data.classes)
        if (data.labels == c).any()
    }
    return EvalResult(str(protocol), float(correct.double().mean()), per_class, pred)


def audit(model: nn.Module, points: Tensor, *, group: str = "O", trials: int = 4, seed: int = 0) -> dict[str, float]:
    """Worst invariance error of the logits under random group elements, scale, translation, permutation.

    Runs :func:`tinvnn.check_invariance` in float64 on a copy of the model (eval mode), on the
    model's device.

    Shape:
        points (B, N, 3) -> {"max_abs", "max_rel", "trials"}.
    """
    model64 = copy.deepcopy(model).double().eval()
    device = next(model64.parameters()).device
    report = check_invariance(model64, points.to(device, torch.float64), group=group, trials=trials, seed=seed)
    return {"max_abs": float(report.max_abs), "max_rel": float(report.max_rel), "trials": int(report.trials)}
