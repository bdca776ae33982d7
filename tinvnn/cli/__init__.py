"""The ``tinvnn`` command line: parses arguments and calls the library; nothing else.

Sub-commands are registered by one module per task:

* point clouds (``tinvnn.cli.pointcloud``): ``train``, ``eval``, ``sweep-angle``, ``audit``, ``demo``
* TSP (``tinvnn.cli.tsp``): ``tsp train|eval|solve``
* n-body (``tinvnn.cli.nbody``): ``nbody train|eval``
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from tinvnn.cli import nbody, pointcloud, tsp

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinvnn",
        description="Exactly invariant initial representations for geometric deep learning.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (pointcloud, tsp, nbody):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tinvnn`` and ``python -m tinvnn``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as err:
        print(f"tinvnn: error: {err}", file=sys.stderr)
        return 2
