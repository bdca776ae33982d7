"""The charged n-body benchmark (EGNN, Satorras et al. 2021): data, models, training, evaluation.

Layers: :mod:`~tinvnn.tasks.nbody.simulator` (the physics) -> :mod:`~tinvnn.tasks.nbody.dataset`
(cached splits) -> :mod:`~tinvnn.models.nbody` (GNN, EGNN) -> :mod:`~tinvnn.tasks.nbody.recipe`
(configuration, build and load, shared by training and inference) ->
:mod:`~tinvnn.tasks.nbody.train` (one harness for GNN, tinv-GNN, FA-GNN, EGNN) and
:mod:`~tinvnn.tasks.nbody.evaluate` (MSE, equivariance errors). Importing this package loads
no training code; :func:`~tinvnn.tasks.nbody.train.train_nbody` is imported from its module.
"""

from tinvnn.models.nbody import EGNN, GNN
from tinvnn.tasks.nbody.dataset import NBodyConfig, NBodySplit, load_nbody
from tinvnn.tasks.nbody.evaluate import EquivarianceErrors, equivariance_errors, evaluate_mse
from tinvnn.tasks.nbody.recipe import MODELS, NBodyModelConfig, NBodyTrainConfig, build_nbody_model, load_nbody_model
from tinvnn.tasks.nbody.simulator import ChargedSystem, Trajectories, simulate_charged, total_energy

__all__ = [
    "EGNN",
    "GNN",
    "MODELS",
    "ChargedSystem",
    "EquivarianceErrors",
    "NBodyConfig",
    "NBodyModelConfig",
    "NBodySplit",
    "NBodyTrainConfig",
    "Trajectories",
    "build_nbody_model",
    "equivariance_errors",
    "evaluate_mse",
    "load_nbody",
    "load_nbody_model",
    "simulate_charged",
    "total_energy",
]
