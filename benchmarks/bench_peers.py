"""The peers side by side: the libraries users pick instead of tinvnn, and tinvnn's own methods.

Every row trains the library's PointNet (``build_backbone("pointnet")``) on the same data,
points, width, epochs, batch, optimiser (AdamW, cosine) and seed, under the same run harness
(:func:`tinvnn.training.fit`: checkpoints, resume), and is tested on the same clouds:

* ``none``: the backbone on raw coordinates (trained under z);
* ``aug``: rotation augmentation, the same backbone trained under SO3 (every training cloud
  rotated by a Haar-uniform rotation);
* ``pyg_pca``: PyTorch Geometric's ``torch_geometric.transforms.NormalizeRotation()`` (its
  defaults) applied to each cloud before the backbone: PCA axes without sign or handedness
  rules, no centring of the output, no scale;
* ``fa_pytorch``: ``frame_averaging_pytorch.FrameAverage(backbone, dim=3, invariant_output=True)``:
  the backbone averaged over the 2^3 sign-flipped PCA frames of the centred cloud (no scale);
* ``equiadapt``: learned canonicalization (Kaba, Mondal et al.): equiadapt's point-cloud
  ``EquivariantPointcloudCanonicalization`` around its vector-neuron ``VNSmall`` network, the
  backbone on the canonicalized cloud, and its prior loss (``get_prior_regularization_loss``,
  weight 100 as in equiadapt's point-cloud example) added to the cross-entropy. Hyperparameters
  ``n_knn`` (``--equiadapt-knn``, default 10; the example uses 20) and ``pooling="mean"``.
  ``import equiadapt`` fails on CPU torch (its ``__init__`` imports the image modules, which
  need ``torchvision::nms``): :func:`load_equiadapt_pointcloud` loads ``equiadapt.pointcloud``
  under a stub parent package instead, without running ``equiadapt/__init__.py``;
* tinvnn: ``tinv`` (:class:`tinvnn.nn.TinvWrapper`), ``weighted``
  (:class:`tinvnn.nn.WeightedFrames`), ``fa`` (:class:`tinvnn.nn.FrameAveraging`) and
  ``learned`` (:class:`tinvnn.nn.LearnedPose`), all with group O(3) and scale.

Non-invariant rows (none, pyg_pca, equiadapt) are trained under z and under SO3; the exactly
invariant ones (fa_pytorch under O(3), the tinvnn methods) are trained under z only and their
SO3 columns reuse that model (marked ``*``). Each model is tested under z, SO3 and
O3+scale+translate (``tinvnn.tasks.classification.protocols``), its invariance error measured with
:func:`tinvnn.check_invariance` in float32 (relative logit change, first 16 test clouds, 4
trials) under SO(3), O(3), SO(3)+scale and O(3)+scale+translation, its backbone calls per cloud
counted on the test set, and its milliseconds per eval batch (one thread, median of repeats;
after each new run, every model of the call is timed again, round-robin on the same batch).

Peers come from the optional extra ``pip install 'tinvnn[peers]'`` (docs/install.md); a peer
that is not installed is skipped with a message.

Usage (``--checkpoint fa=...`` evaluates a finished checkpoint of the same settings instead of training):
    TINVNN_DATA=../shared/data python benchmarks/bench_peers.py --epochs 3 --out runs/peers3
    python benchmarks/bench_peers.py --report runs/peers3/results.json
Results go to ``<out>/results.json``, updated after every run; a killed benchmark resumes (a
finished run is not retrained, an unfinished one continues from its last epoch). Processes with
different ``--only`` may share one ``--out`` to use more cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import logging
import os
import statistics
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from tinvnn import check_invariance
from tinvnn.checkpoint import load_checkpoint, load_weights, read_config, run_checkpoint_file
from tinvnn.config import option
from tinvnn.tasks.classification.datasets import PointCloudDataset, load_dataset
from tinvnn.tasks.classification.evaluate import evaluate
from tinvnn.tasks.classification.methods import build_backbone, wrap_backbone
from tinvnn.tasks.classification.protocols import parse_protocol
from tinvnn.tasks.classification.recipe import ClassifierTrainConfig
from tinvnn.tasks.classification.train import ClassificationTask
from tinvnn.training import LAST, EpochContext, RunOptions, fit

log = logging.getLogger("bench_peers")

PEERS = ("pyg_pca", "fa_pytorch", "equiadapt")
"""Peers that wrap the backbone (``aug`` and ``none`` are the plain backbone)."""
TESTS = ("z", "SO3", "O3+scale+translate")
INVARIANCE = {  # name -> check_invariance options
    "SO3": {"group": "SO", "scale": False, "translate": False},
    "O3": {"group": "O", "scale": False, "translate": False},
    "SO3+scale": {"group": "SO", "scale": True, "translate": False},
    "O3+scale+shift": {"group": "O", "scale": True, "translate": True},
}
PRIOR_WEIGHT = 100.0  # equiadapt's point-cloud example (experiment.training.loss.prior_weight)
EQUIADAPT_NOTE = (
    "equiadapt.pointcloud loaded under a stub parent package: equiadapt/__init__.py imports the image "
    "modules, which fail on CPU torch (operator torchvision::nms does not exist)"
)


@dataclass(frozen=True)
class Run:
    """One training run: table row ``method``, trained under ``train`` ("z" or "SO3")."""

    method: str
    train: str

    @property
    def name(self) -> str:
        return f"{self.method}_{self.train}"

    @property
    def peer(self) -> str:
        return self.method if self.method in PEERS else ""

    @property
    def tinvnn_method(self) -> str:
        """The tinvnn method of the config: the plain backbone for peers and aug."""
        return "none" if self.method in (*PEERS, "aug") else self.method


#: The table's rows, in order.
ROWS = ("none", "aug", "pyg_pca", "equiadapt", "fa_pytorch", "tinv", "weighted", "learned", "fa")
NON_INVARIANT = ("none", "pyg_pca", "equiadapt")


def all_runs() -> list[Run]:
    """Every run, the peers first, each group cheapest first.

    equiadapt's canonicalizer costs more than eight PointNet calls, so it comes after fa_pytorch.
    """
    peers = [("none", "z"), ("aug", "SO3"), ("pyg_pca", "z"), ("pyg_pca", "SO3"), ("fa_pytorch", "z")]
    peers += [("equiadapt", "z"), ("equiadapt", "SO3")]
    ours = [(m, "z") for m in ("tinv", "learned", "weighted", "fa")]
    return [Run(method, train) for method, train in peers + ours]


def select_runs(names: list[str] | None) -> list[Run]:
    """The runs ``names`` lists, in that order (None: :func:`all_runs`).

    Raises:
        ValueError: a name that is not a run.
    """
    runs = {run.name: run for run in all_runs()}
    if names is None:
        return list(runs.values())
    unknown = [n for n in names if n not in runs]
    if unknown:
        raise ValueError(f"unknown runs {unknown}; expected names from {list(runs)}")
    return [runs[n] for n in names]


@dataclass(frozen=True)
class PeerTrainConfig(ClassifierTrainConfig):
    """A classification run whose backbone a peer library wraps (``peer`` empty: tinvnn's ``method``)."""

    peer: str = option("", "peer library around the backbone (empty: tinvnn's method)", choices=("", *PEERS))
    equiadapt_knn: int = option(10, "equiadapt: neighbours of its VNSmall canonicalization network")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.peer not in ("", *PEERS):
            raise ValueError(f"unknown peer {self.peer!r}; expected one of {PEERS}")
        if self.peer and self.method != "none":
            raise ValueError(
                f"peer {self.peer!r} wraps the plain backbone: expected method 'none', got {self.method!r}"
            )


def load_equiadapt_pointcloud() -> types.ModuleType:
    """``equiadapt.pointcloud`` without running ``equiadapt/__init__.py``.

    That ``__init__`` imports equiadapt's image modules, whose torchvision ops do not exist on
    CPU torch; the point-cloud modules need only torch and omegaconf. A stub ``equiadapt``
    package with the real package's path lets the submodules import one another as usual.

    Raises:
        ModuleNotFoundError: equiadapt is not installed.
    """
    if "equiadapt" not in sys.modules:
        spec = importlib.util.find_spec("equiadapt")
        if spec is None or spec.submodule_search_locations is None:
            raise ModuleNotFoundError("equiadapt is not installed: pip install 'tinvnn[peers]' (docs/install.md)")
        stub = types.ModuleType("equiadapt")
        stub.__path__ = list(spec.submodule_search_locations)
        stub.__spec__ = spec
        sys.modules["equiadapt"] = stub
    return importlib.import_module("equiadapt.pointcloud")


def peer_installed(peer: str) -> bool:
    """Whether the library of ``peer`` (one of :data:`PEERS`) can be imported."""
    modules = {"pyg_pca": ["torch_geometric"], "fa_pytorch": ["frame_averaging_pytorch"]}
    modules["equiadapt"] = ["equiadapt", "omegaconf"]
    return all(importlib.util.find_spec(module) is not None for module in modules[peer])


class PygNormalizeRotation(nn.Module):
    """The backbone on each cloud as ``torch_geometric.transforms.NormalizeRotation()`` leaves it.

    Shape:
        points (B, N, 3) -> the backbone's output on (B, N, 3).
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        from torch_geometric.data import Data
        from torch_geometric.transforms import NormalizeRotation

        self.backbone, self.transform, self.data = backbone, NormalizeRotation(), Data

    def forward(self, points: Tensor) -> Tensor:
        aligned = torch.stack([self.transform(self.data(pos=cloud)).pos for cloud in points])
        return self.backbone(aligned)


class EquiadaptCanonicalized(nn.Module):
    """equiadapt's learned point-cloud canonicalization, then the backbone; :meth:`prior_loss` for training.

    Shape:
        points (B, N, 3) -> the backbone's output on the canonicalized (B, N, 3).
    """

    def __init__(self, backbone: nn.Module, *, knn: int, prior_weight: float = PRIOR_WEIGHT) -> None:
        super().__init__()
        from omegaconf import OmegaConf

        pointcloud = load_equiadapt_pointcloud()
        hyperparams = OmegaConf.create({"n_knn": knn, "pooling": "mean"})
        network = pointcloud.VNSmall(hyperparams)
        self.canonicalizer = pointcloud.EquivariantPointcloudCanonicalization(network, hyperparams)
        self.backbone, self.prior_weight = backbone, prior_weight

    def forward(self, points: Tensor) -> Tensor:
        canonical = self.canonicalizer(points.transpose(1, 2)).transpose(1, 2)  # equiadapt's layout is (B, 3, N)
        return self.backbone(canonical)

    def prior_loss(self) -> Tensor:
        """equiadapt's prior (the last batch's rotations near the identity), times its weight."""
        loss: Tensor = self.canonicalizer.get_prior_regularization_loss()
        return self.prior_weight * loss


def build_model(config: PeerTrainConfig, num_classes: int) -> nn.Module:
    """The run's classifier, freshly initialised: points (B, N, 3) -> logits (B, num_classes)."""
    backbone = build_backbone(config.backbone, num_classes, width=config.width, k=config.k)
    if config.peer == "pyg_pca":
        return PygNormalizeRotation(backbone)
    if config.peer == "fa_pytorch":
        from frame_averaging_pytorch import FrameAverage

        model: nn.Module = FrameAverage(backbone, dim=3, invariant_output=True)
        return model
    if config.peer == "equiadapt":
        return EquiadaptCanonicalized(backbone, knn=config.equiadapt_knn)
    return wrap_backbone(config.method, backbone, group=config.group)


