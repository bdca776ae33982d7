"""The n-body dataset: generated on first use, cached, split into train / validation / test.

Task (EGNN benchmark): from the positions, velocities and charges at frame ``frame_in``
predict the positions at frame ``frame_out`` (with the defaults 30 and 40: 1,000 integration
steps, one time unit, later). The three splits are drawn from independent child seeds of
``seed`` (``numpy.random.SeedSequence(seed).spawn(3)``), so changing one split's size never
changes another split's systems.

The full trajectories (all recorded frames, float32) are cached once per configuration as
``<cache>/nbody/charged_<key>.npz`` under :func:`tinvnn.paths.cache_dir`; the key hashes every
setting that changes the numbers. The cache is written atomically (temporary file, rename).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from tinvnn._io import atomic_write
from tinvnn.paths import cache_dir
from tinvnn.tasks.nbody.simulator import ChargedSystem, simulate_charged

__all__ = ["NBodyConfig", "NBodySplit", "SPLITS", "load_nbody", "trajectory_cache_path"]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class NBodyConfig:
    """Which systems, how many, and which frames form an (input, target) pair.

    Attributes:
        n_train, n_val, n_test: systems per split (benchmark: 3,000 / 2,000 / 2,000).
        seed: root seed of the three splits.
        frame_in, frame_out: recorded frames used as input and target (0-based).
        system: the simulated system.
    """

    n_train: int = 3000
    n_val: int = 2000
    n_test: int = 2000
    seed: int = 43
    frame_in: int = 30
    frame_out: int = 40
    system: ChargedSystem = field(default_factory=ChargedSystem)

    def __post_init__(self) -> None:
        if self.system.dim != 3:
            raise ValueError(f"system.dim: expected 3 (the n-body models take 3-D coordinates), got {self.system.dim}")
        for name in ("n_train", "n_val", "n_test"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected at least 1 system, got {getattr(self, name)}")
        frames = self.system.n_frames
        if not 0 <= self.frame_in < self.frame_out < frames:
            raise ValueError(
                f"frames: expected 0 <= frame_in < frame_out < {frames} (recorded frames), "
                f"got frame_in={self.frame_in}, frame_out={self.frame_out}"
            )

    def sizes(self) -> dict[str, int]:
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}


@dataclass(frozen=True)
class NBodySplit:
    """One split as float32 tensors.

    Shape:
        loc, vel: ``(S, n, d)`` positions and velocities at ``frame_in``.
        charges: ``(S, n)``.
        target: ``(S, n, d)`` positions at ``frame_out``.
    """

    loc: torch.Tensor
    vel: torch.Tensor
    charges: torch.Tensor
    target: torch.Tensor

    def __len__(self) -> int:
        return self.loc.shape[0]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(loc, vel, charges, target)``."""
        return self.loc, self.vel, self.charges, self.target

    def subset(self, index: torch.Tensor | slice) -> NBodySplit:
        """The systems selected by ``index`` (a slice or an index tensor)."""
        return NBodySplit(*(t[index] for t in self.tensors()))

    def to(self, device: torch.device | str) -> NBodySplit:
        """The same systems on ``device``."""
        return NBodySplit(*(t.to(device) for t in self.tensors()))


def _split_key(split: str, num: int, config: NBodyConfig) -> str:
    settings = {"split": split, "num": num, "seed": config.seed, "system": asdict(config.system)}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def trajectory_cache_path(split: str, config: NBodyConfig, root: str | os.PathLike[str] | None = None) -> Path:
    """Where the trajectories of ``split`` for ``config`` are cached."""
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    num = config.sizes()[split]
    return cache_dir(root) / "nbody" / f"charged_{split}{num}_{_split_key(split, num, config)}.npz"


def _generate(split: str, config: NBodyConfig) -> dict[str, np.ndarray]:
    child = np.random.SeedSequence(config.seed).spawn(len(SPLITS))[SPLITS.index(split)]
    traj = simulate_charged(config.sizes()[split], np.random.default_rng(child), config.system)
    return {
        "loc": traj.loc.astype(np.float32),
        "vel": traj.vel.astype(np.float32),
        "charges": traj.charges.astype(np.float32),
    }


def _load_or_generate(split: str, config: NBodyConfig, root: str | os.PathLike[str] | None) -> dict[str, np.ndarray]:
    path = trajectory_cache_path(split, config, root)
    if path.is_file():
        try:
            with np.load(path) as data:
                return {k: data[k] for k in ("loc", "vel", "charges")}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            # the cache is derived data: a damaged file is regenerated, never trusted
            log.warning(
                "cached n-body split %s is unreadable (%s: %s); generating it again", path, type(err).__name__, err
            )
    log.info("generating %d n-body systems (%s split) into %s", config.sizes()[split], split, path)
    arrays = _generate(split, config)
    atomic_write(path, lambda handle: np.savez(handle, loc=arrays["loc"], vel=arrays["vel"], charges=arrays["charges"]))
    return arrays


def load_nbody(
    config: NBodyConfig = NBodyConfig(), *, root: str | os.PathLike[str] | None = None
) -> dict[str, NBodySplit]:
    """The three splits, generating and caching each on first use.

    Args:
        config: sizes, seed, frames and system.
        root: cache directory override (default :func:`tinvnn.paths.cache_dir`).

    Returns:
        ``{"train": NBodySplit, "val": NBodySplit, "test": NBodySplit}``.

    Example:
        >>> data = load_nbody(NBodyConfig(n_train=2, n_val=2, n_test=2))  # doctest: +SKIP
        >>> data["train"].loc.shape  # doctest: +SKIP
        torch.Size([2, 5, 3])
    """
    out = {}
    for split in SPLITS:
        arrays = _load_or_generate(split, config, root)
        out[split] = NBodySplit(
            loc=torch.from_numpy(arrays["loc"][:, config.frame_in].copy()),
            vel=torch.from_numpy(arrays["vel"][:, config.frame_in].copy()),
            charges=torch.from_numpy(arrays["charges"].copy()),
            target=torch.from_numpy(arrays["loc"][:, config.frame_out].copy()),
        )
    return out
