"""Rotations about a given axis (SO(2), O(2); aliases "SO2z", "O2z"): elements, the frame step,
exactness on symmetric shapes, every wrapper, the PyG transform, the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

import tinvnn.canonical
from tests._backbones import PointMLP
from tests._clouds import set_distance, skewed_cloud, symmetric_shapes
from tests.conftest import INVARIANCE_RTOL
from tinvnn import canonicalize, check_invariance, weighted_frames
from tinvnn.cli import main
from tinvnn.group import AxialRotations, Group, as_group, axis_angle_rotation
from tinvnn.nn import FrameAveraging, LearnedPose, PCAAlign, TinvWrapper, WeightedFrames
from tinvnn.tasks.classification.methods import train_augmentation
from tinvnn.tasks.classification.protocols import protocol_for, random_rotations

GROUPS = ["SO2z", "O2z", AxialRotations(axis=(1.0, 2.0, -0.5)), AxialRotations(axis=(0.0, -3.0, 0.0), reflections=True)]
IDS = ["SO2z", "O2z", "SO2-tilted-axis", "O2-y-axis"]
EXACT = 1e-12
WRAPPERS = [TinvWrapper, WeightedFrames, FrameAveraging, LearnedPose]


def _unit_axis(group: Group | str) -> Tensor:
    g = as_group(group)
    assert isinstance(g, AxialRotations)
    a = torch.tensor(g.axis, dtype=torch.float64)
    return a / a.norm()


def _tilt(degrees: float) -> Tensor:
    """(3, 3) rotation about the x axis: moves "up" (z), so no axial group about z holds it."""
    angle = torch.tensor([math.radians(degrees)], dtype=torch.float64)
    return axis_angle_rotation(torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), angle)[0]


def _copies(x: Tensor, group: Group | str, trials: int, seed: int) -> list[Tensor]:
    """Copies of ``x`` (N, 3) under random group elements, scales, shifts and permutations."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(trials):
        q = as_group(group).random_orthogonal(3, generator=g)
        scale = 0.5 + 3 * float(torch.rand((), generator=g, dtype=torch.float64))
        shift = 5 * torch.randn(3, generator=g, dtype=torch.float64)
        out.append((scale * x @ q.T + shift)[torch.randperm(len(x), generator=g)])
    return out


def _distances(x: Tensor) -> Tensor:
    """(N, N) exact pairwise distances (torch.cdist's matmul path loses digits)."""
    return (x[:, None] - x[None]).norm(dim=-1)


def _polygon(n: int, z: float, radius: float = 1.0, phase: float = 0.0) -> list[list[float]]:
    return [
        [radius * math.cos(2 * math.pi * k / n + phase), radius * math.sin(2 * math.pi * k / n + phase), z]
        for k in range(n)
    ]


