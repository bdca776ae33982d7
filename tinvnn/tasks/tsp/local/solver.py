"""Solve one instance with the local-view policy: construction, then the improvement step.

Two clearly separate stages:

1. **Construction** by the neural policy (``tinvnn.tasks.tsp.local.construction``): ``greedy`` (one
   invariant start), ``multistart`` (several invariant starts, built side by side) or
   ``sample`` (rollouts drawn from the policy's softmax, seeded, plus the greedy one).
2. **Improvement** (optional): 2-opt + Or-opt with neighbour lists
   (``tinvnn.tasks.tsp.improve``) on the best constructed tours, then ``kicks`` local
   double-bridge perturbations of the best one (iterated local search; 0 for plain 2-opt/Or-opt/3-opt).

:func:`auto_decoding` picks the decoding by size so that, on one CPU thread, 1,000 cities
take a few seconds and 6,000 well under a minute. Memory is O(N k) throughout (no N x N
matrix unless the caller passes one, e.g. an EXPLICIT TSPLIB instance).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
import torch

from tinvnn.models.local_tsp import LocalScorer
from tinvnn.tasks.tsp.improve import DEFAULT_NEIGHBOURS, candidate_lists, improve_tour, neighbour_lists
from tinvnn.tasks.tsp.local.construction import check_cities, construct_tours, invariant_starts
from tinvnn.tasks.tsp.local.views import FRAME_MODES
from tinvnn.tasks.tsp.objective import matrix_tour_length, tour_length

__all__ = ["LOCAL_DECODINGS", "LocalDecoding", "LocalSolution", "auto_decoding", "solve_local"]

LOCAL_DECODINGS = ("greedy", "multistart", "sample")
# Improve at most this many cities in total over the best constructed tours.
_IMPROVE_BUDGET = 20_000
_PROGRESS_FROM = 2_000
# Instances up to this size are improved exactly (every tour through the first city: 720 at 7
# cities); a double-bridge kick needs 8 cities, so smaller instances get no kicks.
EXACT_MAX = 7
#: The search's candidate lists (``LocalDecoding.candidates``).
CANDIDATES = {"nearest": neighbour_lists, "delaunay": candidate_lists}


@dataclass(frozen=True)
class LocalDecoding:
    """How a tour is built and improved.

    Attributes:
        decode: ``greedy``, ``multistart`` or ``sample``.
        starts: invariant start cities (``multistart``).
        samples: sampled rollouts (``sample``), besides the greedy one.
        temperature: softmax temperature of ``sample``.
        improve: run the 2-opt + Or-opt improvement step.
        kicks: perturbations of the improved best tour (iterated local search; needs ``improve``);
            None: kicks until the deadline of :func:`solve_local`.
        frames: the frames each decision's view is scored in: ``canonical`` (one), ``weighted``
            or ``fa`` (scores averaged over several; ``tinvnn.tasks.tsp.local.construction``).
        candidates: the search's candidate cities per city: ``delaunay`` (the 10 nearest and up
            to 6 Delaunay neighbours beyond them, which link rows of closely spaced cities:
            ``tinvnn.tasks.tsp.improve.candidate_lists``) or ``nearest`` (the 10 nearest alone).
    """

    decode: str = "greedy"
    starts: int = 1
    samples: int = 16
    temperature: float = 1.0
    improve: bool = True
    kicks: int | None = 0
    frames: str = "canonical"
    candidates: str = "delaunay"

    def __post_init__(self) -> None:
        if self.decode not in LOCAL_DECODINGS:
            raise ValueError(f"decode: expected one of {', '.join(LOCAL_DECODINGS)}, got {self.decode!r}")
        if self.frames not in FRAME_MODES:
            raise ValueError(f"frames: expected one of {', '.join(FRAME_MODES)}, got {self.frames!r}")
        if self.candidates not in CANDIDATES:
            raise ValueError(f"candidates: expected one of {', '.join(CANDIDATES)}, got {self.candidates!r}")
        if self.starts < 1 or self.samples < 1 or not self.temperature > 0 or (self.kicks or 0) < 0:
            raise ValueError(
                "expected starts >= 1, samples >= 1, temperature > 0, kicks >= 0; got "
                f"{self.starts}, {self.samples}, {self.temperature}, {self.kicks}"
            )

    def describe(self) -> str:
        """A label such as ``local policy, multistart x8 + 2-opt/Or-opt/3-opt + 1000 kicks`` (frames other
        than the canonical one are named: ``local policy (fa frames), greedy``)."""
        what = {"greedy": "greedy", "multistart": f"multistart x{self.starts}", "sample": f"sampling x{self.samples}"}
        kicks = (
            " + kicks until the time limit" if self.kicks is None else f" + {self.kicks} kicks" if self.kicks else ""
        )
        lists = " (nearest candidates)" if self.candidates == "nearest" else ""
        improve = f" + 2-opt/Or-opt/3-opt{lists}{kicks}" if self.improve else ""
        frames = "" if self.frames == "canonical" else f" ({self.frames} frames)"
        return f"local policy{frames}, {what[self.decode]}{improve}"


def auto_decoding(num_cities: int, *, improve: bool = True) -> LocalDecoding:
    """The decoding ``tinvnn tsp solve`` uses by default: more starts for smaller instances.

    16 starts up to 200 cities, 4 up to 500 cities, 1 beyond (greedy: one view per step keeps
    1,000 cities at about 2 s of construction on an idle core); with ``improve``,
    ``clip(N, 1000, 10000)`` kicks from 8 cities on (below, the improvement is exact: nothing
    for kicks to find).
    """
    kicks = min(max(num_cities, 1000), 10_000) if improve and num_cities > EXACT_MAX else 0
    if num_cities <= 200:
        return LocalDecoding("multistart", starts=16, improve=improve, kicks=kicks)
    if num_cities <= 500:
        return LocalDecoding("multistart", starts=4, improve=improve, kicks=kicks)
    return LocalDecoding("greedy", improve=improve, kicks=kicks)


@dataclass(frozen=True)
class LocalSolution:
    """A tour and how it was found.

    Attributes:
        tour: (N,) int64 permutation of 0..N-1.
        length: its length in the metric used for the search (Euclidean, or ``dist``).
        method: what built it (``LocalDecoding.describe`` or "trivial").
        stages: the best tour (N,) after each stage that ran: ``construct``, ``2-opt/Or-opt/3-opt``,
            ``kicks`` (the last is ``tour``).
        seconds: time of each stage.
    """

    tour: np.ndarray
    length: float
    method: str
    stages: dict[str, np.ndarray]
    seconds: dict[str, float]


def _lengths(coords: np.ndarray, tours: np.ndarray, dist: np.ndarray | None) -> np.ndarray:
    """Lengths of tours (N,) or (S, N), () or (S,): in ``dist``'s metric when given, else Euclidean."""
    rows = np.atleast_2d(tours)
    if dist is not None:
        lengths = np.array([matrix_tour_length(dist, tour) for tour in rows])
    else:
        lengths = tour_length(torch.from_numpy(coords)[None], torch.from_numpy(rows)[None])[0].numpy()
    return lengths if tours.ndim > 1 else lengths[0]


