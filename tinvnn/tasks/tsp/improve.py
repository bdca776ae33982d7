"""Improvement step for any tour: 2-opt, Or-opt and 3-opt with neighbour lists and don't-look bits.

A separate step from tour construction (the neural policy or a heuristic builds a tour; this
shortens it). Moves considered for a city ``a``, in this order:

* **2-opt**: for each tour neighbour ``b`` of ``a`` (successor, then predecessor) and each
  city ``c`` among ``a``'s ``neighbours`` nearest with ``d(a, c) < d(a, b)``, replace the edges
  ``(a, b)``, ``(c, e)`` by ``(a, c)``, ``(b, e)`` where ``e`` is ``c``'s neighbour on the same
  side; the shorter of the two paths between the new edges is reversed.
* **Or-opt**: move the segment of 1, 2 or 3 cities that starts at ``a`` (in tour order),
  either way round, between two consecutive cities ``u, v`` where ``u`` or ``v`` is among the
  segment ends' nearest neighbours and the new edge is shorter than the removal gain.
* **3-opt** (``three_opt=True``, the default): the sequential search of Lin and Kernighan to
  depth three: remove ``(t1, t2)`` with ``t2`` a tour neighbour of ``t1 = a``, add ``(t2, t3)``
  for ``t3`` among ``t2``'s nearest with a positive partial gain, remove ``(t3, t4)``, add
  ``(t4, t5)`` for ``t5`` among ``t4``'s nearest, remove ``(t5, t6)`` and close with ``(t6, t1)``,
  for the four pure 3-opt reconnections (:func:`_three_opt_types`), applied as two or three
  2-opt reversals. With full neighbour lists the result is a 3-opt local optimum (tested
  against brute force).

A move is taken as soon as it shortens the tour by more than ``1e-9`` times the mean tour edge
(first improvement); the cities it touches are queued again, the others keep their don't-look
bit. Ends in a local optimum of the neighbourhoods restricted to the neighbour lists. Optional
``kicks`` turn it into iterated local search: local double-bridge perturbations (segment swaps
inside a window of 50 tour positions, which the moves above do not undo in one step), each
kept only if the repaired tour is shorter; the draws (splitmix64) depend on tour positions
only, so the result is still invariant to transformations and renumbering of the cities. With a
``deadline`` the search is anytime: it stops at the deadline with the best tour so far (every
move keeps a valid tour).

Two loops run it: a compiled one (:mod:`tinvnn.tasks.tsp._improve_kernel`, with numba, the
``fast`` extra; about 30 times faster) and a Python one; both make the same moves in the same
order and return the same tour (tested), except that the compiled loop checks the deadline
between chunks of about 5 ms of work and finishes the repair of a kick under way. The compiled
loop costs about a second to load in a new process, so a small search (a few hundred cities and
kicks, or a budget under a second) runs the Python loop until the compiled one is loaded. Distances are
``sqrt(dx * dx + dy * dy)`` on coordinates scaled by a power of two (exact) so that their
squares cannot overflow.

Cost: O(N neighbours) per pass over the queue plus, per move, the reversals of an array tour:
at most N / 2 cities each (the shorter side), in practice the tour distance between the cities
the move joins. An Or-opt move is two or three such reversals; a rejected kick is undone by
replaying its reversals backwards (no O(N) copy per kick). Memory O(N neighbours); distances are
computed on demand (Euclidean from coordinates) or read from an (N, N) matrix when one is given.
"""

from __future__ import annotations

import functools
import importlib
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from tinvnn import _fast
from tinvnn._progress import announce_compilation
from tinvnn._scale import to_unit_range
from tinvnn.geometry import knn_graph

__all__ = [
    "DEFAULT_DELAUNAY",
    "DEFAULT_NEIGHBOURS",
    "candidate_lists",
    "improve_tour",
    "load_compiled_search",
    "neighbour_lists",
]

_KICK_WINDOW = 50
DEFAULT_NEIGHBOURS = 10  # nearest cities per candidate list
DEFAULT_DELAUNAY = 6  # Delaunay neighbours beyond the nearest, per candidate list