def _upright_shapes() -> dict[str, Tensor]:
    """The 3-D symmetric shapes, and shapes whose symmetry shows only with the heights: their
    projections on the plane are more symmetric than they are (so only the fallback's comparison
    of the whole points, heights included, decides the in-plane frame)."""
    shapes = {name: x for name, x in symmetric_shapes().items() if x.shape[1] == 3}
    rings = [p for z in (-1.0, -0.5, 0.0, 0.5) for p in _polygon(36, z)]
    top = [p[:2] + [1.3 if k % 12 == 0 else 1.0] for k, p in enumerate(_polygon(36, 1.0))]
    shapes["cylinder, 3 raised points on top"] = torch.tensor(rings + top, dtype=torch.float64)
    shapes["square, one corner lifted"] = torch.tensor(
        [[1.0, 1.0, 1.0], [1.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [-1.0, -1.0, 0.0]], dtype=torch.float64
    )
    shapes["square prism, top turned 45"] = torch.tensor(
        _polygon(4, -0.5) + _polygon(4, 0.5, 0.7, math.pi / 4) + [[0.0, 0.0, 0.9]], dtype=torch.float64
    )
    return shapes


SHAPES = _upright_shapes()


# ------------------------------------------------------------------------------------ the group
@pytest.mark.parametrize("group", GROUPS, ids=IDS)
def test_random_elements_are_members_that_keep_the_axis(group: Group | str) -> None:
    g = as_group(group)
    q = g.random_orthogonal(3, (200,), generator=torch.Generator().manual_seed(0))
    a = _unit_axis(g)
    assert bool(g.contains(q).all())
    torch.testing.assert_close(q @ a, a.expand(200, 3), rtol=0, atol=1e-12)
    torch.testing.assert_close(q @ q.mT, torch.eye(3, dtype=torch.float64).expand(200, 3, 3), rtol=0, atol=1e-12)
    det = torch.linalg.det(q)
    assert bool((det > 0).all()) if not g.reflections else bool((det < 0).any() and (det > 0).any())
    flip_up = torch.eye(3, dtype=torch.float64) - 2 * torch.outer(a, a)  # the mirror up -> -up
    assert not bool(g.contains(flip_up[None])[0]) and not bool(g.contains(-torch.eye(3, dtype=torch.float64)[None])[0])
    assert not bool(g.contains(as_group("SO").random_orthogonal(3, (50,))).all())


@pytest.mark.parametrize("group", GROUPS, ids=IDS)
def test_random_elements_are_haar_uniform(group: Group | str) -> None:
    """Haar on SO(2) / O(2): the angle a fixed in-plane vector turns by is uniform on the circle,
    for the rotations and for the mirror images alike, and each is half of the O(2) draws."""
    g = as_group(group)
    assert isinstance(g, AxialRotations)
    q = g.random_orthogonal(3, (40, 100), generator=torch.Generator().manual_seed(1)).flatten(0, 1)
    basis = g.basis()
    turned = q @ basis[:, 0] @ basis[:, :2]  # in-plane coordinates of the first basis vector moved
    angle = torch.atan2(turned[:, 1], turned[:, 0]) % (2 * math.pi)
    proper = torch.linalg.det(q) > 0
    parts = [proper, ~proper] if g.reflections else [proper]
    assert bool(proper.all()) or abs(float(proper.double().mean()) - 0.5) < 0.05
    for part in parts:
        u = torch.sort(angle[part] / (2 * math.pi)).values
        ranks = torch.arange(1, len(u) + 1, dtype=torch.float64) / len(u)
        assert float((u - ranks).abs().max()) < 1.63 / math.sqrt(len(u))  # Kolmogorov-Smirnov, 1 %


def test_axial_draws_are_the_protocols_z_and_o2z() -> None:
    """About z the draws are the protocols' own: the mirror x -> -x with probability 1/2 first,
    then a uniform angle, each one ``torch.rand`` over the batch (the same random stream)."""
    for group, kind in (("SO2z", "z"), ("O2z", "O2z")):
        assert protocol_for(group).rotation == kind
        reference = torch.Generator().manual_seed(7)
        coin = torch.rand(50, generator=reference, dtype=torch.float64) if kind == "O2z" else torch.ones(50)
        angle = 2 * math.pi * torch.rand(50, generator=reference, dtype=torch.float64)
        cos, sin, zero, one = angle.cos(), angle.sin(), torch.zeros(50), torch.ones(50)
        rotation = torch.stack([cos, -sin, zero, sin, cos, zero, zero, zero, one], -1).view(50, 3, 3).double()
        mirror = torch.where(coin < 0.5, -1.0, 1.0).double()
        expected = rotation * torch.stack([mirror, one.double(), one.double()], -1)[:, None, :]
        drawn = random_rotations(kind, 50, torch.Generator().manual_seed(7))
        torch.testing.assert_close(drawn, expected, rtol=0, atol=1e-15)
        torch.testing.assert_close(
            as_group(group).random_orthogonal(3, (50,), generator=torch.Generator().manual_seed(7)),
            drawn,
            rtol=0,
            atol=0,
        )
    for group, kind in (("O", "O3"), ("SO", "SO3")):
        assert protocol_for(group).rotation == kind
    with pytest.raises(
        ValueError,
        match=r"^no rotation protocol draws the group AxialRotations\(axis=\(0\.0, 1\.0, 0\.0\), reflections=False\); "
        r"protocols draw \['I', 'z', 'O2z', 'SO3', 'O3'\]$",
    ):
        protocol_for(AxialRotations(axis=(0.0, 2.0, 0.0)))


def test_axis_angle_rotation_batches() -> None:
    axes = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    angles = torch.rand(2, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 7
    r = axis_angle_rotation(axes, angles)
    assert r.shape == (2, 5, 3, 3)
    torch.testing.assert_close(r @ axes[..., None], axes[..., None])  # the axis is fixed
    torch.testing.assert_close(r[1, 3], axis_angle_rotation(axes[1, 3], angles[1, 3:4])[0])
    half = axis_angle_rotation(axes, angles / 2)
    torch.testing.assert_close(half @ half, r)
    whole = axis_angle_rotation(torch.tensor([1.0, 1.0, 0.0]), torch.tensor([3]))  # an integer angle
    assert whole.dtype == torch.get_default_dtype()
    torch.testing.assert_close(whole @ whole.mT, torch.eye(3).expand(1, 3, 3), rtol=0, atol=1e-6)


def test_aliases_reflections_and_repr() -> None:
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    assert bool(as_group("O2z").contains(mirror)) and not bool(as_group("SO2z").contains(mirror))
    assert as_group("SO2z") == AxialRotations() and as_group("O2z") == AxialRotations(reflections=True)
    assert repr(as_group("O2z")) == "AxialRotations(axis=(0.0, 0.0, 1.0), reflections=True)"
    assert AxialRotations(axis=(0, 2, 0)).name == "SO2[0.0, 1.0, 0.0]" and as_group("SO2z").name == "SO2z"
    assert AxialRotations(axis=(0, 0, 2)) == as_group("SO2z") and AxialRotations(axis=(0, 0, 2)).name == "SO2z"
    assert AxialRotations(axis=(np.float32(0), np.float32(0), np.float32(1))) == as_group("SO2z")
    torch.testing.assert_close(AxialRotations().basis(), torch.eye(3, dtype=torch.float64), rtol=0, atol=0)
    basis = AxialRotations(axis=(1.0, 2.0, -0.5)).basis()
    assert float(torch.linalg.det(basis)) == pytest.approx(1.0)
    assert train_augmentation("aug", "SO2z").rotation == "z" and train_augmentation("aug", "O2z").rotation == "O2z"
    rotations = random_rotations("O2z", 64, torch.Generator().manual_seed(0))
    assert bool(as_group("O2z").contains(rotations).all()) and not bool(as_group("SO2z").contains(rotations).all())


def test_bad_axis_and_dimension_errors() -> None:
    with pytest.raises(ValueError, match=r"^axis must be a non-zero vector, got \(0, 0, 0\)$"):
        AxialRotations(axis=(0, 0, 0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^axis must be 3 finite numbers, got \(True, False, False\)$"):
        AxialRotations(axis=(True, False, False))
    with pytest.raises(ValueError, match=r"^axis must be 3 finite numbers, got \(1\.0, 2\.0\)$"):
        AxialRotations(axis=(1.0, 2.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^axis must be 3 finite numbers, got \(1\.0, nan, 0\.0\)$"):
        AxialRotations(axis=(1.0, float("nan"), 0.0))
    with pytest.raises(ValueError, match=r"^reflections must be a bool, got 1$"):
        AxialRotations(reflections=1)  # type: ignore[arg-type]
    message = r"^SO2z: rotations about an axis act on 3-D points, got D = 2$"
    with pytest.raises(ValueError, match=message):
        canonicalize(torch.randn(10, 2), group="SO2z")
    with pytest.raises(ValueError, match=message):
        as_group("SO2z").random_orthogonal(2)
    with pytest.raises(ValueError, match=r"^O2z: rotations about an axis act on 3-D points, got D = 4$"):
        TinvWrapper(PointMLP(pool=True, d=4), group="O2z")(torch.randn(2, 10, 4))
    with pytest.raises(ValueError, match=r"^O2z: rotations about an axis act on 3-D points, got D = 2$"):
        LearnedPose(PointMLP(pool=True, d=2), group="O2z", dim=2)
    with pytest.raises(ValueError, match=r"group must be one of \['O', 'O2z', 'SO', 'SO2z'\], got 'SO2'"):
        as_group("SO2")


# ------------------------------------------------------------------------------------ the frame step
@settings(max_examples=30, deadline=None)
@given(
    group=st.sampled_from(GROUPS),
    n=st.integers(4, 800),
    log_scale=st.floats(-3, 3),
    shift=st.floats(0, 1e4),
    seed=st.integers(0, 2**31 - 1),
    dtype=st.sampled_from([torch.float64, torch.float32]),
)
def test_canonicalize_is_invariant(
    group: Group | str, n: int, log_scale: float, shift: float, seed: int, dtype: torch.dtype
) -> None:
    g = torch.Generator().manual_seed(seed)
    x = skewed_cloud(n, 3, generator=g)
    z, frame = canonicalize(x.to(dtype), group=group, return_frame=True)
    q = as_group(group).random_orthogonal(3, generator=g)
    t = shift * torch.nn.functional.normalize(torch.randn(3, generator=g, dtype=torch.float64), dim=0)
    if dtype == torch.float32:
        t = t.clamp(-10, 10)  # float32 keeps the shape's digits only for offsets of a few radii
    perm = torch.randperm(n, generator=g)
    z2 = canonicalize((10.0**log_scale * x @ q.T + t)[perm].to(dtype), group=group)
    if dtype == torch.float64 or float(frame.sign_margin[0]) > 0.05 and float(frame.eigen_gap[0]) > 0.05:
        assert float((z2 - z[perm]).abs().max() / z.abs().max()) < max(INVARIANCE_RTOL[dtype], EXACT)


@pytest.mark.parametrize("group", GROUPS, ids=IDS)
def test_frame_keeps_the_axis_and_preserves_distances_up_to_one_scale(group: Group | str) -> None:
    x = skewed_cloud(300, 3, generator=torch.Generator().manual_seed(3)) * 7 + 2
    z, frame = canonicalize(x, group=group, return_frame=True)
    a = _unit_axis(group)
    centred = x - x.mean(0)
    assert float(frame.s[0]) == pytest.approx(float(centred.square().sum(1).mean().sqrt()), rel=1e-12)
    torch.testing.assert_close(_distances(z) * frame.s[0], _distances(x), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(frame.R[0, :, 2], a, rtol=0, atol=1e-12)  # the last canonical axis is the axis
    torch.testing.assert_close(z[:, 2], centred @ a / frame.s[0], rtol=0, atol=1e-12)  # heights kept
    torch.testing.assert_close(frame.to_canonical(x), z, rtol=0, atol=1e-12)
    unscaled, plain = canonicalize(x, group=group, scale=False, return_frame=True)
    torch.testing.assert_close(unscaled, z * frame.s[0], rtol=0, atol=1e-10)
    assert float(plain.s[0]) == 1.0
    assert float(torch.linalg.det(frame.R[0])) == pytest.approx(1.0) or as_group(group).reflections
    if _unit_axis(group).equal(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)):
        assert bool(as_group(group).contains(frame.R).all())  # about z, the frame is a member
    eig = frame.eigenvalues[0]
    assert float(eig.sum()) == pytest.approx(float(frame.s[0]) ** 2, rel=1e-12) and bool(eig[0] >= eig[1])


@pytest.mark.parametrize("group", ["SO2z", "O2z"])
def test_a_tilt_changes_the_output_up_is_kept(group: str) -> None:
    x = skewed_cloud(200, 3, generator=torch.Generator().manual_seed(5))
    z = canonicalize(x, group=group)
    for degrees in (30.0, 180.0):
        tilted = canonicalize(x @ _tilt(degrees).T, group=group)
        assert float((tilted - z).abs().max()) > 0.1, degrees
    model = TinvWrapper(PointMLP(pool=True), group=group).eval()
    assert not check_invariance(model, x, group="SO", trials=4).ok(1e-3)
    assert check_invariance(model, x, group=group, trials=4).ok(1e-9)


@pytest.mark.parametrize("group", ["SO2z", "O2z"])
@pytest.mark.parametrize("name", list(SHAPES))
def test_symmetric_shapes_are_exactly_invariant(name: str, group: str) -> None:
    x = SHAPES[name]
    ref = canonicalize(x, group=group)
    ref32 = canonicalize(x.float(), group=group).double()
    copies = _copies(x, group, 5, seed=len(name))
    errors = [set_distance(ref, canonicalize(c, group=group)) for c in copies]
    errors32 = [set_distance(ref32, canonicalize(c.float(), group=group).double()) for c in copies]
    assert max(errors) <= EXACT, f"{name}, {group}: float64 set distances {errors}"
    assert max(errors32) <= 2e-6, f"{name}, {group}: float32 set distances {errors32}"


def test_the_fallback_compares_the_heights(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a shape whose projection is more symmetric than it is, comparing the projections alone
    leaves the in-plane frame to the input's orientation: the test above would fail."""
    x = SHAPES["cylinder, 3 raised points on top"]
    _, frame = canonicalize(x, group="SO2z", return_frame=True)
    assert bool(frame.fallback[0]) and bool(frame.tie_used[0])
    monkeypatch.setattr(tinvnn.canonical, "_Carried", lambda values, dtype, level: None)
    ref = canonicalize(x, group="SO2z")
    assert max(set_distance(ref, canonicalize(c, group="SO2z")) for c in _copies(x, "SO2z", 5, seed=0)) > 0.1


def test_layouts_agree_and_gradients_are_finite() -> None:
    g = torch.Generator().manual_seed(7)
    clouds = [skewed_cloud(n, 3, generator=g) for n in (40, 25, 33)]
    padded = torch.zeros(3, 40, 3, dtype=torch.float64)
    mask = torch.zeros(3, 40, dtype=torch.bool)
    for i, c in enumerate(clouds):
        padded[i, : len(c)], mask[i, : len(c)] = c, True
    flat = canonicalize(
        torch.cat(clouds), batch=torch.arange(3).repeat_interleave(torch.tensor([40, 25, 33])), group="O2z"
    )
    masked = canonicalize(padded, mask=mask, group="O2z")
    torch.testing.assert_close(flat, masked[mask], rtol=0, atol=1e-12)
    torch.testing.assert_close(masked[1, :25], canonicalize(clouds[1], group="O2z"), rtol=0, atol=1e-12)
    x = clouds[0][:12].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda p: canonicalize(p, group="SO2z"), (x,))


# ------------------------------------------------------------------------------------ wrappers
@pytest.mark.parametrize("group", GROUPS, ids=IDS)
@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_every_wrapper_is_invariant_to_the_group_and_not_to_a_tilt(wrapper: type, group: Group | str) -> None:
    x = skewed_cloud(120, 3, generator=torch.Generator().manual_seed(11))[None].repeat(3, 1, 1)
    x[1], x[2] = x[1] ** 2, x[2] * torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64)
    model = wrapper(PointMLP(pool=True), group=group).double().eval()
    assert check_invariance(model, x, group=group, trials=4).ok(1e-9)
    assert not check_invariance(model, x, group="SO", trials=4).ok(1e-3)


@pytest.mark.parametrize("group", ["SO2z", "O2z"])
@pytest.mark.parametrize(
    "name", ["cube", "cylinder 5x36", "cylinder, 3 raised points on top", "square, one corner lifted"]
)
@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_every_wrapper_is_exactly_invariant_on_symmetric_shapes(wrapper: type, name: str, group: str) -> None:
    x = SHAPES[name]
    model = wrapper(PointMLP(pool=True), group=group).double().eval()
    with torch.no_grad():
        ref = model(x)
        errors = [float((model(c) - ref).norm() / ref.norm()) for c in _copies(x, group, 4, seed=len(name))]
    assert max(errors) <= EXACT, f"{name}: {errors}"


@pytest.mark.parametrize(("group", "frames", "poses"), [("SO2z", 2, 4), ("O2z", 4, 8)])
def test_frame_sets_keep_the_axis(group: str, frames: int, poses: int) -> None:
    x = skewed_cloud(100, 3, generator=torch.Generator().manual_seed(2))[None].repeat(4, 1, 1) @ _tilt(20).T
    up = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    backbone = PointMLP(pool=True).double()
    fa = FrameAveraging(backbone, group=group).frame_set(x, None, None)
    assert fa.counts().tolist() == [frames] * 4
    assert LearnedPose(backbone, group=group).maps.shape[0] == poses
    sign_augment = TinvWrapper(backbone, group=group, sign_augment=True).train()
    sets = [
        fa,
        weighted_frames(x, group=group, threshold=50.0, max_frames=None),
        PCAAlign(backbone, group=group).frame_set(x, None, None),
        *(sign_augment.frame_set(x, None, None) for _ in range(4)),
    ]
    for fs in sets:
        R = fs.frame.R
        torch.testing.assert_close(R[:, :, 2], up.expand(len(R), 3), rtol=0, atol=1e-12)
        assert bool(as_group(group).contains(R).all())
        torch.testing.assert_close(
            fs.average(torch.ones(len(R), dtype=torch.float64)), torch.ones(4, dtype=torch.float64)
        )
    assert int(sets[1].counts().max()) > 1  # the weighted frames do flip in-plane axes


def test_pyg_transform_on_a_batch() -> None:
    pytest.importorskip("torch_geometric")
    from torch_geometric.data import Batch, Data

    from tinvnn.pyg import CanonicalizePose

    g = torch.Generator().manual_seed(9)
    clouds = [skewed_cloud(n, 3, generator=g) for n in (30, 24)]
    transform = CanonicalizePose(group="SO2z")
    assert "group=AxialRotations(axis=(0.0, 0.0, 1.0), reflections=False)" in repr(transform)
    batch = transform(Batch.from_data_list([Data(pos=c) for c in clouds]))
    q = as_group("SO2z").random_orthogonal(3, generator=g)
    for i, c in enumerate(clouds):
        moved = transform(Data(pos=3 * c @ q.T + 1))
        torch.testing.assert_close(batch.pos[batch.batch == i], moved.pos, rtol=0, atol=1e-12)
        torch.testing.assert_close(batch.frame_R[i, :, 2], torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))


# ------------------------------------------------------------------------------------ command line
def test_cli_train_eval_audit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    flags = "--points 32 --per-class 4 --test-per-class 2 --width 16 --batch-size 8 --no-progress".split()
    assert main(["train", "--method", "tinv", "--group", "SO2z", "--epochs", "1", "--out", str(run), *flags]) == 0
    assert json.loads((run / "metrics.json").read_text())["config"]["group"] == "SO2z"
    capsys.readouterr()
    ckpt = str(run / "checkpoint.pt")
    assert main(["eval", ckpt, "--protocol", "z", "z+scale+translate", "--json"]) == 0
    acc = {k: v["accuracy"] for k, v in json.loads(capsys.readouterr().out)["results"].items()}
    assert acc["z"] == acc["z+scale+translate"]
    assert main(["audit", ckpt, "--json", "--clouds", "4", "--rtol", "1e-6"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["max_rel"] < 1e-6 and report["group"] == "SO2z"
    with pytest.raises(SystemExit):
        main(["train", "--group", "SO2", "--out", str(tmp_path / "x")])
    assert "invalid choice: 'SO2'" in capsys.readouterr().err


@pytest.mark.parametrize("offset", [1e-160, 1e-140])
def test_a_vertical_line_with_a_horizontal_offset_below_float_error(offset: float) -> None:
    """The plan of a vertical line is its float noise: zero in-plane coordinates, no range error
    about that noise (1e-160 gave 'RMS radius 5e-161 ... multiply pos by a constant' before)."""
    line = torch.cat(
        [torch.zeros(20, 2, dtype=torch.float64), torch.linspace(-1, 1, 20, dtype=torch.float64)[:, None]], 1
    )
    noisy = line.clone()
    noisy[::2, 0] += offset
    torch.testing.assert_close(canonicalize(noisy, group="SO2z"), canonicalize(line, group="SO2z"), rtol=0, atol=0)


@pytest.mark.parametrize("group", GROUPS)
def test_orient_makes_any_signed_axial_frame_a_member(group: Group | str) -> None:
    """``orient`` (Group API; the engine orients axial frames through ``axis_split``): for frames whose
    last column is the axis, the axis keeps its sign (margin inf) and the signed frame is the
    group's (``frame @ basis^T`` a member)."""
    g = as_group(group)
    gen = torch.Generator().manual_seed(3)
    angle = 2 * math.pi * torch.rand(16, generator=gen, dtype=torch.float64)
    plane = torch.stack([torch.stack([angle.cos(), -angle.sin()], -1), torch.stack([angle.sin(), angle.cos()], -1)], -2)
    plane[::2, :, 1] *= -1  # half of them improper in the plane
    axes = g.axis_split(3).lift(plane)
    signs = torch.randint(0, 2, (16, 3), generator=gen).double() * 2 - 1
    margins = torch.rand(16, 3, generator=gen, dtype=torch.float64)
    new_signs, new_margins = g.orient(axes, signs, margins, torch.zeros(16, 3, dtype=torch.bool))
    assert bool((new_signs[:, -1] == 1).all()) and bool(new_margins[:, -1].isinf().all())
    basis = g.axis_split(3).basis  # frames map the split's basis; members map the identity
    assert bool(g.contains(axes * new_signs[:, None, :] @ basis.mT).all())
