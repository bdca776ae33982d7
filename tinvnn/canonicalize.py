"""Canonical, invariant and distance-preserving coordinates of point sets (the tinvnn engine).

Classical MDS of a Euclidean point set equals PCA of the centred points
(``B = -1/2 J D^2 J = Xc Xc^T`` shares its non-zero spectrum with ``Xc^T Xc``), so the engine
never builds an N x N matrix: it centres the points, forms the D x D covariance, and
eigen-decomposes it, in O(N D^2). What remains is to remove the ambiguities MDS leaves:

1. **Scale** (``scale=True``): divide by ``s``, the RMS distance to the centroid.
2. **Ties** (relative eigen-gap below ``gap_tol``): inside a (nearly) repeated eigenspace
   the axes are chosen one by one as the direction maximising the fourth moment
   ``E[(z . u)^4]`` of the points (the third or sixth where the fourth is isotropic), which
   does not depend on the arbitrary basis ``eigh`` returns.
3. **Signs**: axis k points where the points' coordinate z_k is skewed: the sign of its
   skewness ``E[z_k^3] / sd_k^3``, else (below ``sign_tol``) of ``E[z_k |z|^2] / sd_k`` or
   ``E[z_k^5] / sd_k^5``. Where all vanish (a centrally symmetric shape), the axis is oriented
   relative to an earlier one by the mixed moments ``E[z_j^3 z_k]`` or ``E[z_j z_k^3]``.
4. **Handedness** (``group="SO"``): if the axes form a left-handed frame, the axis with the
   smallest sign margin (or a null axis) is flipped, so ``det R = +1`` and mirror images stay
   different.

Every rule is a function of invariant quantities, so the result is exactly invariant whenever
the decisions it takes are not within float error of a threshold; ``Frame`` reports how close
each sample is. See ``docs/conventions.md`` and ``docs/ambiguity.md``.
"""

from __future__ import annotations

import warnings
from typing import Literal, overload

import numpy as np
import torch
from torch import Tensor

from tinvnn._checks import check_choice
from tinvnn._layout import Layout
from tinvnn.frame import Frame

__all__ = ["canonicalize", "principal_axes", "GROUPS", "AMBIGUITY_ACTIONS", "AmbiguityWarning"]

GROUPS = ("O", "SO")
AMBIGUITY_ACTIONS = ("ignore", "warn", "raise")
# Axes whose variance is below NULL_TOL times the largest one carry no extent: their sign and
# orientation cannot change the canonical points, so they are left out of the ambiguity report.
NULL_TOL = 1e-10
_ZERO_SCALE_TOL = 64 * torch.finfo(torch.float64).eps
_TIE_STARTS = 64
_TIE_ORDERS = (4, 3, 6)
_TIE_TOL = 1e-3


class AmbiguityWarning(UserWarning):
    """A sample's canonical frame is within tolerance of an ambiguous decision."""


