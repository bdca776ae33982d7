"""Point-set layouts: one sample (N, D), a padded batch (B, N, D) with an optional mask, or a
flat PyG-style batch (N_total, D) with a ``batch`` vector.

Every computation of the engine works on the *dense* view (B, N_max, ..., D) with a weight
``(B, N_max)`` that is 1 on real points and 0 on padding (``None`` when every row is real), so
that per-sample reductions and maps are batched tensor operations (``bmm``, broadcasting) with
no per-point gathering. :class:`Layout` converts between the user's layout and that view.
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
        counts: (B,) number of real points per sample.
        mask: (B, N_max) bool, True on real points; None when all rows are real.
        index: flat layout only: (N_total,) sample id and (N_total,) slot of each point in the
            dense view; None for a contiguous one (see :meth:`flat_index`).
        contiguous: flat layout whose samples are consecutive and equally sized, so that the
            dense view is a reshape.
    """

    kind: str
    shape: tuple[int, ...]
    num_samples: int
    counts: Tensor
    mask: Tensor | None
    index: tuple[Tensor, Tensor] | None = None
    contiguous: bool = False

    @staticmethod
    def from_input(
        pos: Tensor,
        mask: Tensor | None,
        batch: Tensor | None,
        *,
        name: str = "pos",
        min_points: int = 2,
        check_values: bool = True,
    ) -> Layout:
        """Validate ``pos`` (with ``mask`` or ``batch``) and describe its layout.

        ``check_values=False`` leaves the NaN/Inf check of ``pos`` to the caller (the engine
        reads it off its per-sample sums, saving a pass over the points). Under
        ``torch.compile`` the checks that depend on values (a mask's row counts) become
        ``torch._assert_async`` calls, so that the padded and single layouts trace without a
        host synchronisation; the flat layout's sizes depend on ``batch``'s values, so it
        cannot be traced as one graph.

        Raises:
            ValueError: wrong type, rank or shape; NaN/Inf in a real point; a mask or batch
                vector that does not match; sample ids that do not run 0..B-1; a sample with
                fewer than ``min_points`` real points.
        """
        check_tensor(pos, name)
        if pos.dim() not in (2, 3):
            raise ValueError(
                f"{name} must have shape (N, D), (B, N, D) or flat (N_total, D) with batch, got {tuple(pos.shape)}"
            )
        if pos.shape[-1] < 1:
            raise ValueError(f"{name} must have at least one coordinate (D >= 1), got shape {tuple(pos.shape)}")
        if batch is not None:
            if mask is not None:
                raise ValueError("pass either mask (padded batch) or batch (flat batch), not both")
            if pos.dim() != 2:
                raise ValueError(f"with batch, {name} must be flat (N_total, D), got {tuple(pos.shape)}")
            if check_values:
                check_finite(pos, name)
            return _flat_layout(pos, batch, name, min_points)
        if pos.dim() == 2:
            if mask is not None:
                raise ValueError(f"mask needs a padded batch (B, N, D), got {name} of shape {tuple(pos.shape)}")
            if check_values:
                check_finite(pos, name)
            _check_size(pos.shape[0], min_points, name)
            return Layout("single", (pos.shape[0],), 1, _full_counts(1, pos), None)
        b, n = pos.shape[:2]
        if mask is None:
            if check_values:
                check_finite(pos, name)
            if b == 0:
                raise ValueError(f"{name} holds no samples")
            _check_size(n, min_points, name)
            return Layout("padded", (b, n), b, _full_counts(b, pos), None)
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != (b, n):
            raise ValueError(
                f"mask must be a bool tensor of shape ({b}, {n}), got "
                f"{getattr(mask, 'dtype', type(mask).__name__)} {tuple(getattr(mask, 'shape', ()))}"
            )
        if check_values:
            check_finite(torch.where(mask[..., None], pos, 0.0), name)  # padding may hold anything
        counts = mask.sum(1)
        if torch.compiler.is_compiling():
            torch._assert_async(
                (counts >= min_points).all(), f"every sample of {name} needs at least {min_points} real points"
            )
            return Layout("padded", (b, n), b, counts, mask)
        _check_counts(counts, min_points, name, "padded")
        return Layout("padded", (b, n), b, counts, None if bool(mask.all()) else mask)

    def flat_index(self) -> tuple[Tensor, Tensor]:
        """Flat layouts: the (N_total,) sample id and slot in the dense view of every point
        (built here for a contiguous layout, which needs them for nothing else)."""
        if self.index is not None:
            return self.index
        if not self.contiguous:
            raise ValueError(f"a {self.kind} layout has no flat index")
        n = self.shape[0] // self.num_samples
        ids = torch.arange(self.num_samples, device=self.counts.device)
        return ids.repeat_interleave(n), torch.arange(n, device=self.counts.device).repeat(self.num_samples)

    # ---------------------------------------------------------------- conversions
    def to_dense(self, x: Tensor) -> Tensor:
        """(*shape, ..., D) -> (B, N_max, ..., D); padding rows are zero."""
        if tuple(x.shape[: len(self.shape)]) != self.shape or x.dim() < len(self.shape) + 1:
            raise ValueError(
                f"expected a tensor laid out like the points, shape ({', '.join(map(str, self.shape))}, ..., D), "
                f"got {tuple(x.shape)}"
            )
        if self.kind == "single":
            return x.unsqueeze(0)
        if self.kind == "padded":
            return x if self.mask is None else torch.where(self._weight_like(x) > 0, x, 0)
        if self.contiguous:
            return x.view(self.num_samples, -1, *x.shape[1:])
        sample, slot = self.index  # type: ignore[misc]
        dense = x.new_zeros(self.num_samples, int(self.counts.max()), *x.shape[1:])
        dense[sample, slot] = x
        return dense

    def from_dense(self, dense: Tensor) -> Tensor:
        """(B, N_max, ..., D) -> the user's layout (*shape, ..., D); padding rows are zero."""
        if self.kind == "single":
            return dense[0]
        if self.kind == "padded":
            return dense if self.mask is None else torch.where(self._weight_like(dense) > 0, dense, 0)
        if self.contiguous:
            return dense.reshape(-1, *dense.shape[2:])
        sample, slot = self.index  # type: ignore[misc]
        return dense[sample, slot]

    # ---------------------------------------------------------------- reductions
    def mean(self, dense: Tensor) -> Tensor:
        """Per-sample mean over real points: (B, N_max, ...) -> (B, ...)."""
        if self.mask is None:
            return dense.mean(1)
        w = self._weight_like(dense)
        counts = self.counts.to(dense.dtype).reshape(-1, *([1] * (dense.dim() - 2)))
        return (dense * w).sum(1) / counts

    def sample(self, dense: Tensor, b: int) -> Tensor:
        """The real points of sample ``b``: (B, N_max, ...) -> (n_b, ...)."""
        return dense[b, : int(self.counts[b])] if self.mask is None or self.kind == "flat" else dense[b][self.mask[b]]

    def _weight_like(self, dense: Tensor) -> Tensor:
        assert self.mask is not None
        return self.mask.to(dense.dtype).reshape(*self.mask.shape, *([1] * (dense.dim() - 2)))


