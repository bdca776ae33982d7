"""Perfectly symmetric shapes: the canonical point set and every frame-based wrapper are exactly
invariant (1e-12, float64), and gradients are finite and bounded (issue 24, sections 1 and 2)."""

from __future__ import annotations

import pytest
import torch

from tests._backbones import PointMLP
from tests._clouds import set_distance, symmetric_shapes
from tinvnn import canonicalize
from tinvnn._fallback import MAX_CANDIDATES, point_frames
from tinvnn.frame_set import cap_weights
from tinvnn.group import as_group
from tinvnn.nn import FrameAveraging, TinvWrapper, WeightedFrames

SHAPES = symmetric_shapes()
EXACT = 1e-12


def _copies(x: torch.Tensor, group: str, trials: int, seed: int) -> list[torch.Tensor]:
    """Copies of ``x`` under random group elements, scales, shifts and permutations."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(trials):
        q = as_group(group).random_orthogonal(x.shape[1], generator=g)
        scale = 0.5 + 3 * float(torch.rand((), generator=g, dtype=torch.float64))
        shift = 5 * torch.randn(x.shape[1], generator=g, dtype=torch.float64)
        out.append((scale * x @ q.T + shift)[torch.randperm(len(x), generator=g)])
    return out


@pytest.mark.parametrize("group", ["O", "SO"])
@pytest.mark.parametrize("name", list(SHAPES))
def test_canonical_point_set_is_exactly_invariant(name: str, group: str) -> None:
    x = SHAPES[name]
    ref = canonicalize(x, group=group)
    errors = [set_distance(ref, canonicalize(c, group=group)) for c in _copies(x, group, 6, seed=len(name))]
    assert max(errors) <= EXACT, f"{name}, {group}: set distances {errors}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    ("name", "group"),
    [(n, g) for n, x in SHAPES.items() for g in ("O", "SO", "SO2z", "O2z") if x.shape[1] == 3 or len(g) < 3],
)
def test_rounded_point_set_is_invariant_to_its_precision(name: str, dtype: torch.dtype, group: str) -> None:
    """Copies made in float64 and rounded to ``dtype`` carry its rounding noise: that noise must
    not pick the frame unsaid (float32 did, up to 0.67 on the cube; float16 and bfloat16 up to 0.9
    before the thresholds were raised to 16 eps of the input's dtype; a float16 tetrahedron 9.5
    radii from the origin, up to 1.15 before a decision within the rounding at the input's
    offset was flagged ambiguous)."""
    x = SHAPES[name]
    eps = torch.finfo(dtype).eps
    ref = canonicalize(x.to(dtype), group=group).double()
    copies = _copies(x, group, 6, seed=len(name))
    if name == "cylinder 5x36" and dtype != torch.float32 and group in ("O", "SO"):
        # more candidate frames than the cap within half precision's tolerance: not decided, but said
        assert all(canonicalize(c.to(dtype), group=group, return_frame=True)[1].ambiguous.all() for c in copies)
        return
    results = [canonicalize(c.to(dtype), group=group, return_frame=True) for c in copies]
    # a copy 10 radii from the origin carries 10 eps of rounding: a frame decided within that is said
    errors = [0.0 if bool(f.ambiguous.all()) else set_distance(ref, z.double()) for z, f in results]
    assert max(errors) <= 16 * eps, f"{name}, {dtype}, {group}: set distances of the copies said decided {errors}"


@pytest.mark.parametrize("group", ["O", "SO"])
@pytest.mark.parametrize("wrapper", [TinvWrapper, WeightedFrames, FrameAveraging])
@pytest.mark.parametrize("name", list(SHAPES))
def test_every_wrapper_is_exactly_invariant(name: str, wrapper: type, group: str) -> None:
    x = SHAPES[name]
    model = wrapper(PointMLP(pool=True, d=x.shape[1]), group=group).eval()
    with torch.no_grad():
        ref = model(x)
        errors = [float((model(c) - ref).norm() / ref.norm()) for c in _copies(x, group, 4, seed=len(name))]
    assert max(errors) <= EXACT, f"{name}, {wrapper.__name__}, {group}: relative errors {errors}"


@pytest.mark.parametrize("name", list(SHAPES))
def test_gradients_are_finite_and_bounded(name: str) -> None:
    x = SHAPES[name]
    weights = torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for c in [x, *_copies(x, "O", 3, seed=1)]:
        for loss in (lambda z: z.sum(), lambda z: (z * weights).sum(), lambda z: z.pow(3).sum()):
            c = c.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(loss(canonicalize(c)), c)
            scale = float((c.detach() - c.detach().mean(0)).square().sum(1).mean().sqrt())  # d canonical / d x ~ 1 / s
            assert torch.isfinite(grad).all(), f"{name}: non-finite gradient"
            assert float(grad.abs().max()) * scale <= 100 * len(x), f"{name}: |grad| {float(grad.abs().max()):.2e}"


@pytest.mark.parametrize("wrapper", [TinvWrapper, WeightedFrames, FrameAveraging])
@pytest.mark.parametrize("name", ["cube", "icosahedron", "pentagon", "pentagonal prism", "cylinder 5x36"])
def test_wrapper_gradients_are_finite(name: str, wrapper: type) -> None:
    x = SHAPES[name].clone().requires_grad_(True)
    model = wrapper(PointMLP(pool=True, d=x.shape[1]))
    model(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all(), f"{name}, {wrapper.__name__}: non-finite gradient"
    assert float(x.grad.abs().max()) <= 1e3


def test_the_certificate_reports_the_fallback() -> None:
    _, frame = canonicalize(
        torch.stack([SHAPES["icosahedron"], torch.randn(12, 3, dtype=torch.float64)]), return_frame=True
    )
    assert frame.fallback is not None
    assert frame.fallback.tolist() == [True, False]
    assert frame.ambiguous.tolist() == [True, False]


@pytest.mark.parametrize("name", ["pentagon", "icosahedron", "cube", "cylinder 5x36"])
def test_fallback_frame_follows_the_points_to_first_order(name: str) -> None:
    """The fallback's frame is built from the points, so its gradient sees that the output does
    not change under an infinitesimal rotation, scaling or shift of the input (derivatives 0)."""
    x = SHAPES[name]
    d = x.shape[1]
    skew = torch.randn(d, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    directions = {"rotation": x @ (skew - skew.T), "scaling": x, "shift": torch.ones_like(x)}
    for what, v in directions.items():
        _, change = torch.autograd.functional.jvp(lambda p: canonicalize(p), (x,), (v,))
        assert float(change.abs().max()) <= 1e-12, f"{name}: derivative along a {what} {float(change.abs().max()):.1e}"


def test_candidate_cap() -> None:
    """A regular polygon with more vertices than the cap allows keeps the rule's frame (fallback False)."""
    n = MAX_CANDIDATES + 8
    angles = torch.arange(n, dtype=torch.float64) * (2 * torch.pi / n)
    polygon = torch.stack([angles.cos(), angles.sin()], 1)
    assert point_frames(polygon.numpy(), proper=False) is None
    _, frame = canonicalize(polygon, return_frame=True)
    assert frame.fallback is not None and frame.fallback.tolist() == [False]