def neighbour_lists(coords: np.ndarray, neighbours: int, dist: np.ndarray | None = None) -> np.ndarray:
    """(N, m) indices of each city's m = min(neighbours, N - 1) nearest other cities, nearest first.

    From the k-nearest-neighbour graph of ``coords`` (N, 2) (a k-d tree,
    :func:`tinvnn.geometry.knn_graph`), or from the rows of ``dist`` (N, N) when given.
    """
    n = len(coords) if dist is None else len(dist)
    m = min(neighbours, n - 1)
    if m < 1:
        return np.zeros((n, 0), dtype=np.int64)
    if dist is not None:
        order = np.argsort(dist + np.diag(np.full(n, np.inf)), axis=1, kind="stable")
        return order[:, :m]
    edge_index, _ = knn_graph(coords, m)
    return edge_index[1].numpy().reshape(n, m)


def candidate_lists(
    coords: np.ndarray,
    neighbours: int = DEFAULT_NEIGHBOURS,
    dist: np.ndarray | None = None,
    *,
    delaunay: int = DEFAULT_DELAUNAY,
) -> np.ndarray:
    """(N, m) candidate cities of each city for :func:`improve_tour`, nearest first: its
    ``neighbours`` nearest (:func:`neighbour_lists`), then up to ``delaunay`` of its Delaunay
    neighbours outside them, nearest first; a row with fewer ends in -1 entries.

    The default of :func:`improve_tour` and ``tinvnn tsp solve`` (chosen on the own validation
    families: docs/results.md); ``--candidates nearest`` or ``near=neighbour_lists(...)`` for the
    nearest alone.

    Nearest neighbours alone miss the links between rows of closely spaced cities (drilling,
    circuit boards): every one of a city's nearest may lie in its own row. The Delaunay
    triangulation links each row to the next; like the nearest neighbours it depends on the
    distances only (invariant to rotation, reflection, scale, translation and renumbering),
    except where four cities lie on one circle (then qhull's choice among the triangulations).
    With ``dist`` (a matrix to optimise instead of the coordinates' distances), fewer than four
    cities, or all cities on one line: the nearest neighbours alone. O(N log N) time (qhull).
    """
    near = neighbour_lists(coords, neighbours, dist)
    n = len(near)
    if dist is not None or delaunay < 1 or n < 4:
        return near
    from scipy.spatial import Delaunay, QhullError

    xy = np.asarray(coords, dtype=np.float64)
    try:
        indptr, linked = Delaunay(xy).vertex_neighbor_vertices
    except QhullError:  # all cities on one line (or coincident): no triangulation
        return near
    rows = np.repeat(np.arange(n), np.diff(indptr))
    fresh = ~np.isin(rows * n + linked, np.arange(n)[:, None] * n + near)
    rows, linked = rows[fresh], linked[fresh]
    order = np.lexsort((np.hypot(*(xy[linked] - xy[rows]).T), rows))
    rows, linked = rows[order], linked[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)  # place among the row's new links
    keep = rank < delaunay
    extra = np.full((n, delaunay), -1, dtype=np.int64)
    extra[rows[keep], rank[keep]] = linked[keep]
    return np.concatenate([near, extra], axis=1)


