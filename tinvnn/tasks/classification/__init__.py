"""Point-cloud classification: data, protocols, compared methods, recipe, training, evaluation, demo.

* data: :func:`load_dataset` (ModelNet40 npz or the embedded synthetic shapes)
* protocols: :func:`parse_protocol` (I, z, O2z, SO3, O3, +scale, +translate)
* methods: :data:`BACKBONES` (name -> builder), :func:`build_backbone`, :func:`wrap_backbone`
  (none, aug, pca, fa, tinv, weighted, weighted_draw, learned)
* recipe (shared by training and inference): :class:`ClassifierConfig`,
  :class:`ClassifierTrainConfig`, :func:`build_classifier`, :func:`load_classifier`
* evaluation: :func:`audit`, :func:`angle_sweep`. The functions ``train.train`` and
  ``evaluate.evaluate`` are imported from their modules (a package-level name would shadow the
  module); importing this package loads no training code.
"""

from tinvnn.tasks.classification.datasets import PointCloudDataset, load_dataset, load_modelnet40, make_synthetic
from tinvnn.tasks.classification.evaluate import EvalResult, audit
from tinvnn.tasks.classification.methods import BACKBONES, METHODS, build_backbone, wrap_backbone
from tinvnn.tasks.classification.protocols import Protocol, parse_protocol
from tinvnn.tasks.classification.recipe import (
    ClassifierConfig,
    ClassifierTrainConfig,
    build_classifier,
    load_classifier,
)
from tinvnn.tasks.classification.sweep import angle_sweep, save_sweep

__all__ = [
    "BACKBONES",
    "METHODS",
    "ClassifierConfig",
    "ClassifierTrainConfig",
    "EvalResult",
    "PointCloudDataset",
    "Protocol",
    "angle_sweep",
    "audit",
    "build_backbone",
    "build_classifier",
    "load_classifier",
    "load_dataset",
    "load_modelnet40",
    "make_synthetic",
    "parse_protocol",
    "save_sweep",
    "wrap_backbone",
]
