"""The ``tinvnn`` command line: parses arguments and calls the library; nothing else.

Sub-commands are registered by one module per task (:data:`TASK_COMMANDS`):

* point clouds (``tinvnn.cli.pointcloud``): ``train``, ``eval``, ``sweep-angle``, ``audit``, ``classify``, ``demo``
* TSP (``tinvnn.cli.tsp``): ``tsp train|imitate|finetune|eval|solve``
* n-body (``tinvnn.cli.nbody``): ``nbody train|eval``
* data files (``tinvnn.cli.data``): ``data convert``

Every task module is imported to build the parser, so each keeps its top-level imports light
(argparse, the configuration classes that give its flags, what inference needs); a handler
that trains imports the training code when it runs. So ``tinvnn classify`` loads none.

The core install (torch, numpy) runs ``tinvnn --help`` and ``tinvnn --version``. A task whose
module needs a missing optional dependency still appears in ``--help``; running it prints one
line naming the ``pip install`` that adds the dependency and exits with status 2, as does any
command that reaches a missing optional dependency later.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from tinvnn import __version__
from tinvnn._optional import MissingDependencyError, missing_dependency

__all__ = ["TASK_COMMANDS", "build_parser", "main"]

# Each task's CLI module and the sub-commands its ``register`` adds: listed here so that they
# show in ``tinvnn --help`` (as unavailable) when the module cannot be imported.
TASK_COMMANDS: dict[str, tuple[str, ...]] = {
    "tinvnn.cli.pointcloud": ("train", "eval", "sweep-angle", "audit", "classify", "demo"),
    "tinvnn.cli.tsp": ("tsp",),
    "tinvnn.cli.nbody": ("nbody",),
    "tinvnn.cli.data": ("data",),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``tinvnn`` parser with every task's sub-commands (placeholders for unavailable ones)."""
    parser = argparse.ArgumentParser(
        prog="tinvnn",
        description="Exactly invariant initial representations for geometric deep learning.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name, commands in TASK_COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            for command in commands:
                _register_unavailable(sub, command, err)
        else:
            module.register(sub)
    return parser


def _register_unavailable(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], command: str, err: ModuleNotFoundError
) -> None:
    """A placeholder sub-command that takes any arguments and reports the missing dependency."""
    missing = missing_dependency(err, f"tinvnn {command}", command=command)
    if missing is None:  # not an optional dependency: a bug, shown in full
        raise err
    p = sub.add_parser(command, add_help=False, help=f"(unavailable without {missing.name}: {missing.install})")
    p.set_defaults(unavailable=missing)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tinvnn`` and ``python -m tinvnn``; returns the exit status.

    Exit status: 0 success; 2 bad input, a missing optional dependency, or a failure of a file
    or a disk (read-only, full, ...: one line on stderr, never a traceback); 130 on Ctrl-C (one
    line; a run continues with ``--resume``); a sub-command may return others (``tinvnn audit
    --rtol`` returns 1 above the tolerance).
    """
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    unavailable: MissingDependencyError | None = getattr(args, "unavailable", None)
    if unavailable is not None:
        return _fail(unavailable)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"tinvnn: {_stopped(args)}", file=sys.stderr)
        return 130
    except ModuleNotFoundError as err:
        missing = missing_dependency(err, f"tinvnn {args.command}", command=args.command)
        if missing is None:
            raise
        return _fail(missing)
    except ValueError as err:
        return _fail(err)
    except OSError as err:  # a file or a disk: read-only, full, a name too long, not a directory, ...
        return _fail(_os_error_line(err))


def _stopped(args: argparse.Namespace) -> str:
    """What Ctrl-C left: a run directory can be continued with --resume."""
    out = getattr(args, "out", None)
    if hasattr(args, "resume") and out is not None:
        return f"stopped; resume with --resume (--out {out})"
    return "stopped"


def _os_error_line(err: OSError) -> str:
    """One line for a failure of a file or a disk: the file, then the system's reason."""
    if err.strerror is None:  # raised with a message of ours (or a library's), not by the system
        return str(err)
    names = [str(n) for n in (err.filename, err.filename2) if n is not None]
    return f"{' -> '.join(names) + ': ' if names else ''}{err.strerror}"


def _fail(err: Exception | str) -> int:
    print(f"tinvnn: error: {err}", file=sys.stderr)
    return 2
