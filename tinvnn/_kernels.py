"""Fused CPU kernel for the common path of :func:`tinvnn.canonicalize` on 3-D points (numba).

Optional: imported only when ``numba`` is installed (``pip install tinvnn[fast]``); without it,
or wherever the kernel does not apply, the engine runs its torch path. One call does per sample
what the torch path's common path does with about a hundred tensor operations per batch
(whose dispatch, not arithmetic, dominated its time): the centroid, the centred second and
third moments (two passes over the sample's points, which stay in cache), a 3 x 3 Jacobi
eigen-decomposition, the sign rule's first two statistics, and the output (one more pass).

It finishes only *clear* samples, where the engine's rules reduce to their simplest case: no
null axis, every relative eigen-gap above ``gap_limit``, each axis's sign decided by the
skewness (``|skew| > sign_high``) or, with the skewness below ``sign_low``, by ``E[z_k |z|^2] /
sd_k`` (``> sign_high``), and an RMS radius between 1e-75 and 1e75. The caller passes those
bounds, derived from its own thresholds and their ambiguity band, so that a sample anywhere
near a decision of the rules (ties, null axes, undecided or ambiguous signs) is left to the
torch path, which applies them in full; with ``right_handed``, the axis of smallest margin
(there is no null axis) takes the sign that makes ``det R = +1``.

Points arrive as a contiguous (B, N, 3) float32 or float64 batch. The first pass reads each
sample as a flat (3 N) view (point ``i`` at ``3 i .. 3 i + 2``) and copies it coordinate-major
into a float64 buffer, which the other two read contiguously; the compiler vectorises all
three. Everything is accumulated in float64, after centring, so that offsets far larger than
the cloud lose no digits. The passes may reassociate sums and fuse multiply-adds (``fastmath``, what vectorised
sums need; NaN and Inf still propagate); the rest is plain IEEE arithmetic (``error_model=
"numpy"``: a division by zero gives Inf or NaN, as in torch, for the caller's checks). Compiled
on first use for each dtype and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["frames"]

_PASSES = {"reassoc", "contract", "nsz", "arcp"}
# Mean squared radii whose third moments (in input units) stay well inside float64's range
# (RMS radii 1e-75 to 1e75); samples outside take the torch path, which works in units of the radius.
_SAFE_MEAN_SQUARE = (1e-150, 1e150)
_JACOBI_SWEEPS = 30
_JACOBI_TOL = 1e-18  # an off-diagonal entry this small beside its diagonal is zero in float64


@numba.njit(cache=True, error_model="numpy")
def frames(
    x: np.ndarray,
    out: np.ndarray,
    scale: bool,
    right_handed: bool,
    null_tol: float,
    gap_limit: float,
    sign_low: float,
    sign_high: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Canonical frames of the samples of ``x`` (B, N, 3), C-contiguous float32 or float64, and
    their canonical points written to ``out`` (B, N, 3) for the clear samples (see the module
    docstring).

    Returns float64 centroids (B, 3), mean squared radii (B,), eigenvalues (B, 3) descending,
    canonical axes ``R`` (B, 3, 3) as columns, eigen-gaps (B,), sign margins (B,), and
    ``done`` (B,) bool: the sample was clear (its other entries and rows of ``out`` are
    undefined otherwise). ``scale``: divide by the RMS radius; ``right_handed``: ``det R = +1``
    (flipping the axis of smallest sign margin).
    """
    batch, n = x.shape[0], x.shape[1]
    centre = np.empty((batch, 3))
    mean_square = np.empty(batch)
    evals = np.empty((batch, 3))
    R = np.empty((batch, 3, 3))
    eigen_gap = np.empty(batch)
    sign_margin = np.empty(batch)
    done = np.zeros(batch, dtype=np.bool_)
    cov = np.empty((3, 3))
    third = np.empty((3, 3, 3))
    matrix = np.empty((3, 3))
    margin = np.empty(3)
    points = np.empty((3, n))  # the sample's points, coordinate-major float64
    for b in range(batch):
        _moments(x[b].reshape(3 * n), points, centre[b], cov, third)
        mean_square[b] = cov[0, 0] + cov[1, 1] + cov[2, 2]
        _eigh3(cov, evals[b], R[b])
        lam = evals[b]
        if not (
            _SAFE_MEAN_SQUARE[0] < mean_square[b] < _SAFE_MEAN_SQUARE[1]
            and lam[2] > null_tol * lam[0]
            and min(lam[0] - lam[1], lam[1] - lam[2]) > gap_limit * lam[0]
        ):
            continue
        eigen_gap[b] = min(lam[0] - lam[1], lam[1] - lam[2]) / lam[0]
        for k in range(3):
            r = R[b, :, k]
            cube = radial = 0.0
            for i in range(3):
                radial += r[i] * (third[i, 0, 0] + third[i, 1, 1] + third[i, 2, 2])
                for j in range(3):
                    for m in range(3):
                        cube += third[i, j, m] * r[i] * r[j] * r[m]
            skew = cube / lam[k] ** 1.5  # E[z_k^3] / sd_k^3: the radius cancels
            fallback = radial / (mean_square[b] * lam[k] ** 0.5)  # E[z_k |z|^2] / sd_k, z in units of the radius
            if abs(skew) > sign_high:
                stat = skew
            elif abs(skew) < sign_low and abs(fallback) > sign_high:
                stat = fallback
            else:  # undecided, or a statistic near the threshold
                break
            margin[k] = abs(stat)
            if stat < 0:
                for i in range(3):
                    r[i] = -r[i]
        else:
            if right_handed:  # handedness decides the sign of the axis whose sign was least certain
                own = np.argmin(margin)
                if _det3(R[b]) < 0:
                    for i in range(3):
                        R[b, i, own] = -R[b, i, own]
                margin[own] = np.inf
            sign_margin[b] = margin.min()
            unit = mean_square[b] ** 0.5 if scale else 1.0
            for i in range(3):
                for k in range(3):
                    matrix[i, k] = R[b, i, k] / unit
            _project(points, centre[b], matrix, out[b].reshape(3 * n))
            done[b] = True
    return centre, mean_square, evals, R, eigen_gap, sign_margin, done


