"""Training on the n-body task: one harness for every model (EGNN benchmark protocol).

Adam with weight decay 1e-12, batch 100, MSE on the predicted positions; validation every
``eval_every`` epochs and the test MSE recorded at the best validation epoch (the protocol of
the EGNN code's ``main_nbody.py``). Learning rates: 1e-3 for the GNN family, 5e-4 for EGNN.

Models (:data:`MODELS`), all called as ``model(loc, vel, charges=charges)``:

* ``"gnn"``: :class:`~tinvnn.tasks.nbody.models.GNN` on raw coordinates (no symmetry).
* ``"tinv_gnn"``: the same GNN inside ``TinvWrapper(output="point", scale=False)``: it sees
  canonical positions and velocities and its output positions are mapped back with the frame.
* ``"fa_gnn"``: the same GNN inside ``FrameAveraging(output="point", scale=False)`` (8 frames).
* ``"egnn"``: :class:`~tinvnn.tasks.nbody.models.EGNN`.

Options of the GNN family (off by default, which is the EGNN code's baseline): ``relative``
and ``residual`` (see :class:`~tinvnn.tasks.nbody.models.GNN`), and for ``"tinv_gnn"``
``sign_augment`` (random axis signs of the canonical frame in training, see
:class:`~tinvnn.nn.TinvWrapper`).

``scale=False`` in both wrappers: Coulomb dynamics over a fixed time are not scale-equivariant
(doubling all distances and velocities does not double the displacement after one time unit),
so dividing out the scale would throw away information the target depends on.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from tinvnn.nn import FrameAveraging, TinvWrapper
from tinvnn.tasks.nbody.dataset import NBodyConfig, NBodySplit
from tinvnn.tasks.nbody.models import EGNN, GNN
from tinvnn.tasks.nbody.simulator import ChargedSystem
from tinvnn.training import save_checkpoint, seed_everything

__all__ = ["DEFAULT_LR", "MODELS", "TrainConfig", "TrainResult", "build_model", "evaluate_mse", "model_from_config", "train_nbody"]

log = logging.getLogger(__name__)

MODELS = ("gnn", "tinv_gnn", "fa_gnn", "egnn")
DEFAULT_LR = {"gnn": 1e-3, "tinv_gnn": 1e-3, "fa_gnn": 1e-3, "egnn": 5e-4}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (stored in the checkpoint).

    Attributes:
        model: one of :data:`MODELS`.
        epochs: passes over the training set.
        batch_size: systems per step.
        lr: learning rate; ``None`` takes :data:`DEFAULT_LR` of the model.
        weight_decay: Adam weight decay.
        hidden, layers: GNN / EGNN width and depth.
        group: ``"O"`` or ``"SO"`` for the wrapped models.
        relative: GNN edge input with relative positions (GNN family only).
        residual: GNN predicts a displacement (GNN family only).
        sign_augment: random axis signs of the canonical frame in training (``tinv_gnn`` only).
        eval_every: epochs between validations (and the last epoch is always validated).
        seed: model initialisation and batch order.
        data: the dataset configuration.
    """

    model: str = "tinv_gnn"
    epochs: int = 100
    batch_size: int = 100
    lr: float | None = None
    weight_decay: float = 1e-12
    hidden: int = 64
    layers: int = 4
    group: str = "O"
    relative: bool = False
    residual: bool = False
    sign_augment: bool = False
    eval_every: int = 5
    seed: int = 0
    data: NBodyConfig = field(default_factory=NBodyConfig)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model: expected one of {MODELS}, got {self.model!r}")
        if self.group not in ("O", "SO"):
            raise ValueError(f"group: expected 'O' or 'SO', got {self.group!r}")
        _check_options(self.model, relative=self.relative, residual=self.residual, sign_augment=self.sign_augment)
        for name in ("epochs", "batch_size", "hidden", "layers", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)}")

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LR[self.model] if self.lr is None else self.lr

    def to_dict(self) -> dict[str, Any]:
        """Plain data for checkpoints (nested dataclasses become dicts)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`."""
        values = dict(values)
        data = dict(values.pop("data"))
        data["system"] = ChargedSystem(**data["system"])
        return cls(**values, data=NBodyConfig(**data))


@dataclass
class TrainResult:
    """What a run achieved.

    Attributes:
        best_epoch: epoch (1-based) with the lowest validation MSE.
        best_val_mse: that validation MSE.
        test_mse: test MSE of the model at ``best_epoch``.
        seconds_per_step: median wall time of one training step (forward, backward, Adam).
        train_seconds: wall time of the whole run, validation included.
        history: ``(epoch, train_mse, val_mse)`` at each validation.
    """

    best_epoch: int
    best_val_mse: float
    test_mse: float
    seconds_per_step: float
    train_seconds: float
    history: list[tuple[int, float, float]]


