"""tinvnn: exactly invariant, distance-preserving initial representations for any network.

The engine turns point sets into canonical coordinates, invariant to translation, rotation,
reflection and scale, from which the unchanged backbone learns (Zhang et al., "Revisiting
Transformation Invariant Geometric Deep Learning: Are Initial Representations All You Need?").

Public API:
    canonicalize, principal_axes, Frame, weighted_frames, FrameSet, mds, MDSInfo,
    check_invariance, check_equivariance, InvarianceReport, the groups Group, Orthogonal ("O"),
    Rotations ("SO"), AxialRotations ("SO2z", "O2z": about an axis, "up" kept), random_orthogonal,
    random_similarity, Similarity, AmbiguityWarning,
    NonEuclideanWarning; modules in :mod:`tinvnn.nn`.
"""

from tinvnn.audit import InvarianceReport, check_equivariance, check_invariance
from tinvnn.canonical import AmbiguityWarning, canonicalize, principal_axes
from tinvnn.frame import Frame
from tinvnn.frame_set import FrameSet
from tinvnn.group import AxialRotations, Group, Orthogonal, Rotations, Similarity, random_orthogonal, random_similarity
from tinvnn.mds import MDSInfo, NonEuclideanWarning, mds
from tinvnn.weighted_frames import weighted_frames

__version__ = "0.1.0"

__all__ = [
    "AmbiguityWarning",
    "AxialRotations",
    "Frame",
    "FrameSet",
    "Group",
    "InvarianceReport",
    "MDSInfo",
    "NonEuclideanWarning",
    "Orthogonal",
    "Rotations",
    "Similarity",
    "canonicalize",
    "check_equivariance",
    "check_invariance",
    "mds",
    "principal_axes",
    "random_orthogonal",
    "random_similarity",
    "weighted_frames",
]
