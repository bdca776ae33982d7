"""Compiled local search of :func:`tinvnn.tasks.tsp.improve.improve_tour` (numba).

Optional: loaded only when ``numba`` is installed (``pip install tinvnn[fast]``, part of
``tinvnn[tsp]``) and ``TINVNN_FAST`` is not ``0``; otherwise ``improve_tour`` runs its Python
loop. The two are the same algorithm step by step (same moves in the same order, the same
distances ``sqrt(dx * dx + dy * dy)`` in IEEE arithmetic, the same splitmix64 draws of the
kicks), so they return the same tour for the same arguments without a deadline; the tests check
it. The compiled loop runs about two orders of magnitude faster: a budgeted search gets that
many more kicks.

State lives in arrays the caller owns, so the search can stop and resume between calls (the
caller checks its deadline between calls; numba cannot read a Python clock):

* ``t`` (N,) int64 the tour, ``pos`` (N,) int64 the position of each city in it;
* ``near`` (N, m) int64 candidate lists, nearest first, short rows padded with -1; ``xs``,
  ``ys`` (N,) float64 coordinates, or ``rows`` (N, N) float64 distances when ``matrix`` is true;
* ``queue`` (N + 8,) int64 a ring buffer of cities to examine and ``ring`` (2,) int64 its head
  and length; ``queued`` (N,) bool whether a city is in it (a city is queued at most once,
  except for the up to six end cities of a kick, which may repeat);
* ``rng`` (1,) uint64 the splitmix64 state of the kicks.

Compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["kicks", "search"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@numba.njit(cache=True)
def _below(rng: np.ndarray, m: int) -> int:
    """The next splitmix64 draw of ``rng`` modulo ``m`` (see ``improve._Draws``)."""
    rng[0] += _GOLDEN
    z = rng[0]
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return int(z % np.uint64(m))


@numba.njit(cache=True)
def _d(i: int, j: int, xs: np.ndarray, ys: np.ndarray, rows: np.ndarray, matrix: bool) -> float:
    if matrix:
        return rows[i, j]
    dx = xs[i] - xs[j]
    dy = ys[i] - ys[j]
    return math.sqrt(dx * dx + dy * dy)


@numba.njit(cache=True)
def _flip(t: np.ndarray, pos: np.ndarray, i: int, j: int) -> None:
    """Reverse the cyclic run of positions i..j, or the rest of the tour when that is shorter."""
    n = t.shape[0]
    length = (j - i) % n + 1
    if 2 * length > n:
        i, j, length = (j + 1) % n, (i - 1) % n, n - length
    for _ in range(length // 2):
        ci = t[i]
        cj = t[j]
        t[i] = cj
        t[j] = ci
        pos[cj] = i
        pos[ci] = j
        i = i + 1 if i + 1 < n else 0
        j = j - 1 if j > 0 else n - 1


@numba.njit(cache=True)
def _reverse(t: np.ndarray, pos: np.ndarray, i: int, j: int, journal: np.ndarray, used: np.ndarray) -> None:
    """:func:`_flip`, recorded in ``journal`` (rows ``0 .. used[0] - 1``) to undo a kick."""
    journal[used[0], 0] = i
    journal[used[0], 1] = j
    used[0] += 1
    _flip(t, pos, i, j)


@numba.njit(cache=True)
def _succ(t: np.ndarray, pos: np.ndarray, c: int) -> int:
    p = pos[c] + 1
    return t[p if p < t.shape[0] else 0]


@numba.njit(cache=True)
def _pred(t: np.ndarray, pos: np.ndarray, c: int) -> int:
    p = pos[c] - 1
    return t[p if p >= 0 else t.shape[0] - 1]


@numba.njit(cache=True)
def _exchange(t: np.ndarray, pos: np.ndarray, a: int, b: int, c: int, journal: np.ndarray, used: np.ndarray) -> None:
    """Replace the tour edges (a, b), (c, e) by (a, c), (b, e): reverse the path b..c."""
    if _succ(t, pos, a) == b:
        _reverse(t, pos, pos[b], pos[c], journal, used)
    else:
        _reverse(t, pos, pos[c], pos[b], journal, used)


@numba.njit(cache=True)
def _two_opt(
    a: int,
    t: np.ndarray,
    pos: np.ndarray,
    near: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    rows: np.ndarray,
    matrix: bool,
    eps: float,
    touched: np.ndarray,
    journal: np.ndarray,
    used: np.ndarray,
) -> float:
    """The first improving 2-opt move from ``a`` (applied; its 4 cities in ``touched``): its gain,
    or 0.0 when none."""
    for side in range(2):
        forward = side == 0
        b = _succ(t, pos, a) if forward else _pred(t, pos, a)
        dab = _d(a, b, xs, ys, rows, matrix)
        for c in near[a]:
            if c < 0:  # the end of a short candidate list
                break
            dac = _d(a, c, xs, ys, rows, matrix)
            if dac >= dab:
                break
            e = _succ(t, pos, c) if forward else _pred(t, pos, c)
            if c == b or e == a:
                continue
            delta = dac + _d(b, e, xs, ys, rows, matrix) - dab - _d(c, e, xs, ys, rows, matrix)
            if delta < -eps:
                if forward:
                    _reverse(t, pos, pos[b], pos[c], journal, used)
                else:
                    _reverse(t, pos, pos[a], pos[e], journal, used)
                touched[0], touched[1], touched[2], touched[3] = a, b, c, e
                return -delta
    return 0.0


@numba.njit(cache=True)
def _or_opt(
    a: int,
    t: np.ndarray,
    pos: np.ndarray,
    near: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    rows: np.ndarray,
    matrix: bool,
    eps: float,
    touched: np.ndarray,
    journal: np.ndarray,
    used: np.ndarray,
) -> float:
    """The first improving Or-opt move of the segment of 1-3 cities starting at ``a`` (applied;
    its 6 cities in ``touched``): its gain, or 0.0 when none."""
    n = t.shape[0]
    seg = np.empty(3, dtype=np.int64)
    for length in range(1, 4):
        first = pos[a]
        for i in range(length):
            seg[i] = t[(first + i) % n]
        s1, sl = seg[0], seg[length - 1]
        p, nx = t[first - 1 if first > 0 else n - 1], t[(first + length) % n]
        gain = _d(p, s1, xs, ys, rows, matrix) + _d(sl, nx, xs, ys, rows, matrix) - _d(p, nx, xs, ys, rows, matrix)
        if gain <= eps:
            continue
        for end_index in range(2):
            end = s1 if end_index == 0 else sl
            for c in near[end]:
                if c < 0:  # the end of a short candidate list
                    break
                if _d(c, end, xs, ys, rows, matrix) >= gain:
                    break
                if _member(c, seg, length):
                    continue
                for pair in range(2):
                    u, v = (c, _succ(t, pos, c)) if pair == 0 else (_pred(t, pos, c), c)
                    if _member(v, seg, length) or _member(u, seg, length):
                        continue
                    duv = _d(u, v, xs, ys, rows, matrix)
                    keep = _d(u, s1, xs, ys, rows, matrix) + _d(sl, v, xs, ys, rows, matrix) - duv
                    flip = _d(u, sl, xs, ys, rows, matrix) + _d(s1, v, xs, ys, rows, matrix) - duv
                    best = min(keep, flip)
                    if best < gain - eps:
                        if v == p:
                            _exchange(t, pos, u, v, sl, journal, used)
                        else:
                            _exchange(t, pos, p, s1, u, journal, used)
                            _exchange(t, pos, p, u, nx, journal, used)
                        if not flip < keep:
                            _exchange(t, pos, u, sl, s1, journal, used)
                        touched[0], touched[1], touched[2] = p, nx, u
                        touched[3], touched[4], touched[5] = v, s1, sl
                        return gain - best
    return 0.0


@numba.njit(cache=True)
def _three_opt(
    a: int,
    t: np.ndarray,
    pos: np.ndarray,
    near: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    rows: np.ndarray,
    matrix: bool,
    eps: float,
    touched: np.ndarray,
    journal: np.ndarray,
    used: np.ndarray,
) -> float:
    """The first improving pure sequential 3-opt move from ``a`` (applied; its 6 cities in
    ``touched``): its gain, or 0.0 when none (``improve._three_opt_types``)."""
    n = t.shape[0]
    for side in range(2):
        step = 1 if side == 0 else -1
        a1 = t[(pos[a] + step) % n]
        d12 = _d(a, a1, xs, ys, rows, matrix)
        for t3 in near[a1]:
            if t3 < 0:  # the end of a short candidate list
                break
            g1 = d12 - _d(a1, t3, xs, ys, rows, matrix)
            if g1 <= eps:
                break
            for case in range(2):
                after = case == 0
                t4 = t[(pos[t3] + (step if after else -step)) % n]
                if t4 == a or t4 == a1 or t3 == a:
                    continue
                g2 = g1 + _d(t3, t4, xs, ys, rows, matrix)
                r3 = (pos[t3] - pos[a]) * step % n
                for t5 in near[t4]:
                    if t5 < 0:  # the end of a short candidate list
                        break
                    g = g2 - _d(t4, t5, xs, ys, rows, matrix)
                    if g <= eps:
                        break
                    r5 = (pos[t5] - pos[a]) * step % n
                    for option in range(2):
                        kind = _kind(after, r5, r3, option)
                        if kind == 0:
                            break
                        t6 = t[(pos[t5] + (step if kind == 1 or kind == 3 else -step)) % n]
                        gain = g + _d(t5, t6, xs, ys, rows, matrix) - _d(t6, a, xs, ys, rows, matrix)
                        if gain > eps:
                            if kind == 1:
                                _exchange(t, pos, a, a1, t5, journal, used)
                                _exchange(t, pos, a, t5, t3, journal, used)
                                _exchange(t, pos, a, t3, t6, journal, used)
                            elif kind == 4:
                                _exchange(t, pos, a, a1, t6, journal, used)
                                _exchange(t, pos, a1, t5, t3, journal, used)
                            else:
                                _exchange(t, pos, a, a1, t4, journal, used)
                                _exchange(t, pos, a, t4, t6, journal, used)
                            touched[0], touched[1], touched[2] = a, a1, t3
                            touched[3], touched[4], touched[5] = t4, t5, t6
                            return gain
    return 0.0


@numba.njit(cache=True)
def _kind(after: bool, r5: int, r3: int, option: int) -> int:
    """Option ``option`` (0, 1) of ``improve._three_opt_types(after, r5, r3)``, or 0 past its end."""
    if after:
        if r5 == 1:
            return 1 if option == 0 else 0
        if 2 <= r5 < r3:
            return 1 if option == 0 else 4
        return 0
    if option == 1:
        return 0
    if 1 <= r5 <= r3 - 3:
        return 3
    return 2 if r5 > r3 else 0


@numba.njit(cache=True)
def _member(c: int, seg: np.ndarray, length: int) -> bool:
    for i in range(length):
        if seg[i] == c:
            return True
    return False


@numba.njit(cache=True)
def _push(c: int, queue: np.ndarray, ring: np.ndarray, queued: np.ndarray) -> None:
    queue[(ring[0] + ring[1]) % queue.shape[0]] = c
    ring[1] += 1
    queued[c] = True


@numba.njit(cache=True)
def search(
    t: np.ndarray,
    pos: np.ndarray,
    near: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    rows: np.ndarray,
    matrix: bool,
    eps: float,
    three_opt: bool,
    queue: np.ndarray,
    ring: np.ndarray,
    queued: np.ndarray,
    journal: np.ndarray,
    used: np.ndarray,
    max_cities: int,
) -> tuple[float, np.ndarray]:
    """Apply 2-opt, Or-opt and 3-opt moves from the queued cities until the queue is empty or
    ``max_cities`` cities have been examined. Returns the total gain and the journal (a larger
    copy when it had to grow; the moves' reversals are appended from row ``used[0]``)."""
    touched = np.empty(6, dtype=np.int64)
    total = 0.0
    examined = 0
    while ring[1] > 0 and examined < max_cities:
        if used[0] + 3 > journal.shape[0]:
            grown = np.empty((2 * journal.shape[0], 2), dtype=np.int64)
            grown[: used[0]] = journal[: used[0]]
            journal = grown
        a = queue[ring[0]]
        ring[0] = (ring[0] + 1) % queue.shape[0]
        ring[1] -= 1
        queued[a] = False
        examined += 1
        count = 4
        gain = _two_opt(a, t, pos, near, xs, ys, rows, matrix, eps, touched, journal, used)
        if gain == 0.0:
            count = 6
            gain = _or_opt(a, t, pos, near, xs, ys, rows, matrix, eps, touched, journal, used)
        if gain == 0.0 and three_opt:
            gain = _three_opt(a, t, pos, near, xs, ys, rows, matrix, eps, touched, journal, used)
        if gain == 0.0:
            continue
        total += gain
        for x in touched[:count]:
            if not queued[x]:
                _push(x, queue, ring, queued)
    return total, journal


@numba.njit(cache=True)
def kicks(
    t: np.ndarray,
    pos: np.ndarray,
    near: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    rows: np.ndarray,
    matrix: bool,
    eps: float,
    three_opt: bool,
    queue: np.ndarray,
    ring: np.ndarray,
    queued: np.ndarray,
    journal: np.ndarray,
    rng: np.ndarray,
    window: int,
    count: int,
) -> np.ndarray:
    """``count`` kicks (local double bridges inside ``window`` tour positions, each repaired by
    :func:`search` from its six end cities and undone unless the tour got shorter). Returns the
    journal (grown or not) for the next call."""
    n = t.shape[0]
    used = np.zeros(1, dtype=np.int64)
    cut = np.empty(3, dtype=np.int64)
    cities = np.empty(window + 1, dtype=np.int64)
    for _ in range(count):
        used[0] = 0
        start = _below(rng, n)
        _kick_cuts(rng, window, cut)
        i, j, k = cut[0], cut[1], cut[2]
        size = k - i + 2  # positions start + i - 1 .. start + k
        for x in range(size):
            cities[x] = t[(start + i - 1 + x) % n]
        head, tail = cities[0], cities[size - 1]
        one0, one1 = cities[1], cities[j - i]  # A's ends: positions i .. j - 1 of the window
        two0, two1 = cities[j - i + 1], cities[size - 2]
        added = _d(head, two0, xs, ys, rows, matrix) + _d(two1, one0, xs, ys, rows, matrix)
        added += _d(one1, tail, xs, ys, rows, matrix)
        removed = _d(head, one0, xs, ys, rows, matrix) + _d(one1, two0, xs, ys, rows, matrix)
        removed += _d(two1, tail, xs, ys, rows, matrix)
        _place(t, pos, cities, start + i, j - i + 1, size - 1, 1, j - i + 1, n)
        for c in (head, one0, one1, two0, two1, tail):
            _push(c, queue, ring, queued)
        gain, journal = search(
            t, pos, near, xs, ys, rows, matrix, eps, three_opt, queue, ring, queued, journal, used, n * n
        )
        if added - removed - gain >= -eps:
            for s in range(used[0] - 1, -1, -1):
                _flip(t, pos, journal[s, 0], journal[s, 1])
            _place(t, pos, cities, start + i, 1, j - i + 1, j - i + 1, size - 1, n)
    return journal


@numba.njit(cache=True)
def _kick_cuts(rng: np.ndarray, window: int, cut: np.ndarray) -> None:
    """Three distinct sorted positions in 1 .. window - 1 (see ``improve._Draws.cuts``)."""
    filled = 0
    while filled < 3:
        x = 1 + _below(rng, window - 1)
        if not _member(x, cut, filled):
            cut[filled] = x
            filled += 1
    cut.sort()


@numba.njit(cache=True)
def _place(
    t: np.ndarray, pos: np.ndarray, cities: np.ndarray, at: int, a0: int, a1: int, b0: int, b1: int, n: int
) -> None:
    """Write ``cities[a0:a1]`` then ``cities[b0:b1]`` to the tour from position ``at`` on."""
    x = 0
    for lo, hi in ((a0, a1), (b0, b1)):
        for y in range(lo, hi):
            p = (at + x) % n
            t[p] = cities[y]
            pos[cities[y]] = p
            x += 1