def improve_tour(
    coords: np.ndarray,
    tour: np.ndarray,
    *,
    neighbours: int = DEFAULT_NEIGHBOURS,
    dist: np.ndarray | None = None,
    kicks: int | None = 0,
    seed: int = 0,
    near: np.ndarray | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
    three_opt: bool = True,
) -> np.ndarray:
    """2-opt + Or-opt local search from ``tour`` (see the module docstring).

    Args:
        coords: (N, 2) city coordinates (used for neighbour lists and Euclidean distances).
        tour: (N,) a permutation of 0..N-1.
        neighbours: nearest cities per candidate list (:func:`candidate_lists` adds up to
            ``DEFAULT_DELAUNAY`` Delaunay neighbours beyond them).
        dist: optional (N, N) symmetric distances to optimise instead of Euclidean ones.
        kicks: perturbations after the first local optimum (iterated local search): each is a
            double bridge of three consecutive segments inside a window of 50 tour positions
            (drawn with ``seed``), repaired by the same local search from its six end cities,
            and kept only if the tour got shorter. None: kicks until the ``deadline``.
        near: the (N, m) candidate lists (:func:`candidate_lists`: nearest first, -1 after the
            end of a short list) when the caller already has them (several tours of one
            instance); ``neighbours`` is then ignored.
        deadline: a ``clock()`` value at which the search stops and returns the best tour so
            far (``tour`` itself, without any setup, when it has passed already); None: no limit.
        clock: the clock of ``deadline`` (wall seconds by default; :func:`time.process_time`
            for CPU seconds, e.g. to compare budgets on a shared machine).
        three_opt: also try pure sequential 3-opt moves where 2-opt and Or-opt find none
            (False: the 2-opt + Or-opt neighbourhood alone, cheaper per city).

    Returns:
        (N,) int64 tour, never longer than ``tour`` (same start city is not guaranteed).
    """
    n = len(tour)
    if sorted(np.asarray(tour).tolist()) != list(range(n)):
        raise ValueError(f"expected a permutation of 0..{n - 1}")
    if kicks is None and deadline is None:
        raise ValueError("kicks=None (kicks until the deadline) needs a deadline")
    if kicks is not None and kicks < 0:
        raise ValueError(f"kicks: expected a non-negative number of kicks, got {kicks}")
    if n < 5 or (deadline is not None and clock() >= deadline):  # nothing to do, or no time: no O(N) setup
        return np.asarray(tour, dtype=np.int64).copy()
    near_lists = candidate_lists(coords, neighbours, dist) if near is None else near
    xs, ys = _scaled(coords) if dist is None else (np.zeros(0), np.zeros(0))
    rows = np.zeros((0, 0)) if dist is None else np.asarray(dist, dtype=np.float64)
    t = np.asarray(tour, dtype=np.int64)
    if dist is None:
        edges = np.hypot(*(np.stack([xs, ys])[:, t] - np.stack([xs, ys])[:, np.roll(t, 1)]))
    else:
        edges = rows[np.roll(t, 1), t]
    eps = 1e-9 * math.fsum(edges.tolist()) / n  # gains below this are rounding, not moves
    stop = _Stop(kicks, deadline, clock)
    kernel = _kernel(n, stop)
    if kernel is not None:
        return _search_compiled(kernel, t, near_lists, xs, ys, rows, eps, seed, stop, three_opt)
    lists = [[c for c in row if c >= 0] for row in near_lists.tolist()]
    return _search_python(t, lists, xs, ys, rows, eps, seed, stop, three_opt)


@dataclass(frozen=True)
class _Stop:
    """When the search stops: after ``kicks`` kicks (None: no limit) or at ``deadline`` of ``clock``."""

    kicks: int | None
    deadline: float | None
    clock: Callable[[], float]

    def passed(self) -> bool:
        return self.deadline is not None and self.clock() >= self.deadline


