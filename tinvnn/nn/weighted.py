"""``WeightedFrames``: the backbone averaged over each sample's weighted canonical frames."""

from __future__ import annotations

from torch import Tensor, nn

from tinvnn._checks import check_choice
from tinvnn.frame_set import FrameSet
from tinvnn.group import Group
from tinvnn.nn.framed import FramedWrapper
from tinvnn.weighted_frames import DEFAULT_MAX_FRAMES, DEFAULT_THRESHOLD, check_frame_options, weighted_frames

__all__ = ["WeightedFrames", "TRAIN_FRAMES"]

TRAIN_FRAMES = ("average", "draw")


class WeightedFrames(FramedWrapper):
    """Exactly invariant (or equivariant), and continuous where the canonical frame jumps.

    Runs ``backbone`` on every frame of :func:`tinvnn.weighted_frames` (one frame for a sample
    whose canonical decisions are all confident, up to ``max_frames`` for an undecided one),
    all samples' frames in one call, and returns the weighted average of the outputs (vector and
    point outputs mapped back through their own frame first).

    Args:
        backbone: as in :class:`TinvWrapper`; it sees a batch of frames (F, N, D) [+ mask], or
            flat points with a ``batch`` vector numbering the frames.
        group, scale, output, scale_vectors: as in :class:`TinvWrapper`.
        threshold: confidence (margin over its standard error) beyond which a decision keeps
            only the canonical choice (:func:`tinvnn.weighted_frames`).
        max_frames: cap on frames per sample (None: no cap).
        orders: also weigh the order of nearly equal variances, not only the axis signs.
        train_frames: ``"average"`` (training outputs are the weighted average too) or
            ``"draw"`` (in training mode, one frame per sample drawn by its weight: the cost
            of :class:`TinvWrapper`). Eval mode always averages.

    Shape:
        pos (B, N, D) [+ mask (B, N)], (N, D) or flat (N_total, D) + batch; output as for
        :class:`TinvWrapper`.

    Example:
        >>> model = WeightedFrames(nn.Linear(3, 8), threshold=2.0, max_frames=8)
        >>> model(torch.randn(2, 100, 3)).shape
        torch.Size([2, 100, 8])
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        group: Group | str = "O",
        scale: bool = True,
        output: str = "invariant",
        scale_vectors: bool = True,
        threshold: float = DEFAULT_THRESHOLD,
        max_frames: int | None = DEFAULT_MAX_FRAMES,
        orders: bool = True,
        train_frames: str = "average",
    ) -> None:
        super().__init__(backbone, group=group, scale=scale, output=output, scale_vectors=scale_vectors)
        check_frame_options(threshold, max_frames)
        self.threshold = threshold
        self.max_frames = max_frames
        self.orders = orders
        self.train_frames = check_choice(train_frames, "train_frames", TRAIN_FRAMES)

    def frame_set(self, pos: Tensor, mask: Tensor | None, batch: Tensor | None) -> FrameSet:
        return weighted_frames(
            pos,
            mask=mask,
            batch=batch,
            scale=self.scale,
            group=self.group,
            threshold=self.threshold,
            max_frames=self.max_frames,
            orders=self.orders,
            draw=self.training and self.train_frames == "draw",
        )

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, threshold={self.threshold}, max_frames={self.max_frames}, "
            f"orders={self.orders}, train_frames={self.train_frames!r}"
        )
