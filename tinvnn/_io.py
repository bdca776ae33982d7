"""Atomic file writes: a killed process never leaves a half-written file behind."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["atomic_write", "atomic_write_all", "error_line", "json_safe", "stale_temporaries"]


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
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        _name_the_file(err, path)
        raise
    return path


def _name_the_file(err: BaseException, path: Path) -> None:
    """Raise ``err`` again naming ``path`` when it is a system error without a file name (a
    ``write`` on a full disk names none), so the one-line message says which file failed."""
    if isinstance(err, OSError) and err.errno is not None and err.filename is None:
        raise type(err)(err.errno, err.strerror, str(path)) from err


def atomic_write_all(writers: Mapping[Path, Callable[[BinaryIO], object]]) -> list[Path]:
    """Write several files as one: each ``writer(handle)`` fills a temporary beside its path
    (in order, flushed to disk); only when every one succeeded are they all renamed over their
    paths. On any failure (a writer's error, a full disk, Ctrl-C) every temporary is removed,
    no path is replaced, and a directory this call created is removed again if left empty.

    Returns:
        The paths, in order.
    """
    created = {missing for target in writers for missing in _missing_folders(Path(target).parent)}
    temporaries: list[tuple[Path, Path]] = []
    try:
        for target, write in writers.items():
            target = Path(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TMP_SUFFIX, dir=target.parent)
            temporaries.append((Path(name), target))
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException as err:
        for temporary, _ in temporaries:
            temporary.unlink(missing_ok=True)
        for directory in sorted(created, key=lambda d: len(d.parts), reverse=True):
            _remove_if_empty(directory)
        if temporaries:
            _name_the_file(err, temporaries[-1][1])
        raise
    for temporary, target in temporaries:
        os.replace(temporary, target)
    return [target for _, target in temporaries]


def _missing_folders(directory: Path) -> list[Path]:
    """``directory`` and those of its ancestors that do not exist yet (what ``mkdir -p`` creates)."""
    missing = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    return missing


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass  # not empty, or already gone: leave it


def stale_temporaries(directory: str | os.PathLike[str], *, names: tuple[str, ...]) -> list[Path]:
    """Temporary files :func:`atomic_write` left in ``directory`` (a killed process) while writing
    one of the files ``names``; nothing else matches."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for name in names for p in directory.glob(f".{name}.*{TMP_SUFFIX}"))


def error_line(err: Exception) -> str:
    """One line for an error: a failure of a file or a disk (an :class:`OSError` raised by the
    system) as the file, then the system's reason; any other error as its message."""
    if not isinstance(err, OSError) or err.strerror is None:  # a message of ours (or a library's)
        return str(err)
    names = [str(n) for n in (err.filename, err.filename2) if n is not None]
    return f"{' -> '.join(names) + ': ' if names else ''}{err.strerror}"


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
