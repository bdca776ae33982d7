"""DAgger for the local-view TSP policy: LKH-3 labels on the states of the policy's own tours.

Behaviour cloning (``tinvnn.tasks.tsp.local.imitation``) trains on LKH-3's partial tours only; in a
greedy rollout the policy soon reaches states LKH would never produce (cities left behind by an
earlier mistake) and its errors compound. DAgger (Ross et al., 2011) labels the policy's own
states instead:

1. roll the policy out greedily (``construct_tours``) on random instances of mixed families
   (``ImitationConfig.families``) and sizes, from a few random start cities and the invariant one;
2. at a few random steps ``t`` of each rollout, ask LKH-3 for the shortest **open path** from the
   current city through every unvisited city to the start city (:func:`expert_path`);
3. store the rollout's first ``t + 1`` cities followed by that path: a complete tour whose steps
   ``t, t + 1, ..`` are states with an optimal continuation (a suffix of an optimal path is
   optimal for its own residual problem), so one LKH call labels several consecutive states
   (``ImitationConfig.dagger_steps``; the first is the policy's own state, the next ones keep
   its visited set with the expert's moves).

:func:`generate_dagger` writes these tours once into ``cache_dir() / "tsp_imitation" /
"dagger-v1" / <policy sha256 prefix>-seed<seed>`` (other families than the default: ``-<names
joined by +>`` appended) in numbered chunks (atomic, resumable, with a
progress bar); :func:`load_dagger` reads them back for :class:`~tinvnn.tasks.tsp.local.imitation.ImitationData`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from tinvnn._progress import Progress
from tinvnn.paths import cache_dir
from tinvnn.tasks.tsp.heuristics import euclidean_matrix
from tinvnn.tasks.tsp.instances import FAMILIES, TRAINING_FAMILIES
from tinvnn.tasks.tsp.local.chunks import load_chunks, missing_chunks, save_chunk
from tinvnn.tasks.tsp.local.construction import construct_tours, invariant_starts
from tinvnn.tasks.tsp.local.recipe import load_local_policy
from tinvnn.tasks.tsp.reference import lkh_tour

__all__ = ["DAGGER_SIZES", "dagger_dir", "expert_path", "generate_dagger", "load_dagger"]

#: Instance sizes of the DAgger rollouts (drawn uniformly), families in turn.
DAGGER_SIZES = (100, 200, 300, 500, 1000)
#: Rollouts per instance: the invariant start and random start cities.
_ROLLOUTS = 4
#: Labelled steps (LKH calls) per rollout.
_SOLVES = 4
#: Largest residual problem handed to LKH (unvisited cities); later steps only on larger instances.
_MAX_RESIDUAL = 300
_INSTANCES_PER_CHUNK = 8
_SEED_BASE = 2_000_000_000  # disjoint from the behaviour-cloning tours' and the test sets' seeds
_DEFAULT_FAMILIES = tuple(FAMILIES)


def expert_path(coords: np.ndarray, current: int, unvisited: np.ndarray, start: int) -> np.ndarray:
    """LKH-3's shortest open path from ``current`` through every ``unvisited`` city to ``start``.

    Reduction to a closed tour: the cities ``[current, *unvisited, start]`` and one dummy node at
    distance 0 from ``current`` and ``start`` and ``M`` from every other city, ``M`` one more than
    the length of the path that visits ``unvisited`` in the given order. A tour with the dummy
    between ``current`` and ``start`` costs the length of an open path; any other tour costs at
    least ``M``, more than that feasible path, so the optimal tour is the optimal path plus the
    dummy.

    Args:
        coords: (N, 2) city coordinates.
        current: the current city.
        unvisited: (m,) the cities still to visit, m >= 1 (their order only sets ``M``).
        start: the start city, where the path ends.

    Returns:
        (m,) the unvisited cities in the order of the path.
    """
    nodes = np.concatenate([[current], unvisited, [start]]).astype(np.int64)
    m = len(nodes)
    dist = np.zeros((m + 1, m + 1))
    dist[:m, :m] = euclidean_matrix(coords[nodes])
    big = float(np.diagonal(dist, 1)[: m - 1].sum()) + 1.0
    dist[m, 1 : m - 1] = dist[1 : m - 1, m] = big
    tour = lkh_tour(dist)
    tour = np.roll(tour, -int(np.flatnonzero(tour == m)[0]))[1:]  # dummy first, then dropped
    if tour[0] == m - 1:
        tour = tour[::-1]
    if tour[0] != 0 or tour[-1] != m - 1:
        raise RuntimeError("LKH-3 did not place the dummy node between the current and start cities")
    return nodes[tour[1:-1]]


def dagger_dir(policy: Path, seed: int, families: tuple[str, ...] = _DEFAULT_FAMILIES) -> Path:
    """The cache directory of the DAgger tours of the policy file ``policy`` (keyed by its sha256)
    on instances of ``families``."""
    digest = hashlib.sha256(Path(policy).read_bytes()).hexdigest()[:16]
    suffix = "" if families == _DEFAULT_FAMILIES else "-" + "+".join(families)
    return cache_dir() / "tsp_imitation" / "dagger-v1" / f"{digest}-seed{seed}{suffix}"


def _instance(index: int, seed: int, families: tuple[str, ...]) -> tuple[str, np.ndarray, np.random.Generator]:
    """Family (of ``families`` in turn), coordinates (N, 2) float64 and a NumPy generator of DAgger
    instance ``index``."""
    generator = torch.Generator().manual_seed(_SEED_BASE + 100_003 * seed + index)
    rng = np.random.default_rng([_SEED_BASE, seed, index])
    family = families[index % len(families)]
    n = int(rng.choice(DAGGER_SIZES))
    return family, TRAINING_FAMILIES[family](1, n, generator=generator, dtype=torch.float64)[0].numpy(), rng


def _label_instance(model: torch.nn.Module, k: int, index: int, seed: int, families: tuple[str, ...]) -> dict:
    """Roll the policy out on instance ``index`` and label ``_SOLVES`` steps of each rollout.

    Returns:
        ``family``, ``coords`` (N, 2) float64, ``tours`` (R, N) int64 (a rollout's first
        ``step + 1`` cities, then the expert path), ``steps`` (R,) int64 and ``policy`` (R,)
        int64, the city the policy chose after ``step`` (for its disagreement with LKH).
    """
    family, coords, rng = _instance(index, seed, families)
    n = len(coords)
    starts = list(dict.fromkeys(invariant_starts(coords, 1) + rng.choice(n, _ROLLOUTS - 1).tolist()))
    rollouts = construct_tours(model, coords, starts, k=k)  # type: ignore[arg-type]
    first = max(1, n - 1 - _MAX_RESIDUAL)  # t: the rollout has visited tour[: t + 1]
    tours, steps, policy = [], [], []
    for rollout in rollouts:
        for t in np.sort(rng.choice(np.arange(first, n - 2), min(_SOLVES, n - 2 - first), replace=False)):
            path = expert_path(coords, int(rollout[t]), rollout[t + 1 :], int(rollout[0]))
            tours.append(np.concatenate([rollout[: t + 1], path]))
            steps.append(int(t))
            policy.append(int(rollout[t + 1]))
    return {
        "family": family,
        "coords": torch.from_numpy(coords),
        "tours": torch.from_numpy(np.stack(tours)),
        "steps": torch.tensor(steps),
        "policy": torch.tensor(policy),
    }


def generate_dagger(
    policy: Path,
    instances: int,
    *,
    seed: int = 0,
    families: tuple[str, ...] = _DEFAULT_FAMILIES,
    progress: bool = True,
) -> Path:
    """Label ``instances`` random instances with the greedy rollouts of ``policy`` (resumable).

    Chunk ``r`` holds instances ``8 r .. 8 r + 7`` (see :func:`_label_instance`); it is
    written atomically, so existing chunks are complete and are skipped. About 4 LKH-3 calls on
    residual problems of at most 300 cities per rollout, 4 rollouts per instance.

    Args:
        policy: the local-view policy file whose rollouts are labelled.
        instances: number of instances (rounded up to whole chunks).
        seed: seed of the instances, starts and steps.
        families: names of ``TRAINING_FAMILIES``, drawn in turn; each set has its own directory.

    Returns:
        The directory of the chunks.
    """
    directory = dagger_dir(policy, seed, families)
    todo = missing_chunks(directory, -(-instances // _INSTANCES_PER_CHUNK))
    if not todo:
        return directory
    model, config = load_local_policy(policy)
    total = len(todo) * _INSTANCES_PER_CHUNK
    bar: Progress[None] = Progress(total=total, desc="DAgger labels", unit="instance", enabled=progress)
    for r in todo:
        chunk = []
        for index in range(r * _INSTANCES_PER_CHUNK, (r + 1) * _INSTANCES_PER_CHUNK):
            chunk.append(_label_instance(model, config.k, index, seed, families))
            bar.update()
        save_chunk(directory, r, chunk)
    bar.close()
    return directory


def load_dagger(
    policy: Path, instances: int, *, seed: int = 0, families: tuple[str, ...] = _DEFAULT_FAMILIES
) -> list[dict]:
    """The labelled instances of the first ``ceil(instances / 8)`` chunks (see :func:`generate_dagger`)."""
    directory = dagger_dir(policy, seed, families)
    return load_chunks(directory, -(-instances // _INSTANCES_PER_CHUNK), "DAgger", "generate_dagger")
