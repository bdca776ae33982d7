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
import os
import select
import sys
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

from tinvnn import __version__
from tinvnn._io import error_line
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
    line; a run continues with ``--resume``); 141 when the reader of the output goes away (as
    ``| head`` does; no message); a sub-command may return others (``tinvnn audit --rtol``
    returns 1 above the tolerance). Warnings print as ``tinvnn: warning: ...`` lines.
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
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            status = int(args.func(args) or 0)
            sys.stdout.flush()  # a reader that went away is met here, not at exit
            return status
    except BrokenPipeError as err:
        if not _stdout_closed():
            return _fail(error_line(err))  # another pipe of the command's (a worker, a subprocess)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the reader went away: quietly
        return 141
    except KeyboardInterrupt:
        print(f"tinvnn: {_stopped(args)}", file=sys.stderr)
        return 130
    except ModuleNotFoundError as err:
        missing = missing_dependency(err, f"tinvnn {args.command}", command=args.command)
        if missing is None:
            raise
        return _fail(missing)
    except ValueError as err:
        return _fail(_as_flag(str(err), parser, args))
    except OSError as err:  # a file or a disk: read-only, full, a name too long, not a directory, ...
        return _fail(error_line(err))


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone away (``poll`` reports an error
    on it; False where that cannot be told)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no file descriptor (captured)
        return False


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: Any = None,
) -> None:
    """A warning as one line, ``tinvnn: warning: ...``, without the source line Python adds."""
    print(f"tinvnn: warning: {message}", file=sys.stderr if file is None else file)


def _as_flag(message: str, parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """A library message about an argument (``"top: expected ..."``) spelt with the command's
    flag (``"--top: expected ..."``) when the command has one of that name; else as it is."""
    name, sep, rest = message.partition(": ")
    if not sep or not name.isidentifier() or name not in vars(args):
        return message
    flag = "--" + name.replace("_", "-")
    return f"{flag}: {rest}" if flag in _chosen_options(parser, args) else message


def _chosen_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> set[str]:
    """The option strings of the sub-command ``args`` ran (``tsp solve``: its own and the
    top-level ones), following each level's chosen sub-parser."""
    found: set[str] = set()
    for action in parser._actions:
        found.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            if chosen is not None:
                found |= _chosen_options(chosen, args)
    return found


def _stopped(args: argparse.Namespace) -> str:
    """What Ctrl-C left: a run directory can be continued with --resume."""
    out = getattr(args, "out", None)
    if hasattr(args, "resume") and out is not None:
        return f"stopped; resume with --resume (--out {out})"
    return "stopped"


def _fail(err: Exception | str) -> int:
    print(f"tinvnn: error: {err}", file=sys.stderr)
    return 2