@numba.njit(cache=True, error_model="numpy", fastmath=_PASSES)
def _moments(xb: np.ndarray, points: np.ndarray, centre: np.ndarray, cov: np.ndarray, third: np.ndarray) -> None:
    """Centroid (3,), covariance (3, 3) and third-moment tensor ``E[y_a y_b y_c]`` (3, 3, 3) of the
    centred points ``y`` of one sample ``xb`` (3 n, interleaved), written in place; ``points``
    (3, n) receives the sample coordinate-major in float64 (contiguous loads for both later
    passes)."""
    n = points.shape[1]
    px, py, pz = points[0], points[1], points[2]
    s0 = s1 = s2 = 0.0
    for i in range(n):
        px[i], py[i], pz[i] = xb[3 * i], xb[3 * i + 1], xb[3 * i + 2]
        s0 += px[i]
        s1 += py[i]
        s2 += pz[i]
    c0, c1, c2 = s0 / n, s1 / n, s2 / n
    m00 = m01 = m02 = m11 = m12 = m22 = 0.0
    t000 = t001 = t002 = t011 = t012 = t022 = t111 = t112 = t122 = t222 = 0.0
    for i in range(n):
        u, v, w = px[i] - c0, py[i] - c1, pz[i] - c2
        uu, vv, ww, uv = u * u, v * v, w * w, u * v
        m00 += uu
        m01 += uv
        m02 += u * w
        m11 += vv
        m12 += v * w
        m22 += ww
        t000 += uu * u
        t001 += uu * v
        t002 += uu * w
        t011 += vv * u
        t012 += uv * w
        t022 += ww * u
        t111 += vv * v
        t112 += vv * w
        t122 += ww * v
        t222 += ww * w
    centre[0], centre[1], centre[2] = c0, c1, c2
    for (i, j), value in zip(((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)), (m00, m01, m02, m11, m12, m22)):
        cov[i, j] = cov[j, i] = value / n
    for (i, j, k), value in zip(
        ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 1), (0, 1, 2), (0, 2, 2), (1, 1, 1), (1, 1, 2), (1, 2, 2), (2, 2, 2)),
        (t000, t001, t002, t011, t012, t022, t111, t112, t122, t222),
    ):
        value /= n
        third[i, j, k] = third[i, k, j] = third[j, i, k] = value
        third[j, k, i] = third[k, i, j] = third[k, j, i] = value


