"""Atomic checkpoints that remember the configuration they were trained with, and cannot run code.

A checkpoint is a ``torch.save`` dictionary ``{"config": dict, "state": dict, "meta": dict}``
holding only tensors, numbers, strings, None and plain containers.

* :func:`save_checkpoint` writes to a temporary file in the same directory and renames it
  over the target, so a run killed mid-write never corrupts the previous checkpoint.
* :func:`load_checkpoint` reads with ``torch.load(weights_only=True)``: a file whose pickle
  would build other objects (and so could run code) is refused with
  :class:`CheckpointMismatchError`, as are truncated or foreign files.
* :func:`read_config` turns the stored configuration into the task's
  :class:`~tinvnn.config.Config` under the one compatibility rule (keys added later
  take their defaults); :func:`check_config` names every difference from an expected one.
"""

from __future__ import annotations

import os
import pickle
import pickletools
import zipfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from tinvnn._io import atomic_write
from tinvnn.config import Config, ConfigError

__all__ = [
    "BEST",
    "LAST",
    "CheckpointMismatchError",
    "check_config",
    "export_weights",
    "load_checkpoint",
    "load_weights",
    "read_config",
    "run_checkpoint_file",
    "save_checkpoint",
]

C = TypeVar("C", bound=Config)

# File names inside a run directory: the last epoch's checkpoint and the best validation's.
LAST, BEST = "checkpoint.pt", "best.pt"


class CheckpointMismatchError(ValueError):
    """The file is not a (safe) tinvnn checkpoint, or was written by another model or configuration."""


