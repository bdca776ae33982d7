"""The training loop for point-cloud classification, shared harness for later tasks.

One function, :func:`train`, driven by a :class:`TrainConfig`: seeded, AdamW with a cosine
schedule, a tqdm bar per epoch, one log line per epoch, an atomic checkpoint after every epoch
(``<out>/checkpoint.pt`` via :func:`tinvnn.training.save_checkpoint`), ``resume=True`` to go on
from it, and ``<out>/metrics.json``.

Reproducibility: the shuffling and the training transformations of epoch e come from a generator
seeded with (seed, e) and the global RNG state (dropout) is stored in the checkpoint, so a run
that is killed and resumed ends with the same weights as one that was not.

Scale-out: under ``torchrun --nproc_per_node K`` (``WORLD_SIZE`` > 1) the same call runs
DistributedDataParallel (gloo on CPU, nccl on GPU); each process takes every K-th cloud of the
epoch's permutation, rank 0 evaluates, logs and writes files.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.functional import cross_entropy
from tqdm.auto import tqdm

from tinvnn._io import atomic_write
from tinvnn.tasks.classification.datasets import DATASETS, load_dataset
from tinvnn.tasks.classification.evaluate import evaluate
from tinvnn.tasks.classification.methods import (
    BACKBONES,
    GROUPS,
    METHODS,
    build_backbone,
    build_model,
    check_sign_augment,
    train_augmentation,
)
from tinvnn.tasks.classification.protocols import parse_protocol
from tinvnn.training import load_checkpoint, save_checkpoint, seed_everything

__all__ = ["TrainConfig", "train", "RESUME_KEYS"]

log = logging.getLogger(__name__)

FEATURE_TRANSFORM_WEIGHT = 1e-3  # PointNet's weight of the feature T-Net regulariser


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (``tinvnn train --help`` documents each flag).

    ``per_class``/``test_per_class``: synthetic clouds per class (defaults 100/30), or for
    ModelNet40 at most this many clouds per class (default: all).
    """

    method: str = "tinv"
    backbone: str = "pointnet"
    group: str = "O"
    dataset: str = "synthetic"
    data_dir: str | None = None
    points: int = 1024
    per_class: int | None = None
    test_per_class: int | None = None
    train_protocol: str = "z"
    test_protocol: str = "SO3"
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    width: int = 1024
    k: int = 20
    feature_transform: bool = False
    sign_augment: bool = False
    seed: int = 0
    eval_every: int = 1
    out: str = "runs/pointcloud"

    def __post_init__(self) -> None:
        for name, value, valid in (
            ("method", self.method, METHODS),
            ("backbone", self.backbone, BACKBONES),
            ("group", self.group, GROUPS),
            ("dataset", self.dataset, DATASETS),
        ):
            if value not in valid:
                raise ValueError(f"unknown {name} {value!r}; expected one of {valid}")
        parse_protocol(self.train_protocol)
        parse_protocol(self.test_protocol)
        for name in ("points", "epochs", "batch_size", "width", "k", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"expected {name} >= 1, got {getattr(self, name)}")
        check_sign_augment(self.method, self.sign_augment)
        if self.batch_size < 2:
            raise ValueError(f"expected batch_size >= 2 (batch norm), got {self.batch_size}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# A resumed run must agree with its checkpoint on every key except where it writes.
RESUME_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("out", "data_dir"))
# Keys added after checkpoints were first written, with the value those checkpoints ran with.
ADDED_KEYS = {"sign_augment": False}


