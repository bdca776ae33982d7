"""Dispatch to the fused kernel (:mod:`tinvnn._kernels`, needs numba) for :func:`tinvnn.canonicalize`.

With numba installed (``tinvnn[fast]``), 3-D float32 and float64 batches on the CPU without
autograd, outside ``torch.compile``, whose samples have equal sizes (a padded batch without a
mask, or a flat batch that is a reshape of one) and whose group the kernel implements
(:attr:`tinvnn.group.Group.kernel_handedness`) take the fused kernel: three passes over each
cloud, no per-operation dispatch. It finishes the samples clear of every threshold of the rule
and marks the others, which :mod:`tinvnn.canonical` recomputes by its tensor path.
``FAST_KERNELS = False`` here (or the environment variable ``TINVNN_FAST=0``) turns it off.
"""

from __future__ import annotations

import functools
import importlib
import os
from types import ModuleType
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from tinvnn._layout import Layout
from tinvnn._progress import announce_compilation
from tinvnn.group import Group

__all__ = ["FAST_KERNELS", "KernelFrames", "kernel_frames", "load_kernels"]

FAST_KERNELS = os.environ.get("TINVNN_FAST", "1") != "0"


class KernelFrames(NamedTuple):
    """What the fused kernel returns for B samples (float64 NumPy arrays unless noted): centroids
    (B, 3), mean squared radii (B,), eigenvalues (B, 3), canonical axes ``R`` (B, 3, 3),
    eigen-gaps (B,), sign margins (B,), ``done`` (B,) bool (the sample was clear; its other
    entries are undefined otherwise), the dense points ``x`` (B, N, 3) it read and their
    canonical points ``out`` (B, N, 3) in the input dtype (rows of samples not done undefined)."""

    centre: np.ndarray
    mean_square: np.ndarray
    evals: np.ndarray
    R: np.ndarray
    eigen_gap: np.ndarray
    sign_margin: np.ndarray
    done: np.ndarray
    x: Tensor
    out: Tensor


def kernel_frames(
    pos: Tensor, layout: Layout, group: Group, *, scale: bool, bounds: tuple[float, float, float, float]
) -> KernelFrames | None:
    """The fused kernel's frames of ``pos`` (laid out as ``layout``) for ``group``, or None where
    it does not apply (see the module docstring). ``bounds``: the clear-sample bounds of
    :func:`tinvnn._kernels.frames` (null tolerance, gap limit, low and high sign thresholds)."""
    handedness = group.kernel_handedness
    if (
        handedness is None
        or torch.compiler.is_compiling()
        or not FAST_KERNELS
        or pos.shape[-1] != 3
        or pos.dtype not in (torch.float32, torch.float64)
        or pos.device.type != "cpu"
        or pos.requires_grad
        or layout.mask is not None
        or (layout.kind == "flat" and not layout.contiguous)
    ):
        return None
    kernels = load_kernels()
    if kernels is None:
        return None
    x = layout.to_dense(pos).contiguous()
    out = torch.empty(x.shape, dtype=pos.dtype)
    centre, mean_square, evals, R, eigen_gap, sign_margin, done = kernels.frames(
        x.numpy(), out.numpy(), scale, handedness, *bounds
    )
    return KernelFrames(centre, mean_square, evals, R, eigen_gap, sign_margin, done, x, out)


@functools.cache
def load_kernels() -> ModuleType | None:
    """:mod:`tinvnn._kernels`, or None without numba (or where numba finds no writable cache
    directory, its RuntimeError at import)."""
    try:
        kernels = importlib.import_module("tinvnn._kernels")
    except (ImportError, RuntimeError):
        return None
    announce_compilation(kernels, "the fused kernel")  # one INFO line when numba compiles, not on a cache hit
    return kernels