@numba.njit(cache=True, error_model="numpy")
def _eigh3(cov: np.ndarray, evals: np.ndarray, evecs: np.ndarray) -> None:
    """Eigenvalues (3,) descending and clamped at 0, and orthonormal eigenvectors (3, 3) as
    columns, of the symmetric ``cov`` (3, 3), by cyclic Jacobi rotations, each of which zeroes
    one off-diagonal entry; to float64 precision (``cov`` is overwritten)."""
    a, v = cov, evecs
    v[:] = 0.0
    for i in range(3):
        v[i, i] = 1.0
    for _ in range(_JACOBI_SWEEPS):
        if a[0, 1] == 0.0 and a[0, 2] == 0.0 and a[1, 2] == 0.0:
            break
        for p, q in ((0, 1), (0, 2), (1, 2)):
            apq = a[p, q]
            if not abs(apq) > _JACOBI_TOL * (abs(a[p, p]) + abs(a[q, q])):  # negligible (or NaN)
                a[p, q] = a[q, p] = 0.0
                continue
            theta = (a[q, q] - a[p, p]) / (2.0 * apq)
            t = (1.0 if theta >= 0 else -1.0) / (abs(theta) + np.sqrt(theta * theta + 1.0))
            c = 1.0 / np.sqrt(t * t + 1.0)
            s = t * c
            a[p, p] -= t * apq
            a[q, q] += t * apq
            a[p, q] = a[q, p] = 0.0
            r = 3 - p - q
            arp, arq = a[r, p], a[r, q]
            a[r, p] = a[p, r] = c * arp - s * arq
            a[r, q] = a[q, r] = s * arp + c * arq
            for k in range(3):
                vkp, vkq = v[k, p], v[k, q]
                v[k, p], v[k, q] = c * vkp - s * vkq, s * vkp + c * vkq
    for k in range(3):  # sort descending: selection of the largest remaining, swapping columns
        top = k
        for j in range(k + 1, 3):
            if a[j, j] > a[top, top]:
                top = j
        a[k, k], a[top, top] = a[top, top], a[k, k]
        for i in range(3):
            v[i, k], v[i, top] = v[i, top], v[i, k]
        evals[k] = max(a[k, k], 0.0)


@numba.njit(cache=True, error_model="numpy")
def _det3(m: np.ndarray) -> float:
    """Determinant of ``m`` (3, 3)."""
    det: float = (
        m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1])
        - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
        + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0])
    )
    return det


@numba.njit(cache=True, error_model="numpy", fastmath=_PASSES)
def _project(points: np.ndarray, centre: np.ndarray, matrix: np.ndarray, ob: np.ndarray) -> None:
    """``ob = (points.T - centre) @ matrix`` for one sample: ``points`` (3, n) coordinate-major,
    ``ob`` (3 n) interleaved, ``centre`` (3,), ``matrix`` (3, 3); rounded once to ``ob``'s dtype."""
    px, py, pz = points[0], points[1], points[2]
    c0, c1, c2 = centre[0], centre[1], centre[2]
    r00, r01, r02 = matrix[0, 0], matrix[0, 1], matrix[0, 2]
    r10, r11, r12 = matrix[1, 0], matrix[1, 1], matrix[1, 2]
    r20, r21, r22 = matrix[2, 0], matrix[2, 1], matrix[2, 2]
    for i in range(points.shape[1]):
        u, v, w = px[i] - c0, py[i] - c1, pz[i] - c2
        ob[3 * i] = u * r00 + v * r10 + w * r20
        ob[3 * i + 1] = u * r01 + v * r11 + w * r21
        ob[3 * i + 2] = u * r02 + v * r12 + w * r22
