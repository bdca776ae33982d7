"""``LearnedPose``: the backbone on the poses a small invariant scorer prefers, learned end to end.

The canonical frame fixes the axis signs and order of the principal axes by rules (skewness,
variance), so shapes of one class can land in different poses (a tall bookshelf and a low TV
stand both put their longest axis first), and "up" is lost. ``LearnedPose`` lets the data decide
instead: the candidate poses are the canonical points under every signed permutation of the
axes (48 in 3-D; 24 rotations for ``group="SO"``; the 8 (``"O2z"``) or 4 (``"SO2z"``) that keep
the axis of a group that keeps one), a *set* that does not depend on the sign and
order rules at all; a small scorer rates every candidate, and the backbone runs on the
``max_frames`` best-rated ones, averaged with continuous weights (a softmax of the scores,
capped as in :func:`tinvnn.weighted_frames`). Trained jointly, the scorer learns to present
every shape in the pose the backbone classifies best (a learned canonicalization, as in Kaba
et al., "Equivariance with Learned Canonicalization Functions", ICML 2023, and the pose selector
of Li et al., "A Closer Look at Rotation-invariant Deep Point Cloud Analysis", ICCV 2021).

Exactly invariant: the candidate set, the scores and hence the weighted average are functions
of the canonical points up to a signed permutation (float rounding aside); where the axes are
undefined (repeated eigenvalues) the tie rule of :func:`tinvnn.canonicalize` fixes them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tinvnn._checks import check_positive_int
from tinvnn.canonical import canonical_frame
from tinvnn.frame_set import FrameSet, cap_weights, mapped_frames
from tinvnn.group import Group, signed_permutations
from tinvnn.nn.framed import FramedWrapper

__all__ = ["LearnedPose", "PoseScorer"]


class PoseScorer(nn.Module):
    """Scores (B, K) of the poses ``points @ maps[k]`` of each sample: a one-layer PointNet.

    Per point and pose ``relu(W (z P_k) + b)`` (``hidden`` channels), pooled over the real
    points by max and mean, then an MLP to one score. The first layer is linear, so all K poses
    cost one product with the stacked ``P_k W^T`` (K D x hidden), not K passes over the points.

    Shape:
        points (B, N, D), maps (K, D, D), mask (B, N) or None -> scores (B, K).
    """

    def __init__(self, dim: int = 3, hidden: int = 16) -> None:
        super().__init__()
        self.embed = nn.Linear(dim, hidden)
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, points: Tensor, maps: Tensor, mask: Tensor | None = None) -> Tensor:
        b, n, _ = points.shape
        k, hidden = maps.shape[0], self.embed.out_features
        weight = (maps.to(points.dtype) @ self.embed.weight.T.to(points.dtype)).permute(1, 0, 2)  # (D, K, hidden)
        feats = torch.relu(points @ weight.reshape(weight.shape[0], -1) + self.embed.bias.repeat(k))  # (B, N, K*hidden)
        feats = feats.view(b, n, k, hidden)
        if mask is None:
            pooled = torch.cat([feats.amax(1), feats.mean(1)], -1)
        else:
            real = mask[:, :, None, None].to(feats.dtype)
            pooled = torch.cat([(feats * real).amax(1), (feats * real).sum(1) / real.sum(1)], -1)  # feats >= 0
        scores: Tensor = self.head(pooled.to(self.embed.weight.dtype))
        return scores.squeeze(-1).to(points.dtype)  # (B, K)


class LearnedPose(FramedWrapper):
    """Exactly invariant (or equivariant): the backbone on each sample's best-scored poses.

    Args:
        backbone: as in :class:`TinvWrapper`; it sees a batch of poses (F, N, D) [+ mask], or
            flat points with a ``batch`` vector numbering the poses.
        group, scale, output, scale_vectors: as in :class:`TinvWrapper`. The candidates are
            the signed permutations in the group (``group="SO"``: determinant +1, rotations of
            the canonical frame).
        scorer: module mapping (points (B, N, D), maps (K, D, D), mask) to scores (B, K);
            default :class:`PoseScorer` for ``dim`` coordinates.
        max_frames: poses per sample the backbone runs on (the best scored; their weights
            are the capped softmax of the scores, continuous in the input).
        dim: coordinates per point, for the default scorer and the candidates.

    Shape:
        pos (B, N, D) [+ mask (B, N)], (N, D) or flat (N_total, D) + batch; output as for
        :class:`TinvWrapper`.

    Example:
        >>> model = LearnedPose(nn.Linear(3, 8))
        >>> model(torch.randn(2, 100, 3)).shape
        torch.Size([2, 100, 8])
    """

    maps: Tensor

    def __init__(
        self,
        backbone: nn.Module,
        *,
        group: Group | str = "O",
        scale: bool = True,
        output: str = "invariant",
        scale_vectors: bool = True,
        scorer: nn.Module | None = None,
        max_frames: int = 2,
        dim: int = 3,
    ) -> None:
        super().__init__(backbone, group=group, scale=scale, output=output, scale_vectors=scale_vectors)
        self.max_frames = check_positive_int(max_frames, "max_frames")
        maps = signed_permutations(dim)
        maps = maps[self.group.canonical_group().contains(maps)]
        self.register_buffer("maps", maps, persistent=False)
        self.scorer = PoseScorer(dim) if scorer is None else scorer

    def frame_set(self, pos: Tensor, mask: Tensor | None, batch: Tensor | None) -> FrameSet:
        dense, frame = canonical_frame(pos, mask=mask, batch=batch, scale=self.scale, group=self.group)
        layout = frame.layout
        if pos.shape[-1] != self.maps.shape[-1]:
            raise ValueError(f"pos: expected {self.maps.shape[-1]} coordinates per point (dim), got {pos.shape[-1]}")
        scores = self.scorer(dense, self.maps, layout.mask)  # (B, K)
        weight = cap_weights(torch.softmax(scores.double(), -1), self.max_frames)
        sample, pose = weight.detach().nonzero(as_tuple=True)
        return mapped_frames(frame, dense, sample, self.maps[pose], weight[sample, pose])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, candidates={self.maps.shape[0]}, max_frames={self.max_frames}"
