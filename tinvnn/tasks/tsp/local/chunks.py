"""Numbered chunk files of a generated data set (LKH-3 tours, DAgger labels) in the cache.

A data set is a directory of ``chunk_0000.pt``, ``chunk_0001.pt``, .., each a list of dicts of
tensors written atomically, so a chunk file that exists is complete: generation skips it and
resumes at the first missing one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tinvnn._io import atomic_write

__all__ = ["chunk_path", "missing_chunks", "save_chunk", "load_chunks"]


def chunk_path(directory: Path, index: int) -> Path:
    """The file of chunk ``index`` in ``directory``."""
    return directory / f"chunk_{index:04d}.pt"


def missing_chunks(directory: Path, count: int) -> list[int]:
    """The indices among ``0 .. count - 1`` whose chunk is not written yet (creates ``directory``)."""
    directory.mkdir(parents=True, exist_ok=True)
    return [r for r in range(count) if not chunk_path(directory, r).is_file()]


def save_chunk(directory: Path, index: int, items: list[dict[str, Any]]) -> None:
    """Write chunk ``index`` atomically."""
    atomic_write(chunk_path(directory, index), lambda handle: torch.save(items, handle))


def load_chunks(directory: Path, count: int, what: str, command: str) -> list[dict[str, Any]]:
    """The items of chunks ``0 .. count - 1``, in order.

    Raises:
        FileNotFoundError: naming ``what`` the chunks hold and the ``command`` that generates
            them, when any is missing.
    """
    files = [chunk_path(directory, r) for r in range(count)]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {count} {what} chunks missing in {directory} (first {missing[0]}); run {command}"
        )
    return [item for f in files for item in torch.load(f, weights_only=True)]