def build_model(
    name: str,
    *,
    hidden: int = 64,
    layers: int = 4,
    group: str = "O",
    relative: bool = False,
    residual: bool = False,
    sign_augment: bool = False,
) -> nn.Module:
    """The named model, freshly initialised (see the module docstring and :class:`TrainConfig`)."""
    _check_options(name, relative=relative, residual=residual, sign_augment=sign_augment)
    if name == "gnn":
        return GNN(hidden, layers, relative=relative, residual=residual)
    if name == "tinv_gnn":
        backbone = GNN(hidden, layers, relative=relative, residual=residual)
        return TinvWrapper(backbone, group=group, scale=False, output="point", sign_augment=sign_augment)
    if name == "fa_gnn":
        backbone = GNN(hidden, layers, relative=relative, residual=residual)
        return FrameAveraging(backbone, group=group, scale=False, output="point")
    if name == "egnn":
        return EGNN(hidden, layers)
    raise ValueError(f"model: expected one of {MODELS}, got {name!r}")


def _check_options(name: str, *, relative: bool, residual: bool, sign_augment: bool) -> None:
    if name == "egnn" and (relative or residual):
        raise ValueError("relative, residual: options of the GNN family, not of 'egnn'")
    if sign_augment and name != "tinv_gnn":
        raise ValueError(f"sign_augment: an option of 'tinv_gnn' only, got model {name!r}")


def model_from_config(config: TrainConfig) -> nn.Module:
    """The model ``config`` describes, freshly initialised."""
    return build_model(
        config.model, hidden=config.hidden, layers=config.layers, group=config.group,
        relative=config.relative, residual=config.residual, sign_augment=config.sign_augment,
    )


@torch.no_grad()
def evaluate_mse(model: nn.Module, split: NBodySplit, *, batch_size: int = 500) -> float:
    """Mean squared error of the predicted positions over a split (model put in eval mode)."""
    model.eval()
    total = 0.0
    for start in range(0, len(split), batch_size):
        part = split.subset(slice(start, start + batch_size))
        pred = model(part.loc, part.vel, charges=part.charges)
        total += float(((pred - part.target) ** 2).sum())
    return total / split.target.numel()


def train_nbody(
    config: TrainConfig,
    data: dict[str, NBodySplit],
    *,
    checkpoint: str | os.PathLike[str] | None = None,
) -> tuple[nn.Module, TrainResult]:
    """Train ``config.model`` on ``data["train"]``, select on ``data["val"]``, report ``data["test"]``.

    Args:
        config: the run.
        data: splits from :func:`tinvnn.tasks.nbody.dataset.load_nbody`.
        checkpoint: where to save the best model (with ``config`` and the result so far).

    Returns:
        The model with the best validation weights loaded, and the :class:`TrainResult`.
    """
    generator = seed_everything(config.seed)
    model = model_from_config(config)
    opt = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    train = data["train"]
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    best = {"epoch": 0, "val": math.inf, "test": math.inf, "state": None}
    history: list[tuple[int, float, float]] = []
    step_times: list[float] = []
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=generator)
        epoch_loss = 0.0
        for k in range(steps_per_epoch):
            batch = train.subset(order[k * config.batch_size : (k + 1) * config.batch_size])
            tick = time.perf_counter()
            pred = model(batch.loc, batch.vel, charges=batch.charges)
            loss = nn.functional.mse_loss(pred, batch.target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step_times.append(time.perf_counter() - tick)
            epoch_loss += loss.item() * len(batch)
        if epoch % config.eval_every and epoch != config.epochs:
            continue
        val = evaluate_mse(model, data["val"])
        history.append((epoch, epoch_loss / len(train), val))
        if val < best["val"]:
            best.update(epoch=epoch, val=val, test=evaluate_mse(model, data["test"]))
            best["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        log.info(
            "%s epoch %d: train %.5f val %.5f (best %.5f at %d, test %.5f)",
            config.model, epoch, epoch_loss / len(train), val, best["val"], best["epoch"], best["test"],
        )
        if checkpoint is not None and best["epoch"] == epoch:  # the best model so far survives a crash
            save_checkpoint(checkpoint, {"model": best["state"], "epoch": epoch}, config.to_dict())
    if best["state"] is None:
        raise ValueError(f"training diverged: expected a finite validation MSE, got {history[-1][2]} at every validation")
    model.load_state_dict(best["state"])
    model.eval()
    result = TrainResult(best["epoch"], best["val"], best["test"], _median(step_times), time.perf_counter() - start, history)
    if checkpoint is not None:  # final: with the full history and timing as metadata
        save_checkpoint(checkpoint, {"model": best["state"], "epoch": best["epoch"]}, config.to_dict(), asdict(result))
    return model, result


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else math.nan
