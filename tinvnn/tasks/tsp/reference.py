"""Near-optimal reference tours from LKH-3 (through the ``elkai`` package), cached on disk.

Euclidean instances are handed to LKH as an explicit integer matrix of the distances times
``precision`` (default 1e6, rounded), because LKH works in integers; the reference length
reported is the float64 Euclidean length of LKH's tour. Lengths of a test set are cached in
``tinvnn.paths.cache_dir() / "tsp_reference"`` under a hash of the coordinates' bytes and the
settings, so a changed test set never reuses stale lengths. The cache is written atomically, and
a file that cannot be read (or holds anything but the lengths) is regenerated with a warning.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from tinvnn._io import atomic_write
from tinvnn.paths import cache_dir
from tinvnn.tasks.tsp.heuristics import euclidean_matrix
from tinvnn.tasks.tsp.objective import tour_length

__all__ = ["lkh_tour", "reference_lengths"]

log = logging.getLogger(__name__)


def lkh_tour(dist: np.ndarray, *, runs: int = 1, precision: float = 1e6) -> np.ndarray:
    """LKH-3's tour (N,) int64 for an (N, N) symmetric distance matrix (``dist * precision`` rounded)."""
    import elkai  # optional dependency (extra "tasks")

    if dist.ndim != 2 or dist.shape[0] != dist.shape[1] or dist.shape[0] < 3:
        raise ValueError(f"expected an (N, N) distance matrix with N >= 3, got shape {dist.shape}")
    weights = np.rint(dist * precision).astype(np.int64).tolist()
    tour = elkai.DistanceMatrix(weights).solve_tsp(runs=runs)
    return np.asarray(tour[:-1], dtype=np.int64)  # elkai repeats the first city at the end


def _read_cache(path: Path, num: int) -> Tensor | None:
    """The cached lengths (num,), or None with a warning when the file cannot be read or holds
    something else (truncated by a kill or a full disk before writes were atomic, or foreign)."""
    try:
        cached = torch.load(path, weights_only=True)
    except Exception as err:  # any unreadable file: a cache is regenerated, never trusted
        log.warning("reference cache %s cannot be read (%s): regenerating it", path, err)
        return None
    if not (isinstance(cached, Tensor) and cached.shape == (num,) and cached.dtype == torch.float64):
        log.warning("reference cache %s holds something else: regenerating it", path)
        return None
    if not torch.isfinite(cached).all():
        log.warning("reference cache %s holds non-finite lengths: regenerating it", path)
        return None
    return cached


def reference_lengths(coords: Tensor, *, runs: int = 1, precision: float = 1e6, cache: bool = True) -> Tensor:
    """LKH-3 reference lengths (B,) float64 of Euclidean instances (B, N, 2), cached on disk."""
    coords = coords.double().contiguous()
    key = hashlib.sha256(coords.numpy().tobytes() + f"{tuple(coords.shape)}-{runs}-{precision}".encode()).hexdigest()[
        :24
    ]
    path = cache_dir() / "tsp_reference" / f"{key}.pt"
    if cache and path.is_file():
        cached = _read_cache(path, len(coords))
        if cached is not None:
            return cached
    tours = torch.stack(
        [torch.from_numpy(lkh_tour(euclidean_matrix(c.numpy()), runs=runs, precision=precision)) for c in coords]
    )
    lengths = tour_length(coords, tours)
    if cache:
        atomic_write(path, lambda handle: torch.save(lengths, handle))
        log.info("cached %d reference lengths in %s", len(lengths), path)
    return lengths
