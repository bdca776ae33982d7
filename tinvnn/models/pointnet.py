"""PointNet classifier (Qi et al., CVPR 2017) in plain PyTorch, without the input T-Net.

The input T-Net (a learned 3x3 alignment) is left out on purpose: wrapped in
:class:`tinvnn.nn.TinvWrapper` the input is already in a canonical pose, and unwrapped it never
made PointNet rotation-invariant anyway. The 64x64 feature T-Net is kept as an option.

The model is usable on its own: ``PointNet(40)(points)`` with points of shape (B, N, 3).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["PointNet", "FeatureTNet", "shared_mlp", "masked_max", "point_inputs", "run_single_cloud"]


def shared_mlp(widths: Sequence[int], in_channels: int, *, last_activation: bool = True) -> nn.Sequential:
    """A per-point MLP (PointNet's 1x1 convolutions): Linear, BatchNorm, ReLU per layer.

    Shape:
        input (B, C_in, N) -> output (B, widths[-1], N) (channels first, as ``nn.Conv1d``).
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for i, width in enumerate(widths):
        layers.append(nn.Conv1d(channels, width, 1, bias=False))
        layers.append(nn.BatchNorm1d(width))
        if last_activation or i < len(widths) - 1:
            layers.append(nn.ReLU())
        channels = width
    return nn.Sequential(*layers)


def masked_max(features: Tensor, mask: Tensor | None) -> Tensor:
    """Max over points, ignoring padded points.

    Shape:
        features (B, C, N), mask (B, N) bool (True = real point) or None -> (B, C).
    """
    if mask is None:
        return features.amax(dim=-1)
    fill = torch.finfo(features.dtype).min
    return features.masked_fill(~mask[:, None, :], fill).amax(dim=-1)


class FeatureTNet(nn.Module):
    """PointNet's feature-transform network: predicts a (C, C) matrix from the point features.

    Shape:
        features (B, C, N), mask (B, N) or None -> transform (B, C, C), initialised at identity.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.encoder = shared_mlp((64, 128, 1024), channels)
        hidden = (
            nn.Linear(1024, 512, bias=False),
            nn.BatchNorm1d(512),
            nn.ReLU(),
            nn.Linear(512, 256, bias=False),
            nn.BatchNorm1d(256),
            nn.ReLU(),
        )
        last = nn.Linear(256, channels * channels)  # built after the others: the same initialisation
        self.head = nn.Sequential(*hidden, last)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, features: Tensor, mask: Tensor | None = None) -> Tensor:
        pooled = masked_max(self.encoder(features), mask)
        delta: Tensor = self.head(pooled).view(-1, self.channels, self.channels)
        return delta + torch.eye(self.channels, dtype=delta.dtype, device=delta.device)


class PointNet(nn.Module):
    """PointNet classification network (vanilla, no input T-Net).

    Per-point MLP ``local_widths`` -> optional feature T-Net -> per-point MLP ``global_widths``
    -> max pool over points -> MLP ``head_widths`` with dropout -> class logits. The paper's
    sizes are the defaults: (64, 64), (64, 128, 1024), (512, 256), dropout 0.3.

    Args:
        num_classes: number of output logits.
        in_channels: channels per point: 3 coordinates, plus 3 per extra vector (e.g. normals),
            plus the number of extra invariant features.
        local_widths, global_widths, head_widths: layer widths.
        dropout: dropout probability before the last layer.
        feature_transform: add the 64x64 feature T-Net; after each forward pass
            ``feature_transform_loss`` holds its orthogonality regulariser
            ``mean ||I - A A^T||_F^2`` (0 without the T-Net).

    Shape:
        pos (B, N, 3); vectors (B, N, 3) or (B, N, K, 3) or None; features (B, N, F) or None;
        mask (B, N) bool (True = real point) or None -> logits (B, num_classes). One cloud
        (N, 3) with (N, ...) extras and no mask -> (num_classes,).

    Example:
        >>> net = PointNet(10, global_widths=(64, 128, 256), head_widths=(128, 64))
        >>> net.eval()(torch.randn(2, 100, 3)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        num_classes: int,
        *,
        in_channels: int = 3,
        local_widths: Sequence[int] = (64, 64),
        global_widths: Sequence[int] = (64, 128, 1024),
        head_widths: Sequence[int] = (512, 256),
        dropout: float = 0.3,
        feature_transform: bool = False,
    ) -> None:
        super().__init__()
        if not local_widths or not global_widths:
            raise ValueError(
                f"expected non-empty local_widths and global_widths, got {local_widths!r}, {global_widths!r}"
            )
        self.in_channels = in_channels
        self.local = shared_mlp(local_widths, in_channels)
        self.feature_tnet = FeatureTNet(local_widths[-1]) if feature_transform else None
        self.globl = shared_mlp(global_widths, local_widths[-1])
        head: list[nn.Module] = []
        channels = global_widths[-1]
        for width in head_widths:
            head += [nn.Linear(channels, width, bias=False), nn.BatchNorm1d(width), nn.ReLU()]
            channels = width
        head += [nn.Dropout(dropout), nn.Linear(channels, num_classes)]
        self.head = nn.Sequential(*head)
        self.feature_transform_loss: Tensor = torch.zeros(())

    def forward(
        self,
        pos: Tensor,
        vectors: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        features: Tensor | None = None,
    ) -> Tensor:
        if pos.dim() == 2:
            return run_single_cloud(self, pos, vectors, mask, features)
        x = point_inputs(pos, vectors, features, self.in_channels)
        h = self.local(x.transpose(1, 2))
        if self.feature_tnet is not None:
            transform = self.feature_tnet(h, mask)
            h = torch.bmm(transform.transpose(1, 2), h)
            eye = torch.eye(transform.shape[-1], dtype=h.dtype, device=h.device)
            gram = transform @ transform.transpose(1, 2)
            self.feature_transform_loss = (gram - eye).square().sum(dim=(1, 2)).mean()
        logits: Tensor = self.head(masked_max(self.globl(h), mask))
        return logits


def run_single_cloud(
    model: nn.Module, pos: Tensor, vectors: Tensor | None, mask: Tensor | None, features: Tensor | None
) -> Tensor:
    """Run a batched point-cloud ``model`` on one cloud (N, 3) as a batch of one; drop the batch dim."""
    if mask is not None:
        raise ValueError(f"expected no mask with a single cloud {tuple(pos.shape)}, got {tuple(mask.shape)}")
    extra = None if features is None else features[None]
    out: Tensor = model(pos[None], None if vectors is None else vectors[None], features=extra)
    return out[0]


def point_inputs(pos: Tensor, vectors: Tensor | None, features: Tensor | None, in_channels: int) -> Tensor:
    """Concatenate coordinates, flattened per-point vectors and invariant features.

    Shape:
        pos (B, N, 3); vectors (B, N, 3) | (B, N, K, 3) | None; features (B, N, F) | None
        -> (B, N, in_channels). Raises ValueError when the channel count differs.
    """
    if pos.dim() != 3:
        raise ValueError(f"expected pos of shape (B, N, D), got {tuple(pos.shape)}")
    parts = [pos]
    if vectors is not None:
        parts.append(vectors.reshape(*pos.shape[:2], -1))
    if features is not None:
        parts.append(features)
    x = torch.cat(parts, dim=-1) if len(parts) > 1 else pos
    if x.shape[-1] != in_channels:
        raise ValueError(
            f"expected {in_channels} input channels per point, got {x.shape[-1]} "
            f"(pos {tuple(pos.shape)}, vectors {None if vectors is None else tuple(vectors.shape)}, "
            f"features {None if features is None else tuple(features.shape)})"
        )
    return x