def save_checkpoint(
    path: str | os.PathLike[str],
    state: Mapping[str, Any],
    config: Mapping[str, Any],
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``{"config", "state", "meta"}`` to ``path`` atomically (temp file, then rename).

    Args:
        path: target file; its directory is created if needed.
        state: tensors and plain data (model and optimizer state dicts, epoch, RNG state, ...).
        config: the plain-data configuration (str, int, float, bool, None, lists, dicts).
        meta: free-form plain-data extras (metrics so far, class names).

    Returns:
        The path written.
    """
    payload = {"config": dict(config), "state": dict(state), "meta": dict(meta or {})}
    return atomic_write(path, lambda handle: torch.save(payload, handle))


def run_checkpoint_file(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or for a run directory its last-epoch checkpoint (``checkpoint.pt``)."""
    path = Path(path)
    return path / LAST if path.is_dir() else path


def export_weights(run_checkpoint: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write a training checkpoint's model without optimizer and RNG state (the shipped form).

    Args:
        run_checkpoint: a checkpoint of :func:`~tinvnn.training.fit`, or its run directory
            (then its ``checkpoint.pt``, the last epoch).
        out: the file to write.

    Returns:
        ``out``. The file keeps the configuration and the metadata (with ``epoch`` and the
        ``source`` file name added), so the task's loader reads it like the training checkpoint.
    """
    run_checkpoint = run_checkpoint_file(run_checkpoint)
    payload = load_checkpoint(run_checkpoint)
    if "epoch" not in payload["state"] or "model" not in payload["state"]:
        raise CheckpointMismatchError(
            f"{run_checkpoint} is not a training checkpoint (no model weights or epoch; already exported?)"
        )
    meta = {**payload["meta"], "epoch": payload["state"]["epoch"], "source": run_checkpoint.name}
    return save_checkpoint(out, {"model": payload["state"]["model"]}, payload["config"], meta)


def load_checkpoint(
    path: str | os.PathLike[str],
    expected_config: Mapping[str, Any] | None = None,
    *,
    keys: Collection[str] | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, safely (``weights_only=True``).

    Args:
        path: the checkpoint file.
        expected_config: if given, the stored config must agree with it on ``keys``
            (default: every key of ``expected_config``).
        keys: the configuration keys that must agree.
        map_location: passed to ``torch.load``.

    Raises:
        FileNotFoundError: no such file.
        CheckpointMismatchError: not a checkpoint (truncated, foreign, or a pickle that would
            build arbitrary objects), or a config key differs; the message names the file and
            each ``key: checkpoint=... expected=...``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if _calls_foreign_code(path):
            raise CheckpointMismatchError(
                f"{path} refused: it holds objects other than tensors, numbers, strings and containers "
                "(opening it could run code); tinvnn checkpoints never do"
            ) from err
        raise CheckpointMismatchError(
            f"{path} is not a tinvnn checkpoint (not a torch.save file of plain data)"
        ) from err
    except (RuntimeError, EOFError, OSError, AttributeError, ValueError, KeyError, TypeError, IndexError) as err:
        raise CheckpointMismatchError(f"{path} is not a tinvnn checkpoint ({type(err).__name__}: {err})") from err
    if (
        not isinstance(payload, dict)
        or not {"config", "state"} <= payload.keys()
        or not isinstance(payload["config"], dict)
        or not isinstance(payload["state"], dict)
    ):
        raise CheckpointMismatchError(f"{path} is not a tinvnn checkpoint (no 'config'/'state' dictionaries)")
    payload.setdefault("meta", {})
    if expected_config is not None:
        names = list(expected_config) if keys is None else list(keys)
        _raise_diffs(path, payload["config"], expected_config, names)
    return payload


def _plain_global(name: str) -> bool:
    """The callables a ``torch.save`` of tensors and containers names (rebuild helpers, storages)."""
    return (
        name.startswith(("torch._utils.", "torch.storage."))
        or name == "collections.OrderedDict"
        or (name.startswith("torch.") and name.endswith("Storage") and name.count(".") == 1)
    )


def _calls_foreign_code(path: Path) -> bool:
    """The pickle inside a ``torch.save`` zip names a callable other than torch's rebuild helpers
    (read with ``pickletools``, which parses opcodes and executes nothing). A name it cannot
    resolve counts as foreign."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
            data = archive.read(name)
    except (zipfile.BadZipFile, StopIteration, OSError, KeyError):
        return False
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                strings.append(str(arg))
            elif op.name in ("BINGET", "LONG_BINGET", "GET"):
                strings.append("<memo>")  # a name fetched from the memo: unresolved
            elif op.name == "GLOBAL" and not _plain_global(str(arg).replace(" ", ".")):
                return True
            elif op.name == "STACK_GLOBAL" and (len(strings) < 2 or not _plain_global(f"{strings[-2]}.{strings[-1]}")):
                return True
            elif op.name in ("INST", "OBJ"):
                return True
    except (ValueError, pickle.UnpicklingError):
        return False
    return False


def read_config(payload: Mapping[str, Any], cls: type[C], path: str | os.PathLike[str], *, what: str) -> C:
    """The stored configuration as ``cls`` (keys it lacks take their defaults).

    Args:
        payload: from :func:`load_checkpoint`.
        cls: the task's configuration class.
        path: the file (for messages).
        what: the kind of checkpoint expected, for messages ("point-cloud classifier").

    Raises:
        CheckpointMismatchError: the stored keys or values do not fit ``cls`` (another task's
            or model's checkpoint).
    """
    try:
        return cls.from_dict(payload["config"])
    except ConfigError as err:
        raise CheckpointMismatchError(f"{path} is not a {what} checkpoint: {err}") from err


def load_weights(
    model: torch.nn.Module, payload: Mapping[str, Any], path: str | os.PathLike[str], *, what: str
) -> torch.nn.Module:
    """Load ``payload["state"]["model"]`` into ``model`` (built from the stored configuration).

    Raises:
        CheckpointMismatchError: no weights, or weights that do not fit the model (a file
            whose configuration and weights disagree, or another model's).
    """
    try:
        model.load_state_dict(payload["state"]["model"])
    except (RuntimeError, KeyError, TypeError, AttributeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointMismatchError(
            f"{path}: its weights do not fit the {what} its configuration describes ({reason})"
        ) from err
    return model


def check_config(
    path: str | os.PathLike[str], stored: Config, expected: Config, *, ignore: Collection[str] = ()
) -> None:
    """Raise :class:`CheckpointMismatchError` listing each key (outside ``ignore``) that differs."""
    a, b = stored.to_dict(), expected.to_dict()
    _raise_diffs(Path(path), a, b, [k for k in b if k not in ignore])


def _raise_diffs(path: Path, stored: Mapping[str, Any], expected: Mapping[str, Any], names: list[str]) -> None:
    diffs = [
        f"{k}: checkpoint={stored.get(k, '<missing>')!r} expected={expected.get(k, '<missing>')!r}"
        for k in names
        if stored.get(k, "<missing>") != expected.get(k, "<missing>")
    ]
    if diffs:
        raise CheckpointMismatchError(
            f"checkpoint {path} was written with a different configuration:\n  " + "\n  ".join(diffs)
        )
