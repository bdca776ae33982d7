"""Point-set layouts: one sample (N, D), a padded batch (B, N, D) with an optional mask, or a
flat PyG-style batch (N_total, D) with a ``batch`` vector.

Every computation of the engine works on the *flat* view: the valid points stacked as (M, D)
with ``index`` (M,) naming each point's sample. :class:`Layout` converts between the user's
layout and that view and provides per-sample reductions; when all samples have the same
number of points (no mask, or one sample) it uses reshapes instead of scatter operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from tinvnn._checks import check_finite, check_tensor

__all__ = ["Layout"]


@dataclass(frozen=True)
class Layout:
    """How the points of ``num_samples`` samples are arranged.

    Attributes:
        kind: ``"single"`` (N, D), ``"padded"`` (B, N, D) or ``"flat"`` (N_total, D).
        shape: the leading point dims of the input: (N,), (B, N) or (N_total,).
        num_samples: B (1 for ``"single"``).
        index: (M,) sample id of each valid point, in flat order.
        counts: (B,) number of valid points per sample.
        mask: (B, N) bool for a masked padded batch, else None.
        equal: every sample has the same number of points and no point is masked, so the flat
            view reshapes to (B, N, D).
    """

    kind: str
    shape: tuple[int, ...]
    num_samples: int
    index: Tensor
    counts: Tensor
    mask: Tensor | None
    equal: bool

    @staticmethod
    def from_input(
        pos: Tensor, mask: Tensor | None, batch: Tensor | None, *, name: str = "pos", min_points: int = 2
    ) -> Layout:
        """Validate ``pos`` (with ``mask`` or ``batch``) and describe its layout.

        Raises:
            ValueError: wrong type, rank or shape; NaN/Inf; a mask or batch vector that does not
                match; a sample with fewer than ``min_points`` valid points.
        """
        check_tensor(pos, name)
        if pos.dim() not in (2, 3):
            raise ValueError(
                f"{name} must have shape (N, D), (B, N, D) or flat (N_total, D) with batch, "
                f"got {tuple(pos.shape)}"
            )
        if pos.shape[-1] < 1:
            raise ValueError(f"{name} must have at least one coordinate (D >= 1), got shape {tuple(pos.shape)}")
        check_finite(pos, name)
        device = pos.device
        if batch is not None:
            if mask is not None:
                raise ValueError("pass either mask (padded batch) or batch (flat batch), not both")
            if pos.dim() != 2:
                raise ValueError(f"with batch, {name} must be flat (N_total, D), got {tuple(pos.shape)}")
            if not isinstance(batch, Tensor) or batch.dtype not in (torch.int32, torch.int64) or batch.shape != pos.shape[:1]:
                raise ValueError(
                    f"batch must be an integer tensor of shape ({pos.shape[0]},), got "
                    f"{getattr(batch, 'dtype', type(batch).__name__)} {tuple(getattr(batch, 'shape', ()))}"
                )
            if batch.numel() and int(batch.min()) < 0:
                raise ValueError("batch must hold sample ids >= 0")
            num = int(batch.max()) + 1 if batch.numel() else 0
            counts = torch.bincount(batch, minlength=num)
            _check_counts(counts, min_points, name)
            return Layout("flat", tuple(pos.shape[:1]), num, batch.long(), counts, None, False)
        if pos.dim() == 2:
            if mask is not None:
                raise ValueError(f"mask needs a padded batch (B, N, D), got {name} of shape {tuple(pos.shape)}")
            n = pos.shape[0]
            counts = torch.tensor([n], device=device)
            _check_counts(counts, min_points, name)
            return Layout("single", (n,), 1, torch.zeros(n, dtype=torch.long, device=device), counts, None, True)
        b, n = pos.shape[:2]
        if mask is not None:
            if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != (b, n):
                raise ValueError(
                    f"mask must be a bool tensor of shape ({b}, {n}), got "
                    f"{getattr(mask, 'dtype', type(mask).__name__)} {tuple(getattr(mask, 'shape', ()))}"
                )
            counts = mask.sum(1)
            _check_counts(counts, min_points, name)
            index = torch.arange(b, device=device)[:, None].expand(b, n)[mask]
            return Layout("padded", (b, n), b, index, counts, mask, False)
        counts = torch.full((b,), n, device=device)
        _check_counts(counts, min_points, name)
        index = torch.arange(b, device=device).repeat_interleave(n)
        return Layout("padded", (b, n), b, index, counts, None, True)

    # ---------------------------------------------------------------- conversions
    def flatten(self, x: Tensor) -> Tensor:
        """(*shape, ...) -> (M, ...): the valid points in flat order."""
        self._check_leading(x)
        if self.mask is not None:
            return x[self.mask]
        return x.reshape(-1, *x.shape[len(self.shape):])

    def unflatten(self, flat: Tensor) -> Tensor:
        """(M, ...) -> (*shape, ...), zeros at masked positions."""
        if self.mask is None:
            return flat.reshape(*self.shape, *flat.shape[1:])
        out = flat.new_zeros(*self.shape, *flat.shape[1:])
        out[self.mask] = flat
        return out

    def _check_leading(self, x: Tensor) -> None:
        if tuple(x.shape[: len(self.shape)]) != self.shape or x.dim() < len(self.shape) + 1:
            raise ValueError(
                f"expected a tensor laid out like the points, shape ({', '.join(map(str, self.shape))}, ..., D), "
                f"got {tuple(x.shape)}"
            )

    # ---------------------------------------------------------------- reductions
    def sum(self, values: Tensor) -> Tensor:
        """Per-sample sum of flat values: (M, ...) -> (B, ...)."""
        if self.equal:
            return values.reshape(self.num_samples, -1, *values.shape[1:]).sum(1)
        out = values.new_zeros(self.num_samples, *values.shape[1:])
        return out.index_add(0, self.index, values)

    def mean(self, values: Tensor) -> Tensor:
        """Per-sample mean of flat values: (M, ...) -> (B, ...)."""
        counts = self.counts.to(values.dtype).reshape(-1, *([1] * (values.dim() - 1)))
        return self.sum(values) / counts

    def amax(self, values: Tensor) -> Tensor:
        """Per-sample maximum of flat values: (M,) -> (B,)."""
        if self.equal:
            return values.reshape(self.num_samples, -1).amax(1)
        out = values.new_full((self.num_samples,), float("-inf"))
        return out.scatter_reduce(0, self.index, values, reduce="amax")

    def matmul(self, x: Tensor, mat: Tensor) -> Tensor:
        """Per-sample right multiplication: x (M, ..., D) @ mat[sample] (B, D, E) -> (M, ..., E)."""
        if self.equal:
            b = self.num_samples
            y = x.reshape(b, -1, x.shape[-1]) @ mat
            return y.reshape(*x.shape[:-1], mat.shape[-1])
        per_point = mat[self.index]  # (M, D, E)
        y = x.reshape(x.shape[0], -1, x.shape[-1]) @ per_point
        return y.reshape(*x.shape[:-1], mat.shape[-1])

    def expand(self, per_sample: Tensor, like: Tensor) -> Tensor:
        """Broadcast per-sample values (B, E) to flat points shaped like ``like`` (M, ..., E)."""
        rows = per_sample[self.index] if not self.equal else per_sample.repeat_interleave(
            like.shape[0] // max(self.num_samples, 1), dim=0
        )
        return rows.reshape(rows.shape[0], *([1] * (like.dim() - 2)), rows.shape[-1])

    def sample(self, flat: Tensor, b: int) -> Tensor:
        """The flat rows of sample ``b``: (M, ...) -> (n_b, ...)."""
        if self.equal:
            n = flat.shape[0] // self.num_samples
            return flat[b * n : (b + 1) * n]
        return flat[self.index == b]


def _check_counts(counts: Tensor, min_points: int, name: str) -> None:
    if counts.numel() == 0:
        raise ValueError(f"{name} holds no samples")
    low = (counts < min_points).nonzero()
    if low.numel():
        i = int(low[0, 0])
        what = "an all-False mask row" if int(counts[i]) == 0 else f"{int(counts[i])} point(s)"
        raise ValueError(f"sample {i} of {name} has {what}; at least {min_points} points are needed")
