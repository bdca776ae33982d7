"""Modules: the canonicalization transform and the frame-based wrappers that make any backbone
invariant or equivariant (one canonical frame, weighted frames, learned poses, and the peers)."""

from tinvnn.nn.canonicalize import Canonicalize
from tinvnn.nn.learned_pose import LearnedPose, PoseScorer
from tinvnn.nn.weighted import WeightedFrames
from tinvnn.nn.wrappers import FrameAveraging, PCAAlign, TinvWrapper

__all__ = ["Canonicalize", "FrameAveraging", "LearnedPose", "PCAAlign", "PoseScorer", "TinvWrapper", "WeightedFrames"]
