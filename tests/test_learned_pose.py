"""Learned poses: exactly invariant, blind to the canonical frame's sign and order rules, trainable."""

from __future__ import annotations

import pytest
import torch
from conftest import INVARIANCE_RTOL
from torch import nn

from tests._backbones import FlatSquares, Lambda, PointMLP
from tests._clouds import skewed_cloud
from tests.test_weighted_frames import _ambiguous_clouds, _deformed
from tinvnn import canonicalize, check_equivariance, check_invariance
from tinvnn.group import signed_permutations
from tinvnn.nn import LearnedPose, PoseScorer, TinvWrapper


def _model(group: str = "O", output: str = "invariant", max_frames: int = 2) -> LearnedPose:
    torch.manual_seed(0)
    model = LearnedPose(PointMLP(pool=output == "invariant"), group=group, output=output, max_frames=max_frames)
    return model.double()


@pytest.mark.parametrize("group", ["O", "SO"])
def test_invariance_float64(group: str, generator: torch.Generator) -> None:
    x = _ambiguous_clouds(6, 40, generator)
    report = check_invariance(_model(group).eval(), x, group=group, trials=4, translation=5.0)
    assert report.ok(INVARIANCE_RTOL[torch.float64]), str(report)


def test_invariance_float32(generator: torch.Generator) -> None:
    x = _ambiguous_clouds(6, 40, generator, torch.float32)
    report = check_invariance(_model().float().eval(), x, trials=4)
    assert report.ok(INVARIANCE_RTOL[torch.float32]), str(report)


@pytest.mark.parametrize("output", ["vector", "point"])
def test_equivariance_of_per_point_outputs(output: str, generator: torch.Generator) -> None:
    x = _ambiguous_clouds(4, 30, generator)
    report = check_equivariance(_model(output=output), x, output=output)
    assert report.ok(1e-9), str(report)


def test_blind_to_the_canonical_sign_rule() -> None:
    """Where the canonical frame flips an axis (a skewness through zero), the candidate set, and
    hence the output, does not: it moves by no more than between neighbouring inputs elsewhere."""
    clouds = torch.stack([_deformed(t) for t in torch.linspace(-0.06, 0.06, 49).tolist()])
    model = _model()
    with torch.no_grad():
        single = TinvWrapper(model.backbone)(clouds)
        learned = model(clouds)
    single_steps = (single[1:] - single[:-1]).norm(dim=-1)
    learned_steps = (learned[1:] - learned[:-1]).norm(dim=-1)
    assert float(single_steps.max()) > 20 * float(single_steps.median())  # the canonical frame flips once
    assert float(learned_steps.max()) < 3 * float(learned_steps.median()) + 1e-12


def test_candidates_are_the_signed_axis_permutations() -> None:
    maps = signed_permutations(3)
    assert maps.shape == (48, 3, 3) and len({tuple(m.flatten().tolist()) for m in maps}) == 48
    torch.testing.assert_close(maps @ maps.mT, torch.eye(3, dtype=maps.dtype).expand(48, 3, 3))
    assert _model().maps.shape[0] == 48
    so = _model("SO").maps
    assert so.shape[0] == 24 and bool((torch.linalg.det(so) > 0).all())


def test_frames_weights_and_points(generator: torch.Generator) -> None:
    x = _ambiguous_clouds(8, 20, generator)
    model = _model(max_frames=3)
    frames = model.frame_set(x, None, None)
    counts = frames.counts()
    assert int(counts.max()) <= 3 and int(counts.min()) >= 1
    totals = torch.zeros(8, dtype=torch.float64).index_add_(0, frames.sample, frames.weight.detach())
    torch.testing.assert_close(totals, torch.ones_like(totals))
    torch.testing.assert_close(frames.frame.to_canonical(x[frames.sample]), frames.points)  # the input, in each frame
    candidates = canonicalize(x)[frames.sample][:, None] @ model.maps  # (F, 48, N, 3)
    nearest = (candidates - frames.points[:, None]).abs().amax((-1, -2)).amin(1)
    assert float(nearest.max()) < 1e-12  # each pose: the canonical cloud, axes permuted and flipped


def test_the_scorer_learns_through_the_weights(generator: torch.Generator) -> None:
    x = _ambiguous_clouds(4, 30, generator)
    model = _model()
    model(x).sum().backward()
    grads = [p.grad for p in model.scorer.parameters()]
    assert all(g is not None and bool(g.abs().sum() > 0) for g in grads)


def test_scorer_pools_only_real_points(generator: torch.Generator) -> None:
    scorer = PoseScorer().double()
    x = _ambiguous_clouds(3, 10, generator)
    maps = signed_permutations(3)
    padded = torch.cat([x, torch.full((3, 4, 3), 50.0, dtype=x.dtype)], 1)
    mask = torch.cat([torch.ones(3, 10, dtype=torch.bool), torch.zeros(3, 4, dtype=torch.bool)], 1)
    torch.testing.assert_close(scorer(padded, maps, mask), scorer(x, maps))
    expected = torch.stack([scorer(x @ m, maps[:1])[:, 0] for m in maps], 1)  # K poses = K separate passes
    torch.testing.assert_close(scorer(x, maps), expected)


def test_one_backbone_call_and_layouts(generator: torch.Generator) -> None:
    x = skewed_cloud(30, 3, generator=generator)
    calls: list[int] = []
    LearnedPose(Lambda(lambda z: calls.append(z.shape[0]) or z.mean(-2))).double()(x.expand(3, -1, -1))
    assert len(calls) == 1 and 3 <= calls[0] <= 6
    model = _model()
    torch.testing.assert_close(model(x), model(x[None])[0])
    clouds = _ambiguous_clouds(4, 25, generator)
    torch.manual_seed(0)
    flat = LearnedPose(FlatSquares()).double()
    padded = LearnedPose(Lambda(lambda z: (z**2).sum(-2)))
    padded.scorer = flat.scorer  # the same scorer: the same poses and weights
    torch.testing.assert_close(
        flat(clouds.reshape(100, 3), batch=torch.arange(4).repeat_interleave(25)), padded(clouds)
    )


def test_options_and_repr() -> None:
    assert "candidates=48, max_frames=2" in repr(LearnedPose(nn.Identity()))
    with pytest.raises(ValueError, match="max_frames: expected a positive integer, got 0"):
        LearnedPose(nn.Identity(), max_frames=0)
    with pytest.raises(ValueError, match=r"pos: expected 3 coordinates per point \(dim\), got 2"):
        LearnedPose(nn.Identity())(torch.randn(10, 2))
