"""Solve a travelling salesman instance from Python: ``tinvnn.tsp.solve``.

Two exactly invariant neural solvers (``tinvnn.tasks.tsp``), one call:

* ``model="local"`` (the default): the shipped local-view policy, construction then 2-opt +
  Or-opt and iterated local search (``tinvnn.tasks.tsp.local``); any size, thousands of cities;
* ``model="attention"``: the TSP-20 attention model with an input variant, decoded once
  (optionally + 2-opt; ``tinvnn.tasks.tsp.attention``): the paper's experiment, for small
  instances.

The tour is the same for every rotation, reflection, scaling, translation and renumbering of
the cities (up to the renumbering). ``tinvnn tsp solve`` is this call plus printing, a plot and
a ``.tour`` file. Loading a model reads its checkpoint once and imports no training code.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from tinvnn._scale import to_unit_range, unit_exponent
from tinvnn.checkpoint import load_checkpoint
from tinvnn.tasks.tsp.attention.decoding import decode_tours
from tinvnn.tasks.tsp.attention.recipe import (
    DECODINGS,
    DEFAULT_ATTENTION_CHECKPOINT,
    checkpoint_file,
    checkpoint_variant,
    load_attention_model,
)
from tinvnn.tasks.tsp.duplicates import expand_tour, merge_duplicates
from tinvnn.tasks.tsp.local.construction import decoding_threads
from tinvnn.tasks.tsp.local.recipe import DEFAULT_LOCAL_CHECKPOINT, inference_k, is_local_policy, load_local_policy
from tinvnn.tasks.tsp.local.solver import LocalDecoding, auto_decoding, solve_local
from tinvnn.tasks.tsp.objective import tour_length
from tinvnn.tasks.tsp.render import plot_tour, tour_title
from tinvnn.tasks.tsp.tsplib import (
    TSPLIBInstance,
    improvement_matrix,
    planar_coordinates,
    read_solutions,
    read_tsplib,
    tour_length_tsplib,
    write_tour,
)

__all__ = ["DECODES", "MODELS", "TSPSolution", "solve"]

log = logging.getLogger(__name__)

#: The solvers: the local-view policy and the TSP-20 attention model.
MODELS = ("local", "attention")
#: Decodings; ``auto`` is size-dependent for the local policy and ``multistart`` for the attention model.
DECODES = ("auto", *DECODINGS)


@dataclass(frozen=True)
class TSPSolution:
    """A tour of an instance and how it was found.

    Attributes:
        tour: (N,) int64, a permutation of the cities 0..N-1 (0-based, in the input's order).
        length: its length in the instance's metric (TSPLIB's for a file, Euclidean for coordinates).
        optimum: the known optimal length, or None.
        gap: ``100 * (length / optimum - 1)`` in percent, or None.
        seconds: wall time of the call (reading, loading the model, solving).
        method: what built the tour, e.g. ``local policy, multistart x16 + 2-opt/Or-opt/3-opt + 1000 kicks``.
        name: the instance's name (``instance`` for coordinates).
        edge_weight_type: the TSPLIB metric, or None for coordinates.
        checkpoint: the model file used.
        model: ``local`` or ``attention``.
        coords: (N, 2) the planar coordinates the solver saw (MDS coordinates for EXPLICIT files).
        k: candidate slots per decision (local policy), else None.
        variant: input variant (attention model), else None.
        duplicates: cities merged into a city at the same point (solved as one, then visited
            right after it: zero-length edges).
        time_limit: the time limit of the call in seconds, or None.
        time_limit_exceeded: True when the call outlasted ``time_limit`` before any search could
            start (the construction, or the neighbour lists after it, took longer): the constructed tour
            is returned.
    """

    tour: np.ndarray
    length: float
    optimum: float | None
    gap: float | None
    seconds: float
    method: str
    name: str
    edge_weight_type: str | None
    checkpoint: str
    model: str
    coords: np.ndarray = dataclasses.field(repr=False)
    k: int | None = None
    variant: str | None = None
    duplicates: int = 0
    time_limit: float | None = None
    time_limit_exceeded: bool = False

    @property
    def num_cities(self) -> int:
        return len(self.tour)

    def record(self) -> dict[str, Any]:
        """What ``tinvnn tsp solve --json`` prints (JSON-ready; without the coordinates)."""
        settings = {"k": self.k} if self.model == "local" else {"variant": self.variant}
        return {
            "tour": self.tour.tolist(),
            "method": self.method,
            "checkpoint": self.checkpoint,
            **settings,
            "name": self.name,
            "n": self.num_cities,
            "edge_weight_type": self.edge_weight_type,
            "length": self.length,
            "optimum": self.optimum,
            "seconds": self.seconds,
            "gap": self.gap,
            "duplicates_merged": self.duplicates,
            "time_limit": self.time_limit,
            "time_limit_exceeded": self.time_limit_exceeded,
        }

    def title(self) -> str:
        """One-line description (and MDS note): instance, method, length, gap; the plot's title."""
        return tour_title(
            self.name,
            self.num_cities,
            self.method,
            self.length,
            optimum=self.optimum,
            gap=self.gap,
            explicit=self.edge_weight_type == "EXPLICIT",
        )

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Save the tour over :attr:`coords` as a PNG."""
        return plot_tour(self.coords, self.tour, self.title(), path)

    def write_tour(self, path: str | os.PathLike[str]) -> Path:
        """Write the tour as a TSPLIB ``.tour`` file (its comment: the length and the method)."""
        return write_tour(self.name, self.tour, path, comment=f"length {self.length:.0f}, {self.method}")


def solve(
    cities: ArrayLike | torch.Tensor | str | os.PathLike[str],
    *,
    model: str | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    decode: str = "auto",
    starts: int | None = None,
    samples: int | None = None,
    improve: bool | None = None,
    kicks: int | None = None,
    k: int | None = None,
    variant: str | None = None,
    seed: int = 0,
    optimum: float | None = None,
    threads: int | None = None,
    progress: bool | None = None,
    time_limit: float | None = None,
    candidates: str | None = None,
) -> TSPSolution:
    """Solve one TSP instance with an exactly invariant neural policy.

    Args:
        cities: (N, 2) city coordinates (array, list or tensor; Euclidean lengths), or
            the path of a TSPLIB ``.tsp`` file (EUC_2D, CEIL_2D, ATT, GEO, MAN_2D, MAX_2D or
            EXPLICIT; lengths in its metric). Cities at one point are solved as one and visited one after the
            other (``duplicates`` of the result counts them).
        model: ``local`` or ``attention`` (default: the kind of ``checkpoint``; without one,
            ``attention`` when a ``variant`` is given, else ``local``).
        checkpoint: the model file (default: the shipped ``tsp_local.pt`` or ``tsp20_tinv.pt``;
            an attention run directory stands for its ``best.pt``).
        decode: ``auto`` (local: multistart x16 up to 200 cities, x4 up to 500, greedy beyond;
            attention: multistart), ``greedy``, ``multistart`` or ``sample``.
        starts: invariant start cities of the local policy's ``multistart`` (default: ``auto``'s
            16 up to 200 cities, else 4); given with ``decode="auto"``, it means multistart.
        samples: sampled rollouts of ``sample`` (default 16 local, 1 per start city attention);
            given with ``decode="auto"`` (local policy), it means sample.
        improve: improvement after construction: 2-opt + Or-opt (local, default on) or 2-opt
            (attention, default off).
        kicks: local: perturbations after 2-opt/Or-opt/3-opt (iterated local search; default
            ``clip(N, 1000, 10000)`` from 8 cities, and with ``time_limit`` as many as fit; 0 none;
            up to 7 cities the improvement is exact).
        k: local: candidate slots per decision (default: the checkpoint's inference k); more
            than the other cities of the instance is clamped to them, with a log note.
        variant: attention: input variant (default: the checkpoint's; ``tinv8`` needs a tinv
            model, ``pomo8`` a unit one).
        seed: seed of sampling and of the kicks.
        optimum: the known optimal length (default for a file: ``solutions.txt`` beside it).
            An optimum longer than the tour found belongs to another instance: no gap then.
        threads: torch threads of the tour construction's forward passes (default: one for
            the local policy's small per-step batches, torch's count for larger ones); torch's
            thread count is restored afterwards.
        progress: progress bar over the construction (default: from 2,000 cities).
        time_limit: seconds from the start of the call after which the local policy's search
            (2-opt/Or-opt/3-opt, then kicks) stops with the best tour so far; kicks then continue until
            the limit (at most ``kicks`` when given). Construction always completes: when it
            (with the search's neighbour lists) outlasts the limit, its tour is returned and
            ``time_limit_exceeded`` is set.
            Default: no limit.
        candidates: local: the search's candidate cities, ``delaunay`` (default: the 10 nearest
            and up to 6 Delaunay neighbours beyond them, which link rows of closely spaced cities
            as in drilling and circuit-board instances) or ``nearest`` (the 10 nearest alone).

    Returns:
        The tour, its length, the gap when the optimum is known, the time and the method.

    Shape:
        cities (N, 2) -> ``tour`` (N,).

    Example:
        >>> import numpy as np
        >>> from tinvnn.tsp import solve
        >>> cities = np.random.default_rng(0).uniform(0, 100, (60, 2))
        >>> result = solve(cities, decode="greedy", kicks=0)
        >>> sorted(result.tour.tolist()) == list(range(60)), result.method
        (True, 'local policy, greedy + 2-opt/Or-opt/3-opt')
        >>> flipped = solve(cities * [-2.0, 2.0] + 7.0, decode="greedy", kicks=0)
        >>> bool((flipped.tour == result.tour).all()), round(flipped.length / result.length, 9)
        (True, 2.0)
    """
    start = time.perf_counter()
    if optimum is not None and not (math.isfinite(optimum) and optimum > 0):
        raise ValueError(f"optimum: expected a finite positive length, got {optimum}")
    if model is not None and model not in MODELS:
        raise ValueError(f"model: expected one of {', '.join(MODELS)}, got {model!r}")
    if decode not in DECODES:
        raise ValueError(f"decode: expected one of {', '.join(DECODES)}, got {decode!r}")
    if samples is not None and not _positive_int(samples):
        raise ValueError(f"samples: expected a positive number of rollouts, got {samples!r}")
    if starts is not None and not _positive_int(starts):
        raise ValueError(f"starts: expected a positive number of start cities, got {starts!r}")
    if kicks is not None and not (_is_int(kicks) and kicks >= 0):
        raise ValueError(f"kicks: expected a number of kicks >= 0, got {kicks!r}")
    if k is not None and not _positive_int(k):
        raise ValueError(f"k: expected a positive number of candidate slots, got {k!r}")
    if not _is_int(seed):
        raise ValueError(f"seed: expected an integer, got {seed!r}")
    decode = _decode_for(decode, starts, samples)
    if threads is not None and not _positive_int(threads):
        raise ValueError(f"threads: expected a positive integer, got {threads!r}")
    if time_limit is not None and not _positive_seconds(time_limit):
        raise ValueError(f"time_limit: expected a finite positive number of seconds, got {time_limit!r}")
    # the checkpoint is read once; bad options fail before the instance is read
    if checkpoint is None:
        model = model or ("attention" if variant is not None else "local")  # only the attention model has variants
        path = DEFAULT_ATTENTION_CHECKPOINT if model == "attention" else DEFAULT_LOCAL_CHECKPOINT
    else:
        path = checkpoint_file(checkpoint)
    payload = load_checkpoint(path)
    kind = model or ("local" if is_local_policy(payload) else "attention")
    settings: dict[str, Any]
    if kind == "local":
        if variant is not None:
            raise ValueError("variant applies to the attention model; the local policy has no variants")
        scorer, _ = load_local_policy(path, payload=payload)
        slots = k or inference_k(path, payload=payload)
        instance, coords, file = _read(cities)
        keep, groups, points = _distinct(coords)
        # the power of two that brings the largest coordinate into [0.5, 1): exact, and the local
        # policy and its search are invariant to scale, so the tour is that of the coordinates as
        # given, from 1e-300 to 1e300 alike
        points = to_unit_range(points)
        if k is not None and k > max(len(points) - 1, 1):
            slots = max(len(points) - 1, 1)
            log.info("k: %d candidate slots clamped to %d, the other cities of the instance", k, slots)
        improve = True if improve is None else improve
        decoding = auto_decoding(len(points), improve=improve)
        if decode != "auto":
            default_starts = decoding.starts if decoding.decode == "multistart" else 4
            decoding = LocalDecoding(
                decode, starts=starts or default_starts, samples=samples or 16, improve=improve, kicks=decoding.kicks
            )
        if candidates is not None:
            decoding = dataclasses.replace(decoding, candidates=candidates)
        if kicks is not None:
            decoding = dataclasses.replace(decoding, kicks=kicks if improve else 0)
        elif time_limit is not None and decoding.kicks:
            decoding = dataclasses.replace(decoding, kicks=None)  # kicks until the time limit
        dist = improvement_matrix(instance) if instance is not None else None
        if dist is not None and len(keep) < len(coords):
            dist = dist[np.ix_(keep, keep)]
        solution = solve_local(
            scorer,
            points,
            k=slots,
            decoding=decoding,
            dist=dist,
            seed=seed,
            progress=progress,
            threads=threads,
            deadline=None if time_limit is None else start + time_limit,
        )
        tour, method, settings = solution.tour, solution.method, {"k": slots}
        if time_limit is not None:
            # no stage after the construction ran, and the limit has passed: construction (or the
            # neighbour lists the search builds after it) outlasted it
            exceeded = len(solution.stages) == 1 and time.perf_counter() - start > time_limit
            method += f", time limit {time_limit:g} s" + (" (exceeded before the search began)" if exceeded else "")
            settings["time_limit_exceeded"] = exceeded
    else:
        if k is not None:
            raise ValueError("k applies to the local policy; the attention model sees every city")
        if time_limit is not None:
            raise ValueError("time_limit applies to the local policy's search; the attention model decodes once")
        if candidates is not None:
            raise ValueError("candidates applies to the local policy's search; the attention model has none")
        if starts is not None:
            raise ValueError(
                "starts applies to the local policy; the attention model's multistart starts at every city"
            )
        network, config = load_attention_model(path, payload=payload)
        chosen = checkpoint_variant(config, variant, path)
        instance, coords, file = _read(cities)
        keep, groups, points = _distinct(coords)
        if (instance is not None and instance.weights is not None) or len(points) < 4:
            raise ValueError(
                "the attention model solves coordinate instances of at least 4 distinct cities; use the local policy"
            )
        chosen_decode = "multistart" if decode == "auto" else decode
        two_opt = bool(improve)
        with decoding_threads(threads, len(points) * (samples or 1)):
            tours, _ = decode_tours(
                network,
                chosen,
                torch.from_numpy(points)[None],
                decode=chosen_decode,
                samples=samples or 1,
                two_opt=two_opt,
                generator=torch.Generator().manual_seed(seed),
            )
        tour = tours[0].numpy()
        method = f"attention policy ({chosen.name}), {chosen_decode}" + (" + 2-opt" if two_opt else "")
        settings = {"variant": chosen.name}

    if len(keep) < len(coords):
        tour = expand_tour(np.asarray(tour), groups)
        log.info("%d duplicate cities (at another city's point) merged: zero-length edges", len(coords) - len(keep))
    known, source = optimum, "the optimum argument"
    if known is None and instance is not None and file is not None:
        solutions = file.parent / "solutions.txt"
        if solutions.is_file():
            known, source = read_solutions(solutions).get(instance.name), str(solutions)
    if instance is not None:
        length = tour_length_tsplib(instance, tour)
    else:
        e = unit_exponent(coords)  # the length of the coordinates scaled into [0.5, 1), scaled back: no overflow
        scaled = torch.from_numpy(np.ldexp(coords, -e))[None]
        length = math.ldexp(float(tour_length(scaled, torch.from_numpy(tour)[None])[0]), e)
    if known is not None and length < known * (1 - 1e-9):
        # shorter than the optimum: that optimum belongs to another instance (same name), or is wrong
        log.warning(
            "the optimum %s from %s is longer than the tour found (%s): it cannot be this instance's; no gap reported",
            f"{known:g}",
            source,
            f"{length:g}",
        )
        known = None
    return TSPSolution(
        tour=np.asarray(tour, dtype=np.int64),
        length=length,
        optimum=known,
        gap=None if known is None else 100.0 * (length / known - 1.0),
        seconds=time.perf_counter() - start,
        method=method,
        name=instance.name if instance is not None else "instance",
        edge_weight_type=instance.edge_weight_type if instance is not None else None,
        checkpoint=str(path),
        model=kind,
        coords=coords,
        duplicates=len(coords) - len(keep),
        time_limit=time_limit,
        **settings,
    )


def _is_int(value: object) -> bool:
    """True for an integer, Python or NumPy, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _positive_int(value: object) -> bool:
    """True for an integer (Python or NumPy, not a bool) of at least 1."""
    return _is_int(value) and bool(value >= 1)  # type: ignore[operator]