def backbone_of(model: nn.Module) -> nn.Module:
    """The PointNet inside any of the benchmark's models."""
    for name in ("backbone", "net"):  # tinvnn's wrappers and equiadapt's; frame-averaging-pytorch's
        inner = getattr(model, name, None)
        if isinstance(inner, nn.Module):
            return inner
    return model


class PeerTask(ClassificationTask):
    """:class:`ClassificationTask` with the peers' models and equiadapt's prior loss."""

    def __init__(self, config: PeerTrainConfig) -> None:
        super().__init__(config)
        self.peer_config = config

    def build_model(self) -> nn.Module:
        return build_model(self.peer_config, self.train_set.num_classes)

    def training_step(
        self, model: nn.Module, batch: tuple[Tensor, Tensor, Tensor], ctx: EpochContext
    ) -> tuple[Tensor, dict[str, float]]:
        loss, metrics = super().training_step(model, batch, ctx)
        if isinstance(model, EquiadaptCanonicalized):
            prior = model.prior_loss()
            loss = loss + prior
            metrics["prior_loss"] = float(prior.detach())
        return loss, metrics


@dataclass(frozen=True)
class Settings:
    """What every run shares."""

    dataset: str = "modelnet40"
    points: int = 256
    width: int = 256
    epochs: int = 3
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    per_class: int | None = None
    test_per_class: int | None = None
    equiadapt_knn: int = 10
    data_dir: str | None = None


