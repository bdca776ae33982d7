"""Improvement step for any tour: 2-opt and Or-opt with neighbour lists and don't-look bits.

A separate step from tour construction (the neural policy or a heuristic builds a tour; this
shortens it). Moves considered for a city ``a``:

* **2-opt**: for each tour neighbour ``b`` of ``a`` (successor, then predecessor) and each
  city ``c`` among ``a``'s ``neighbours`` nearest with ``d(a, c) < d(a, b)``, replace the edges
  ``(a, b)``, ``(c, e)`` by ``(a, c)``, ``(b, e)`` where ``e`` is ``c``'s neighbour on the same
  side; the shorter of the two paths between the new edges is reversed.
* **Or-opt**: move the segment of 1, 2 or 3 cities that starts at ``a`` (in tour order),
  either way round, between two consecutive cities ``u, v`` where ``u`` or ``v`` is among the
  segment ends' nearest neighbours and the new edge is shorter than the removal gain.

A move is taken as soon as it shortens the tour by more than ``1e-9`` times the mean tour edge
(first improvement); the cities it touches are queued again, the others keep their don't-look
bit. Ends in a local optimum of both neighbourhoods restricted to the neighbour lists. Optional
``kicks`` turn it into iterated local search: local double-bridge perturbations (Or-3opt moves,
which 2-opt and Or-opt cannot undo), each kept only if the repaired tour is shorter; the draws
depend on tour positions only, so the result is still invariant to transformations and
renumbering of the cities. With a ``deadline`` the search is anytime: it stops at the deadline
with the best tour so far (every move keeps a valid tour; a kick whose repair was cut short is
kept only if it already shortened the tour).

Cost: O(N neighbours) per pass over the queue plus, per move, the reversals of an array tour:
at most N / 2 cities each (the shorter side), in practice the tour distance between the cities
the move joins. An Or-opt move is two or three such reversals; a rejected kick is undone by
replaying its reversals backwards (no O(N) copy per kick). Memory O(N neighbours); distances are
computed on demand (Euclidean from coordinates) or read from an (N, N) matrix when one is given.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from tinvnn.geometry import knn_graph

__all__ = ["DEFAULT_NEIGHBOURS", "improve_tour", "neighbour_lists"]

_KICK_WINDOW = 50
DEFAULT_NEIGHBOURS = 10  # candidate list length per city


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
) -> np.ndarray:
    """2-opt + Or-opt local search from ``tour`` (see the module docstring).

    Args:
        coords: (N, 2) city coordinates (used for neighbour lists and Euclidean distances).
        tour: (N,) a permutation of 0..N-1.
        neighbours: candidate list length per city.
        dist: optional (N, N) symmetric distances to optimise instead of Euclidean ones.
        kicks: perturbations after the first local optimum (iterated local search): each is a
            double bridge of three consecutive segments inside a window of 50 tour positions
            (drawn with ``seed``), repaired by the same local search from its six end cities,
            and kept only if the tour got shorter. None: kicks until the ``deadline``.
        near: the (N, m) candidate lists of :func:`neighbour_lists` when the caller already has
            them (several tours of one instance); ``neighbours`` is then ignored.
        deadline: a ``clock()`` value at which the search stops and returns the best tour so
            far (``tour`` itself, without any setup, when it has passed already); None: no limit.
        clock: the clock of ``deadline`` (wall seconds by default; :func:`time.process_time`
            for CPU seconds, e.g. to compare budgets on a shared machine).

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
    near_lists = (neighbour_lists(coords, neighbours, dist) if near is None else near).tolist()
    if dist is not None:
        rows = np.asarray(dist, dtype=np.float64).tolist()

        def d(i: int, j: int) -> float:
            return rows[i][j]
    else:
        xs, ys = np.asarray(coords, dtype=np.float64).T.tolist()

        def d(i: int, j: int) -> float:
            return math.hypot(xs[i] - xs[j], ys[i] - ys[j])

    t = [int(c) for c in tour]
    pos = [0] * n
    for i, c in enumerate(t):
        pos[c] = i
    eps = 1e-9 * sum(d(t[i - 1], t[i]) for i in range(n)) / n
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

    queued = [False] * n

    def search(queue: deque[int]) -> float:
        """Apply moves from the queued cities until none applies or the deadline; the total gain."""
        for a in queue:
            queued[a] = True
        total = 0.0
        while queue:
            if deadline is not None and clock() >= deadline:
                for a in queue:
                    queued[a] = False
                break
            a = queue.popleft()
            queued[a] = False
            move = two_opt(a) or or_opt(a)
            if move is None:
                continue
            total += move[1]
            for x in move[0]:
                if not queued[x]:
                    queued[x] = True
                    queue.append(x)
        return total

    search(deque(t))
    rng = random.Random(seed)
    window = min(n, _KICK_WINDOW)
    done = 0
    while n >= 8 and (kicks is None or done < kicks) and (deadline is None or clock() < deadline):
        done += 1
        journal.clear()
        start = rng.randrange(n)
        i, j, k = sorted(rng.sample(range(1, window), 3))
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
