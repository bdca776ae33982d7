"""Multi-view decisions of the local-view TSP policy, and the structured validation families."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from tests.test_tsp_local import TINY, _permuted, _similarity
from tinvnn.group import sign_patterns
from tinvnn.models.local_tsp import LocalScorer
from tinvnn.tasks.tsp.instances import VALIDATION_FAMILIES, lattice_instances
from tinvnn.tasks.tsp.local.construction import construct_tours, invariant_starts, multi_view_scores, view_scores
from tinvnn.tasks.tsp.local.recipe import build_scorer, inference_k, load_local_policy
from tinvnn.tasks.tsp.local.reconstruct import _SlotLookup, decode_paths, reconstruct
from tinvnn.tasks.tsp.local.solver import LocalDecoding, solve_local
from tinvnn.tasks.tsp.local.views import LocalView, multi_view_features, view_features


@pytest.fixture
def scorer() -> LocalScorer:
    torch.manual_seed(0)
    return build_scorer(TINY).double().eval()


@pytest.fixture(scope="module")
def shipped() -> tuple[LocalScorer, int]:
    """The shipped policy and its inference k (read once for the module)."""
    return load_local_policy()[0], inference_k()


#: current (B, 2), start (B, 2), candidates (B, k, 2), valid (B, k), complete (B,).
ViewData = tuple[np.ndarray, np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]


def _views(seed: int, b: int = 32, k: int = 8) -> ViewData:
    """Random view data: current (b, 2), start (b, 2), candidates (b, k, 2), valid, complete."""
    rng = np.random.default_rng(seed)
    valid = torch.from_numpy(rng.random((b, k)) < 0.8)
    valid[:, 0] = True
    return (
        rng.random((b, 2)),
        5 * rng.random((b, 2)),
        rng.random((b, k, 2)),
        valid,
        torch.from_numpy(rng.random(b) < 0.5),
    )


def _view(data: ViewData, move: Callable[[np.ndarray], np.ndarray] = lambda x: x) -> LocalView:
    cur, start, cand, valid, complete = data
    return LocalView(*(torch.from_numpy(move(x)) for x in (cur, start, cand)), valid, complete)


def _length(coords: np.ndarray, tour: np.ndarray) -> float:
    return float(np.linalg.norm(coords[np.roll(tour, -1)] - coords[tour], axis=1).sum())


def _instance(family: str, n: int, seed: int) -> np.ndarray:
    gen = torch.Generator().manual_seed(seed)
    return VALIDATION_FAMILIES[family](1, n, generator=gen, dtype=torch.float64)[0].numpy()


def test_fa_frames_are_the_four_sign_flips_of_the_canonical_frame(scorer: LocalScorer) -> None:
    view = _view(_views(0))
    tokens, mask, sample, weight = multi_view_features(view, "fa")
    assert tokens.shape == (4 * 32, 10, 10) and sample.tolist() == [i for i in range(32) for _ in range(4)]
    assert torch.equal(weight, torch.full((128,), 0.25, dtype=torch.float64))
    naive = []
    for p, signs in enumerate(sign_patterns(2)):
        flipped, flipped_mask = view_features(view, axis_signs=signs.expand(32, 2))
        assert torch.equal(tokens[p::4], flipped) and torch.equal(mask[p::4], flipped_mask)
        naive.append(torch.log_softmax(scorer(flipped).masked_fill(~view.valid, -math.inf), -1))
    expected = torch.stack(naive).nan_to_num(neginf=0.0).mean(0).masked_fill(~view.valid, -math.inf)
    torch.testing.assert_close(multi_view_scores(scorer, view, "fa"), expected, rtol=0, atol=1e-12)


def test_weighted_frames_keep_the_canonical_frame_of_confident_views() -> None:
    view = _view(_views(1))
    tokens, mask, sample, weight = multi_view_features(view, "weighted")
    counts = torch.bincount(sample, minlength=32)
    assert counts.min() >= 1 and counts.max() <= 4 and counts.sum() == len(tokens)
    torch.testing.assert_close(
        torch.zeros(32, dtype=torch.float64).index_add_(0, sample, weight), torch.ones(32, dtype=torch.float64)
    )
    single = counts[sample] == 1
    assert single.any() and (counts > 1).any()  # both kinds occur in random views of 10 points
    canonical, canonical_mask = view_features(view)
    assert torch.equal(tokens[single], canonical[sample[single]]) and torch.equal(mask, canonical_mask[sample])
    assert (tokens[~mask] == 0).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_view_scores_in_each_frame_mode(scorer: LocalScorer, dtype: torch.dtype) -> None:
    """The one scoring path of construction and reconstruction: the scorer in the canonical
    frame (its tokens in the scorer's dtype, scores in float64), else the multi-view average."""
    model, view = scorer.to(dtype), _view(_views(3))
    scores, tokens = view_scores(model, view, "canonical")
    assert tokens is not None and torch.equal(tokens, view_features(view)[0].to(dtype))
    assert scores.dtype == torch.float64
    assert torch.equal(scores, model(tokens).double().masked_fill(~view.valid, -math.inf))
    for frames in ("weighted", "fa"):
        scores, tokens = view_scores(model, view, frames)
        assert tokens is None and torch.equal(scores, multi_view_scores(model, view, frames))


@pytest.mark.parametrize("frames", ["weighted", "fa"])
@pytest.mark.parametrize("reflect", [False, True])
def test_multi_view_scores_invariant(scorer: LocalScorer, frames: str, reflect: bool) -> None:
    data = _views(2)
    scores = multi_view_scores(scorer, _view(data), frames)
    moved = multi_view_scores(scorer, _view(data, lambda x: _similarity(x, 3, reflect=reflect)), frames)
    assert torch.equal(scores.isinf(), ~data[3])
    torch.testing.assert_close(moved, scores, rtol=0, atol=1e-9)


@pytest.mark.parametrize("frames", ["weighted", "fa"])
@pytest.mark.parametrize("family", ["mixed", "lattice-jitter", "drilling"])
def test_shipped_policy_multi_view_tours_identical_for_moved_and_renumbered_copies(
    shipped: tuple[LocalScorer, int], frames: str, family: str
) -> None:
    model, k = shipped
    coords = _instance(family, 50, 11)
    decoding = LocalDecoding("greedy", improve=False, frames=frames)
    base = solve_local(model, coords, k=k, decoding=decoding).tour
    for seed, reflect in ((1, False), (2, True)):
        shuffled, perm = _permuted(_similarity(coords, seed, reflect=reflect), seed)
        np.testing.assert_array_equal(perm[solve_local(model, shuffled, k=k, decoding=decoding).tour], base)


def test_frame_options_rejected_with_clear_messages(scorer: LocalScorer) -> None:
    with pytest.raises(ValueError, match=r"^frames: expected one of canonical, weighted, fa, got 'pca'$"):
        multi_view_features(_view(_views(3)), "pca")
    with pytest.raises(ValueError, match=r"^frames: expected one of canonical, weighted, fa, got 'all'$"):
        LocalDecoding(frames="all")
    coords = np.random.default_rng(4).random((12, 2))
    with pytest.raises(ValueError, match=r"^frames: expected one of canonical, weighted, fa, got 'x'$"):
        construct_tours(scorer, coords, [0], k=TINY.k, frames="x")
    with pytest.raises(
        ValueError, match=r"^on_step records one canonical frame per view: expected frames='canonical', got 'fa'$"
    ):
        construct_tours(scorer, coords, [0], k=TINY.k, frames="fa", on_step=lambda *_: None)
    assert LocalDecoding(frames="fa").describe() == "local policy (fa frames), greedy + 2-opt/Or-opt/3-opt"
    assert LocalDecoding().describe() == "local policy, greedy + 2-opt/Or-opt/3-opt"


@pytest.mark.parametrize("family", list(VALIDATION_FAMILIES))
def test_validation_families_seeded_in_range(family: str) -> None:
    first, again = _instance(family, 150, 5), _instance(family, 150, 5)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (150, 2) and np.isfinite(first).all()
    assert -0.1 < first.min() and first.max() < 1.1
    assert not np.array_equal(first, _instance(family, 150, 6))
    unique = len(np.unique(first, axis=0))
    assert (143 <= unique < 150) if family == "duplicates" else unique == 150


def test_drilling_holes_lie_on_three_to_eight_rows_of_a_unit_pitch() -> None:
    for seed in range(6):
        holes = _instance("drilling", 120, seed)
        rows_axis = int(np.argmin([len(np.unique(holes[:, d])) for d in (0, 1)]))
        assert 3 <= len(np.unique(holes[:, rows_axis])) <= 8
        pitch = np.diff(np.unique(holes[:, 1 - rows_axis])).min()
        np.testing.assert_allclose(holes / pitch, np.round(holes / pitch), atol=1e-9)


@pytest.mark.parametrize("n", [3, 7, 20, 45])
def test_small_drilling_instances_have_distinct_holes(n: int) -> None:
    # up to 8 rows need as many distinct heights: 20 cities on 8 rows of 4 positions could not have them
    for seed in range(8):
        holes = _instance("drilling", n, seed)
        assert holes.shape == (n, 2) and len(np.unique(holes, axis=0)) == n


def test_lattice_jitter_moves_the_same_nodes() -> None:
    def lattice(jitter: float) -> np.ndarray:
        gen = torch.Generator().manual_seed(7)
        return lattice_instances(3, 100, generator=gen, dtype=torch.float64, jitter=jitter).numpy()

    exact, jittered = lattice(0.0), lattice(0.1)
    for nodes, moved in zip(exact, jittered):
        step = np.diff(np.unique(nodes[:, 0])).min()
        np.testing.assert_allclose(nodes / step, np.round(nodes / step), atol=1e-9)
        assert 0 < np.abs(moved - nodes).max() < 0.6 * step
    with pytest.raises(ValueError, match=r"^jitter: expected None or a number in \[0, 0.5\) grid steps, got 0.5$"):
        lattice(0.5)


def test_decode_paths_keeps_ends_and_cities(shipped: tuple[LocalScorer, int]) -> None:
    model, k = shipped
    coords = _instance("mixed", 90, 12)
    paths = np.stack([np.arange(0, 31), np.arange(30, 61), np.r_[np.arange(89, 59, -1), 0]])  # ends shared
    for frames in ("canonical", "fa"):
        new = decode_paths(model, coords, paths, k=k, frames=frames)
        np.testing.assert_array_equal(new[:, [0, -1]], paths[:, [0, -1]])
        np.testing.assert_array_equal(np.sort(new, 1), np.sort(paths, 1))


def test_slot_lookup_agrees_with_a_dictionary() -> None:
    rng = np.random.default_rng(13)
    inner = np.stack([rng.permutation(40)[:9] for _ in range(5)])
    cities = rng.integers(0, 40, (5, 3, 7))
    expected = [[[list(row).index(c) if c in row else -1 for c in q] for q in qs] for row, qs in zip(inner, cities)]
    np.testing.assert_array_equal(_SlotLookup(inner, 40)(cities), expected)


@pytest.mark.parametrize("frames", ["canonical", "weighted"])
def test_reconstruct_never_lengthens_and_is_invariant(shipped: tuple[LocalScorer, int], frames: str) -> None:
    model, k = shipped
    coords = _instance("clustered", 70, 14)

    def rebuilt(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tour = construct_tours(model, points, invariant_starts(points, 1), k=k)[0]
        return tour, reconstruct(model, points, tour, k=k, rounds=3, lengths=(8, 20), seed=5, frames=frames)

    tour, better = rebuilt(coords)
    assert sorted(better.tolist()) == list(range(70))
    assert _length(coords, better) < _length(coords, tour)  # this instance's greedy tour has slack
    shuffled, perm = _permuted(_similarity(coords, 15, reflect=True), 16)
    np.testing.assert_array_equal(perm[rebuilt(shuffled)[1]], better)


def test_reconstruct_rejects_bad_input(scorer: LocalScorer) -> None:
    coords = np.random.default_rng(17).random((12, 2))
    with pytest.raises(ValueError, match=r"^expected a permutation of 0\.\.11$"):
        reconstruct(scorer, coords, np.zeros(12, dtype=np.int64), k=TINY.k)
    with pytest.raises(ValueError, match=r"^lengths: expected 3 <= low <= high, got \(5, 4\)$"):
        reconstruct(scorer, coords, np.arange(12), k=TINY.k, lengths=(5, 4))
