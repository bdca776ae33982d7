"""The local-view policy's recipe: its configuration, and how to build and load it.

Imported by its training (``imitation``, ``dagger``, ``finetune``) and by inference
(``solver``, ``tinvnn.tsp``) alike; it imports neither.

* :class:`ImitationConfig`: the settings of an imitation run, stored in every local-policy
  checkpoint (its ``k``, ``dim``, ``layers``, ``heads`` and ``context`` shape the scorer);
* :class:`LocalReinforceConfig`: the settings of a fine-tuning run (``tinvnn tsp finetune``);
* :func:`build_scorer`, :func:`load_local_policy`, :func:`inference_k`, :func:`is_local_policy`,
  :func:`dagger_label_sets`, :func:`training_families`;
* :data:`DEFAULT_LOCAL_CHECKPOINT`, the shipped policy; the scorer's input widths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinvnn._checks import check_number, check_positive_int
from tinvnn.checkpoint import CheckpointMismatchError, load_checkpoint, read_config
from tinvnn.config import Config, option
from tinvnn.models.local_tsp import LocalScorer
from tinvnn.tasks.tsp.instances import FAMILIES, TRAINING_FAMILIES

__all__ = [
    "CONTEXT_NEIGHBOURS",
    "DEFAULT_LOCAL_CHECKPOINT",
    "INFERENCE_K_KEY",
    "ImitationConfig",
    "LocalReinforceConfig",
    "NUM_CONTEXT",
    "NUM_FEATURES",
    "build_scorer",
    "dagger_label_sets",
    "training_families",
    "inference_k",
    "is_local_policy",
    "load_local_policy",
]

#: The shipped local-view policy (imitation of LKH-3 on random instances of 100-1,000 cities).
DEFAULT_LOCAL_CHECKPOINT = Path(__file__).resolve().parents[3] / "checkpoints" / "tsp_local.pt"
#: Checkpoint metadata key of the candidate slots that construction uses (see :func:`inference_k`).
INFERENCE_K_KEY = "inference_k"
#: The scorer's input per token (the features of ``tinvnn.tasks.tsp.local.views``): 2 canonical
#: coordinates, 2 distance ratios, 3 view scalars, 3 token types.
NUM_FEATURES = 10
#: Extra features per token of a view with context (``LocalView.context``).
NUM_CONTEXT = 2
#: Nearest cities whose visits the context of a point counts.
CONTEXT_NEIGHBOURS = 8


@dataclass(frozen=True)
class ImitationConfig(Config):
    """Settings of an imitation run (stored in the checkpoint)."""

    rounds: int = option(21, "chunks of generated LKH-3 tours to train on (about 6,600 cities each)")
    k: int = option(16, "candidate cities per local view")
    dim: int = option(64, "scorer embedding width")
    layers: int = option(3, "scorer transformer layers")
    heads: int = option(4, "scorer attention heads")
    states_per_city: float = option(8.0, "states sampled per city of each tour")
    batch_size: int = option(256, "states per step")
    lr: float = option(1e-3, "Adam learning rate (cosine decay to 0 over all steps)")
    epochs: int = option(15, "epochs (a checkpoint after each)")
    steps_per_epoch: int = option(1000, "steps per epoch")
    sign_augment: float = option(0.5, "probability of random signs of the canonical axes per training state")
    val_states: int = option(20_000, "held-out states for the accuracy after each epoch")
    seed: int = option(0, "seed of tours, states and training")
    init: str | None = option(
        None, "start from the weights of this local-policy file (fine-tuning; DAgger rolls it out)"
    )
    dagger_instances: int = option(
        0, "instances labelled by DAgger on the greedy rollouts of --init (tinvnn.tasks.tsp.local.dagger; 0: none)"
    )
    dagger_sets: str = option(
        "", "more DAgger label sets, comma-separated POLICY:INSTANCES (the rollouts of earlier DAgger iterations)"
    )
    dagger_steps: int = option(8, "consecutive states labelled per LKH-3 call of DAgger")
    dagger_weight: float = option(0.5, "share of each batch drawn from the DAgger states")
    val_instances: int = option(0, "random 200-city instances whose greedy gap to LKH-3 is reported after each epoch")
    context: bool = option(
        False,
        f"views with context: per point, the share of its {CONTEXT_NEIGHBOURS} nearest cities still unvisited "
        "and the distance to the nearest of them",
    )
    families: str = option(
        ",".join(FAMILIES),
        "instance families of the LKH-3 tours and the DAgger rollouts, comma-separated names of "
        f"tinvnn.tasks.tsp.instances.TRAINING_FAMILIES ({', '.join(TRAINING_FAMILIES)})",
    )

    def __post_init__(self) -> None:
        if (
            min(self.dagger_instances, self.val_instances) < 0
            or self.dagger_steps < 1
            or not 0.0 <= self.dagger_weight <= 1.0
        ):
            raise ValueError(
                "expected dagger_instances >= 0, val_instances >= 0, dagger_steps >= 1, 0 <= dagger_weight <= 1; got "
                f"{self.dagger_instances}, {self.val_instances}, {self.dagger_steps}, {self.dagger_weight}"
            )
        if self.dagger_instances and self.init is None:
            raise ValueError("dagger_instances: DAgger labels the rollouts of the --init policy; pass --init")
        dagger_label_sets(self)  # raises on a malformed dagger_sets
        training_families(self.families)  # raises on unknown or repeated families


def dagger_label_sets(config: ImitationConfig) -> list[tuple[Path, int]]:
    """The (policy file, instances) DAgger label sets of a run: ``init``'s rollouts
    (``dagger_instances``, if any), then those of ``dagger_sets``."""
    sets = [(Path(config.init or ""), config.dagger_instances)] if config.dagger_instances else []
    for entry in filter(None, (e.strip() for e in config.dagger_sets.split(","))):
        policy, _, count = entry.rpartition(":")
        if not policy or not count.isdigit() or int(count) < 1:
            raise ValueError(f"dagger_sets: expected POLICY:INSTANCES entries, got {entry!r}")
        sets.append((Path(policy), int(count)))
    return sets


def training_families(families: str) -> tuple[str, ...]:
    """The names in a ``families`` option (comma-separated keys of ``TRAINING_FAMILIES``), in order.

    Raises:
        ValueError: an empty list, a repeated name or one that is not a training family.
    """
    names = tuple(name.strip() for name in families.split(","))
    unknown = [name for name in names if name not in TRAINING_FAMILIES]
    if unknown:
        hint = (
            " (duplicate cities are merged before construction: train on clustered)" if "duplicates" in unknown else ""
        )
        raise ValueError(
            f"families: {unknown[0]!r} is not a training family; expected comma-separated names "
            f"of {', '.join(TRAINING_FAMILIES)}{hint}"
        )
    if len(set(names)) < len(names):
        raise ValueError(f"families: expected distinct names, got {families!r}")
    return names


def build_scorer(config: ImitationConfig) -> LocalScorer:
    """The scorer a config describes (``NUM_FEATURES`` inputs, plus ``NUM_CONTEXT`` with ``context``)."""
    features = NUM_FEATURES + (NUM_CONTEXT if config.context else 0)
    return LocalScorer(features, dim=config.dim, layers=config.layers, heads=config.heads)


@dataclass(frozen=True)
class LocalReinforceConfig(Config):
    """Settings of a reinforcement fine-tuning run (stored in the checkpoint)."""

    init: str | None = option(
        None, "local-policy file to fine-tune (None: the shipped tinvnn/checkpoints/tsp_local.pt)"
    )
    min_cities: int = option(100, "smallest training instance")
    max_cities: int = option(200, "largest training instance (sizes drawn uniformly in between)")
    starts: int = option(8, "sampled rollouts per instance, each from its own random start city (the baseline's group)")
    lr: float = option(1e-5, "Adam learning rate (constant)")
    epochs: int = option(5, "epochs (a checkpoint and a validation after each)")
    steps_per_epoch: int = option(100, "training instances (one gradient step each) per epoch")
    grad_clip: float = option(1.0, "gradient-norm clip")
    k: int | None = option(None, "candidate slots of the rollouts and the validation (None: the init's inference k)")
    ema: float = option(
        0.0, "per-step decay of a moving average of the weights, which is validated, saved and exported (0: none)"
    )
    val_instances: int = option(24, "random 200-city instances whose greedy gap to LKH-3 picks best.pt")
    seed: int = option(0, "seed of the instances, start cities and sampling")
    families: str = option(
        ",".join(FAMILIES),
        "instance families of the training instances, in turn: comma-separated names of "
        f"tinvnn.tasks.tsp.instances.TRAINING_FAMILIES ({', '.join(TRAINING_FAMILIES)})",
    )

    def __post_init__(self) -> None:
        for name in ("min_cities", "epochs", "steps_per_epoch", "val_instances"):
            check_positive_int(getattr(self, name), name)
        if self.k is not None:
            check_positive_int(self.k, "k")
        if self.min_cities < 5 or self.max_cities < self.min_cities:
            raise ValueError(f"expected 5 <= min_cities <= max_cities, got {self.min_cities} and {self.max_cities}")
        if not 2 <= self.starts <= self.min_cities:
            raise ValueError(f"starts: expected 2 <= starts <= min_cities ({self.min_cities}), got {self.starts}")
        check_number(self.lr, "lr", positive=True)
        check_number(self.grad_clip, "grad_clip", positive=True)
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema: expected a decay in [0, 1), got {self.ema}")
        training_families(self.families)  # raises on unknown or repeated families


def is_local_policy(payload: Mapping[str, Any]) -> bool:
    """Whether a checkpoint's contents (``load_checkpoint``) hold a local-view policy (else, e.g.,
    a TSP-20 attention model)."""
    config = payload["config"]
    return isinstance(config, dict) and "k" in config and "states_per_city" in config


def load_local_policy(
    path: str | Path | None = None, *, payload: Mapping[str, Any] | None = None
) -> tuple[LocalScorer, ImitationConfig]:
    """The scorer (float64, eval mode) and configuration of a local-view policy checkpoint.

    Args:
        path: a file written by ``train_imitation`` or ``export_finetuned`` (default: the
            shipped one).
        payload: the checkpoint already read from ``path`` (it is then not read again).
    """
    path = Path(path or DEFAULT_LOCAL_CHECKPOINT)
    payload = load_checkpoint(path) if payload is None else payload
    config = read_config(payload, ImitationConfig, path, what="local TSP policy")
    model = build_scorer(config)
    try:
        model.load_state_dict(payload["state"]["model"])
    except (RuntimeError, KeyError, TypeError) as err:
        raise CheckpointMismatchError(f"{path} is not a local TSP policy ({str(err).splitlines()[0]})") from err
    return model.double().eval(), config


def inference_k(path: str | Path | None = None, *, payload: Mapping[str, Any] | None = None) -> int:
    """Candidate slots per decision that tour construction uses with a policy checkpoint.

    The ``inference_k`` of the checkpoint's metadata where present (chosen on validation
    instances, ``benchmarks/bench_tsp_inference_k.py``; the shipped policy, trained with
    k = 16, decides best with 24), else the ``k`` it was trained with. ``payload``: the
    checkpoint already read from ``path`` (it is then not read again).
    """
    path = Path(path or DEFAULT_LOCAL_CHECKPOINT)
    payload = load_checkpoint(path) if payload is None else payload
    k = payload["meta"].get(INFERENCE_K_KEY)
    if k is None:
        return read_config(payload, ImitationConfig, path, what="local TSP policy").k
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise CheckpointMismatchError(f"{path}: metadata {INFERENCE_K_KEY}={k!r} is not a positive integer")
    return k
