"""The n-body models' recipe: their configuration, how to build them and how to load them.

Shared by training (:mod:`~tinvnn.tasks.nbody.train`) and inference
(:mod:`~tinvnn.tasks.nbody.evaluate`, ``tinvnn nbody eval``); it imports neither.

Models (:data:`MODELS`), all called as ``model(loc, vel, charges=charges)``:

* ``"gnn"``: :class:`~tinvnn.models.nbody.GNN` on raw coordinates (no symmetry).
* ``"tinv_gnn"``: the same GNN inside ``TinvWrapper(output="point", scale=False)``: it sees
  canonical positions and velocities and its output positions are mapped back with the frame.
* ``"fa_gnn"``: the same GNN inside ``FrameAveraging(output="point", scale=False)`` (8 frames).
* ``"egnn"``: :class:`~tinvnn.models.nbody.EGNN`.
* ``"weighted_gnn"``: the same GNN inside ``WeightedFrames(output="point", scale=False)``: the
  weighted canonical frames (1 to 4 per system), averaged.

Options of the GNN family (off by default, which is the EGNN code's baseline): ``relative``
and ``residual`` (see :class:`~tinvnn.models.nbody.GNN`), and for ``"tinv_gnn"``
``sign_augment`` (random axis signs of the canonical frame in training, see
:class:`~tinvnn.nn.TinvWrapper`).

``scale=False`` in the wrappers: Coulomb dynamics over a fixed time are not scale-equivariant
(doubling all distances and velocities does not double the displacement after one time unit),
so dividing out the scale would throw away information the target depends on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tinvnn._checks import check_number, check_positive_int
from tinvnn.checkpoint import BEST, load_checkpoint, load_weights, read_config
from tinvnn.config import Config, option
from tinvnn.group import GROUP_NAMES
from tinvnn.models.nbody import EGNN, GNN
from tinvnn.nn import FrameAveraging, TinvWrapper, WeightedFrames
from tinvnn.tasks.nbody.dataset import NBodyConfig

__all__ = ["DEFAULT_LR", "MODELS", "NBodyModelConfig", "NBodyTrainConfig", "build_nbody_model", "load_nbody_model"]

MODELS = ("gnn", "tinv_gnn", "fa_gnn", "egnn", "weighted_gnn")
DEFAULT_LR = {"gnn": 1e-3, "tinv_gnn": 1e-3, "fa_gnn": 1e-3, "egnn": 5e-4, "weighted_gnn": 1e-3}


@dataclass(frozen=True)
class NBodyModelConfig(Config):
    """Which n-body network, its size and its options (see the module docstring)."""

    model: str = option("tinv_gnn", "which network", choices=MODELS)
    hidden: int = option(64, "GNN / EGNN width")
    layers: int = option(4, "GNN / EGNN depth")
    group: str = option("O", "symmetry group of the wrapped models", choices=GROUP_NAMES)
    relative: bool = option(False, "GNN edge input with relative positions (GNN family)")
    residual: bool = option(False, "GNN predicts a displacement (GNN family)")
    sign_augment: bool = option(False, "tinv_gnn: random axis signs of the canonical frame in training")

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model: expected one of {MODELS}, got {self.model!r}")
        if self.group not in GROUP_NAMES:
            raise ValueError(f"group: expected one of {GROUP_NAMES}, got {self.group!r}")
        if self.model == "egnn" and (self.relative or self.residual):
            raise ValueError("relative, residual: options of the GNN family, not of 'egnn'")
        if self.sign_augment and self.model != "tinv_gnn":
            raise ValueError(f"sign_augment: an option of 'tinv_gnn' only, got model {self.model!r}")
        for name in ("hidden", "layers"):
            check_positive_int(getattr(self, name), name)


@dataclass(frozen=True)
class NBodyTrainConfig(NBodyModelConfig):
    """Everything that determines an n-body training run (stored in the checkpoint); each
    field's help is its ``tinvnn nbody train`` flag's. ``data`` is the dataset configuration
    (flags ``--data-*``)."""

    epochs: int = option(100, "passes over the training set")
    batch_size: int = option(100, "systems per step")
    lr: float | None = option(None, "learning rate (None: 1e-3, or 5e-4 for egnn)")
    weight_decay: float = option(1e-12, "Adam weight decay")
    eval_every: int = option(5, "epochs between validations (the last epoch is always validated)")
    seed: int = option(0, "model initialisation and batch order")
    data: NBodyConfig = field(default_factory=NBodyConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("epochs", "batch_size", "eval_every"):
            check_positive_int(getattr(self, name), name)
        if self.lr is not None:
            check_number(self.lr, "lr", positive=True)
        check_number(self.weight_decay, "weight_decay")

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LR[self.model] if self.lr is None else self.lr


def build_nbody_model(config: NBodyModelConfig) -> nn.Module:
    """The model ``config`` describes, freshly initialised."""
    c = config
    if c.model == "egnn":
        return EGNN(c.hidden, c.layers)
    gnn = GNN(c.hidden, c.layers, relative=c.relative, residual=c.residual)
    if c.model == "tinv_gnn":
        return TinvWrapper(gnn, group=c.group, scale=False, output="point", sign_augment=c.sign_augment)
    if c.model == "fa_gnn":
        return FrameAveraging(gnn, group=c.group, scale=False, output="point")
    if c.model == "weighted_gnn":
        return WeightedFrames(gnn, group=c.group, scale=False, output="point")
    return gnn


def load_nbody_model(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[nn.Module, NBodyTrainConfig, dict[str, Any]]:
    """Rebuild a model trained by :func:`tinvnn.tasks.nbody.train.train_nbody`.

    Args:
        path: a checkpoint (``best.pt``, ``checkpoint.pt``) or a run directory (its ``best.pt``).
        device: where the model goes (a ``torch.device`` or its name).

    Returns:
        The model in eval mode on ``device``, its :class:`NBodyTrainConfig`, and the stored
        metadata (``history`` and ``best``, the record of the best validation epoch).

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
        CheckpointMismatchError: not an n-body checkpoint, or weights that do not fit its configuration.
    """
    path = Path(path)
    if path.is_dir():
        path = path / BEST
    payload = load_checkpoint(path)
    config = read_config(payload, NBodyTrainConfig, path, what="tinvnn n-body")
    model = load_weights(build_nbody_model(config), payload, path, what="n-body model")
    return model.to(device).eval(), config, payload["meta"]
