"""What differs when the engine runs under ``torch.compile``: data-dependent branches.

Eagerly, the engine branches in Python on a flag's value (one host synchronisation). A traced
graph cannot read values, so there both branches are traced and ``torch.cond`` picks one on the
device. (Value checks become ``torch._assert_async`` where they are made: ``_layout``,
``canonical._check_values``, ``canonical.check_scale``.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor

__all__ = ["branch", "compiling"]

Out = TypeVar("Out")


def compiling() -> bool:
    """True while ``torch.compile`` traces the caller."""
    return bool(torch.compiler.is_compiling())


def branch(flag: Tensor, fn: Callable[..., Out], operands: tuple[Tensor | None, ...]) -> Out:
    """``fn(*operands, slow=bool(flag))`` for a scalar bool ``flag``: ``torch.cond`` when
    compiling (``fn`` must then not mutate its operands in the ``slow=True`` branch), else a
    Python branch on its value."""
    if compiling():
        out: Out = torch.cond(flag, functools.partial(fn, slow=True), functools.partial(fn, slow=False), operands)
        return out
    return fn(*operands, slow=bool(flag))
