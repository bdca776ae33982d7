"""Evaluation of trained n-body models: test MSE and measured equivariance errors.

Equivariance is measured in float64 on a copy of the model with
:func:`tinvnn.check_equivariance` (``output="point"``: ``f(Q x + t, Q v) = Q f(x, v) + t``)
under random orthogonal maps (O(3), or SO(3) with ``group="SO"``) and translations. Scale is
not part of the check: the task is not scale-equivariant and the wrapped models are built with
``scale=False``. Permutations (charges permuted with the particles) are checked separately,
without rotations, so that a model that is permutation- but not rotation-equivariant (the
plain GNN) shows both facts.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tinvnn.audit import check_equivariance
from tinvnn.tasks.nbody.dataset import NBodySplit
from tinvnn.tasks.nbody.train import TrainConfig, model_from_config
from tinvnn.training import BEST, load_checkpoint, load_weights, read_config

__all__ = ["EquivarianceErrors", "equivariance_errors", "load_trained"]


@dataclass(frozen=True)
class EquivarianceErrors:
    """Largest relative errors ``|f(T x) - T f(x)| / |T f(x)|`` (max over entries and trials).

    Attributes:
        orthogonal: random O(3) (or SO(3)) maps plus translations.
        permutation: random relabellings of the particles (charges permuted with them).
    """

    orthogonal: float
    permutation: float


def equivariance_errors(
    model: nn.Module, split: NBodySplit, *, group: str = "O", num: int = 100, trials: int = 4, seed: int = 0
) -> EquivarianceErrors:
    """Measure a position-predicting model's equivariance on the first ``num`` systems of ``split``.

    Args:
        model: called as ``model(loc, vel, charges=charges)``; a float64 copy is used.
        split: input systems.
        group: ``"O"`` or ``"SO"``: which orthogonal maps to draw.
        num: systems used.
        trials: random transforms (and permutations) tried.
        seed: seed of the draws.
    """
    model64 = copy.deepcopy(model).to(torch.float64).eval()
    part = split.subset(slice(0, num))
    loc, vel, charges = part.loc.double(), part.vel.double(), part.charges.double()

    def predict(pos: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        return model64(pos, vectors, charges=charges)

    report = check_equivariance(
        predict, loc, output="point", vectors=vel, group=group, scale=False, translate=True,
        permute=False, trials=trials, seed=seed,
    )
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    with torch.no_grad():
        reference = model64(loc, vel, charges=charges)
        for _ in range(trials):
            perm = torch.randperm(loc.shape[1], generator=gen)
            out = model64(loc[:, perm], vel[:, perm], charges=charges[:, perm])
            err = float((out - reference[:, perm]).abs().max()) / float(reference.abs().max())
            worst = max(worst, err)
    return EquivarianceErrors(report.max_rel, worst)


def load_trained(path: str | os.PathLike[str]) -> tuple[nn.Module, TrainConfig, dict[str, Any]]:
    """Rebuild a model trained by :func:`tinvnn.tasks.nbody.train.train_nbody`.

    Args:
        path: a checkpoint (``best.pt``, ``checkpoint.pt``) or a run directory (its ``best.pt``).

    Returns:
        The model in eval mode, its :class:`TrainConfig`, and the stored metadata (``history``
        and ``best``, the record of the best validation epoch).

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
        CheckpointMismatchError: not an n-body checkpoint, or weights that do not fit its configuration.
    """
    path = Path(path)
    if path.is_dir():
        path = path / BEST
    payload = load_checkpoint(path)
    config = read_config(payload, TrainConfig, path, what="tinvnn n-body")
    model = load_weights(model_from_config(config), payload, path, what="n-body model")
    return model.eval(), config, payload["meta"]
