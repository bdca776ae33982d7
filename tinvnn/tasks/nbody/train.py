"""The n-body task on the run harness (:func:`tinvnn.training.fit`), EGNN benchmark protocol.

Adam with weight decay 1e-12, batch 100, MSE on the predicted positions; validation every
``eval_every`` epochs and the test MSE reported at the best validation epoch (the protocol of
the EGNN code's ``main_nbody.py``; ``best.pt`` holds that model). Learning rates: 1e-3 for the
GNN family, 5e-4 for EGNN.

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

``scale=False`` in both wrappers: Coulomb dynamics over a fixed time are not scale-equivariant
(doubling all distances and velocities does not double the displacement after one time unit),
so dividing out the scale would throw away information the target depends on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from tinvnn._checks import check_number, check_positive_int
from tinvnn.canonical import GROUPS
from tinvnn.models.nbody import EGNN, GNN
from tinvnn.nn import FrameAveraging, TinvWrapper, WeightedFrames
from tinvnn.tasks.nbody.dataset import NBodyConfig, NBodySplit
from tinvnn.training import BEST, Config, EpochContext, RunOptions, Task, fit, load_checkpoint, option

__all__ = ["DEFAULT_LR", "MODELS", "NBodyTask", "TrainConfig", "TrainResult", "build_model", "evaluate_mse", "model_from_config", "train_nbody"]

MODELS = ("gnn", "tinv_gnn", "fa_gnn", "egnn", "weighted_gnn")
DEFAULT_LR = {"gnn": 1e-3, "tinv_gnn": 1e-3, "fa_gnn": 1e-3, "egnn": 5e-4, "weighted_gnn": 1e-3}


@dataclass(frozen=True)
class TrainConfig(Config):
    """Everything that determines an n-body training run (stored in the checkpoint); each
    field's help is its ``tinvnn nbody train`` flag's. ``data`` is the dataset configuration
    (flags ``--data-*``)."""

    model: str = option("tinv_gnn", "which network", choices=MODELS)
    epochs: int = option(100, "passes over the training set")
    batch_size: int = option(100, "systems per step")
    lr: float | None = option(None, "learning rate (None: 1e-3, or 5e-4 for egnn)")
    weight_decay: float = option(1e-12, "Adam weight decay")
    hidden: int = option(64, "GNN / EGNN width")
    layers: int = option(4, "GNN / EGNN depth")
    group: str = option("O", "symmetry group of the wrapped models", choices=GROUPS)
    relative: bool = option(False, "GNN edge input with relative positions (GNN family)")
    residual: bool = option(False, "GNN predicts a displacement (GNN family)")
    sign_augment: bool = option(False, "tinv_gnn: random axis signs of the canonical frame in training")
    eval_every: int = option(5, "epochs between validations (the last epoch is always validated)")
    seed: int = option(0, "model initialisation and batch order")
    data: NBodyConfig = field(default_factory=NBodyConfig)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model: expected one of {MODELS}, got {self.model!r}")
        if self.group not in GROUPS:
            raise ValueError(f"group: expected one of {GROUPS}, got {self.group!r}")
        _check_options(self.model, relative=self.relative, residual=self.residual, sign_augment=self.sign_augment)
        for name in ("epochs", "batch_size", "hidden", "layers", "eval_every"):
            check_positive_int(getattr(self, name), name)
        if self.lr is not None:
            check_number(self.lr, "lr", positive=True)
        check_number(self.weight_decay, "weight_decay")

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LR[self.model] if self.lr is None else self.lr


@dataclass
class TrainResult:
    """What a run achieved.

    Attributes:
        best_epoch: epoch (1-based) with the lowest validation MSE.
        best_val_mse: that validation MSE.
        test_mse: test MSE of the model at ``best_epoch``.
        seconds_per_step: median wall time of one training step (forward, backward, Adam),
            the median of the epochs' medians.
        train_seconds: wall time of the epochs trained, validation included.
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
    if name == "weighted_gnn":
        backbone = GNN(hidden, layers, relative=relative, residual=residual)
        return WeightedFrames(backbone, group=group, scale=False, output="point")
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
    device = next(model.parameters()).device
    total = 0.0
    for start in range(0, len(split), batch_size):
        part = split.subset(slice(start, start + batch_size)).to(device)
        pred = model(part.loc, part.vel, charges=part.charges)
        total += float(((pred - part.target) ** 2).sum())
    return total / split.target.numel()


class NBodyTask(Task):
    """Predict positions after one time unit; select on the validation MSE, report the test MSE."""

    monitor = ("val_mse", "min")
    resumable_changes = ("epochs", "eval_every")

    def __init__(self, config: TrainConfig, data: dict[str, NBodySplit]) -> None:
        super().__init__(config)
        self.config: TrainConfig = config
        self.data = data

    def build_model(self) -> nn.Module:
        return model_from_config(self.config)

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=self.config.learning_rate, weight_decay=self.config.weight_decay)

    def batches(self, ctx: EpochContext) -> list[Tensor]:
        order = torch.randperm(len(self.data["train"]), generator=ctx.generator)
        order = order[: len(order) - len(order) % ctx.world][ctx.rank :: ctx.world]  # equal shares
        size = self.config.batch_size
        return [order[k : k + size] for k in range(0, len(order), size)]

    def training_step(self, model: nn.Module, batch: Tensor, ctx: EpochContext) -> tuple[Tensor, dict[str, float]]:
        part = self.data["train"].subset(batch).to(ctx.device)
        pred = model(part.loc, part.vel, charges=part.charges)
        return nn.functional.mse_loss(pred, part.target), {}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        return {"val_mse": evaluate_mse(model, self.data["val"]), "test_mse": evaluate_mse(model, self.data["test"])}


def train_nbody(
    config: TrainConfig, data: dict[str, NBodySplit], options: RunOptions | None = None
) -> tuple[nn.Module, TrainResult]:
    """Train ``config.model`` on ``data["train"]``, select on ``data["val"]``, report ``data["test"]``.

    Args:
        config: the run.
        data: splits from :func:`tinvnn.tasks.nbody.dataset.load_nbody`.
        options: the run directory and execution (:class:`~tinvnn.training.RunOptions`);
            ``<out>/best.pt`` holds the model of the best validation epoch.

    Returns:
        The model with the best validation weights loaded (eval mode), and the :class:`TrainResult`.

    Raises:
        TrainingDiverged: a non-finite training loss.
        ValueError: no validation gave a finite MSE.
    """
    run = fit(NBodyTask(config, data), options)
    best = run.best
    if not best:
        if not any("val_mse" in r for r in run.history):
            raise ValueError(f"the run in {run.out} stopped before its first validation (every {config.eval_every} epochs): no best model yet; resume it")
        raise ValueError(f"training diverged: expected a finite validation MSE, got {run.final.get('val_mse')} at every validation")
    model = run.model
    model.load_state_dict(load_checkpoint(Path(run.out) / BEST, map_location=next(model.parameters()).device)["state"]["model"])
    model.eval()
    history = [(r["epoch"], r["loss"], r["val_mse"]) for r in run.history if "val_mse" in r]
    result = TrainResult(
        best_epoch=best["epoch"], best_val_mse=best["val_mse"], test_mse=best["test_mse"],
        seconds_per_step=_median([r["step_seconds"] for r in run.history]),
        train_seconds=sum(r["seconds"] for r in run.history), history=history,
    )  # fmt: skip
    return model, result


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else math.nan
