"""The compared methods, built around one backbone, so every comparison is one command.

* ``none``: the backbone on raw coordinates.
* ``aug``: the same network, trained with a random element of the group (the rotation protocol
  that draws it: O3 for ``group="O"``, SO3 for ``"SO"``, z for ``"SO2z"``, O2z for ``"O2z"``;
  :func:`~tinvnn.tasks.classification.protocols.protocol_for`) applied to every training cloud
  on top of the training protocol.
* ``pca``: PCA alignment without sign fixing (PyTorch Geometric's ``NormalizeRotation``),
  :class:`tinvnn.nn.PCAAlign`.
* ``fa``: Frame Averaging over the 2^3 sign-flipped PCA frames (2^2 for SO; for the groups
  that keep "up", the in-plane axes flipped: 4 for O2z, 2 for SO2z),
  :class:`tinvnn.nn.FrameAveraging`; eight (four, two) backbone calls per cloud.
* ``tinv``: canonical coordinates (TinvNN), :class:`tinvnn.nn.TinvWrapper`; one backbone call.
* ``weighted``: the weighted canonical frames, :class:`tinvnn.nn.WeightedFrames` (default
  threshold and cap); one backbone call for a confident cloud, up to four for an undecided
  one, in training and evaluation.
* ``weighted_draw``: the same model, trained on one frame per cloud drawn by its weight (the
  training cost of ``tinv``); evaluation averages over the weighted frames.
* ``learned``: the poses a small scorer learns to prefer among the 48 signed axis permutations
  of the canonical frame, :class:`tinvnn.nn.LearnedPose`; two backbone calls per cloud.
"""

from __future__ import annotations

import typing

from torch import nn

from tinvnn.group import GROUP_NAMES
from tinvnn.models import DGCNN, PointNet
from tinvnn.nn import FrameAveraging, LearnedPose, PCAAlign, TinvWrapper, WeightedFrames
from tinvnn.tasks.classification.protocols import Protocol, protocol_for
from tinvnn.weighted_frames import DEFAULT_MAX_FRAMES, DEFAULT_THRESHOLD, check_frame_options

__all__ = [
    "BACKBONES",
    "METHODS",
    "BackboneBuilder",
    "build_backbone",
    "check_method_options",
    "dgcnn_backbone",
    "pointnet_backbone",
    "train_augmentation",
    "wrap_backbone",
]

METHODS = ("none", "aug", "pca", "fa", "tinv", "weighted", "weighted_draw", "learned")
WEIGHTED_METHODS = ("weighted", "weighted_draw")


def _check(kind: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"unknown {kind} {value!r}; expected one of {valid}")


class BackboneBuilder(typing.Protocol):
    """How :data:`BACKBONES` builds a backbone: points (B, N, 3) -> logits (B, num_classes).

    ``width`` is the global feature width (at least 8); a backbone ignores the options it lacks
    (PointNet ``k``, DGCNN ``feature_transform``).
    """

    def __call__(self, num_classes: int, *, width: int, k: int, feature_transform: bool) -> nn.Module: ...


def _head(width: int) -> tuple[int, int]:
    return min(512, width // 2), min(256, width // 4)


def pointnet_backbone(num_classes: int, *, width: int, k: int, feature_transform: bool) -> nn.Module:
    """PointNet with the paper's layer sizes capped at ``width``; ignores ``k``."""
    return PointNet(
        num_classes,
        local_widths=(min(64, width),) * 2,
        global_widths=(min(64, width), min(128, width), width),
        head_widths=_head(width),
        feature_transform=feature_transform,
    )


def dgcnn_backbone(num_classes: int, *, width: int, k: int, feature_transform: bool) -> nn.Module:
    """DGCNN with the paper's EdgeConv widths capped at ``width``; ignores ``feature_transform``."""
    edges = tuple(min(c, width) for c in (64, 64, 128, 256))
    return DGCNN(num_classes, k=k, edge_widths=edges, embedding=width, head_widths=_head(width))


#: The backbones by name: the one place a new backbone is added (``docs/extend-backbone.md``).
BACKBONES: dict[str, BackboneBuilder] = {"pointnet": pointnet_backbone, "dgcnn": dgcnn_backbone}


def build_backbone(
    name: str, num_classes: int, *, width: int = 1024, k: int = 20, feature_transform: bool = False
) -> nn.Module:
    """The backbone :data:`BACKBONES` names, with global feature width ``width`` (1024 in both papers).

    The layers below the global feature keep the papers' sizes capped at ``width``; the head is
    (width/2, width/4) capped at (512, 256). PointNet ignores ``k``; DGCNN ignores
    ``feature_transform``.

    Shape:
        the returned module maps points (B, N, 3) -> logits (B, num_classes).
    """
    _check("backbone", name, tuple(BACKBONES))
    if width < 8:
        raise ValueError(f"expected width >= 8, got {width}")
    return BACKBONES[name](num_classes, width=width, k=k, feature_transform=feature_transform)


def wrap_backbone(
    method: str,
    backbone: nn.Module,
    *,
    group: str = "O",
    sign_augment: bool = False,
    threshold: float = DEFAULT_THRESHOLD,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> nn.Module:
    """Wrap ``backbone`` for ``method`` (one of :data:`METHODS`) and ``group`` ("O" or "SO").

    ``none`` and ``aug`` return the backbone itself (``aug`` differs in training only).
    ``sign_augment`` (``tinv`` only): random axis signs of the canonical frame in training,
    see :class:`tinvnn.nn.TinvWrapper`. ``threshold`` and ``max_frames`` (``weighted`` and
    ``weighted_draw`` only): see :class:`tinvnn.nn.WeightedFrames`.
    """
    _check("method", method, METHODS)
    _check("group", group, GROUP_NAMES)
    check_method_options(method, sign_augment=sign_augment, threshold=threshold, max_frames=max_frames)
    if method in ("none", "aug"):
        return backbone
    if method == "pca":
        return PCAAlign(backbone)
    if method == "fa":
        return FrameAveraging(backbone, group=group)
    if method == "learned":
        return LearnedPose(backbone, group=group)
    if method in WEIGHTED_METHODS:
        train_frames = "draw" if method == "weighted_draw" else "average"
        return WeightedFrames(
            backbone, group=group, threshold=threshold, max_frames=max_frames, train_frames=train_frames
        )
    return TinvWrapper(backbone, group=group, sign_augment=sign_augment)


def check_method_options(
    method: str,
    *,
    sign_augment: bool = False,
    threshold: float = DEFAULT_THRESHOLD,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> None:
    """Raise unless each method-specific option is at its default or ``method`` has it.

    ``sign_augment`` belongs to ``tinv``; ``threshold`` and ``max_frames`` (checked as in
    :func:`tinvnn.weighted_frames.check_frame_options`) to ``weighted`` and ``weighted_draw``.
    """
    if sign_augment and method != "tinv":
        raise ValueError(f"sign_augment: an option of method 'tinv' only, got method {method!r}")
    check_frame_options(threshold, max_frames)
    if (threshold, max_frames) != (DEFAULT_THRESHOLD, DEFAULT_MAX_FRAMES) and method not in WEIGHTED_METHODS:
        raise ValueError(f"threshold, max_frames: options of methods {WEIGHTED_METHODS} only, got method {method!r}")


def train_augmentation(method: str, group: str) -> Protocol | None:
    """The extra random transformation ``method`` applies to training clouds (None: nothing)."""
    _check("method", method, METHODS)
    _check("group", group, GROUP_NAMES)
    if method != "aug":
        return None
    return protocol_for(group)
