"""Evaluation of trained n-body models: test MSE and measured equivariance errors.

Loading a trained model is :func:`tinvnn.tasks.nbody.recipe.load_nbody_model`.

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
from dataclasses import dataclass

import torch
from torch import nn

from tinvnn.audit import check_equivariance
from tinvnn.tasks.nbody.dataset import NBodySplit

__all__ = ["EquivarianceErrors", "equivariance_errors", "evaluate_mse"]


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
        out: torch.Tensor = model64(pos, vectors, charges=charges)
        return out

    report = check_equivariance(
        predict,
        loc,
        output="point",
        vectors=vel,
        group=group,
        scale=False,
        translate=True,
        permute=False,
        trials=trials,
        seed=seed,
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


@torch.no_grad()
def evaluate_mse(model: nn.Module, split: NBodySplit, *, batch_size: int = 500) -> float:
    """Mean squared error of the predicted positions over a split (model put in eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    for start in range(0, len(split), batch_size):
        part = split.subset(slice(start, start + batch_size)).to(device)
        pred = model(part.loc, part.vel, charges=part.charges)
        total += float(((pred - part.target) ** 2).sum())
    return total / split.target.numel()
