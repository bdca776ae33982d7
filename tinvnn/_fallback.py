"""The fallback frame: exact by construction where the canonical rule leaves directions undetermined.

Where ``canonicalize``'s certificate says a sample's frame is undecided (``Frame.ambiguous``: a
sign with no odd moment to fix it, a tied eigenspace no directional moment separates, an
eigen-gap on ``gap_tol``), the choice among the remaining candidates would otherwise be left to
the basis ``eigh`` returns. Instead the engine takes, over a finite set of candidate frames
that any element of the group maps onto itself, the one whose canonical point set is
lexicographically smallest (``docs/conventions.md``, rule 8). Since a symmetry of the points
maps the candidate set onto itself and leaves the point set unchanged, the result is exactly
invariant (up to float rounding), whatever the shape's symmetry.

Candidates:

* ``signs``: no tied eigenvalues: the principal axes are determined, only signs are not: the
  2^D sign patterns of the axes (those in the group).
* ``points``: a tie took part: frames built from the points by Gram-Schmidt, axis k along
  the residual of a point farthest from the span of axes 1..k-1 (every such point within a
  relative ``POINT_TOL``), completed to a member of the group.

Comparison: values of a candidate's canonical points (in units of the RMS radius) closer than
a tolerance ``tol`` count as equal: in each coordinate the values are grouped where
neighbouring sorted values are within ``tol`` (no fixed grid, so rounding noise far below
``tol`` never moves a value across a boundary), the rows are sorted by their groups, and two
candidates compare at the first value that differs by more than ``tol``; where none does, at the
first that differs by more than float64 rounding (``ROUNDING``), then at the first exact
difference (so that a nearly symmetric shape, e.g. a cube with 1e-9 noise, is decided by its
noise and not by the rounding of a value the noise moves only to second order, and an exactly
symmetric one picks one of equal point sets).
``tol`` is ``KEY_TOL`` or, for inputs of lower precision, a multiple of their machine epsilon
(:func:`tolerance`).
At most ``MAX_CANDIDATES`` candidates are tried: beyond that the sample keeps its frame.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "KEY_TOL",
    "MAX_CANDIDATES",
    "ROUNDING",
    "point_frames",
    "smallest",
    "sign_frames",
    "tolerance",
    "value_groups",
]

KEY_TOL = 1e-7
ROUNDING = 1e-12  # above the float64 rounding of canonical values (in radii), below the noise that should decide
MAX_CANDIDATES = 4096
_SAME_FRAME = 1e-11


def tolerance(eps: float) -> float:
    """The comparison tolerance for inputs of machine epsilon ``eps``: ``KEY_TOL`` (float64), or
    8 eps where that is larger (float32: 9.5e-7; float16: 0.0078; bfloat16: 0.0625), above their
    rounding noise and below the differences between distinct candidates (64 eps let bfloat16's
    noise pick the frame of a pentagonal prism)."""
    return max(KEY_TOL, 8.0 * eps)


def sign_frames(axes: np.ndarray, proper: bool) -> tuple[np.ndarray, np.ndarray]:
    """Candidate frames (C, D, D) ``axes * signs`` for every sign pattern (with ``det = +1``
    where ``proper``), and the patterns (C, D)."""
    d = axes.shape[0]
    patterns = 1.0 - 2.0 * ((np.arange(2**d)[:, None] >> np.arange(d)[None]) & 1)
    frames = axes[None] * patterns[:, None, :]
    if proper:
        keep = np.linalg.det(frames) > 0
        frames, patterns = frames[keep], patterns[keep]
    return frames, patterns


def point_frames(y: np.ndarray, proper: bool, tol: float = KEY_TOL) -> tuple[np.ndarray, np.ndarray] | None:
    """Candidate frames (C, D, D) built from the points ``y`` (n, D) (centred), and the point
    index chosen for each axis (C, D) (-1 where the points had no extent left: that axis
    completes the frame); every point within a relative ``tol`` of the farthest is a candidate.
    None when there would be more than ``MAX_CANDIDATES``."""
    n, d = y.shape
    extent = float(np.sqrt((y * y).sum(1).max()))
    partial: list[tuple[tuple[int, ...], np.ndarray]] = [((), np.zeros((d, 0)))]
    for _ in range(d):
        grown: list[tuple[tuple[int, ...], np.ndarray]] = []
        for idx, basis in partial:
            resid = y - (y @ basis) @ basis.T
            norms = np.sqrt((resid * resid).sum(1))
            top = float(norms.max())
            if top <= 1e-9 * extent:  # no extent left: complete the basis (these axes move no point)
                grown.append((idx + (-1,), np.concatenate([basis, _completion(basis)[:, :1]], 1)))
                continue
            for p in np.flatnonzero(norms >= top * (1 - tol)).tolist():
                grown.append((idx + (p,), np.concatenate([basis, resid[p][:, None] / norms[p]], 1)))
            if len(grown) > MAX_CANDIDATES:
                return None
        partial = grown
    frames = np.stack([basis for _, basis in partial])
    if proper:
        frames[:, :, -1] *= np.sign(np.linalg.det(frames))[:, None]
    # Different points can give the same frame (e.g. every point on the far side of the last
    # axis): keep the first of frames equal to within rounding (_SAME_FRAME), which only
    # saves time; frames that differ by more (a nearly symmetric shape) all stay.
    _, first = np.unique(np.round(frames.reshape(len(frames), -1) / _SAME_FRAME), axis=0, return_index=True)
    first.sort()
    return frames[first], np.array([idx for idx, _ in partial], dtype=np.int64)[first]


def smallest(y: np.ndarray, frames: np.ndarray, tol: float = KEY_TOL) -> int:
    """Index of the candidate frame (C, D, D) whose canonical points ``y @ frame`` (``y`` (n, D),
    in units of the RMS radius) form the lexicographically smallest point set, values within
    ``tol`` counting as equal (module docstring). One candidate at a time: memory O(n D), time
    O(C n log n)."""
    best, best_key = 0, _sorted_rows(y @ frames[0], tol)
    for c in range(1, len(frames)):
        key = _sorted_rows(y @ frames[c], tol)
        if _less(key, best_key, tol):
            best, best_key = c, key
    return best


def value_groups(values: np.ndarray, tol: float) -> np.ndarray:
    """Group number (n,) of each value (n,): sorted values stay in one group while neighbours are
    within ``tol``; groups are numbered in increasing order of value."""
    order = np.argsort(values, kind="stable")
    groups = np.empty(len(values), dtype=np.int64)
    groups[order] = np.concatenate([[0], np.cumsum(np.diff(values[order]) > tol)])
    return groups


def _sorted_rows(z: np.ndarray, tol: float) -> np.ndarray:
    """Points ``z`` (n, D) as a comparison key (n * D,): rows sorted by the groups of their
    coordinates (:func:`value_groups`), then by the exact values, flattened."""
    groups = [value_groups(column, tol) for column in z.T]
    order = np.lexsort(tuple(z.T[::-1]) + tuple(groups[::-1]))  # grouped columns first, then exact
    return z[order].ravel()


def _less(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    """Whether key ``a`` comes before key ``b`` (:func:`_sorted_rows`): at the first value that
    differs by more than ``tol``, else by more than ``ROUNDING``, else at the first exact difference."""
    gap = np.abs(a - b)
    for differ in (np.flatnonzero(gap > tol), np.flatnonzero(gap > min(ROUNDING, tol)), np.flatnonzero(a != b)):
        if len(differ):
            return bool(a[differ[0]] < b[differ[0]])
    return False


def _completion(basis: np.ndarray) -> np.ndarray:
    """Orthonormal columns (D, D-k) completing ``basis`` (D, k) (a fixed, basis-dependent choice)."""
    d, k = basis.shape
    q, _ = np.linalg.qr(np.concatenate([basis, np.eye(d)], 1))
    return q[:, k:d]
