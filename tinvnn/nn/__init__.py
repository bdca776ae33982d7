"""Modules: the canonicalization transform and the frame-based wrappers that make any backbone
invariant or equivariant (one canonical frame, weighted frames, learned poses, and the peers),
with their public base class :class:`FramedWrapper` for new ones."""

from tinvnn.nn.canonical_coordinates import CanonicalCoordinates
from tinvnn.nn.framed import FramedWrapper
from tinvnn.nn.learned_pose import LearnedPose, PoseScorer
from tinvnn.nn.weighted import WeightedFrames
from tinvnn.nn.wrappers import FrameAveraging, PCAAlign, TinvWrapper

__all__ = [
    "CanonicalCoordinates",
    "FrameAveraging",
    "FramedWrapper",
    "LearnedPose",
    "PCAAlign",
    "PoseScorer",
    "TinvWrapper",
    "WeightedFrames",
]
