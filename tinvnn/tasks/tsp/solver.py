"""Solve one instance with the local-view policy: construction, then the improvement step.

Two clearly separate stages:

1. **Construction** by the neural policy (``tinvnn.tasks.tsp.local``): ``greedy`` (one
   invariant start), ``multistart`` (several invariant starts, built side by side) or
   ``sample`` (rollouts drawn from the policy's softmax, seeded, plus the greedy one).
2. **Improvement** (optional): 2-opt + Or-opt with neighbour lists
   (``tinvnn.tasks.tsp.improve``) on the best constructed tours, then ``kicks`` local
   double-bridge perturbations of the best one (iterated local search; 0 for plain 2-opt/Or-opt).

:func:`auto_decoding` picks the decoding by size so that, on one CPU thread, 1,000 cities
take a few seconds and 6,000 well under a minute. Memory is O(N k) throughout (no N x N
matrix unless the caller passes one, e.g. an EXPLICIT TSPLIB instance).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tinvnn.models.local_tsp import LocalScorer
from tinvnn.tasks.tsp.imitation import ImitationConfig, build_scorer
from tinvnn.tasks.tsp.improve import DEFAULT_NEIGHBOURS, improve_tour, neighbour_lists
from tinvnn.tasks.tsp.local import check_cities, construct_tours, invariant_starts
from tinvnn.tasks.tsp.objective import matrix_tour_length, tour_length
from tinvnn.training import CheckpointMismatchError, load_checkpoint, read_config

__all__ = [
    "DEFAULT_LOCAL_CHECKPOINT",
    "LOCAL_DECODINGS",
    "LocalDecoding",
    "Solution",
    "auto_decoding",
    "inference_k",
    "is_local_checkpoint",
    "load_local_policy",
    "solve_local",
]

#: The shipped local-view policy (imitation of LKH-3 on random instances of 100-1,000 cities).
DEFAULT_LOCAL_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "tsp_local.pt"
LOCAL_DECODINGS = ("greedy", "multistart", "sample")
#: Checkpoint metadata key of the candidate slots that construction uses (see :func:`inference_k`).
INFERENCE_K_KEY = "inference_k"
# Improve at most this many cities in total over the best constructed tours.
_IMPROVE_BUDGET = 20_000
_PROGRESS_FROM = 2_000


@dataclass(frozen=True)
class LocalDecoding:
    """How a tour is built and improved.

    Attributes:
        decode: ``greedy``, ``multistart`` or ``sample``.
        starts: invariant start cities (``multistart``).
        samples: sampled rollouts (``sample``), besides the greedy one.
        temperature: softmax temperature of ``sample``.
        improve: run the 2-opt + Or-opt improvement step.
        kicks: perturbations of the improved best tour (iterated local search; needs ``improve``).
    """

    decode: str = "greedy"
    starts: int = 1
    samples: int = 16
    temperature: float = 1.0
    improve: bool = True
    kicks: int = 0

    def __post_init__(self) -> None:
        if self.decode not in LOCAL_DECODINGS:
            raise ValueError(f"decode: expected one of {', '.join(LOCAL_DECODINGS)}, got {self.decode!r}")
        if self.starts < 1 or self.samples < 1 or not self.temperature > 0 or self.kicks < 0:
            raise ValueError(
                "expected starts >= 1, samples >= 1, temperature > 0, kicks >= 0; got "
                f"{self.starts}, {self.samples}, {self.temperature}, {self.kicks}"
            )

    def describe(self) -> str:
        """A label such as ``local policy, multistart x8 + 2-opt/Or-opt + 1000 kicks``."""
        what = {"greedy": "greedy", "multistart": f"multistart x{self.starts}", "sample": f"sampling x{self.samples}"}
        improve = (" + 2-opt/Or-opt" + (f" + {self.kicks} kicks" if self.kicks else "")) if self.improve else ""
        return f"local policy, {what[self.decode]}{improve}"


def auto_decoding(num_cities: int, *, improve: bool = True) -> LocalDecoding:
    """The decoding ``tinvnn tsp solve`` uses by default: more starts for smaller instances.

    16 starts up to 200 cities, 4 up to 500 cities, 1 beyond (greedy: one view per step keeps
    1,000 cities at about 2 s of construction on an idle core); with ``improve``,
    ``clip(N, 1000, 10000)`` kicks.
    """
    kicks = min(max(num_cities, 1000), 10_000) if improve else 0
    if num_cities <= 200:
        return LocalDecoding("multistart", starts=16, improve=improve, kicks=kicks)
    if num_cities <= 500:
        return LocalDecoding("multistart", starts=4, improve=improve, kicks=kicks)
    return LocalDecoding("greedy", improve=improve, kicks=kicks)


@dataclass(frozen=True)
class Solution:
    """A tour and how it was found.

    Attributes:
        tour: (N,) int64 permutation of 0..N-1.
        length: its length in the metric used for the search (Euclidean, or ``dist``).
        method: what built it (``LocalDecoding.describe`` or "trivial").
        stages: the best tour (N,) after each stage that ran: ``construct``, ``2-opt/Or-opt``,
            ``kicks`` (the last is ``tour``).
        seconds: time of each stage.
    """

    tour: np.ndarray
    length: float
    method: str
    stages: dict[str, np.ndarray]
    seconds: dict[str, float]


def is_local_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` holds a local-view policy (else, e.g., a TSP-20 attention policy)."""
    config = load_checkpoint(path)["config"]
    return isinstance(config, dict) and "k" in config and "states_per_city" in config


