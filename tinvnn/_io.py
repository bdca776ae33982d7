"""Atomic file writes: a killed process never leaves a half-written file behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "stale_temporaries"]


TMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, flush it to disk, then rename
    it over ``path`` (atomic on POSIX). The directory is created if needed; the file gets the
    usual permissions (0666 less the umask), not the temporary file's 0600.

    Temporary files are named ``.<name>.<random>.tmp``; :func:`stale_temporaries` finds those
    a killed process left behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def stale_temporaries(directory: str | os.PathLike[str]) -> list[Path]:
    """Temporary files of :func:`atomic_write` in ``directory`` (left by a killed process)."""
    directory = Path(directory)
    return sorted(directory.glob(f".*{TMP_SUFFIX}")) if directory.is_dir() else []