def _flat_layout(pos: Tensor, batch: Tensor, name: str, min_points: int) -> Layout:
    """The layout of flat points (N_total, D) with sample ids ``batch`` (N_total,).

    Ids must run 0..B-1 without gaps (PyG's convention); an id of N_total or more necessarily
    leaves a gap and is refused before anything of that size is allocated. Ids in order (as
    PyG's batching produces them) need no sort, and equal sample sizes in order make the
    dense view a reshape (``contiguous``).
    """
    if not isinstance(batch, Tensor) or batch.dtype not in (torch.int32, torch.int64) or batch.shape != pos.shape[:1]:
        raise ValueError(
            f"batch must be an integer tensor of shape ({pos.shape[0]},), got "
            f"{getattr(batch, 'dtype', type(batch).__name__)} {tuple(getattr(batch, 'shape', ()))}"
        )
    total = batch.shape[0]
    if total == 0:
        raise ValueError(f"{name} holds no samples")
    batch = batch.long()
    b = int(batch[-1]) + 1
    if 0 < b <= total and total % b == 0:  # PyG's common case first: in order, equal sizes
        n = total // b
        ids = torch.arange(b, device=batch.device)[:, None].expand(b, n)
        if torch.equal(batch.reshape(b, n), ids):  # one pass, no temporary
            _check_size(n, min_points, name)
            return Layout("flat", (total,), b, torch.full((b,), n, device=batch.device), None, None, contiguous=True)
    lo, hi = (int(v) for v in torch.aminmax(batch))
    if lo < 0:
        raise ValueError(f"batch must hold sample ids >= 0, got {lo}")
    if hi >= total:
        raise ValueError(
            f"batch ids must run 0..B-1 without gaps, got id {hi} for {total} points; "
            "renumber them with torch.unique(batch, return_inverse=True)[1]"
        )
    counts = torch.bincount(batch, minlength=hi + 1)
    _check_counts(counts, min_points, name, "flat")
    starts = torch.cumsum(counts, 0) - counts
    ordered = bool((batch[1:] >= batch[:-1]).all())
    n_max = int(counts.max())
    equal = bool((counts == n_max).all())
    if ordered:
        slot = torch.arange(total, device=batch.device) - starts[batch]
    else:
        order = torch.argsort(batch, stable=True)
        slot = torch.empty_like(batch)
        slot[order] = torch.arange(total, device=batch.device) - starts[batch[order]]
    dense_mask = None if equal else torch.arange(n_max, device=batch.device)[None, :] < counts[:, None]
    return Layout("flat", (total,), hi + 1, counts, dense_mask, (batch, slot))


def _full_counts(b: int, pos: Tensor) -> Tensor:
    """(b,) counts of a layout without padding: every sample has all ``pos.shape[-2]`` points."""
    return torch.full((b,), pos.shape[-2], device=pos.device)


def _check_size(n: int, min_points: int, name: str) -> None:
    """Raise when samples of ``n`` points (a layout without padding) are too small."""
    if n < min_points:
        raise ValueError(f"sample 0 of {name} has {n} point(s); at least {min_points} points are needed")


def _check_counts(counts: Tensor, min_points: int, name: str, kind: str) -> None:
    if counts.numel() == 0:
        raise ValueError(f"{name} holds no samples")
    low = (counts < min_points).nonzero()
    if low.numel():
        i = int(low[0, 0])
        if int(counts[i]) == 0 and kind == "padded":
            what = "an all-False mask row"
        elif int(counts[i]) == 0 and kind == "flat":
            what = "no points (batch ids must run 0..B-1 without gaps)"
        else:
            what = f"{int(counts[i])} point(s)"
        raise ValueError(f"sample {i} of {name} has {what}; at least {min_points} points are needed")
