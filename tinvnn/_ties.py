"""The tie rule's search: canonical axes inside a (nearly) repeated eigenspace.

Where consecutive covariance eigenvalues are tied, ``eigh`` returns an arbitrary basis of
their eigenspace. :func:`tinvnn.canonicalize` replaces it by axes chosen one by one as the
direction maximising the directional moment ``f(u) = E[(z . u)^p]`` of the points, for the
first order p of ``TIE_ORDERS`` that separates directions on the remaining subspace (a fourth
moment is isotropic on a plane with three-fold symmetry, where the third or sixth still
separates them): a grid or random start, then Riemannian Newton steps to float64 precision, so
that the answer does not depend on the basis ``eigh`` returned (``docs/conventions.md``, rule 3).

A NumPy search per tied sample, wrapped as the custom operator ``tinvnn::tie_rotations`` so
that ``torch.compile`` keeps it out of the graphs it traces.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["TIE_TOL", "tie_rotations"]

_TIE_STARTS = 64
_TIE_ORDERS = (4, 3, 6)
TIE_TOL = 1e-3
"""A spread ``(f_max - f_min) / E[|z|^p]`` below this separates no direction: the tie margin's threshold."""


@torch.library.custom_op("tinvnn::tie_rotations", mutates_args=())
def tie_rotations(z: Tensor, tied: Tensor, counts: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """Rotations (B, D, D) of the eigen-axes inside tied eigenspaces, and tie margins (B,).

    ``z`` (B, D, N) are the points along the eigen-axes (padding columns zero), ``tied``
    (B, D-1) marks tied consecutive pairs, ``counts`` (B,) the real points per sample and
    ``mask`` (B, N) which they are (None: the first ``counts``). Samples without ties get the
    identity and ``inf``. A custom operator, so that ``torch.compile`` keeps this NumPy
    search (:func:`_quartic_axes`) out of the graph it traces.
    """
    b, d, _ = z.shape
    q = torch.eye(d, dtype=z.dtype, device=z.device).repeat(b, 1, 1)
    margin = z.new_full((b,), float("inf"))
    flags = tied.cpu()
    for i in flags.any(-1).nonzero().flatten().tolist():
        points = z[i, :, mask[i]] if mask is not None else z[i, :, : int(counts[i])]
        y = points.mT.cpu().numpy()
        for lo, hi in _clusters(flags[i].tolist()):
            block, m = _quartic_axes(y[:, lo:hi])
            q[i, lo:hi, lo:hi] = torch.from_numpy(block).to(q)
            margin[i] = min(float(margin[i]), m)
    return q, margin


@tie_rotations.register_fake
def _(z: Tensor, tied: Tensor, counts: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    return z.new_empty(z.shape[0], z.shape[1], z.shape[1]), z.new_empty(z.shape[0])


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
    whose spread ``(f_max - f_min) / mean(|p|^order)`` reaches ``TIE_TOL``; that spread too."""
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
        if spread >= TIE_TOL:
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
        hess = order * (order - 1) * (p * (proj ** (order - 2))[:, None]).T @ p / len(p) - order * value * np.eye(
            len(u)
        )
        hess = tangent.T @ hess @ tangent
        evals = np.linalg.eigvalsh(hess)
        if evals.max() < -1e-12 * max(abs(float(evals.min())), 1e-300):
            step = -np.linalg.solve(hess, grad)
        else:  # not negative definite (or singular: a moment isotropic along some direction)
            # floored relative to the moment, so that a Hessian of zero (an isotropic moment) cannot overflow the step
            step = grad / max(float(np.abs(evals).max()), 1e-12 * order * abs(value), 1e-300)
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
