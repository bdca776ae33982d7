"""Atomic checkpoints that remember the configuration they were trained with.

A checkpoint is a ``torch.save`` dictionary ``{"config": dict, "state": dict, "meta": dict}``.
:func:`save_checkpoint` writes to a temporary file in the same directory and renames it over
the target, so a run killed mid-write never corrupts the previous checkpoint.
:func:`load_checkpoint` refuses a checkpoint whose configuration differs from the expected one
in the keys that matter, and names every difference.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from tinvnn._io import atomic_write

__all__ = ["CheckpointMismatchError", "save_checkpoint", "load_checkpoint"]


class CheckpointMismatchError(ValueError):
    """The checkpoint was written by another model or configuration."""


def save_checkpoint(
    path: str | os.PathLike[str],
    state: Mapping[str, Any],
    config: Mapping[str, Any],
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``{"config", "state", "meta"}`` to ``path`` atomically (temp file, then rename).

    Args:
        path: target file; its directory is created if needed.
        state: anything ``torch.save`` accepts (model and optimizer state dicts, epoch, ...).
        config: the plain-data configuration (str, int, float, bool, None, lists, dicts).
        meta: free-form extras (metrics so far, versions).

    Returns:
        The path written.
    """
    payload = {"config": dict(config), "state": dict(state), "meta": dict(meta or {})}
    return atomic_write(path, lambda handle: torch.save(payload, handle))


def load_checkpoint(
    path: str | os.PathLike[str],
    expected_config: Mapping[str, Any] | None = None,
    *,
    keys: Iterable[str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the checkpoint file.
        expected_config: if given, the stored config must agree with it on ``keys``
            (default: every key of ``expected_config``).
        keys: the configuration keys that must agree.
        defaults: values of keys that checkpoints written before the key existed lack (a
            missing key compares as its default, so older runs still resume).
        map_location: passed to ``torch.load``.

    Raises:
        FileNotFoundError: no such file.
        CheckpointMismatchError: the file is not a tinvnn checkpoint, or a config key differs;
            the message lists each ``key: checkpoint=... expected=...``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ValueError) as err:
        raise CheckpointMismatchError(f"{path} is not a tinvnn checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(payload, dict) or not {"config", "state"} <= payload.keys():
        raise CheckpointMismatchError(f"{path} is not a tinvnn checkpoint (no 'config'/'state')")
    if expected_config is not None:
        stored = {**(defaults or {}), **payload["config"]}
        names = list(expected_config) if keys is None else list(keys)
        diffs = [
            f"{k}: checkpoint={stored.get(k, '<missing>')!r} expected={expected_config.get(k, '<missing>')!r}"
            for k in names
            if stored.get(k, "<missing>") != expected_config.get(k, "<missing>")
        ]
        if diffs:
            raise CheckpointMismatchError(
                f"checkpoint {path} was written with a different configuration:\n  " + "\n  ".join(diffs)
            )
    return payload
