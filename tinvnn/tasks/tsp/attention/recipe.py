"""The TSP-20 attention model's recipe: its configuration, and how to build and load it.

Imported by its training (``reinforce``) and by inference (``evaluate``, ``tinvnn.tsp``) alike;
it imports neither.

* :class:`AttentionConfig`: the settings of a training run (``tinvnn tsp train``), stored in
  every attention checkpoint;
* :func:`build_attention_model`, :func:`load_attention_model`, :func:`checkpoint_variant`;
* :data:`DEFAULT_ATTENTION_CHECKPOINT`, the shipped TSP-20 ``tinv`` model; :data:`DECODINGS`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinvnn._checks import check_number, check_positive_int
from tinvnn.checkpoint import BEST, LAST, load_checkpoint, load_weights, read_config
from tinvnn.config import Config, option
from tinvnn.models.attention_tsp import AttentionTSP
from tinvnn.tasks.tsp.attention.variants import VARIANTS, Variant, get_variant

__all__ = [
    "DECODINGS",
    "DEFAULT_ATTENTION_CHECKPOINT",
    "AttentionConfig",
    "build_attention_model",
    "checkpoint_file",
    "checkpoint_variant",
    "load_attention_model",
]

#: The small pretrained tinv model shipped inside the package (TSP-20; see docs/results.md#4-tsp).
DEFAULT_ATTENTION_CHECKPOINT = Path(__file__).resolve().parents[3] / "checkpoints" / "tsp20_tinv.pt"
#: How tours are decoded from the model (``tinvnn.tasks.tsp.attention.decoding``).
DECODINGS = ("greedy", "multistart", "sample")


@dataclass(frozen=True)
class AttentionConfig(Config):
    """Everything a training run of the attention model depends on (stored in its checkpoint).

    ``steps_per_epoch``, ``eval_every`` and ``val_instances`` came after the shipped TSP-20
    checkpoint; their defaults describe how it was trained (one stretch of steps, no validation
    affected the weights).
    """

    variant: str = option("tinv", "input variant to train (views-only variants train as their base)", choices=VARIANTS)
    num_cities: int = option(20, "cities per training instance")
    embed_dim: int = option(64, "embedding width")
    num_layers: int = option(3, "encoder layers")
    num_heads: int = option(4, "attention heads")
    ff_dim: int = option(256, "feed-forward width")
    batch_size: int = option(32, "instances per step (per process under torchrun)")
    steps: int = option(3000, "training steps in all; more with --resume extends a finished run")
    steps_per_epoch: int = option(100, "steps between checkpoints (an epoch of fresh instances)")
    lr: float = option(1e-3, "Adam learning rate")
    weight_decay: float = option(1e-6, "Adam weight decay")
    grad_clip: float = option(1.0, "gradient-norm clip (> 0)")
    eval_every: int = option(1, "epochs between validations (greedy length on fixed instances)")
    val_instances: int = option(128, "validation instances (seed 4321)")
    seed: int = option(0, "seed of initialisation, instances and sampling")

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant: expected one of {VARIANTS}, got {self.variant!r}")
        if get_variant(self.variant).trains_as != self.variant:
            raise ValueError(
                f"{self.variant} adds test-time views to another model; train variant "
                f"{get_variant(self.variant).trains_as!r}"
            )
        for name in (
            "num_cities",
            "embed_dim",
            "num_layers",
            "num_heads",
            "ff_dim",
            "batch_size",
            "steps",
            "steps_per_epoch",
            "eval_every",
            "val_instances",
        ):
            check_positive_int(getattr(self, name), name)
        if self.steps % self.steps_per_epoch:
            raise ValueError(
                f"steps: expected a multiple of steps_per_epoch ({self.steps_per_epoch}), got {self.steps}"
            )
        if self.num_cities < 3:
            raise ValueError(f"num_cities: expected at least 3 cities, got {self.num_cities}")
        check_number(self.lr, "lr", positive=True)
        check_number(self.grad_clip, "grad_clip", positive=True)
        check_number(self.weight_decay, "weight_decay")


def build_attention_model(config: AttentionConfig) -> AttentionTSP:
    """The untrained attention network of a configuration."""
    return AttentionTSP(config.embed_dim, config.num_layers, config.num_heads, config.ff_dim)


def checkpoint_file(path: str | os.PathLike[str]) -> Path:
    """A checkpoint file, or a run directory's ``best.pt`` (else its ``checkpoint.pt``)."""
    path = Path(path)
    if path.is_dir():
        path = path / BEST if (path / BEST).is_file() else path / LAST
    return path


def load_attention_model(
    path: str | os.PathLike[str] | None = None, *, payload: Mapping[str, Any] | None = None
) -> tuple[AttentionTSP, AttentionConfig]:
    """The trained network (eval mode) and configuration of a checkpoint written by ``tinvnn tsp train``.

    Args:
        path: a checkpoint file, or a run directory (its ``best.pt``, else ``checkpoint.pt``);
            default: the shipped one.
        payload: the checkpoint already read from ``path`` (it is then not read again).
    """
    path = checkpoint_file(path or DEFAULT_ATTENTION_CHECKPOINT)
    payload = load_checkpoint(path) if payload is None else payload
    config = read_config(payload, AttentionConfig, path, what="TSP policy")
    model = build_attention_model(config)
    load_weights(model, payload, path, what="TSP policy")
    model.eval()
    return model, config


def checkpoint_variant(config: AttentionConfig, name: str | None, path: str | os.PathLike[str]) -> Variant:
    """The input variant ``name`` (default: the one ``config`` was trained with), checked against
    the weights of ``path``: ``pomo8`` needs a ``unit`` model, ``tinv8`` a ``tinv`` one."""
    variant = get_variant(name or config.variant)
    if variant.trains_as != config.variant:
        raise ValueError(
            f"variant {variant.name!r} needs a checkpoint trained as {variant.trains_as!r}, "
            f"but {path} was trained as {config.variant!r}"
        )
    return variant
