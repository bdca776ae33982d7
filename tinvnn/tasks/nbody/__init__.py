"""The charged n-body benchmark (EGNN, Satorras et al. 2021): data, models, training, evaluation.

Layers: :mod:`~tinvnn.tasks.nbody.simulator` (the physics) -> :mod:`~tinvnn.tasks.nbody.dataset`
(cached splits) -> :mod:`~tinvnn.models.nbody` (GNN, EGNN) ->
:mod:`~tinvnn.tasks.nbody.train` (one harness for GNN, tinv-GNN, FA-GNN, EGNN) ->
:mod:`~tinvnn.tasks.nbody.evaluate` (MSE, equivariance errors, checkpoints).
"""

from tinvnn.models.nbody import EGNN, GNN
from tinvnn.tasks.nbody.dataset import NBodyConfig, NBodySplit, load_nbody
from tinvnn.tasks.nbody.evaluate import EquivarianceErrors, equivariance_errors, load_trained
from tinvnn.tasks.nbody.simulator import ChargedSystem, Trajectories, simulate_charged, total_energy
from tinvnn.tasks.nbody.train import MODELS, TrainConfig, TrainResult, build_model, evaluate_mse, train_nbody

__all__ = [
    "EGNN",
    "GNN",
    "MODELS",
    "ChargedSystem",
    "EquivarianceErrors",
    "NBodyConfig",
    "NBodySplit",
    "TrainConfig",
    "TrainResult",
    "Trajectories",
    "build_model",
    "equivariance_errors",
    "evaluate_mse",
    "load_nbody",
    "load_trained",
    "simulate_charged",
    "total_energy",
    "train_nbody",
]