def _decode_for(decode: str, starts: int | None, samples: int | None) -> str:
    """The decoding that ``starts`` (multistart) or ``samples`` (sample) ask for: ``auto`` becomes
    it; another decoding given with either is refused (it would be ignored)."""
    if starts is not None and samples is not None:
        raise ValueError("starts and samples: give one (starts: decode multistart, samples: decode sample)")
    wanted = "multistart" if starts is not None else "sample" if samples is not None else None
    if wanted is None or decode == wanted:
        return decode
    if decode == "auto":
        return wanted
    option = "starts" if starts is not None else "samples"
    raise ValueError(f"{option}: applies to decode {wanted!r}, got decode {decode!r}")


def _positive_seconds(value: object) -> bool:
    """True for a finite positive real number (Python or NumPy, not a bool)."""
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
        return False
    return bool(math.isfinite(value) and value > 0)


def _distinct(coords: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """``merge_duplicates(coords)`` and the coordinates of the kept cities (``coords`` itself when
    all are distinct, so tours stay those of the instance as given)."""
    keep, groups = merge_duplicates(coords)
    return keep, groups, coords if len(keep) == len(coords) else coords[keep]


def _read(
    cities: ArrayLike | torch.Tensor | str | os.PathLike[str],
) -> tuple[TSPLIBInstance | None, np.ndarray, Path | None]:
    """The TSPLIB instance, the (N, 2) float64 planar coordinates and the file (None, coordinates, None
    for coordinates)."""
    if isinstance(cities, (str, os.PathLike)):
        instance = read_tsplib(cities)
        return instance, planar_coordinates(instance), Path(cities)
    if isinstance(cities, torch.Tensor):
        cities = cities.detach().cpu().numpy()
    raw = np.asarray(cities)
    if raw.dtype.kind not in "iuf":
        raise ValueError(f"cities: expected real coordinates, got dtype {raw.dtype}")
    coords = raw.astype(np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"cities: expected (N, 2) coordinates or a TSPLIB path, got shape {coords.shape}")
    return None, coords, None