def _scaled(coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (N,) x and y coordinates times the power of two that brings the largest magnitude to
    at most 1 (exact; squares of differences then never overflow)."""
    scaled = to_unit_range(coords)
    return np.ascontiguousarray(scaled[:, 0]), np.ascontiguousarray(scaled[:, 1])


_MASK = (1 << 64) - 1


class _Draws:
    """splitmix64 (Steele, Lea and Flood 2014): the kicks' draws, the same in both loops."""

    def __init__(self, seed: int) -> None:
        self.state = seed & _MASK

    def below(self, m: int) -> int:
        """The next draw modulo ``m``."""
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return (z ^ (z >> 31)) % m

    def cuts(self, window: int) -> list[int]:
        """Three distinct sorted positions in 1 .. window - 1."""
        cut: list[int] = []
        while len(cut) < 3:
            x = 1 + self.below(window - 1)
            if x not in cut:
                cut.append(x)
        return sorted(cut)


# CPU seconds the Python loop takes per city of the first local search and per kick (1,000-5,000
# cities, this project's 2-core machine), and to load the compiled loop from numba's cache in a
# new process (about 0.8 s there): below that much work the Python loop finishes first.
_PYTHON_SECONDS_PER_CITY = 5e-4
_PYTHON_SECONDS_PER_KICK = 6e-4
_LOAD_SECONDS = 1.0


def _kernel(n: int, stop: _Stop) -> ModuleType | None:
    """:mod:`tinvnn.tasks.tsp._improve_kernel` when it is worth it: loaded already, or the Python
    loop would take longer than loading it (a search of ``n`` cities until ``stop``); None
    without numba or with ``FAST_KERNELS`` off (``tinvnn._fast``; ``TINVNN_FAST=0``). Both loops
    return the same tour, so the choice changes only how fast it comes."""
    if not _fast.FAST_KERNELS:
        return None
    if _load_kernel.cache_info().currsize == 0:
        work = math.inf if stop.kicks is None else _PYTHON_SECONDS_PER_KICK * stop.kicks
        work += _PYTHON_SECONDS_PER_CITY * n
        if stop.deadline is not None:
            work = min(work, stop.deadline - stop.clock())
        if work < _LOAD_SECONDS:
            return None
    return _load_kernel()


def load_compiled_search() -> bool:
    """Load the compiled loop now (about a second in a new process, then every search of any size
    uses it while ``FAST_KERNELS`` is on): for timings that should not include the loading, and
    for processes that will solve many small instances. False without numba."""
    return _load_kernel() is not None


@functools.cache
def _load_kernel() -> ModuleType | None:
    try:
        kernel = importlib.import_module("tinvnn.tasks.tsp._improve_kernel")
    except (ImportError, RuntimeError):  # no numba, or no writable cache directory for it
        return None
    announce_compilation(kernel, "the TSP local search")
    return kernel


_CHUNK_SECONDS = 0.005  # the compiled loop returns to check the deadline about this often


def _search_compiled(
    kernel: ModuleType,
    t: np.ndarray,
    near: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    rows: np.ndarray,
    eps: float,
    seed: int,
    stop: _Stop,
    three_opt: bool,
) -> np.ndarray:
    """The search by :mod:`~tinvnn.tasks.tsp._improve_kernel`, in chunks of work between which
    the deadline is checked (chunks grow while they take under ``_CHUNK_SECONDS``)."""
    n = len(t)
    t = t.copy()
    pos = np.empty(n, dtype=np.int64)
    pos[t] = np.arange(n)
    near = np.ascontiguousarray(near, dtype=np.int64)
    geometry = (near, xs, ys, rows, len(rows) > 0, eps, three_opt)
    queue = np.zeros(n + 8, dtype=np.int64)
    queue[:n] = t
    ring = np.array([0, n], dtype=np.int64)
    queued = np.ones(n, dtype=np.bool_)
    journal = np.empty((64, 2), dtype=np.int64)
    used = np.zeros(1, dtype=np.int64)
    chunk = 4 * n if stop.deadline is not None else n * n + 1
    while ring[1] > 0 and not stop.passed():
        used[0] = 0  # no kick to undo: the journal is not needed
        began = stop.clock()
        _, journal = kernel.search(t, pos, *geometry, queue, ring, queued, journal, used, chunk)
        if stop.clock() - began < _CHUNK_SECONDS:
            chunk *= 2
    if ring[1] > 0:  # stopped by the deadline
        return t
    rng = np.array([seed & _MASK], dtype=np.uint64)
    window = min(n, _KICK_WINDOW)
    done, chunk = 0, 16 if stop.deadline is not None else stop.kicks or 0
    while n >= 8 and (stop.kicks is None or done < stop.kicks) and not stop.passed():
        count = chunk if stop.kicks is None else min(chunk, stop.kicks - done)
        began = stop.clock()
        journal = kernel.kicks(t, pos, *geometry, queue, ring, queued, journal, rng, window, count)
        done += count
        if stop.clock() - began < _CHUNK_SECONDS:
            chunk *= 2
    return t


def _search_python(
    tour: np.ndarray,
    near_lists: list[list[int]],
    xs_array: np.ndarray,
    ys_array: np.ndarray,
    rows_array: np.ndarray,
    eps: float,
    seed: int,
    stop: _Stop,
    three_opt: bool,
) -> np.ndarray:
    """The search as a Python loop (no numba): the reference of the compiled one, move for move."""
    n = len(tour)
    if len(rows_array):
        rows = rows_array.tolist()

        def d(i: int, j: int) -> float:
            return rows[i][j]
    else:
        xs, ys = xs_array.tolist(), ys_array.tolist()

        def d(i: int, j: int) -> float:
            dx, dy = xs[i] - xs[j], ys[i] - ys[j]
            return math.sqrt(dx * dx + dy * dy)

    t = [int(c) for c in tour]
    pos = [0] * n
    for i, c in enumerate(t):
        pos[c] = i
    journal: list[tuple[int, int]] = []  # the reversals since the last kick, to undo a rejected one

    def reverse(i: int, j: int) -> None:
        """Reverse the cyclic run of positions i..j (or, equivalently, the rest of the tour); a
        second call with the same i, j undoes it."""
        journal.append((i, j))
        length = (j - i) % n + 1
        if 2 * length > n:
            i, j, length = (j + 1) % n, (i - 1) % n, n - length
        for _ in range(length // 2):
            ci, cj = t[i], t[j]
            t[i], t[j] = cj, ci
            pos[cj], pos[ci] = i, j
            i = i + 1 if i + 1 < n else 0
            j = j - 1 if j > 0 else n - 1

    def exchange(a: int, b: int, c: int, e: int) -> None:
        """Replace the tour edges (a, b), (c, e), where b follows a and e follows c in one
        direction, by (a, c), (b, e): reverse the path b..c."""
        if t[pos[a] + 1 if pos[a] + 1 < n else 0] == b:
            reverse(pos[b], pos[c])
        else:
            reverse(pos[c], pos[b])

    def two_opt(a: int) -> tuple[list[int], float] | None:
        for forward in (True, False):
            b = t[(pos[a] + 1) % n] if forward else t[pos[a] - 1]
            dab = d(a, b)
            for c in near_lists[a]:
                dac = d(a, c)
                if dac >= dab:
                    break
                e = t[(pos[c] + 1) % n] if forward else t[pos[c] - 1]
                if c == b or e == a:
                    continue
                delta = dac + d(b, e) - dab - d(c, e)
                if delta < -eps:
                    if forward:
                        reverse(pos[b], pos[c])
                    else:
                        reverse(pos[a], pos[e])
                    return [a, b, c, e], -delta
        return None

    def or_opt(a: int) -> tuple[list[int], float] | None:
        for length in (1, 2, 3):
            first = pos[a]
            seg = [t[(first + i) % n] for i in range(length)]
            s1, sl = seg[0], seg[-1]
            p, nx = t[first - 1], t[(first + length) % n]
            gain = d(p, s1) + d(sl, nx) - d(p, nx)
            if gain <= eps:
                continue
            for end in (s1, sl):
                for c in near_lists[end]:
                    if d(c, end) >= gain:
                        break
                    if c in seg:
                        continue
                    for u, v in ((c, t[(pos[c] + 1) % n]), (t[pos[c] - 1], c)):
                        if v in seg or u in seg:
                            continue
                        duv = d(u, v)
                        keep = d(u, s1) + d(sl, v) - duv
                        flip = d(u, sl) + d(s1, v) - duv
                        if min(keep, flip) < gain - eps:
                            move_segment(p, s1, sl, nx, u, v, flip=flip < keep)
                            return [p, nx, u, v, s1, sl], gain - min(keep, flip)
        return None

    def move_segment(p: int, s1: int, sl: int, nx: int, u: int, v: int, *, flip: bool) -> None:
        """Move the path s1..sl (between p and nx, v after u in its direction) between u and v:
        two 2-opt exchanges leave u, sl..s1, v; a third turns the segment back unless ``flip``."""
        if v == p:
            exchange(u, v, sl, nx)  # u, sl..s1, p, nx
        else:
            exchange(p, s1, u, v)  # p, u..nx, sl..s1, v
            exchange(p, u, nx, sl)  # p, nx..u, sl..s1, v
        if not flip:
            exchange(u, sl, s1, v)

    def three_opt_move(a: int) -> tuple[list[int], float] | None:
        """The first improving pure sequential 3-opt move from ``a`` (see :func:`_three_opt_types`)."""
        for step in (1, -1):
            a1 = t[(pos[a] + step) % n]
            d12 = d(a, a1)
            for t3 in near_lists[a1]:
                g1 = d12 - d(a1, t3)
                if g1 <= eps:
                    break
                for after in (True, False):
                    t4 = t[(pos[t3] + (step if after else -step)) % n]
                    if t4 == a or t4 == a1 or t3 == a:
                        continue
                    g2 = g1 + d(t3, t4)
                    for t5 in near_lists[t4]:
                        g = g2 - d(t4, t5)
                        if g <= eps:
                            break
                        for kind in _three_opt_types(
                            after, (pos[t5] - pos[a]) * step % n, (pos[t3] - pos[a]) * step % n
                        ):
                            t6 = t[(pos[t5] + (step if kind in (1, 3) else -step)) % n]
                            gain = g + d(t5, t6) - d(t6, a)
                            if gain > eps:
                                for move in _three_opt_exchanges(kind, a, a1, t3, t4, t5, t6):
                                    exchange(*move)
                                return [a, a1, t3, t4, t5, t6], gain
        return None

    queued = [False] * n

    def search(queue: deque[int]) -> float:
        """Apply moves from the queued cities until none applies or the deadline; the total gain."""
        for a in queue:
            queued[a] = True
        total = 0.0
        while queue:
            if stop.passed():
                for a in queue:
                    queued[a] = False
                break
            a = queue.popleft()
            queued[a] = False
            move = two_opt(a) or or_opt(a) or (three_opt_move(a) if three_opt else None)
            if move is None:
                continue
            total += move[1]
            for x in move[0]:
                if not queued[x]:
                    queued[x] = True
                    queue.append(x)
        return total

    search(deque(t))
    draws = _Draws(seed)
    window = min(n, _KICK_WINDOW)
    done = 0
    while n >= 8 and (stop.kicks is None or done < stop.kicks) and not stop.passed():
        done += 1
        journal.clear()
        start = draws.below(n)
        i, j, k = draws.cuts(window)
        # positions start + i - 1 .. start + k hold: the end of A, B, C, the start of the rest
        cities = [t[(start + x) % n] for x in range(i - 1, k + 1)]
        head, one, two, tail = cities[0], cities[1 : j - i + 1], cities[j - i + 1 : -1], cities[-1]
        added = d(head, two[0]) + d(two[-1], one[0]) + d(one[-1], tail)
        removed = d(head, one[0]) + d(one[-1], two[0]) + d(two[-1], tail)
        for x, city in enumerate(two + one):
            at = (start + i + x) % n
            t[at], pos[city] = city, at
        if added - removed - search(deque([head, one[0], one[-1], two[0], two[-1], tail])) >= -eps:
            for step in journal[::-1]:  # no gain: undo the repairs, then the kick
                reverse(*step)
            for x, city in enumerate(one + two):
                at = (start + i + x) % n
                t[at], pos[city] = city, at
    return np.asarray(t, dtype=np.int64)


def _three_opt_types(after: bool, r5: int, r3: int) -> tuple[int, ...]:
    """The pure 3-opt reconnections a sequential search ``t1 .. t6`` may close, by the tour
    positions of ``t5`` and ``t3`` counted from ``t1`` along ``t1 -> t2`` (``r5``, ``r3``).

    With ``a = t1``, ``a+ = t2`` and the removed edges ``(a, a+)``, ``(b, b+)``, ``(c, c+)`` in
    tour order, the four types and their added edges:

    1. ``(a, b+), (c, a+), (b, c+)``: t3 = c, t4 = c+ (``after``), t5 = b, t6 = b+;
    2. ``(a, c), (b+, a+), (b, c+)``: t3 = b+, t4 = b, t5 = c+, t6 = c;
    3. ``(a, b+), (c, b), (a+, c+)``: t3 = c+, t4 = c, t5 = b, t6 = b+;
    4. ``(a, b), (a+, c), (b+, c+)``: t3 = c, t4 = c+ (``after``), t5 = b+, t6 = b.

    Positions exclude the degenerate cases (an added edge equal to a removed one).
    """
    if after:  # t5 between a+ and c
        return (1, 4) if 2 <= r5 < r3 else (1,) if r5 == 1 else ()
    if 1 <= r5 <= r3 - 3:  # t4 = c at r3 - 1, t5 = b with b+ before c
        return (3,)
    return (2,) if r5 > r3 else ()


def _three_opt_exchanges(
    kind: int, a: int, a1: int, t3: int, t4: int, t5: int, t6: int
) -> list[tuple[int, int, int, int]]:
    """The 2-opt exchanges (``exchange(a, b, c, e)``: edges (a, b), (c, e) become (a, c), (b, e))
    that make a move of :func:`_three_opt_types`: two for types 2-4, three for type 1."""
    if kind == 1:  # b = t5, b+ = t6, c = t3, c+ = t4
        return [(a, a1, t5, t6), (a, t5, t3, t4), (a, t3, t6, a1)]
    if kind in (2, 3):  # 2: b+ = t3, b = t4, c+ = t5, c = t6; 3: c+ = t3, c = t4, b = t5, b+ = t6
        return [(a, a1, t4, t3), (a, t4, t6, t5)]
    return [(a, a1, t6, t5), (a1, t5, t3, t4)]  # 4: c = t3, c+ = t4, b+ = t5, b = t6