def load_local_policy(path: str | Path | None = None) -> tuple[LocalScorer, ImitationConfig]:
    """The scorer (float64, eval mode) and configuration of a local-view policy checkpoint.

    Args:
        path: a file written by ``train_imitation`` (default: the shipped one).
    """
    path = Path(path or DEFAULT_LOCAL_CHECKPOINT)
    payload = load_checkpoint(path)
    config = read_config(payload, ImitationConfig, path, what="local TSP policy")
    model = build_scorer(config)
    try:
        model.load_state_dict(payload["state"]["model"])
    except (RuntimeError, KeyError, TypeError) as err:
        raise CheckpointMismatchError(f"{path} is not a local TSP policy ({str(err).splitlines()[0]})") from err
    return model.double().eval(), config


def inference_k(path: str | Path | None = None, *, payload: dict[str, Any] | None = None) -> int:
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


def _lengths(coords: np.ndarray, tours: np.ndarray, dist: np.ndarray | None) -> np.ndarray:
    """Lengths of tours (N,) or (S, N), () or (S,): in ``dist``'s metric when given, else Euclidean."""
    rows = np.atleast_2d(tours)
    if dist is not None:
        lengths = np.array([matrix_tour_length(dist, tour) for tour in rows])
    else:
        lengths = tour_length(torch.from_numpy(coords)[None], torch.from_numpy(rows)[None])[0].numpy()
    return lengths if tours.ndim > 1 else lengths[0]


def solve_local(
    model: LocalScorer,
    coords: np.ndarray,
    *,
    k: int,
    decoding: LocalDecoding | None = None,
    dist: np.ndarray | None = None,
    seed: int = 0,
    progress: bool | None = None,
) -> Solution:
    """Build a tour of ``coords`` with the local-view policy, then (optionally) improve it.

    Args:
        model: the scorer (float64 for exact invariance).
        coords: (N, 2) distinct city coordinates.
        k: candidate slots per decision (:func:`inference_k` of the policy's checkpoint).
        decoding: default :func:`auto_decoding` of N.
        dist: optional (N, N) distances that tours are measured and improved in (EXPLICIT
            instances); default Euclidean on ``coords``.
        seed: seed of ``sample`` and of the kicks.
        progress: progress bar over construction steps (default: from 2,000 cities).

    Returns:
        The shortest tour found. Tours of 1 to 3 cities are returned as ``0..N-1``.
    """
    coords = np.asarray(coords, dtype=np.float64)
    check_cities(coords)
    n = len(coords)
    if n <= 3:
        tour = np.arange(n, dtype=np.int64)
        return Solution(
            tour,
            float(_lengths(coords, tour, dist)),
            "trivial (at most 3 cities)",
            {"construct": tour},
            {"construct": 0.0},
        )
    decoding = decoding or auto_decoding(n)
    progress = n >= _PROGRESS_FROM if progress is None else progress
    start = time.perf_counter()
    if decoding.decode == "sample":
        first = invariant_starts(coords, 1)
        greedy = construct_tours(model, coords, first, k=k, progress=progress)
        drawn = construct_tours(
            model,
            coords,
            first * decoding.samples,
            k=k,
            sample=True,
            temperature=decoding.temperature,
            generator=torch.Generator().manual_seed(seed),
            progress=progress,
        )
        tours = np.concatenate([greedy, drawn])
    else:
        starts = invariant_starts(coords, decoding.starts if decoding.decode == "multistart" else 1)
        tours = construct_tours(model, coords, starts, k=k, progress=progress)
    lengths = _lengths(coords, tours, dist)
    stages = {"construct": tours[int(np.argmin(lengths))]}
    seconds = {"construct": time.perf_counter() - start}
    if decoding.improve:
        start = time.perf_counter()
        best = np.argsort(lengths, kind="stable")[: max(1, _IMPROVE_BUDGET // n)]
        near = neighbour_lists(coords, DEFAULT_NEIGHBOURS, dist)  # once for every tour and the kicks
        tours = np.stack([improve_tour(coords, tours[i], dist=dist, near=near) for i in best])
        lengths = _lengths(coords, tours, dist)
        stages["2-opt/Or-opt"] = tours[int(np.argmin(lengths))]
        seconds["2-opt/Or-opt"] = time.perf_counter() - start
        if decoding.kicks:
            start = time.perf_counter()
            stages["kicks"] = improve_tour(
                coords, stages["2-opt/Or-opt"], dist=dist, kicks=decoding.kicks, seed=seed, near=near
            )
            seconds["kicks"] = time.perf_counter() - start
    tour = list(stages.values())[-1]
    return Solution(tour, float(_lengths(coords, tour, dist)), decoding.describe(), stages, seconds)
