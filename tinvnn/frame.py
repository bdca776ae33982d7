"""The canonical frame of each sample: centre, orthogonal axes, scale, and how trustworthy they are.

Convention (see ``docs/conventions.md``): points are row vectors and

    z = (x - t) @ R / s          (input -> canonical)
    x = s * z @ R.T + t          (canonical -> input)

``R`` is orthogonal with the canonical axes as its *columns* (``R_input_from_canon``): column k
is the k-th principal axis, ordered by decreasing variance. Vectors (velocities, normals,
forces) ignore ``t``; quantities without length units also ignore ``s`` (``scale=False``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from tinvnn._layout import Layout

__all__ = ["Frame"]


@dataclass(frozen=True)
class Frame:
    """Per-sample canonical frames, as returned by ``canonicalize(..., return_frame=True)``.

    Attributes (B samples, D dims; float64 unless noted):
        t: (B, D) centroid.
        R: (B, D, D) orthogonal, columns are the canonical axes.
        s: (B,) scale, the RMS distance of the points to the centroid (1 when ``scale=False``).
        eigenvalues: (B, D) covariance eigenvalues (mean squared extent along each axis, in
            input units squared), descending. For a group that keeps an axis (``"SO2z"``,
            ``"O2z"``): the in-plane eigenvalues, descending, then the variance along the axis;
            the diagnostics below are then the plane's (gaps relative to the largest in-plane
            eigenvalue, margins of the in-plane axes).
        eigen_gap: (B,) smallest relative gap ``(l_k - l_{k+1}) / l_1`` between consecutive
            non-null eigenvalues (1 when there is no such pair). Below ``gap_tol`` the axes are
            chosen by the fourth-moment tie rule instead.
        sign_margin: (B,) smallest |standardised odd moment| (skewness, or the fallback that
            decided) that fixed an axis sign, over the axes whose sign mattered; ``inf`` when
            none did; at most ``sign_tol`` when a statistic of the sign rule sat within 1% of
            ``sign_tol`` (docs/conventions.md, rule 6).
        tie_margin: (B,) for samples where the tie rule ran, the spread
            ``(f_max - f_min) / E[|z|^p]`` of the directional moment ``f(u) = E[(z . u)^p]``
            (p = 4, else 3, else 6) over the tied subspace: how well it separates directions;
            ``inf`` where it did not run.
        tie_used: (B,) bool, the tie rule chose some axes.
        ambiguous: (B,) bool, ``sign_margin <= sign_tol``, ``tie_margin <= 1e-3``, or an
            eigen-gap within 1% of ``gap_tol`` (a decision on its threshold; for float16 and
            bfloat16 inputs each threshold at least 16 of the dtype's eps), or a sign or tie
            margin or an untied eigen-gap within the input's own rounding at its offset (16 eps
            times 1 + the centroid's offset in RMS radii; docs/conventions.md): the frame may
            jump under a tiny perturbation. Harmless when the sample is symmetric under the
            ambiguous flip or rotation (both choices give the same point set).
        fallback: (B,) bool, the frame was decided by the fallback (``docs/conventions.md``,
            rule 8): the sample was ``ambiguous``, and its frame is the one among candidate
            frames built from its own axes (sign patterns) or points whose canonical point set
            is lexicographically smallest, exactly invariant by construction. False where the
            candidates exceeded their cap (the sample keeps the rule's frame). None for frames
            made without the canonical rule.
    """

    t: Tensor
    R: Tensor
    s: Tensor
    eigenvalues: Tensor
    eigen_gap: Tensor
    sign_margin: Tensor
    tie_margin: Tensor
    tie_used: Tensor
    ambiguous: Tensor
    layout: Layout = field(repr=False)
    fallback: Tensor | None = None

    @property
    def num_samples(self) -> int:
        return self.layout.num_samples

    def to_canonical(self, x: Tensor, *, vector: bool = False, scale: bool = True) -> Tensor:
        """Map points or vectors from input coordinates into the canonical frame.

        Args:
            x: laid out like the ``pos`` this frame came from, with optional extra dims before
                the coordinate: (N, ..., D), (B, N, ..., D) or flat (N_total, ..., D).
            vector: ``x`` holds vectors (velocities, normals): the centre ``t`` is not subtracted.
            scale: divide by ``s`` (quantities with length units); False for unit normals.

        Returns:
            Tensor of the same shape and dtype as ``x``; masked rows are zero.
        """
        dense = self.layout.to_dense(x).to(self.R.dtype)
        if not vector:
            dense = dense - _per_sample(self.t, dense)
        out = (dense.reshape(dense.shape[0], -1, dense.shape[-1]) @ self.R).reshape(dense.shape)
        if scale:
            out = out / _per_sample(self.s[:, None], out)
        return self.layout.from_dense(out).to(x.dtype)

    def from_canonical(self, z: Tensor, *, vector: bool = False, scale: bool = True) -> Tensor:
        """Inverse of :meth:`to_canonical`: canonical coordinates back to input coordinates.

        Args:
            z: same layouts as :meth:`to_canonical`.
            vector: vectors are not shifted by ``t``.
            scale: multiply by ``s``.
        """
        dense = self.layout.to_dense(z).to(self.R.dtype)
        if scale:
            dense = dense * _per_sample(self.s[:, None], dense)
        out = (dense.reshape(dense.shape[0], -1, dense.shape[-1]) @ self.R.mT).reshape(dense.shape)
        if not vector:
            out = out + _per_sample(self.t, out)
        return self.layout.from_dense(out).to(z.dtype)


def _per_sample(values: Tensor, like: Tensor) -> Tensor:
    """View per-sample values (B, E) so that they broadcast against dense ``like`` (B, N, ..., E)."""
    return values.reshape(values.shape[0], *([1] * (like.dim() - 2)), values.shape[-1])
