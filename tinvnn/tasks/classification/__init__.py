"""Point-cloud classification: data, protocols, compared methods, training, evaluation, demo.

* data: :func:`load_dataset` (ModelNet40 npz or the embedded synthetic shapes)
* protocols: :func:`parse_protocol` (I, z, SO3, O3, +scale, +translate)
* methods: :func:`build_backbone`, :func:`build_model` (none, aug, pca, fa, tinv)
* algorithm: :class:`TrainConfig`; :func:`audit`, :func:`angle_sweep`. The functions
  ``train.train`` and ``evaluate.evaluate`` are imported from their modules (a package-level
  name would shadow the module).
"""

from tinvnn.tasks.classification.datasets import PointCloudDataset, load_dataset, load_modelnet40, make_synthetic
from tinvnn.tasks.classification.evaluate import EvalResult, audit, load_model
from tinvnn.tasks.classification.methods import BACKBONES, GROUPS, METHODS, build_backbone, build_model
from tinvnn.tasks.classification.protocols import Protocol, parse_protocol
from tinvnn.tasks.classification.sweep import angle_sweep, save_sweep
from tinvnn.tasks.classification.train import TrainConfig

__all__ = [
    "BACKBONES",
    "GROUPS",
    "METHODS",
    "EvalResult",
    "PointCloudDataset",
    "Protocol",
    "TrainConfig",
    "angle_sweep",
    "audit",
    "build_backbone",
    "build_model",
    "load_dataset",
    "load_model",
    "load_modelnet40",
    "make_synthetic",
    "parse_protocol",
    "save_sweep",
]
