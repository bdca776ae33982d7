"""Imitation learning of the local-view TSP policy from LKH-3 tours.

Three pieces, kept apart so a run harness can take over the loop:

* :func:`generate_tours`: random instances of mixed sizes and families (by default uniform,
  clustered, lattice; ``ImitationConfig.families``) and their LKH-3 tours (elkai), generated
  once into ``cache_dir() / "tsp_imitation" / "tours-v1"`` (other families: ``tours-v1-<names
  joined by +>``) in numbered chunks; an interrupted run resumes at the first missing chunk.
* :class:`ImitationData`: states sampled along those tours (both directions, random start
  city, random step), each a local view with the index of the tour's next city among the
  candidates; states whose next city is not among the ``k`` nearest unvisited ones are skipped
  (counted in ``skipped``).
* :func:`imitation_loss` (cross-entropy of the scorer's logits against that index) and
  :class:`ImitationTask`, the task :func:`train_imitation` runs through the shared run harness
  (:func:`tinvnn.training.fit`: checkpoints every epoch, resume, best held-out accuracy).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor, nn
from torch.utils.data import Dataset

from tinvnn._progress import progress as progress_of
from tinvnn.checkpoint import check_config, export_weights, load_checkpoint, load_weights, read_config
from tinvnn.models.local_tsp import LocalScorer
from tinvnn.paths import cache_dir
from tinvnn.tasks.tsp.heuristics import euclidean_matrix
from tinvnn.tasks.tsp.instances import FAMILIES, TRAINING_FAMILIES
from tinvnn.tasks.tsp.local.chunks import load_chunks, missing_chunks, save_chunk
from tinvnn.tasks.tsp.local.construction import construct_tours, invariant_starts
from tinvnn.tasks.tsp.local.dagger import load_dagger
from tinvnn.tasks.tsp.local.recipe import (
    NUM_CONTEXT,
    ImitationConfig,
    build_scorer,
    dagger_label_sets,
    training_families,
)
from tinvnn.tasks.tsp.local.views import LocalView, context_scalars, neighbour_table, view_features
from tinvnn.tasks.tsp.objective import tour_length
from tinvnn.tasks.tsp.reference import lkh_tour, reference_lengths
from tinvnn.training import EpochContext, RunOptions, Task, TrainData, fit

__all__ = [
    "ImitationData",
    "ImitationTask",
    "candidate_misses",
    "export_policy",
    "generate_tours",
    "greedy_gap",
    "imitation_loss",
    "load_tours",
    "train_imitation",
    "validation_instances",
]

log = logging.getLogger(__name__)

# One round of the generation plan per family: (cities, instances). Every third round adds
# one 1,000-city instance (families in turn). About 8.5 s of LKH-3 per round on one core.
_ROUND = ((100, 8), (200, 4), (500, 1))
_LARGE = 1000


#: The default training families (those of the shipped policy's tours), in order.
_DEFAULT_FAMILIES = tuple(FAMILIES)


def _tour_dir(families: tuple[str, ...]) -> Path:
    name = "tours-v1" if families == _DEFAULT_FAMILIES else "tours-v1-" + "+".join(families)
    return cache_dir() / "tsp_imitation" / name


def _round_plan(index: int, families: tuple[str, ...]) -> list[tuple[str, int, int]]:
    plan = [(family, n, count) for family in families for n, count in _ROUND]
    if index % 3 == 0:
        plan.append((families[(index // 3) % len(families)], _LARGE, 1))
    return plan


def generate_tours(
    rounds: int, *, seed: int = 0, families: tuple[str, ...] = _DEFAULT_FAMILIES, progress: bool = True
) -> Path:
    """Generate ``rounds`` chunks of instances and LKH-3 tours into the cache (resumable).

    Chunk ``r`` holds, per (family, size) of the round's plan (every family of ``families``,
    names of ``TRAINING_FAMILIES``, at each size), ``coords`` (M, N, 2) float64 in [0, 1]^2
    and ``tours`` (M, N) int64; it is written atomically, so existing chunks are complete and
    are skipped. Each set of families has its own directory.

    Returns:
        The directory of the chunks.
    """
    directory = _tour_dir(families)
    for r in progress_of(missing_chunks(directory, rounds), desc="LKH-3 tours", unit="round", enabled=progress):
        generator = torch.Generator().manual_seed(seed * 1_000_003 + r)
        chunk = []
        for family, n, count in _round_plan(r, families):
            coords = TRAINING_FAMILIES[family](count, n, generator=generator, dtype=torch.float64)
            tours = torch.stack([torch.from_numpy(lkh_tour(euclidean_matrix(c.numpy()))) for c in coords])
            chunk.append({"family": family, "coords": coords, "tours": tours})
        save_chunk(directory, r, chunk)
    return directory


def load_tours(rounds: int, families: tuple[str, ...] = _DEFAULT_FAMILIES) -> list[dict]:
    """The (family, coords (M, N, 2), tours (M, N)) groups of the first ``rounds`` chunks of ``families``."""
    return load_chunks(_tour_dir(families), rounds, "tour", "generate_tours")


def _instance_states(
    coords: np.ndarray, tour: np.ndarray, num: int, k: int, rng: np.random.Generator, *, context: bool = False
) -> dict[str, np.ndarray]:
    """``num`` random states along one LKH tour: arrays of the local views and the target slot."""
    n = len(tour)
    backwards = rng.integers(0, 2, num).astype(bool)
    offset = rng.integers(0, n, num)
    step = rng.integers(0, n - 2, num)  # at least two unvisited cities remain
    neighbours = neighbour_table(coords) if context else None
    return _tour_states(coords, _near_table(coords, k), tour, offset, backwards, step, k, neighbours)


def _near_table(coords: np.ndarray, k: int) -> np.ndarray:
    """(N, min(4 k, N)) each city's nearest cities (itself first), from a k-d tree."""
    return cKDTree(coords).query(coords, min(4 * k, len(coords)))[1]