def principal_axes(
    pos: Tensor, *, mask: Tensor | None = None, batch: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Centroid and principal axes of each sample, signs as LAPACK returns them (not canonical).

    This is plain PCA alignment, what PyTorch Geometric's ``NormalizeRotation`` and Frame
    Averaging start from. Use :func:`canonicalize` for invariant coordinates.

    Args:
        pos: (N, D), (B, N, D) with optional bool ``mask`` (B, N), or flat (N_total, D) with ``batch``.

    Returns:
        ``(centre, eigenvalues, eigenvectors)`` in float64: (B, D), (B, D) descending, and
        (B, D, D) with the axes as columns.
    """
    layout = Layout.from_input(pos, mask, batch, min_points=1)
    centre, evals, evecs, _ = _pca(_coordinate_major(pos, layout), layout)
    return centre, evals, evecs


@overload
def canonicalize(
    pos: Tensor,
    *,
    mask: Tensor | None = ...,
    batch: Tensor | None = ...,
    scale: bool = ...,
    group: str = ...,
    return_frame: Literal[False] = ...,
    on_ambiguity: str = ...,
    gap_tol: float = ...,
    sign_tol: float = ...,
) -> Tensor: ...


@overload
def canonicalize(
    pos: Tensor,
    *,
    mask: Tensor | None = ...,
    batch: Tensor | None = ...,
    scale: bool = ...,
    group: str = ...,
    return_frame: Literal[True],
    on_ambiguity: str = ...,
    gap_tol: float = ...,
    sign_tol: float = ...,
) -> tuple[Tensor, Frame]: ...


@overload
def canonicalize(
    pos: Tensor,
    *,
    mask: Tensor | None = ...,
    batch: Tensor | None = ...,
    scale: bool = ...,
    group: str = ...,
    return_frame: bool,
    on_ambiguity: str = ...,
    gap_tol: float = ...,
    sign_tol: float = ...,
) -> Tensor | tuple[Tensor, Frame]: ...


def canonicalize(
    pos: Tensor,
    *,
    mask: Tensor | None = None,
    batch: Tensor | None = None,
    scale: bool = True,
    group: str = "O",
    return_frame: bool = False,
    on_ambiguity: str = "ignore",
    gap_tol: float = 1e-3,
    sign_tol: float = 1e-3,
) -> Tensor | tuple[Tensor, Frame]:
    """Canonical coordinates: invariant to translation, orthogonal maps and scale, distance-preserving.

    ``Z = (pos - t) @ R / s`` per sample, with the centroid ``t``, the canonical axes ``R``
    (principal axes with fixed signs and tie rule) and the RMS radius ``s``. Pairwise distances
    of ``Z`` are those of ``pos`` divided by ``s``; ``Z`` is permutation-equivariant.

    Args:
        pos: (N, D) one sample; (B, N, D) a batch, with optional bool ``mask`` (B, N) marking
            real points; or flat (N_total, D) with an integer ``batch`` (N_total,) of sample ids.
            Any D >= 1; any floating dtype (computed in float64, returned in ``pos.dtype``).
        mask: (B, N) bool, True for real points; padded rows of the output are 0.
        batch: (N_total,) sample id of each point (PyG convention).
        scale: divide by the RMS radius ``s`` (scale invariance). Raises for a sample whose
            points all coincide.
        group: ``"O"`` rotations and reflections (like MDS), or ``"SO"`` rotations only
            (``det R = +1``; a shape and its mirror image give different outputs).
        return_frame: also return the :class:`~tinvnn.Frame` (centre, axes, scale, diagnostics).
        on_ambiguity: ``"ignore"``, ``"warn"`` (:class:`AmbiguityWarning`) or ``"raise"``
            (``ValueError``) when a sample's ``Frame.ambiguous`` is set.
        gap_tol: relative eigen-gap below which eigenvalues count as tied. (The tie rule's own
            decisiveness threshold, ``tie_margin < 1e-3``, is fixed; see ``docs/conventions.md``.)
        sign_tol: standardised odd moment (skewness) below which a sign counts as ambiguous.

    Returns:
        ``Z`` with the layout and dtype of ``pos``, or ``(Z, frame)``.

    Shape:
        pos (N, D) -> (N, D); (B, N, D) -> (B, N, D); (N_total, D) -> (N_total, D).

    Example:
        >>> x = torch.randn(100, 3) * torch.tensor([3.0, 2.0, 1.0])
        >>> q = tinvnn.random_orthogonal(3, dtype=torch.float32)
        >>> torch.allclose(canonicalize(x), canonicalize(5 * x @ q.T + 7), atol=1e-4)
        True

    Gradients flow through the centroid, the scale and the eigenvectors; the sign and tie
    decisions are piecewise constant. Near repeated eigenvalues the eigenvector gradient has
    ``1 / (l_i - l_j)`` factors and becomes huge or NaN: detach the input there.
    """
    check_choice(group, "group", GROUPS)
    check_choice(on_ambiguity, "on_ambiguity", AMBIGUITY_ACTIONS)
    if gap_tol < 0 or sign_tol < 0:
        raise ValueError(f"gap_tol and sign_tol must be >= 0, got {gap_tol} and {sign_tol}")
    layout = Layout.from_input(pos, mask, batch, min_points=2 if scale else 1)
    frame, z = _canonical_frame(
        _coordinate_major(pos, layout), layout, scale=scale, group=group, gap_tol=gap_tol, sign_tol=sign_tol
    )
    _handle_ambiguity(frame, on_ambiguity)
    dense = torch.empty(z.shape[0], z.shape[2], z.shape[1], dtype=pos.dtype, device=pos.device).copy_(z.mT)
    out = layout.from_dense(dense)
    return (out, frame) if return_frame else out


def coincident_samples(centre: Tensor, radius: Tensor) -> Tensor:
    """(B,) bool: samples whose RMS radius (B,) is zero up to the float error of their centre (B, D)."""
    return radius.detach() <= _ZERO_SCALE_TOL * (centre.detach().norm(dim=-1) + radius.detach())


def check_scale(coincident: Tensor) -> None:
    """Raise the error for scale normalisation of samples whose points all coincide ((B,) bool)."""
    if bool(coincident.any()):
        i = int(coincident.nonzero()[0, 0])
        raise ValueError(f"sample {i}: all points coincide, so the scale is zero (use scale=False)")


# ------------------------------------------------------------------------------------ steps
def _coordinate_major(pos: Tensor, layout: Layout) -> Tensor:
    """Dense float64 points, coordinate-major: (B, D, N), padding columns 0.

    The engine works in this layout because every per-sample operation then broadcasts along
    the long, contiguous point dimension (a (B, N, 3) tensor broadcast against (B, 1, 3) is
    several times slower on CPU).
    """
    dense = layout.to_dense(pos)
    return torch.empty(dense.shape[0], dense.shape[2], dense.shape[1], dtype=torch.float64, device=pos.device).copy_(dense.mT)


def _pca(x: Tensor, layout: Layout) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """For coordinate-major float64 points x (B, D, N): centroid (B, D), covariance eigenvalues
    (B, D) descending, eigenvectors (B, D, D) as columns, centred points (B, D, N; padding 0)."""
    counts = layout.counts.to(x.dtype)
    centre = x.sum(-1) / counts[:, None]
    xc = x.sub_(centre[..., None])  # x is the engine's own buffer: in place (each new buffer costs page faults)
    if layout.mask is not None:
        xc.mul_(layout.mask[:, None, :])
    cov = xc @ xc.mT / counts[:, None, None]
    evals, evecs = torch.linalg.eigh(cov)
    return centre, evals.flip(-1).clamp_min(0), evecs.flip(-1), xc


def _canonical_frame(
    x: Tensor, layout: Layout, *, scale: bool, group: str, gap_tol: float, sign_tol: float
) -> tuple[Frame, Tensor]:
    """Frame and canonical points (B, D, N) for coordinate-major float64 points ``x`` (B, D, N)."""
    centre, evals, axes, xc = _pca(x, layout)
    radius = evals.sum(-1).sqrt()  # RMS distance to the centroid
    degenerate = coincident_samples(centre, radius)
    if scale:
        check_scale(degenerate)
    unit = torch.where(degenerate, torch.ones_like(radius), radius)
    z = (axes / unit[:, None, None]).mT @ xc  # (B, D, N) along the unsigned axes, units of the radius

    with torch.no_grad():
        lam = evals.detach()
        null = lam <= NULL_TOL * lam[:, :1]
        rel_gap = (lam[:, :-1] - lam[:, 1:]) / lam[:, :1].clamp_min(1e-300)
        live_pair = ~null[:, 1:]
        tied = (rel_gap < gap_tol) & live_pair
        if lam.shape[1] > 1:
            eigen_gap = torch.where(live_pair, rel_gap, torch.ones_like(rel_gap)).amin(-1)
        else:
            eigen_gap = lam.new_ones(lam.shape[0])
        tie_q, tie_margin = _tie_rotations(z.detach(), layout, tied)
    if tie_q is not None:
        axes, z = axes @ tie_q, tie_q.mT @ z

    with torch.no_grad():
        spread = (lam.clamp_min(0).sqrt() / unit[:, None]).clamp_min(1e-300)  # per-axis std, units of s
        # Once z exists, the centred buffer is scratch space unless autograd still needs it.
        scratch = None if xc.requires_grad else xc
        signs, margins = _sign_rule(z.detach(), spread, layout, null, sign_tol, scratch=scratch)
        if group == "SO":
            # Handedness, not a moment, decides one axis: a null axis if there is one (it moves
            # no point), else the axis whose sign was least certain.
            rows = torch.arange(signs.shape[0])
            pick = torch.where(null, float("-inf"), margins).argmin(-1)
            det = torch.linalg.det(axes.detach() * signs[:, None, :])
            signs[rows, pick] *= torch.where(det < 0, -1.0, 1.0).to(signs.dtype)
            margins[rows, pick] = float("inf")
        sign_margin = margins.amin(-1)
        ambiguous = (sign_margin < sign_tol) | (tie_margin < _TIE_TOL)
    R = axes * signs[:, None, :]
    s = radius if scale else torch.ones_like(radius)
    z = z.mul_(signs[..., None]) if scale else z.mul_((signs * unit[:, None])[..., None])
    frame = Frame(
        t=centre,
        R=R,
        s=s,
        eigenvalues=evals,
        eigen_gap=eigen_gap,
        sign_margin=sign_margin,
        tie_margin=tie_margin,
        tie_used=tie_margin < float("inf"),
        ambiguous=ambiguous,
        layout=layout,
    )
    return frame, z


def _sign_rule(
    z: Tensor, spread: Tensor, layout: Layout, null: Tensor, sign_tol: float, *, scratch: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Signs (B, D) in {-1, +1} and margins (B, D; ``inf`` on null axes) of the canonical axes.

    ``z`` (B, D, N) are the points along the unsigned axes; ``spread`` (B, D) the standard
    deviation along each axis; ``scratch`` an optional buffer shaped like ``z`` that may be
    overwritten. Each axis takes the sign of its skewness ``E[z_k^3] / sd_k^3``;
    where that is below ``sign_tol``, of the first of ``E[z_k |z|^2] / sd_k`` and
    ``E[z_k^5] / sd_k^5`` that reaches it (else the largest). An axis whose odd moments all
    vanish (a shape symmetric under a flip that includes this axis, e.g. a centrally symmetric
    one) is oriented *relative to an earlier axis j* by ``E[z_j^3 z_k]`` or ``E[z_j z_k^3]``
    (normalised likewise), which are unchanged when both axes flip together: so only flips that
    are symmetries of the shape remain free.
    """
    counts = layout.counts.to(z.dtype)[:, None]
    cubes = z.pow(3) if scratch is None else torch.mul(z, z, out=scratch).mul_(z)  # no new buffer if we may
    skew = cubes.sum(-1) / counts / spread**3  # (B, D)
    signs = torch.where(skew < 0, -1.0, 1.0).to(z.dtype)
    margins = torch.where(null, float("inf"), skew.abs())
    weak_rows = (margins < sign_tol).any(-1).nonzero().flatten()
    if len(weak_rows):  # rare: the full rule, on the samples that need it
        signs[weak_rows], margins[weak_rows] = _weak_sign_rule(
            z[weak_rows], spread[weak_rows], layout.counts[weak_rows], null[weak_rows], sign_tol
        )
    return signs, margins


def _weak_sign_rule(z: Tensor, spread: Tensor, counts: Tensor, null: Tensor, sign_tol: float) -> tuple[Tensor, Tensor]:
    """The fallback chain and the relative rule of :func:`_sign_rule` for (b, D, N) points
    whose padding columns are zero."""
    n = counts.to(z.dtype)[:, None]
    z2 = z * z
    z3 = z2 * z
    stats = torch.stack([
        z3.sum(-1) / n / spread**3,
        (z * z2.sum(1, keepdim=True)).sum(-1) / n / spread,
        (z3 * z2).sum(-1) / n / spread**5,
    ])  # (3, b, D)
    strong = stats.abs() >= sign_tol
    first = torch.where(strong.any(0), strong.to(torch.int64).argmax(0), stats.abs().argmax(0))
    chosen = stats.gather(0, first[None]).squeeze(0)
    signs = torch.where(chosen < 0, -1.0, 1.0).to(z.dtype)
    margins = torch.where(null, float("inf"), stats.abs().amax(0))
    weak = margins < sign_tol
    if bool(weak[:, 1:].any()):
        # E[z_j^3 z_k] / (sd_j^3 sd_k), (b, D, D)
        mixed = (z3 @ z.mT) / n[:, :, None] / (spread[:, :, None] ** 3 * spread[:, None, :])
        for k in range(1, z.shape[1]):
            need = weak[:, k].clone()
            for j in range(k):
                for stat in (mixed[:, j, k], mixed[:, k, j]):
                    ok = need & (stat.abs() >= sign_tol) & ~null[:, j]
                    signs[:, k] = torch.where(ok, torch.sign(stat) * signs[:, j], signs[:, k])
                    margins[:, k] = torch.where(ok, stat.abs(), margins[:, k])
                    need &= ~ok
    return signs, margins


def _tie_rotations(z: Tensor, layout: Layout, tied: Tensor) -> tuple[Tensor | None, Tensor]:
    """Rotations (B, D, D) of the eigen-axes inside tied eigenspaces, and tie margins (B,).

    ``z`` (B, D, N) are the points along the eigen-axes; samples without ties get the identity.
    """
    margin = z.new_full((layout.num_samples,), float("inf"))
    samples = tied.any(-1).nonzero().flatten().tolist()
    if not samples:
        return None, margin
    d = z.shape[1]
    q = torch.eye(d, dtype=z.dtype, device=z.device).repeat(layout.num_samples, 1, 1)
    for b in samples:
        y = layout.sample(z.mT, b).cpu().numpy()
        for lo, hi in _clusters(tied[b].tolist()):
            block, m = _quartic_axes(y[:, lo:hi])
            q[b, lo:hi, lo:hi] = torch.from_numpy(block).to(q)
            margin[b] = min(float(margin[b]), m)
    return q, margin


def _clusters(tied_pairs: list[bool]) -> list[tuple[int, int]]:
    """Index ranges [lo, hi) of runs of tied consecutive eigenvalues."""
    out, lo = [], None
    for k, t in enumerate(tied_pairs):
        if t and lo is None:
            lo = k
        if not t and lo is not None:
            out.append((lo, k + 1))
            lo = None
    if lo is not None:
        out.append((lo, len(tied_pairs) + 1))
    return out


def _quartic_axes(y: np.ndarray) -> tuple[np.ndarray, float]:
    """Orthonormal axes (k, k) of a tied subspace, chosen greedily by maximal directional moment.

    ``y`` (n, k) are the points' coordinates in some basis of the subspace; the returned
    columns, expressed in that basis, do not depend on it (up to ties of the moments). Each
    axis maximises the first of the moments ``E[(y . u)^p]``, p in ``_TIE_ORDERS``, that is not
    isotropic on the remaining subspace (a fourth moment is isotropic on a plane with
    three-fold symmetry, where the third or sixth moment still separates directions).
    """
    k = y.shape[1]
    basis = np.eye(k)
    columns, margin = [], float("inf")
    while basis.shape[1] > 1:
        u, spread = _max_moment(y @ basis)
        columns.append(basis @ u)
        margin = min(margin, spread)
        basis = basis @ _complement(u)
    columns.append(basis[:, 0])
    return np.stack(columns, axis=1), margin


def _max_moment(p: np.ndarray) -> tuple[np.ndarray, float]:
    """Unit u (m,) maximising f(u) = mean((p @ u)^order) for the first order of ``_TIE_ORDERS``
    whose spread ``(f_max - f_min) / mean(|p|^order)`` reaches ``_TIE_TOL``; that spread too."""
    m = p.shape[1]
    if m == 2:
        angles = np.linspace(0.0, 2 * np.pi, 4 * _TIE_STARTS, endpoint=False)
        starts = np.stack([np.cos(angles), np.sin(angles)], 1)
    else:
        starts = np.random.default_rng(0).standard_normal((8 * _TIE_STARTS, m))
        starts /= np.linalg.norm(starts, axis=1, keepdims=True)
    radius = np.linalg.norm(p, axis=1)
    best: tuple[np.ndarray, float] | None = None
    for order in _TIE_ORDERS:
        values = ((p @ starts.T) ** order).mean(0)
        u = _newton_polish(p, starts[int(np.argmax(values))], order)
        f_max = float(((p @ u) ** order).mean())
        spread = (max(f_max, float(values.max())) - float(values.min())) / max(float((radius**order).mean()), 1e-300)
        if spread >= _TIE_TOL:
            return u, spread
        if best is None or spread > best[1]:
            best = (u, spread)
    assert best is not None
    return best


def _newton_polish(p: np.ndarray, u: np.ndarray, order: int, steps: int = 30) -> np.ndarray:
    """Riemannian Newton steps towards a local maximum of mean((p @ u)^order) on the unit sphere.

    Brings the axis to float64 precision, so that the tie rule's answer does not depend on the
    starting grid (and hence not on the basis ``eigh`` returned). Falls back to a small
    gradient step where the Hessian is not negative definite.
    """
    for _ in range(steps):
        tangent = _complement(u)
        proj = p @ u
        value = float((proj**order).mean())
        grad = tangent.T @ (order * (proj ** (order - 1)) @ p / len(p))
        hess = order * (order - 1) * (p * (proj ** (order - 2))[:, None]).T @ p / len(p) - order * value * np.eye(len(u))
        hess = tangent.T @ hess @ tangent
        evals = np.linalg.eigvalsh(hess)
        if evals.max() < 0:
            step = -np.linalg.solve(hess, grad)
        else:
            step = grad / (np.abs(evals).max() + 1e-300)
        norm = np.linalg.norm(step)
        if norm > 0.2:
            step *= 0.2 / norm
        u = u + tangent @ step
        u /= np.linalg.norm(u)
        if norm < 1e-15:
            break
    return u


def _complement(u: np.ndarray) -> np.ndarray:
    """Orthonormal basis (m, m-1) of the complement of unit ``u`` (a Householder reflection)."""
    m = u.shape[0]
    e = np.zeros(m)
    e[0] = 1.0
    v = u + (1.0 if u[0] >= 0 else -1.0) * e
    h = np.eye(m) - 2.0 * np.outer(v, v) / (v @ v)
    return h[:, 1:]


def _handle_ambiguity(frame: Frame, action: str) -> None:
    if action == "ignore" or not bool(frame.ambiguous.any()):
        return
    idx = frame.ambiguous.nonzero().flatten().tolist()
    msg = (
        f"{len(idx)} sample(s) have a near-ambiguous canonical frame (first: {idx[:5]}; "
        f"sign margin {float(frame.sign_margin[idx[0]]):.2e}, tie margin {float(frame.tie_margin[idx[0]]):.2e}). "
        "Harmless if the shape is symmetric under the ambiguous flip; see docs/ambiguity.md"
    )
    if action == "raise":
        raise ValueError(msg)
    warnings.warn(msg, AmbiguityWarning, stacklevel=3)