def _passed(deadline: float | None) -> bool:
    """True when ``deadline`` (a :func:`time.perf_counter` value) is set and has passed."""
    return deadline is not None and time.perf_counter() >= deadline


def _exact_tour(coords: np.ndarray, tour: np.ndarray, dist: np.ndarray | None) -> np.ndarray:
    """The shortest tour (N,) of a tiny instance (every order of the other cities after
    ``tour[0]``); ``tour`` itself unless a tour shorter by more than 1e-9 relative exists (a
    tour the policy and its invariant starts chose stays when there is a tie)."""
    n = len(tour)
    rest = np.array(list(itertools.permutations(tour[1:].tolist())), dtype=np.int64).reshape(-1, n - 1)
    tours = np.concatenate([np.full((len(rest), 1), tour[0], dtype=np.int64), rest], 1)
    lengths = _lengths(coords, tours, dist)
    own = float(_lengths(coords, tour, dist))
    best = int(np.argmin(lengths))
    return tours[best] if lengths[best] < own * (1 - 1e-9) else np.asarray(tour, dtype=np.int64)


def solve_local(
    model: LocalScorer,
    coords: np.ndarray,
    *,
    k: int,
    decoding: LocalDecoding | None = None,
    dist: np.ndarray | None = None,
    seed: int = 0,
    progress: bool | None = None,
    threads: int | None = None,
    deadline: float | None = None,
) -> LocalSolution:
    """Build a tour of ``coords`` with the local-view policy, then (optionally) improve it.

    Args:
        model: the scorer (float64 for exact invariance).
        coords: (N, 2) distinct city coordinates.
        k: candidate slots per decision (``inference_k`` of the policy's checkpoint, ``tinvnn.tasks.tsp.local.recipe``).
        decoding: default :func:`auto_decoding` of N.
        dist: optional (N, N) distances that tours are measured and improved in (EXPLICIT
            instances); default Euclidean on ``coords``.
        seed: seed of ``sample`` and of the kicks.
        progress: progress bar over construction steps (default: from 2,000 cities).
        threads: torch threads of the construction's forward passes (default: one, see
            ``tinvnn.tasks.tsp.local.construction.decoding_threads``); restored afterwards.
        deadline: a :func:`time.perf_counter` value at which the improvement step stops with the
            best tour so far (construction always completes; once the deadline has passed, no
            further tour is improved and the kicks are skipped: only the step under way finishes,
            the neighbour lists, one tour's setup or one move); None: no limit, and
            ``decoding.kicks`` must be a number.

    Returns:
        The shortest tour found. Tours of 1 to 3 cities are returned as ``0..N-1``; with
        ``improve``, instances of up to 7 cities are solved exactly (the constructed tour is kept
        unless a strictly shorter one exists).
    """
    coords = np.asarray(coords, dtype=np.float64)
    check_cities(coords)
    n = len(coords)
    if n <= 3:
        tour = np.arange(n, dtype=np.int64)
        return LocalSolution(
            tour,
            float(_lengths(coords, tour, dist)),
            "trivial (at most 3 cities)",
            {"construct": tour},
            {"construct": 0.0},
        )
    decoding = decoding or auto_decoding(n)
    if decoding.kicks is None and deadline is None:
        raise ValueError("kicks=None (kicks until the time limit) needs a deadline")
    progress = n >= _PROGRESS_FROM if progress is None else progress
    start = time.perf_counter()
    if decoding.decode == "sample":
        first = invariant_starts(coords, 1)
        greedy = construct_tours(model, coords, first, k=k, progress=progress, threads=threads, frames=decoding.frames)
        drawn = construct_tours(
            model,
            coords,
            first * decoding.samples,
            k=k,
            sample=True,
            temperature=decoding.temperature,
            generator=torch.Generator().manual_seed(seed),
            progress=progress,
            threads=threads,
            frames=decoding.frames,
        )
        tours = np.concatenate([greedy, drawn])
    else:
        starts = invariant_starts(coords, decoding.starts if decoding.decode == "multistart" else 1)
        tours = construct_tours(model, coords, starts, k=k, progress=progress, threads=threads, frames=decoding.frames)
    lengths = _lengths(coords, tours, dist)
    stages = {"construct": tours[int(np.argmin(lengths))]}
    seconds = {"construct": time.perf_counter() - start}
    if decoding.improve and not _passed(deadline):
        start = time.perf_counter()
        best = np.argsort(lengths, kind="stable")[: max(1, _IMPROVE_BUDGET // n)]
        near = CANDIDATES[decoding.candidates](coords, DEFAULT_NEIGHBOURS, dist)  # for every tour and the kicks
        improved = []
        for i in best:  # the shortest first, until the deadline
            if _passed(deadline):
                break
            improved.append(improve_tour(coords, tours[i], dist=dist, near=near, deadline=deadline))
        if improved:
            tours = np.stack(improved)
            if n <= EXACT_MAX:
                tours = np.stack([_exact_tour(coords, tours[i], dist) for i in range(len(tours))])
            lengths = _lengths(coords, tours, dist)
            stages["2-opt/Or-opt/3-opt"] = tours[int(np.argmin(lengths))]
            seconds["2-opt/Or-opt/3-opt"] = time.perf_counter() - start
            if decoding.kicks != 0 and not _passed(deadline):
                start = time.perf_counter()
                stages["kicks"] = improve_tour(
                    coords,
                    stages["2-opt/Or-opt/3-opt"],
                    dist=dist,
                    kicks=decoding.kicks,
                    seed=seed,
                    near=near,
                    deadline=deadline,
                )
                seconds["kicks"] = time.perf_counter() - start
    tour = list(stages.values())[-1]
    return LocalSolution(tour, float(_lengths(coords, tour, dist)), decoding.describe(), stages, seconds)