def _tour_states(
    coords: np.ndarray,
    near: np.ndarray,
    tour: np.ndarray,
    offset: np.ndarray,
    backwards: np.ndarray,
    step: np.ndarray,
    k: int,
    neighbours: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The states of a tour walked from ``tour[offset]`` in either direction, after ``step`` moves.

    Args:
        coords: (N, 2) coordinates; near: their :func:`_near_table`.
        tour: (N,) the tour whose next city is the target.
        offset, backwards, step: (S,) start position, direction and moves made (at most N - 3).
        neighbours: the coordinates' :func:`~tinvnn.tasks.tsp.local.views.neighbour_table`, to add
            each view's ``context``; None: no context.

    Returns:
        Arrays of the S local views (``current`` (S', 2), ``start``, ``candidates`` (S', k, 2),
        ``valid``, ``complete``, with ``neighbours`` also ``context`` (S', k + 2, NUM_CONTEXT)),
        ``target`` (S',) slots and ``skipped`` (1,), the number of states dropped because the
        next city is not among the k candidates.
    """
    n, num = len(tour), len(step)
    position = np.empty(n, dtype=np.int64)
    position[tour] = np.arange(n)
    sign = np.where(backwards, -1, 1)
    current = tour[(offset + sign * step) % n]
    target = tour[(offset + sign * (step + 1)) % n]
    start = tour[offset]

    def rank(cities: np.ndarray, rows: np.ndarray) -> np.ndarray:  # step at which a city is visited
        return (
            np.where(
                backwards[rows, None], offset[rows, None] - position[cities], position[cities] - offset[rows, None]
            )
            % n
        )

    rows = np.arange(num)
    near = near[current]
    unvisited = rank(near, rows) > step[:, None]
    slots = np.argsort(~unvisited, axis=1, kind="stable")[:, :k]
    cand = np.take_along_axis(near, slots, 1)
    valid = np.take_along_axis(unvisited, slots, 1)
    remaining = n - 1 - step
    if cand.shape[1] < k:
        cand = np.pad(cand, ((0, 0), (0, k - cand.shape[1])))
        valid = np.pad(valid, ((0, 0), (0, k - valid.shape[1])))
    for i in np.flatnonzero(valid.sum(1) < np.minimum(k, remaining)):  # the near list ran out
        left = np.flatnonzero(rank(np.arange(n)[None], np.array([i]))[0] > step[i])
        order = np.argsort(np.linalg.norm(coords[left] - coords[current[i]], axis=1), kind="stable")[:k]
        cand[i], valid[i] = 0, False
        cand[i, : len(order)], valid[i, : len(order)] = left[order], True
    hit = (cand == target[:, None]) & valid
    keep = hit.any(1)
    states = {
        "current": coords[current][keep],
        "start": coords[start][keep],
        "candidates": coords[cand][keep],
        "valid": valid[keep],
        "complete": (remaining <= k)[keep],
        "target": hit.argmax(1)[keep],
        "skipped": np.array([num - int(keep.sum())]),
    }
    if neighbours is not None:
        cities = np.concatenate([current[:, None], start[:, None], cand], 1)[keep]  # (S', k + 2)
        others = neighbours[0][cities]  # (S', k + 2, m)
        free = (rank(others.reshape(len(cities), -1), rows[keep]) > step[keep, None]).reshape(others.shape)
        states["context"] = context_scalars(free, neighbours[1][cities])
    return states


def candidate_misses(coords: np.ndarray, tour: np.ndarray, k: int) -> int:
    """How many states along ``tour`` have a next city outside the ``k`` nearest unvisited cities.

    The tour is walked from its first city in both directions; every step with at least two
    unvisited cities left is a state (2 (N - 2) in all), as in :class:`ImitationData`, which
    skips exactly these states: a policy with ``k`` candidate slots cannot follow the tour there.

    Args:
        coords: (N, 2) distinct city coordinates; tour: (N,) a tour of them; k: candidate slots.
    """
    n = len(tour)
    step = np.tile(np.arange(n - 2), 2)
    backwards = np.repeat([False, True], n - 2)
    states = _tour_states(coords, _near_table(coords, k), tour, np.zeros_like(step), backwards, step, k)
    return int(states["skipped"][0])


def _dagger_states(item: dict, steps: int, k: int, *, context: bool = False) -> dict[str, np.ndarray]:
    """States of one instance labelled by :mod:`tinvnn.tasks.tsp.local.dagger`: for each of its tours,
    ``steps`` consecutive states from the labelled step (the policy's own state) on."""
    coords = item["coords"].numpy()
    n, near = len(coords), _near_table(coords, k)
    neighbours = neighbour_table(coords) if context else None
    parts = []
    for tour, t in zip(item["tours"].numpy(), item["steps"].tolist()):
        step = np.arange(t, min(t + steps, n - 2))
        parts.append(
            _tour_states(coords, near, tour, np.zeros_like(step), np.zeros(len(step), dtype=bool), step, k, neighbours)
        )
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


class ImitationData:
    """Decision states along LKH-3 tours, as local views with the index of the next city.

    Each tour contributes ``states_per_city * N`` states with a random direction, start city
    and step (at least two unvisited cities left). ``dagger`` adds the states of instances
    labelled by :func:`tinvnn.tasks.tsp.local.dagger.generate_dagger` (``dagger_steps`` per LKH-3
    call, see :func:`_dagger_states`) after them. Coordinates (and the context's distances)
    are stored relative to the current city in units of the view radius (float32; the
    features are invariant to both). ``context``: the views carry ``LocalView.context``.

    Attributes:
        view: :class:`~tinvnn.tasks.tsp.local.views.LocalView` of all S states.
        target: (S,) int64 slot of the tour's next city among the candidates.
        source: (S,) int64, -1 for the states along LKH-3 tours, else the index of the DAgger
            instance in ``dagger``.
        skipped: states dropped because the next city was not among the k candidates.
    """

    def __init__(
        self,
        groups: list[dict],
        *,
        k: int,
        states_per_city: float,
        seed: int = 0,
        dagger: list[dict] | None = None,
        dagger_steps: int = 8,
        context: bool = False,
    ) -> None:
        rng = np.random.default_rng(seed)
        parts: dict[str, list[np.ndarray]] = {}
        sources = []

        def add(states: dict[str, np.ndarray], source: int) -> None:
            for key, value in states.items():
                parts.setdefault(key, []).append(value)
            sources.append(np.full(len(states["target"]), source))

        for group in progress_of(groups, desc="imitation states", unit="group"):
            for coords, tour in zip(group["coords"].numpy(), group["tours"].numpy()):
                num = max(1, int(round(states_per_city * len(tour))))
                add(_instance_states(coords, tour, num, k, rng, context=context), -1)
        for index, item in enumerate(progress_of(dagger or [], desc="DAgger states", unit="instance")):
            add(_dagger_states(item, dagger_steps, k, context=context), index)
        arrays = {key: np.concatenate(value) for key, value in parts.items()}
        current = arrays["current"][:, None]
        radius = np.where(arrays["valid"], np.linalg.norm(arrays["candidates"] - current, axis=-1), 0.0).max(-1)
        unit = radius[:, None, None]

        def local(xy: np.ndarray) -> Tensor:
            return torch.from_numpy(((xy - current) / unit).astype(np.float32))

        scaled_context = None
        if context:
            share, dist = arrays["context"][..., :1], arrays["context"][..., 1:]
            scaled_context = torch.from_numpy(np.concatenate([share, dist / unit], -1).astype(np.float32))
        self.view = LocalView(
            torch.zeros(len(radius), 2),
            local(arrays["start"][:, None])[:, 0],
            local(arrays["candidates"]),
            torch.from_numpy(arrays["valid"]),
            torch.from_numpy(arrays["complete"]),
            scaled_context,
        )
        self.target = torch.from_numpy(arrays["target"])
        self.source = torch.from_numpy(np.concatenate(sources).astype(np.int64))
        self.skipped = int(arrays["skipped"].sum())

    def __len__(self) -> int:
        return len(self.target)

    def batch(self, index: Tensor) -> tuple[LocalView, Tensor]:
        """The states at ``index`` (B,): their view and target slots (B,)."""
        v = self.view
        context = None if v.context is None else v.context[index]
        return LocalView(
            v.current[index], v.start[index], v.candidates[index], v.valid[index], v.complete[index], context
        ), self.target[index]


def imitation_loss(model: LocalScorer, batch: tuple[LocalView, Tensor], *, axis_signs: Tensor | None = None) -> Tensor:
    """Mean cross-entropy of the scorer's candidate logits against the tour's next city.

    Args:
        model: the scorer.
        batch: ``(view, target)`` with B states and target (B,) int64 slots.
        axis_signs: optional (B, 2) +-1 flips of the canonical axes (augmentation).

    Returns:
        Scalar loss.
    """
    view, target = batch
    logits = model(view_features(view, axis_signs=axis_signs)[0]).masked_fill(~view.valid, -math.inf)
    return torch.nn.functional.cross_entropy(logits, target)


#: Configuration keys that must match between a run and the policy it starts from (``init``).
_SHAPE = ("k", "dim", "layers", "heads")


def _accuracy(model: LocalScorer, data: ImitationData, rows: Tensor) -> float:
    model.eval()
    hits = 0
    device = next(model.parameters()).device
    with torch.no_grad():
        for i in range(0, len(rows), 4096):
            view, target = data.batch(rows[i : i + 4096])
            view, target = view.to(device), target.to(device)
            logits = model(view_features(view)[0]).masked_fill(~view.valid, -math.inf)
            hits += int((logits.argmax(-1) == target).sum())
    model.train()
    return hits / max(len(rows), 1)


def _cycled(rows: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """``count`` of ``rows`` (R,), cycling through shuffled passes."""
    passes = -(-count // len(rows))
    return torch.cat([rows[torch.randperm(len(rows), generator=generator)] for _ in range(passes)])[:count]


_VAL_CITIES = 200
_VAL_SEED = 3_000_000_000  # disjoint from every training and test seed


def validation_instances(num: int) -> Tensor:
    """``num`` instances of 200 cities, families in turn: (num, 200, 2) float64."""
    generator = torch.Generator().manual_seed(_VAL_SEED)
    names = list(FAMILIES)
    return torch.stack(
        [
            FAMILIES[names[i % len(names)]](1, _VAL_CITIES, generator=generator, dtype=torch.float64)[0]
            for i in range(num)
        ]
    )


def greedy_gap(model: LocalScorer, coords: Tensor, reference: Tensor, k: int) -> float:
    """Mean gap (%) of greedy tours (one invariant start) of instances (M, N, 2) to ``reference`` (M,).

    Leaves ``model`` in training mode (it runs inside the harness's evaluation).
    """
    tours = torch.stack(
        [torch.from_numpy(construct_tours(model, c.numpy(), invariant_starts(c.numpy(), 1), k=k)[0]) for c in coords]
    )
    model.train()
    return float(100.0 * (tour_length(coords, tours) / reference - 1.0).mean())


def _with_context_inputs(payload: dict[str, Any]) -> dict[str, Any]:
    """A policy's weights with ``NUM_CONTEXT`` zero input columns appended to the embedding:
    a scorer with context that starts out computing exactly what the policy did."""
    state = dict(payload["state"]["model"])
    weight = state["embed.weight"]
    state["embed.weight"] = torch.cat([weight, weight.new_zeros(weight.shape[0], NUM_CONTEXT)], 1)
    return {**payload, "state": {**payload["state"], "model": state}}


class ImitationTask(Task):
    """Imitation as a task of the run harness: batches of shuffled states, the cross-entropy of
    :func:`imitation_loss` (half the states with random signs of the canonical axes), and the
    greedy next-city accuracy on ``val_states`` held-out states, which picks ``best.pt``.

    With ``init`` the scorer starts from that policy's weights. With ``dagger_instances``, a
    share ``dagger_weight`` of each batch comes from the DAgger states of that policy's
    rollouts (:mod:`tinvnn.tasks.tsp.local.dagger`), and of the earlier policies of ``dagger_sets``
    (DAgger iterations: each set's rollouts, aggregated); the states of every tenth DAgger instance are
    held out (``val_accuracy_dagger``). ``val_instances`` adds the greedy gap to LKH-3 on
    random 200-city instances (``val_greedy_gap``). ``val_accuracy`` is measured on the same
    held-out states along LKH-3 tours as without DAgger.

    The learning rate decays on a cosine over the epochs (a function of the epoch: a finished
    run extended to more epochs follows the schedule of its new length).
    """

    monitor = ("val_accuracy", "max")
    resumable_changes = ("epochs",)

    def __init__(self, config: ImitationConfig, data: ImitationData | None = None) -> None:
        super().__init__(config)
        self.config: ImitationConfig = config
        if data is None:
            families = training_families(config.families)
            dagger = [
                item
                for policy, count in dagger_label_sets(config)
                for item in load_dagger(policy, count, seed=config.seed, families=families)
            ]
            data = ImitationData(
                load_tours(config.rounds, families),
                k=config.k,
                states_per_city=config.states_per_city,
                seed=config.seed,
                dagger=dagger,
                dagger_steps=config.dagger_steps,
                context=config.context,
            )
        if (data.view.context is not None) != config.context:
            raise ValueError(
                f"data: states {'with' if data.view.context is not None else 'without'} context "
                f"for a run with context={config.context}"
            )
        self.data = data
        tours = torch.flatten(torch.nonzero(data.source < 0))
        if len(tours) <= config.val_states:
            raise ValueError(f"val_states: expected fewer than the {len(tours)} states, got {config.val_states}")
        perm = tours[torch.randperm(len(tours), generator=torch.Generator().manual_seed(config.seed))]
        self.val_rows, self.train_rows = perm[: config.val_states], perm[config.val_states :]
        held_out = (data.source >= 0) & (data.source % 10 == 9)
        self.dagger_val_rows = torch.flatten(torch.nonzero(held_out))
        self.dagger_rows = torch.flatten(torch.nonzero((data.source >= 0) & ~held_out))
        self.val_coords = validation_instances(config.val_instances) if config.val_instances else None
        log.info(
            "%d states, %d of them DAgger (%d skipped: next city not among the %d candidates)",
            len(data),
            int((data.source >= 0).sum()),
            data.skipped,
            config.k,
        )

    @property
    def eval_every(self) -> int:
        return 1

    def lr_factor(self, epoch: int, epochs: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))

    def build_model(self) -> nn.Module:
        model = build_scorer(self.config)
        if self.config.init is not None:
            payload = load_checkpoint(self.config.init)
            stored = read_config(payload, ImitationConfig, self.config.init, what="local TSP policy")
            check_config(
                self.config.init, stored, self.config, ignore=[f for f in self.config.to_dict() if f not in _SHAPE]
            )
            if self.config.context and not stored.context:
                payload = _with_context_inputs(payload)
            elif stored.context and not self.config.context:
                raise ValueError(f"init: {self.config.init} was trained with context; pass context=True (--context)")
            load_weights(model, payload, self.config.init, what="local TSP policy")
        return model

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=self.config.lr)

    def train_data(self, ctx: EpochContext) -> TrainData:
        """``steps_per_epoch`` batches per process of training rows (cycling through shuffled
        passes), a share ``dagger_weight`` of each from the DAgger states; the states are gathered
        by the data loader (in ``--workers`` processes), process r taking batches r, r + W, ..."""
        size, steps = self.config.batch_size, self.config.steps_per_epoch * ctx.world
        share = round(size * self.config.dagger_weight) if len(self.dagger_rows) else 0
        parts = [_cycled(self.train_rows, steps * (size - share), ctx.generator).view(steps, size - share)]
        if share:
            parts.append(_cycled(self.dagger_rows, steps * share, ctx.generator).view(steps, share))
        return TrainData(_StateBatches(self.data, torch.cat(parts, 1)), batch_size=None, shuffle=False)

    def training_step(
        self, model: nn.Module, batch: tuple[LocalView, Tensor], ctx: EpochContext
    ) -> tuple[Tensor, dict[str, float]]:
        view, target = batch
        flip = torch.rand(len(target), 1, generator=ctx.generator) < self.config.sign_augment
        signs = torch.where(flip, torch.randint(0, 2, (len(target), 2), generator=ctx.generator) * 2.0 - 1.0, 1.0)
        view = view.to(ctx.device)
        return imitation_loss(model, (view, target.to(ctx.device)), axis_signs=signs.to(ctx.device)), {}  # type: ignore[arg-type]

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        out = {"val_accuracy": _accuracy(model, self.data, self.val_rows)}  # type: ignore[arg-type]
        if len(self.dagger_val_rows):
            out["val_accuracy_dagger"] = _accuracy(model, self.data, self.dagger_val_rows)  # type: ignore[arg-type]
        if self.val_coords is not None:
            out["val_greedy_gap"] = greedy_gap(
                model,  # type: ignore[arg-type]
                self.val_coords,
                reference_lengths(self.val_coords),
                self.config.k,
            )
        return out

    def meta(self) -> dict[str, Any]:
        return {
            "states": len(self.data),
            "dagger_states": int((self.data.source >= 0).sum()),
            "skipped": self.data.skipped,
        }


class _StateBatches(Dataset[tuple[LocalView, Tensor]]):
    """Whole batches of states: item k is ``data.batch(rows[k])``."""

    def __init__(self, data: ImitationData, rows: Tensor) -> None:
        self.data, self.rows = data, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, k: int) -> tuple[LocalView, Tensor]:
        return self.data.batch(self.rows[k])


def train_imitation(
    config: ImitationConfig, options: RunOptions | None = None, *, data: ImitationData | None = None
) -> nn.Module:
    """Train the scorer by imitation under the run harness (see :class:`ImitationTask`).

    Args:
        config: the run.
        options: the run directory and execution; ``resume=True`` continues (or extends) a run.
        data: the states (default: built from the cached tours of ``config.rounds`` rounds).

    Returns:
        The trained scorer (last epoch, eval mode); ``<out>/best.pt`` holds the best held-out accuracy.
    """
    return fit(ImitationTask(config, data), options).model


def export_policy(run_checkpoint: Path, out: Path) -> Path:
    """Write the scorer of a training checkpoint without optimizer state (the shipped form;
    :func:`tinvnn.checkpoint.export_weights`).

    Args:
        run_checkpoint: a checkpoint of :func:`train_imitation`, or its run directory (then its
            ``checkpoint.pt``, the last epoch).
        out: the file to write.

    The exported file keeps the configuration and the training history, so
    ``tinvnn.tasks.tsp.local.recipe.load_local_policy`` reads it like the training checkpoint.
    """
    return export_weights(run_checkpoint, out)