def test_cap_treats_rounding_differences_as_ties() -> None:
    """Weights equal up to rounding keep the same frames (by pattern index) whatever the rounding."""
    a = torch.tensor([[0.25, 0.25 + 1e-17, 0.25 - 1e-17, 0.25, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.25 - 1e-17, 0.25, 0.25 + 1e-17, 0.25, 0.0]], dtype=torch.float64)
    expected = torch.tensor([[0.5, 0.5, 0.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(cap_weights(a, 2), expected, rtol=0, atol=0)
    torch.testing.assert_close(cap_weights(b, 2), expected, rtol=0, atol=0)


def test_fallback_agrees_across_layouts() -> None:
    """Padded with a mask, flat with ``batch`` and one sample at a time give the same points."""
    shapes = [SHAPES["icosahedron"], SHAPES["cube"], SHAPES["cylinder 5x36"]]
    singles = [canonicalize(x) for x in shapes]
    n = max(len(x) for x in shapes)
    padded = torch.zeros(len(shapes), n, 3, dtype=torch.float64)
    mask = torch.zeros(len(shapes), n, dtype=torch.bool)
    for i, x in enumerate(shapes):
        padded[i, : len(x)], mask[i, : len(x)] = x, True
    out, frame = canonicalize(padded, mask=mask, return_frame=True)
    assert frame.fallback is not None and frame.fallback.all()
    for i, single in enumerate(singles):
        torch.testing.assert_close(out[i, : len(single)], single, rtol=0, atol=0)
    assert not out[~mask].any()
    batch = torch.cat([torch.full((len(x),), i) for i, x in enumerate(shapes)])
    torch.testing.assert_close(canonicalize(torch.cat(shapes), batch=batch), torch.cat(singles), rtol=0, atol=0)


def test_the_ambiguity_warning_says_the_fallback_decided() -> None:
    from tinvnn import AmbiguityWarning

    with pytest.warns(AmbiguityWarning, match=r"\. The fallback decided it \(exactly invariant; Frame\.fallback\): "):
        canonicalize(SHAPES["cube"], on_ambiguity="warn")


def test_a_decision_within_the_inputs_rounding_at_its_offset_is_said() -> None:
    """The float16 tetrahedron (SO2z) 9.5 radii from the origin: its sign margin (0.023) is the
    rounding of coordinates near 13, above 16 eps (0.016) but below 16 eps times the rounding
    level (9.5): flagged ambiguous. The same copy centred, or in float64, is decided and exact."""
    x = SHAPES["tetrahedron"]
    copy = _copies(x, "SO2z", 3, seed=len("tetrahedron"))[2]  # the copy of the test above, 9.5 radii out
    eps = torch.finfo(torch.float16).eps
    z, frame = canonicalize(copy.half(), group="SO2z", return_frame=True)
    margin = float(frame.sign_margin[0])
    assert 16 * eps < margin < 16 * eps * 9 and not bool(frame.fallback[0])  # decided by the sign rule...
    assert bool(frame.ambiguous.all())  # ...within the input's rounding at its offset: said
    ref = canonicalize(x, group="SO2z")
    assert set_distance(ref, canonicalize(copy, group="SO2z")) <= EXACT  # float64: exact
    centred = canonicalize((copy - copy.mean(0)).half(), group="SO2z").double()
    assert set_distance(ref, centred) <= 16 * eps  # centred before the cast: decided right


def test_the_rounding_flag_speaks_only_for_coarse_inputs_away_from_the_origin() -> None:
    """Generic clouds: never flagged near the origin (any dtype) or in float64 1e3 radii out;
    flagged in float16 50 radii out, where the rounding (about 50 eps of the cloud's size) is
    above every margin the rules can trust; and a one-point sample is never flagged by it."""
    g = torch.Generator().manual_seed(0)
    clouds = torch.randn(16, 64, 3, generator=g, dtype=torch.float64) * torch.tensor(
        [3.0, 2.0, 1.0], dtype=torch.float64
    )
    for dtype in (torch.float64, torch.float32, torch.float16):
        _, frame = canonicalize(clouds.to(dtype), return_frame=True)
        assert not bool(frame.ambiguous.any()), dtype
    _, frame = canonicalize(clouds + 1e3 * clouds.std(), return_frame=True)
    assert not bool(frame.ambiguous.any())
    _, frame = canonicalize((clouds + 50 * clouds.std()).half(), return_frame=True)
    assert bool(frame.ambiguous.all())
    point = torch.zeros(3, 8, 3, dtype=torch.float64)
    point[1] = 5.0
    point[2] = clouds[0, :8]
    _, frame = canonicalize(point, scale=False, return_frame=True)
    assert not bool(frame.ambiguous.any())
