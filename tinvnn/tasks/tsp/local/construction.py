"""Tour construction by the local-view policy: one tour per start city, built side by side.

Each step gathers every tour's local view (``tinvnn.tasks.tsp.local.views``), scores its
candidates with the :class:`~tinvnn.models.local_tsp.LocalScorer` and moves to the best one
(or to one drawn from the softmax). Start cities are chosen invariantly
(:func:`invariant_starts`). With ``frames`` other than ``"canonical"`` a decision's scores are
the weighted average of the candidates' log-probabilities over the frames of its view
(:func:`~tinvnn.tasks.tsp.local.views.multi_view_features`; all frames of all tours in one
forward pass).

Construction costs O(N k log N) time and O(N) memory: candidates come from a k-d tree
(``scipy.spatial.cKDTree``) over the unvisited cities, rebuilt whenever half of them have been
visited; no N x N matrix is formed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

import tinvnn
from tinvnn._progress import progress as progress_of
from tinvnn.models.local_tsp import LocalScorer
from tinvnn.tasks.tsp.heuristics import UnvisitedIndex
from tinvnn.tasks.tsp.local.recipe import NUM_CONTEXT, NUM_FEATURES
from tinvnn.tasks.tsp.local.views import (
    FRAME_MODES,
    LocalView,
    context_scalars,
    multi_view_features,
    neighbour_table,
    view_features,
)

__all__ = [
    "check_cities",
    "construct_tours",
    "decoding_threads",
    "invariant_starts",
    "multi_view_scores",
    "view_scores",
]

# Views per forward pass up to which one thread is fastest: a step scores S views of k + 2
# tokens; splitting such a batch over threads costs more in wake-ups than it saves, and on a
# busy machine the extra threads spin against other processes (4x slower on 2 shared cores).
_ONE_THREAD_VIEWS = 64


@contextmanager
def decoding_threads(threads: int | None, views: int) -> Iterator[int]:
    """Run sequential decoding on ``threads`` torch threads (None: 1 for at most 64 views per
    step, else torch's current count), and restore torch's thread count afterwards.

    Yields the thread count used.
    """
    valid = isinstance(threads, (int, np.integer)) and not isinstance(threads, bool) and threads >= 1
    if threads is not None and not valid:
        raise ValueError(f"threads: expected a positive integer, got {threads!r}")
    before = torch.get_num_threads()
    chosen = int(threads) if threads is not None else (1 if views <= _ONE_THREAD_VIEWS else before)
    torch.set_num_threads(chosen)
    try:
        yield chosen
    finally:
        torch.set_num_threads(before)


def check_cities(coords: np.ndarray) -> None:
    """Raise ValueError unless ``coords`` is (N, 2), finite, with N >= 1 distinct cities."""
    if coords.ndim != 2 or coords.shape[1] != 2 or coords.shape[0] < 1:
        raise ValueError(f"expected (N, 2) city coordinates with N >= 1, got shape {coords.shape}")
    if not np.isfinite(coords).all():
        raise ValueError("expected finite city coordinates")
    pairs = cKDTree(coords).query_pairs(0.0, output_type="ndarray")
    if len(pairs):
        i, j = sorted(pairs[0].tolist())
        raise ValueError(f"cities {i} and {j} (0-based) have the same coordinates (duplicate cities)")


def invariant_starts(coords: np.ndarray, num: int) -> list[int]:
    """Up to ``num`` distinct start cities chosen invariantly.

    The first is the city farthest from the centroid; then the extreme cities along ``num - 1``
    directions evenly spaced in the instance's canonical frame (``tinvnn.canonicalize`` of all
    cities, O(N)), then the city nearest the centroid. Duplicates are dropped.

    Shape:
        coords (N, 2) -> list of at most ``num`` city indices.
    """
    if num < 1:
        raise ValueError(f"expected num >= 1, got {num}")
    n = coords.shape[0]
    if n < 2:
        return [0]
    z = tinvnn.canonicalize(torch.from_numpy(np.asarray(coords, dtype=np.float64)), scale=True).numpy()
    radius = np.linalg.norm(z, axis=-1)
    order = [int(radius.argmax())]
    for i in range(num - 1):
        angle = 2.0 * math.pi * i / max(num - 1, 1)
        order.append(int((z @ np.array([math.cos(angle), math.sin(angle)])).argmax()))
    order.append(int(radius.argmin()))
    return list(dict.fromkeys(order))[:num]


def multi_view_scores(model: LocalScorer, view: LocalView, frames: str) -> Tensor:
    """The weighted average over each view's frames of its candidates' log-probabilities
    (:func:`~tinvnn.tasks.tsp.local.views.multi_view_features`), in one forward pass for all
    frames of all views; -inf in unused slots.

    Shape:
        B views of k slots -> (B, k) float64.
    """
    dtype = next(model.parameters()).dtype
    tokens, _, sample, weight = multi_view_features(view, frames)
    valid = view.valid.index_select(0, sample)
    logp = torch.log_softmax(model(tokens.to(dtype)).double().masked_fill(~valid, -math.inf), -1)
    logp = logp.masked_fill(~valid, 0.0) * weight.to(logp)[:, None]
    average = logp.new_zeros(view.valid.shape).index_add_(0, sample, logp)
    return average.masked_fill(~view.valid, -math.inf)


def view_scores(model: LocalScorer, view: LocalView, frames: str) -> tuple[Tensor, Tensor | None]:
    """Scores of the views' candidates in ``frames``: the scorer's output in each view's
    canonical frame (``"canonical"``) or :func:`multi_view_scores` (``"weighted"``, ``"fa"``);
    -inf in unused slots. Runs the scorer in its own dtype.

    Returns:
        The (B, k) float64 scores and, for ``"canonical"``, the scorer's input tokens
        (B, k + 2, F) in its dtype (None for the other frames).
    """
    if frames != "canonical":
        return multi_view_scores(model, view, frames), None
    tokens = view_features(view)[0].to(next(model.parameters()).dtype)
    return model(tokens).double().masked_fill(~view.valid, -math.inf), tokens


def construct_tours(
    model: LocalScorer,
    coords: np.ndarray,
    starts: Sequence[int],
    *,
    k: int,
    sample: bool = False,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
    on_step: Callable[[Tensor, Tensor, Tensor], None] | None = None,
    threads: int | None = None,
    frames: str = "canonical",
) -> np.ndarray:
    """Build one tour per start city by asking the scorer for each next city.

    The S tours are built side by side: each step gathers every tour's local view, scores
    them in one batch (in the model's dtype: float64 for exact invariance) and moves each tour
    to its best candidate (``sample=False``) or to one drawn from ``softmax(scores / temperature)``.

    Args:
        model: the candidate scorer.
        coords: (N, 2) distinct city coordinates.
        starts: S start cities.
        k: candidate slots per view.
        progress: show a progress bar over the N steps.
        on_step: called after each decision with the scorer's input tokens (S, k + 2, F) in
            the model's dtype, the valid slots (S, k) and the chosen slots (S,)
            (reinforcement fine-tuning records the rollout's states with it); the last city of
            each tour involves no decision.
        threads: torch threads of the forward passes (default: :func:`decoding_threads`'
            choice, one thread for small batches); torch's count is restored afterwards.
        frames: the frames each view is scored in (:func:`multi_view_scores`): ``"canonical"``,
            ``"weighted"`` or ``"fa"``; ``on_step`` needs ``"canonical"``.

    Returns:
        (S, N) int64 tours, each a permutation starting at its start city.

    A scorer with ``NUM_FEATURES + NUM_CONTEXT`` inputs gets views with context.
    """
    coords = np.asarray(coords, dtype=np.float64)
    n, s = coords.shape[0], len(starts)
    tours = np.empty((s, n), dtype=np.int64)
    tours[:, 0] = starts
    states = [UnvisitedIndex(coords, int(c)) for c in starts]
    points = torch.from_numpy(coords)
    features = model.embed.in_features
    if features not in (NUM_FEATURES, NUM_FEATURES + NUM_CONTEXT):
        raise ValueError(
            f"expected a scorer with {NUM_FEATURES} or {NUM_FEATURES + NUM_CONTEXT} input features (with context), "
            f"got {features}"
        )
    if frames not in FRAME_MODES:
        raise ValueError(f"frames: expected one of {', '.join(FRAME_MODES)}, got {frames!r}")
    if on_step is not None and frames != "canonical":
        raise ValueError(f"on_step records one canonical frame per view: expected frames='canonical', got {frames!r}")
    neighbours = neighbour_table(coords) if features == NUM_FEATURES + NUM_CONTEXT else None
    model.eval()
    start_xy = points[tours[:, 0]]
    with torch.no_grad(), decoding_threads(threads, s):
        for step in progress_of(range(1, n), desc="constructing", unit="city", enabled=progress):
            current = tours[:, step - 1]
            if n - step == 1:
                tours[:, step] = [np.flatnonzero(u.unvisited)[0] for u in states]
                break
            cand = np.zeros((s, k), dtype=np.int64)
            valid = np.zeros((s, k), dtype=bool)
            for i, u in enumerate(states):
                found = u.nearest(coords[current[i]], k)
                cand[i, : len(found)], valid[i, : len(found)] = found, True
            context = None
            if neighbours is not None:
                near, dist = neighbours
                cities = np.concatenate([current[:, None], tours[:, :1], cand], 1)  # (S, k + 2)
                free = np.stack([u.unvisited[near[c]] for u, c in zip(states, cities)])
                context = torch.from_numpy(context_scalars(free, dist[cities]))
            view = LocalView(
                points[current],
                start_xy,
                points[torch.from_numpy(cand)],
                torch.from_numpy(valid),
                torch.tensor([u.left <= k for u in states]),
                context,
            )
            scores, tokens = view_scores(model, view, frames)
            if sample:
                pick = torch.multinomial(torch.softmax(scores / temperature, -1), 1, generator=generator)[:, 0]
            else:
                pick = scores.argmax(-1)
            if on_step is not None and tokens is not None:  # tokens: frames == "canonical", checked above
                on_step(tokens, view.valid, pick)
            tours[:, step] = cand[np.arange(s), pick.numpy()]
            for i, u in enumerate(states):
                u.visit(int(tours[i, step]))
    return tours