def _distributed() -> tuple[int, int, torch.device, bool]:
    """(rank, world size, device, whether this call created the process group); initialises
    the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    created = world > 1 and not dist.is_initialized()
    if created:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return (dist.get_rank() if world > 1 else 0), world, device, created


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    atomic_write(path, lambda handle: handle.write(json.dumps(payload, indent=2).encode()))


def _checksum(model: nn.Module) -> float:
    return float(sum(p.detach().double().sum() for p in model.parameters()))


def train(config: TrainConfig, *, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train ``config.method`` on ``config.dataset``; return (and write) the metrics.

    Args:
        config: the run.
        resume: continue from ``<out>/checkpoint.pt`` if it exists (its config must match on
            :data:`RESUME_KEYS`; a finished run returns its metrics unchanged).
        progress: show tqdm bars (rank 0 only).

    Returns:
        ``{"config", "classes", "history": [per-epoch dicts], "final": {...}}``; under torchrun
        also ``"param_checksums"`` (one per rank, equal when the replicas agree).
    """
    rank, world, device, created_group = _distributed()
    out = Path(config.out)
    ckpt_path, metrics_path = out / "checkpoint.pt", out / "metrics.json"
    if rank == 0:
        log.info("config %s", json.dumps(config.to_dict()))
    seed_everything(config.seed)
    train_set = load_dataset(config.dataset, "train", points=config.points, root=config.data_dir,
                             seed=config.seed, per_class=config.per_class)  # fmt: skip
    test_set = load_dataset(config.dataset, "test", points=config.points, root=config.data_dir,
                            seed=config.seed, per_class=config.test_per_class)  # fmt: skip
    backbone = build_backbone(config.backbone, train_set.num_classes, width=config.width, k=config.k,
                              feature_transform=config.feature_transform)  # fmt: skip
    model = build_model(config.method, backbone, group=config.group, sign_augment=config.sign_augment).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    train_protocol, test_protocol = parse_protocol(config.train_protocol), parse_protocol(config.test_protocol)
    augmentation = train_augmentation(config.method, config.group)

    start, history = 0, []
    if resume and not ckpt_path.is_file():
        log.warning("no checkpoint at %s; starting from scratch", ckpt_path)
    elif resume:
        payload = load_checkpoint(ckpt_path, config.to_dict(), keys=RESUME_KEYS, defaults=ADDED_KEYS)
        state = payload["state"]
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        start, history = state["epoch"], list(payload["meta"]["history"])
        if rank == 0:
            log.info("resumed from %s after epoch %d", ckpt_path, start)
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model

    per_rank = len(train_set) // world
    steps = per_rank // config.batch_size
    if steps == 0:
        raise ValueError(
            f"expected at least batch_size * processes = {config.batch_size * world} training clouds, got {len(train_set)}"
        )
    for epoch in range(start, config.epochs):
        began = time.perf_counter()
        g = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        order = torch.randperm(len(train_set), generator=g)[rank::world]
        net.train()
        total_loss, correct, seen = 0.0, 0, 0
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
                   disable=not progress or rank != 0)  # fmt: skip
        for step in bar:
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            points = train_protocol.apply(train_set.points[idx], g)
            if augmentation is not None:
                points = augmentation.apply(points, g)
            labels = train_set.labels[idx].to(device)
            logits = net(points.to(device))
            loss = cross_entropy(logits, labels)
            if config.feature_transform:
                loss = loss + FEATURE_TRANSFORM_WEIGHT * backbone.feature_transform_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(dim=1) == labels).sum())
            seen += len(idx)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}")
        scheduler.step()
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "loss": total_loss / seen,
            "train_accuracy": correct / seen,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - began,
        }
        if rank == 0:
            if (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs:
                result = evaluate(model, test_set, test_protocol, seed=config.seed)
                record[f"test_accuracy_{test_protocol}"] = result.accuracy
            history.append(record)
            log.info("epoch %s", " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state(),
                "epoch": epoch + 1,
            }
            save_checkpoint(ckpt_path, state, config.to_dict(), meta={"history": history, "classes": list(train_set.classes)})
        if world > 1:
            history_box = [history]
            dist.broadcast_object_list(history_box, src=0)
            history = history_box[0]

    metrics: dict[str, Any] = {
        "config": config.to_dict(),
        "classes": list(train_set.classes),
        "history": history,
        "final": history[-1] if history else {},
    }
    if world > 1:
        sums: list[Any] = [None] * world
        dist.all_gather_object(sums, _checksum(model))
        metrics["param_checksums"] = sums
    if rank == 0:
        _write_json(metrics_path, metrics)
    if resume and start >= config.epochs and rank == 0:
        log.info("run in %s had already finished %d epochs", out, start)
    if created_group:  # tear gloo/nccl down before exit: a live group can abort the process at exit
        dist.barrier()
        dist.destroy_process_group()
    return metrics
