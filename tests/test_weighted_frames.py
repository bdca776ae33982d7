"""Weighted frames: exactly invariant, continuous where the canonical frame jumps, ragged batching."""

from __future__ import annotations

import pytest
import torch
from conftest import INVARIANCE_RTOL
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

from tests._backbones import FlatSquares, Lambda, PointMLP
from tests._clouds import skewed_cloud
from tinvnn import FrameSet, canonicalize, check_equivariance, check_invariance, weighted_frames
from tinvnn.nn import TinvWrapper, WeightedFrames
from tinvnn.weighted_frames import frame_weight

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


def _ambiguous_clouds(b: int, n: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(b, n, 3) nearly Gaussian clouds, distinct variances: their skewness is mostly sampling
    noise, so many sign decisions are undecided."""
    x = torch.randn(b, n, 3, generator=generator, dtype=torch.float64) * torch.tensor(
        [3.0, 2.0, 1.0], dtype=torch.float64
    )
    x = x + 0.3 * torch.empty(b, n, 3, dtype=torch.float64).exponential_(generator=generator)
    q, _ = torch.linalg.qr(torch.randn(b, 3, 3, generator=generator, dtype=torch.float64))
    return (x @ q).to(dtype)


def _deformed(t: float, n: int = 300) -> torch.Tensor:
    """(n, 3) cloud whose least-variance axis has skewness ~ 6 t: it passes through zero at t = 0
    while the two other axes stay strongly skewed and all variances stay apart."""
    g = torch.Generator().manual_seed(7)
    a = torch.empty(n, dtype=torch.float64).exponential_(generator=g)
    b = torch.empty(n, dtype=torch.float64).exponential_(generator=g)
    v = torch.randn(n // 2, generator=g, dtype=torch.float64)
    u = torch.cat([v, -v])  # exactly symmetric
    c = u + t * (u**2 - (u**2).mean())
    return torch.stack([3 * a, 1.5 * b, 0.5 * c], 1)


@SETTINGS
@given(
    n=st.integers(8, 60), d=st.sampled_from([2, 3]), group=st.sampled_from(["O", "SO"]), seed=st.integers(0, 2**31 - 1)
)
def test_invariance_float64_on_ambiguous_clouds(n: int, d: int, group: str, seed: int) -> None:
    """Even where canonicalize's signs are undecided, the weighted set of frames moves with the input."""
    g = torch.Generator().manual_seed(seed)
    x = skewed_cloud(3 * n, d, generator=g).reshape(3, n, d)
    _, frame = canonicalize(x, return_frame=True)
    assume(float(frame.eigen_gap.min()) > 1e-2)
    model = WeightedFrames(PointMLP(pool=True, d=d), group=group).eval()
    report = check_invariance(model, x, group=group, trials=3, seed=seed % 1000)
    assert report.ok(INVARIANCE_RTOL[torch.float64]), str(report)


def test_invariance_float32(generator: torch.Generator) -> None:
    x = _ambiguous_clouds(6, 40, generator, torch.float32)
    model = WeightedFrames(PointMLP(pool=True).float()).eval()
    assert weighted_frames(x).counts().max() > 1  # some samples are undecided
    report = check_invariance(model, x, trials=4, translation=5.0)
    assert report.ok(INVARIANCE_RTOL[torch.float32]), str(report)


@pytest.mark.parametrize("group", ["O", "SO"])
@pytest.mark.parametrize("output", ["vector", "point"])
def test_equivariance_of_per_point_outputs(group: str, output: str, generator: torch.Generator) -> None:
    x = _ambiguous_clouds(4, 30, generator)
    model = WeightedFrames(PointMLP(pool=False), group=group, output=output)
    report = check_equivariance(model, x, group=group, output=output)
    assert report.ok(1e-9), str(report)


def test_continuous_where_the_canonical_frame_jumps() -> None:
    """An axis's skewness passes through zero: the single frame flips, the weighted output glides."""
    torch.manual_seed(0)
    backbone = PointMLP(pool=True)
    ts = torch.linspace(-0.06, 0.06, 49).tolist()
    clouds = torch.stack([_deformed(t) for t in ts])
    with torch.no_grad():
        single = TinvWrapper(backbone)(clouds)
        weighted = WeightedFrames(backbone)(clouds)
    counts = weighted_frames(clouds).counts()
    assert counts[0] == counts[-1] == 1 and counts.max() == 2  # decided at both ends, both frames between
    single_steps = (single[1:] - single[:-1]).norm(dim=-1)
    weighted_steps = (weighted[1:] - weighted[:-1]).norm(dim=-1)
    jump = float(single_steps.max())
    assert jump > 20 * float(single_steps.median())  # the canonical frame flips once
    assert float(weighted_steps.max()) < 0.15 * jump
    assert float(weighted_steps.max()) < 3 * float(single_steps.median()) + 0.05 * jump


def test_weights_meet_at_one_half_on_the_decision_boundary() -> None:
    c = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0], dtype=torch.float64)
    w = frame_weight(c, 1.0)
    torch.testing.assert_close(w + frame_weight(-c, 1.0), torch.ones_like(c))
    assert w[3] == 0.5 and w[0] == w[1] == 0.0 and w[-1] == w[-2] == 1.0
    assert bool((w[1:] >= w[:-1]).all())