def run_config(run: Run, s: Settings) -> PeerTrainConfig:
    """The configuration of ``run`` under the shared settings."""
    return PeerTrainConfig(
        method=run.tinvnn_method,
        peer=run.peer,
        backbone="pointnet",
        group="O",
        dataset=s.dataset,
        data_dir=s.data_dir,
        points=s.points,
        width=s.width,
        per_class=s.per_class,
        test_per_class=s.test_per_class,
        train_protocol=run.train,
        test_protocol=run.train,
        epochs=s.epochs,
        batch_size=s.batch_size,
        lr=s.lr,
        seed=s.seed,
        eval_every=s.epochs,
        equiadapt_knn=s.equiadapt_knn,
    )


def train_run(config: PeerTrainConfig, out: Path) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Train (resuming from ``out``) to the end of the schedule; the model in eval mode and its history."""
    result = fit(PeerTask(config), RunOptions(out=str(out), resume=True, progress=False))
    return result.model.eval(), result.history


def load_given(path: Path, config: PeerTrainConfig) -> tuple[nn.Module, list[dict[str, Any]]]:
    """A finished checkpoint trained with ``config``'s settings (a tinvnn ``train`` run), in eval mode.

    Raises:
        ValueError: the checkpoint was trained with other settings, or is unfinished.
    """
    path = run_checkpoint_file(path)
    payload = load_checkpoint(path)
    stored = read_config(payload, PeerTrainConfig, path, what="point-cloud classifier")
    keys = ("method", "peer", "backbone", "group", "dataset", "points", "width", "per_class", "train_protocol")
    keys += ("epochs", "batch_size", "lr", "weight_decay", "seed", "feature_transform", "teacher")
    diffs = [
        f"{k}={getattr(stored, k)!r} (expected {getattr(config, k)!r})"
        for k in keys
        if getattr(stored, k) != getattr(config, k)
    ]
    history = payload["meta"].get("history", [])
    if diffs:
        raise ValueError(f"{path}: trained with other settings: {', '.join(diffs)}")
    if len(history) < config.epochs:
        raise ValueError(f"{path}: unfinished ({len(history)} of {config.epochs} epochs)")
    model = load_weights(build_model(stored, len(payload["meta"]["classes"])), payload, path, what="classifier")
    return model.eval(), history


def backbone_calls(model: nn.Module, points: Tensor, batch_size: int) -> float:
    """Clouds the backbone sees per input cloud (frames per cloud), counted over ``points`` (S, N, 3)."""
    seen = [0]

    def count(_module: nn.Module, args: tuple[Any, ...]) -> None:
        seen[0] += int(args[0].shape[0])

    handle = backbone_of(model).register_forward_pre_hook(count)
    try:
        with torch.no_grad():
            for i in range(0, len(points), batch_size):
                model(points[i : i + batch_size])
    finally:
        handle.remove()
    return seen[0] / len(points)


def invariance_errors(model: nn.Module, points: Tensor, *, trials: int = 4, seed: int = 0) -> dict[str, float]:
    """Worst relative logit change (float32) under each setting of :data:`INVARIANCE`.

    Shape:
        points (B, N, 3) -> {setting: max_rel}.
    """
    model.eval()
    with torch.no_grad():
        return {
            name: float(check_invariance(model, points, trials=trials, seed=seed, **opts).max_rel)
            for name, opts in INVARIANCE.items()
        }


def measure(model: nn.Module, test_set: PointCloudDataset, s: Settings) -> dict[str, Any]:
    """Accuracies under :data:`TESTS`, invariance errors and backbone calls per cloud of a trained model."""
    accuracy = {t: evaluate(model, test_set, parse_protocol(t), seed=s.seed + 1).accuracy for t in TESTS}
    probe = test_set.points[:16]
    return {
        "accuracy": accuracy,
        "invariance_error": invariance_errors(model, probe, seed=s.seed),
        "backbone_calls_per_cloud": backbone_calls(model, test_set.points, s.batch_size),
    }


def interleaved_ms(models: dict[str, nn.Module], points: Tensor, repeats: int) -> dict[str, float]:
    """Median eval-mode milliseconds per forward pass on ``points`` (B, N, 3), the models timed in turn."""
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.no_grad():
        for model in models.values():
            model.eval()(points)
        for _ in range(repeats):
            for name, model in models.items():
                began = time.perf_counter()
                model(points)
                times[name].append(1e3 * (time.perf_counter() - began))
    return {name: statistics.median(t) for name, t in times.items()}


class Results:
    """``results.json``: settings, one entry per finished run, the timing; written after each change."""

    def __init__(self, path: Path, settings: Settings) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
        stored = self.data.get("settings")
        if stored is not None and stored != dataclasses.asdict(settings):
            raise ValueError(f"{path} holds runs of other settings {stored}; use another --out")
        self.data["settings"] = dataclasses.asdict(settings)
        self.data.setdefault("runs", {})
        self.data["notes"] = [EQUIADAPT_NOTE]
        self.written: set[str] = set()

    def set_run(self, name: str, entry: dict[str, Any]) -> None:
        """Record one run's entry (kept over other processes' entries when saving)."""
        self.data["runs"][name] = entry
        self.written.add(name)

    def save(self) -> None:
        """Write atomically, keeping runs that other processes sharing ``--out`` wrote meanwhile."""
        if self.path.is_file():
            disk = json.loads(self.path.read_text())
            self.data["runs"] = {**disk.get("runs", {}), **{n: self.data["runs"][n] for n in self.written}}
            ours, theirs = self.data.get("timing"), disk.get("timing")
            if ours and theirs:  # each process times its own models: keep the others' figures
                ours["ms_per_batch"] = {**theirs["ms_per_batch"], **ours["ms_per_batch"]}
        partial = self.path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(self.data, indent=2))
        partial.replace(self.path)


def benchmark(
    s: Settings,
    out: Path,
    *,
    only: list[str] | None = None,
    given: dict[str, Path] | None = None,
    timing_repeats: int = 10,
) -> dict[str, Any]:
    """Train, measure and time every run (or those named in ``only``); return the results.

    ``given`` maps run names to finished checkpoints to evaluate instead of training.
    """
    out.mkdir(parents=True, exist_ok=True)
    results = Results(out / "results.json", s)
    test_set = load_dataset(
        s.dataset, "test", points=s.points, root=s.data_dir, seed=s.seed, per_class=s.test_per_class
    )
    models: dict[str, nn.Module] = {}
    for run in select_runs(only):
        if run.peer and not peer_installed(run.peer):
            log.warning("%s: skipped, %s is not installed (pip install 'tinvnn[peers]')", run.name, run.peer)
            results.set_run(run.name, {"skipped": f"{run.peer} not installed"})
            results.save()
            continue
        config = run_config(run, s)
        began = time.perf_counter()
        if given and run.name in given:
            model, history = load_given(given[run.name], config)
            source = str(given[run.name])
        else:
            model, history = train_run(config, out / run.name)
            source = str(out / run.name / LAST)
        models[run.name] = model
        entry = results.data["runs"].get(run.name, {})
        if entry.get("source") != source or entry.get("epochs_trained") != len(history):
            seconds = [h["seconds"] for h in history]
            entry = {
                "method": run.method,
                "train_protocol": run.train,
                "source": source,
                "epochs_trained": len(history),
                "train_seconds_per_epoch": statistics.mean(seconds),
                **measure(model, test_set, s),
            }
            entry["wall_seconds"] = time.perf_counter() - began
            results.set_run(run.name, entry)
            log.info("%s: %s", run.name, entry["accuracy"])
        elif set(models) <= set(results.data.get("timing", {}).get("ms_per_batch", {})):
            continue  # measured and timed already
        # time every model of this call again, so that one pass times them all under one load
        results.data["timing"] = {
            "batch": s.batch_size,
            "repeats": timing_repeats,
            "threads": torch.get_num_threads(),
            "ms_per_batch": interleaved_ms(models, test_set.points[: s.batch_size], timing_repeats),
        }
        results.save()
    return results.data


def _fmt_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def report(data: dict[str, Any]) -> str:
    """The markdown table of one results.json."""
    runs: dict[str, Any] = data["runs"]
    ms: dict[str, float] = data.get("timing", {}).get("ms_per_batch", {})

    def acc(name: str, test: str) -> float | None:
        entry = runs.get(name, {})
        return entry.get("accuracy", {}).get(test)

    lines = [
        "| method | backbone calls / cloud | z/z | z/SO3 | SO3/SO3 | SO3/O3+scale+shift "
        "| inv. err SO3 | O3 | SO3+scale | O3+scale+shift | ms / batch | train s / epoch |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method in ROWS:
        z_run = "aug_SO3" if method == "aug" else f"{method}_z"
        so3_run = "aug_SO3" if method in ("aug", "none") else f"{method}_SO3"
        entry = runs.get(z_run)
        if entry is None or "skipped" in entry:
            reason = "not run" if entry is None else entry["skipped"]
            lines.append(f"| {method} | {reason} |" + " |" * 10)
            continue
        reuse = method not in NON_INVARIANT and method != "aug"
        mark = " *" if reuse else " (aug)" if method == "none" else ""
        so3 = z_run if reuse else so3_run
        errors = entry["invariance_error"]
        cells = [
            method,
            f"{entry['backbone_calls_per_cloud']:.2f}",
            _fmt_pct(acc(z_run, "z")) + (" †" if method == "aug" else ""),
            _fmt_pct(acc(z_run, "SO3")) + (" †" if method == "aug" else ""),
            _fmt_pct(acc(so3, "SO3")) + mark,
            _fmt_pct(acc(so3, "O3+scale+translate")) + mark,
            *(f"{errors[k]:.1e}" for k in INVARIANCE),
            f"{ms[z_run]:.1f}" if z_run in ms else "n/a",
            f"{entry['train_seconds_per_epoch']:.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    s = data["settings"]
    lines += [
        "",
        f"PointNet, {s['points']} points, width {s['width']}, {s['epochs']} epochs, batch {s['batch_size']}, "
        f"AdamW lr {s['lr']}, cosine, seed {s['seed']}; equiadapt n_knn {s['equiadapt_knn']}, pooling mean, "
        f"prior weight {PRIOR_WEIGHT:g}. Accuracy in % (train/test protocol). * exactly invariant by "
        "construction: the SO3 columns reuse the z-trained model. † aug is the backbone trained under SO3: its "
        "z columns are that model on upright and rotated test clouds. none's SO3 columns are aug's. Invariance error: "
        "worst relative logit change (float32, 16 test clouds, 4 trials, tinvnn.check_invariance: scale log-uniform "
        "in [0.5, 2], shift Gaussian of 10 cloud radii). ms / batch: "
        "eval, one thread, median, all models timed in turn on one batch.",
        *(f"Note: {n}." for n in data.get("notes", [])),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=None, help="print the table of a results.json and exit")
    parser.add_argument("--dataset", default="modelnet40", choices=("modelnet40", "synthetic"))
    parser.add_argument("--points", type=int, default=256)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-class", type=int, default=None, help="training clouds per class (default: all)")
    parser.add_argument("--test-per-class", type=int, default=None, help="test clouds per class (default: all)")
    parser.add_argument("--equiadapt-knn", type=int, default=10, help="neighbours of equiadapt's VNSmall")
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="run names in the order to run them (e.g. none_z aug_SO3); default all, cheapest and peers first",
    )
    parser.add_argument(
        "--checkpoint", nargs="*", default=[], metavar="RUN=PATH", help="evaluate this finished checkpoint for RUN"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timing-repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_peers"))
    args = parser.parse_args(argv)
    if args.report is not None:
        print(report(json.loads(args.report.read_text())))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    given = dict(_split_checkpoint(c) for c in args.checkpoint)
    settings = Settings(
        dataset=args.dataset,
        points=args.points,
        width=args.width,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        per_class=args.per_class,
        test_per_class=args.test_per_class,
        equiadapt_knn=args.equiadapt_knn,
    )
    data = benchmark(settings, args.out, only=args.only, given=given, timing_repeats=args.timing_repeats)
    print(report(data))


def _split_checkpoint(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or name not in {r.name for r in all_runs()}:
        raise SystemExit(
            f"--checkpoint: expected RUN=PATH with RUN one of {[r.name for r in all_runs()]}, got {text!r}"
        )
    return name, Path(path)


if __name__ == "__main__":
    main()
