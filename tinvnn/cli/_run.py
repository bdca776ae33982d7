"""Flags every task's commands share, from one place: the run harness's options for training
commands, ``--device``/``--threads``/``--progress`` for the others.

Light: it imports :mod:`tinvnn.config` and :mod:`tinvnn.runtime`, never the training loop."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from tinvnn.config import add_arguments, from_args
from tinvnn.runtime import DEVICE_HELP, RunOptions, resolve_device, set_threads

__all__ = ["add_run_arguments", "add_runtime_arguments", "run_options", "runtime_device"]


def add_run_arguments(parser: argparse.ArgumentParser, *, out: str) -> None:
    """The :class:`~tinvnn.runtime.RunOptions` flags (``--out`` defaulting to ``out``)."""
    group = parser.add_argument_group("run (where and how; not stored with the model)")
    add_arguments(group, RunOptions)  # type: ignore[arg-type]
    parser.set_defaults(out=out)


def run_options(args: argparse.Namespace) -> RunOptions:
    """The :class:`~tinvnn.runtime.RunOptions` the flags of :func:`add_run_arguments` describe.

    Raises:
        ValueError: a flag out of range, or ``<out>/checkpoint.pt`` exists and is not a file
            (refused here, before any training, not when the first epoch is saved).
    """
    options = from_args(RunOptions, args)
    last = Path(options.out) / "checkpoint.pt"
    if last.exists() and not last.is_file():
        raise ValueError(f"{last} exists and is not a file; expected the run's checkpoint (--out {options.out})")
    return options


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--threads`` and ``--progress/--no-progress`` for commands that do not train."""
    defaults = RunOptions()
    parser.add_argument(
        "--device",
        default=defaults.device,
        metavar="DEVICE",
        help=f"{DEVICE_HELP} (default: %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="torch CPU threads (default: torch's choice)",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="progress: a bar on a terminal, a log line every 10 s otherwise (default: on)",
    )


def runtime_device(args: argparse.Namespace) -> torch.device:
    """Apply ``--threads`` and return the device ``--device`` names (errors name the flag)."""
    set_threads(args.threads)
    return resolve_device(args.device)