@pytest.mark.parametrize("max_frames", [None, 1, 2, 4])
def test_weights_sum_to_one_and_the_cap_holds(max_frames: int | None, generator: torch.Generator) -> None:
    x = _ambiguous_clouds(32, 12, generator)
    frames = weighted_frames(x, max_frames=max_frames)
    totals = torch.zeros(32, dtype=torch.float64).index_add_(0, frames.sample, frames.weight)
    torch.testing.assert_close(totals, torch.ones_like(totals))
    assert bool((frames.weight > 0).all())
    counts = frames.counts()
    assert int(counts.max()) <= (max_frames or 32) and int(counts.min()) >= 1
    if max_frames is None:
        assert int(counts.max()) > 4  # the uncapped sets are larger: the cap did something
    dets = torch.linalg.det(frames.frame.R)
    torch.testing.assert_close(dets.abs(), torch.ones_like(dets))


def test_so_frames_are_rotations(generator: torch.Generator) -> None:
    frames = weighted_frames(_ambiguous_clouds(16, 12, generator), group="SO", max_frames=None)
    torch.testing.assert_close(torch.linalg.det(frames.frame.R), torch.ones(len(frames.sample), dtype=torch.float64))


def test_a_confident_shape_keeps_its_one_canonical_frame(generator: torch.Generator) -> None:
    x = skewed_cloud(2000, 3, generator=generator)
    frames = weighted_frames(x)
    assert frames.counts().tolist() == [1]
    torch.testing.assert_close(frames.points[0], canonicalize(x), rtol=0, atol=0)
    model = PointMLP(pool=True)
    torch.testing.assert_close(WeightedFrames(model)(x), TinvWrapper(model)(x))


def test_points_are_the_input_in_each_frame(generator: torch.Generator) -> None:
    x = _ambiguous_clouds(8, 15, generator)
    frames = weighted_frames(x, max_frames=None)
    torch.testing.assert_close(frames.frame.to_canonical(x[frames.sample]), frames.points)
    torch.testing.assert_close(frames.frame.from_canonical(frames.points), x[frames.sample])


def test_one_backbone_call_on_the_ragged_batch(generator: torch.Generator) -> None:
    x = _ambiguous_clouds(8, 15, generator)
    calls: list[int] = []
    backbone = Lambda(lambda z: calls.append(z.shape[0]) or z.mean(-2))
    WeightedFrames(backbone)(x)
    assert calls == [int(weighted_frames(x).counts().sum())] and calls[0] > 8


def test_layouts_agree(generator: torch.Generator) -> None:
    x = _ambiguous_clouds(4, 25, generator)
    model = WeightedFrames(PointMLP(pool=True))
    batched = model(x)
    assert weighted_frames(x).counts().max() > 1
    torch.testing.assert_close(torch.stack([model(c) for c in x]), batched)
    padded = torch.cat([x, torch.full((4, 5, 3), 7.0, dtype=x.dtype)], 1)
    mask = torch.cat([torch.ones(4, 25, dtype=torch.bool), torch.zeros(4, 5, dtype=torch.bool)], 1)
    torch.testing.assert_close(model(padded, mask=mask) * 30 / 25, batched)  # the backbone mean-pools over 30 rows
    flat = WeightedFrames(FlatSquares())(x.reshape(100, 3), batch=torch.arange(4).repeat_interleave(25))
    torch.testing.assert_close(flat, WeightedFrames(Lambda(lambda z: (z**2).sum(-2)))(x))
    per_point = WeightedFrames(lambda z, batch: z, output="point")
    torch.testing.assert_close(
        per_point(x.reshape(100, 3), batch=torch.arange(4).repeat_interleave(25)), x.reshape(100, 3)
    )


def test_draw_trains_on_one_frame_per_sample_by_weight(generator: torch.Generator) -> None:
    x = _ambiguous_clouds(1, 40, generator)
    frames = weighted_frames(x)
    count = int(frames.counts().item())
    assert count >= 2
    torch.manual_seed(0)
    drawn = weighted_frames(x.expand(4000, -1, -1), draw=True)
    assert drawn.counts().tolist() == [1] * 4000 and bool((drawn.weight == 1).all())
    for f in range(count):
        hits = (drawn.points - frames.points[f]).abs().amax((1, 2)) < 1e-12
        assert abs(float(hits.float().mean()) - float(frames.weight[f])) < 0.03
    calls: list[int] = []
    model = WeightedFrames(Lambda(lambda z: calls.append(z.shape[0]) or z.mean(-2)), train_frames="draw")
    model(x.expand(3, -1, -1))
    model.eval()(x.expand(3, -1, -1))
    assert calls == [3, 3 * count]


def test_frame_set_repeat_and_average(generator: torch.Generator) -> None:
    x = _ambiguous_clouds(5, 10, generator)
    frames: FrameSet = weighted_frames(x)
    per_sample = torch.arange(5.0, dtype=torch.float64)[:, None]
    torch.testing.assert_close(frames.average(frames.repeat(per_sample)), per_sample)
    torch.testing.assert_close(frames.average(frames.repeat(x)), x)


def test_options_and_repr() -> None:
    assert "threshold=1.0, max_frames=4, orders=True, train_frames='average'" in repr(WeightedFrames(nn.Identity()))
    with pytest.raises(ValueError, match=r"train_frames must be one of \['average', 'draw'\], got 'one'"):
        WeightedFrames(nn.Identity(), train_frames="one")
    with pytest.raises(ValueError, match="threshold: expected a finite positive number, got 0"):
        weighted_frames(torch.randn(10, 3), threshold=0)
    with pytest.raises(ValueError, match="max_frames: expected a positive integer, got 0"):
        WeightedFrames(nn.Identity(), max_frames=0)
    with pytest.raises(ValueError, match="expected D <= 6, got 7"):
        weighted_frames(torch.randn(20, 7))
