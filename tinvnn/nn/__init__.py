"""Modules: the canonicalization transform and the frame-based wrappers that make any backbone
invariant or equivariant."""

from tinvnn.nn.canonicalize import Canonicalize
from tinvnn.nn.weighted import WeightedFrames
from tinvnn.nn.wrappers import FrameAveraging, PCAAlign, TinvWrapper

__all__ = ["Canonicalize", "FrameAveraging", "PCAAlign", "TinvWrapper", "WeightedFrames"]
