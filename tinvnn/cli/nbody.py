"""CLI sub-commands for the nbody task (placeholder until that task lands)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this task's sub-commands to the tinvnn parser."""
