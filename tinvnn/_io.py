"""Atomic file writes: a killed process never leaves a half-written file behind."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["atomic_write", "json_safe", "stale_temporaries"]


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


def stale_temporaries(directory: str | os.PathLike[str], *, names: tuple[str, ...]) -> list[Path]:
    """Temporary files :func:`atomic_write` left in ``directory`` (a killed process) while writing
    one of the files ``names``; nothing else matches."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for name in names for p in directory.glob(f".{name}.*{TMP_SUFFIX}"))


def json_safe(obj: Any) -> Any:
    """Plain data for strict JSON: non-finite floats become None (JSON has no NaN), tuples lists,
    other objects their ``str``."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return str(obj)
