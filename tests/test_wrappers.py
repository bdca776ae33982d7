"""The frame wrappers: tinv and Frame Averaging exact, PCA alignment not; layouts and outputs."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

import tinvnn
from tests._backbones import FlatSquares, Lambda, PointMLP
from tests._clouds import skewed_cloud
from tinvnn import check_equivariance, check_invariance
from tinvnn.nn import CanonicalCoordinates, FrameAveraging, PCAAlign, TinvWrapper, WeightedFrames


@pytest.fixture
def clouds(generator: torch.Generator) -> torch.Tensor:
    return skewed_cloud(4 * 25, 3, generator=generator).reshape(4, 25, 3)


@pytest.mark.parametrize("wrapper", [TinvWrapper, FrameAveraging])
@pytest.mark.parametrize("group", ["O", "SO"])
def test_exact_wrappers_are_invariant_and_equivariant(wrapper: type, group: str, clouds: torch.Tensor) -> None:
    inv = wrapper(PointMLP(pool=True), group=group).eval()
    assert check_invariance(inv, clouds, group=group).ok(1e-9)
    vec = wrapper(PointMLP(pool=False), group=group, output="vector")
    assert check_equivariance(vec, clouds, group=group, output="vector").ok(1e-9)
    point = wrapper(PointMLP(pool=False), group=group, output="point")
    assert check_equivariance(point, clouds, group=group, output="point").ok(1e-9)


@pytest.mark.parametrize("wrapper", [TinvWrapper, FrameAveraging])
def test_vector_inputs_and_features(wrapper: type, clouds: torch.Tensor) -> None:
    model = wrapper(PointMLP(pool=False, vec=True, feat=1), output="point")
    charge = torch.randn(4, 25, 1, dtype=torch.float64)
    velocity = torch.randn(4, 25, 3, dtype=torch.float64)
    report = check_equivariance(model, clouds, vectors=velocity, point_features={"charge": charge}, output="point")
    assert report.ok(1e-9), report
    unpermuted = lambda p, v, charge: model(p, v, charge=charge.flip(1))  # noqa: E731  # features out of order
    assert (
        check_equivariance(
            unpermuted, clouds, vectors=velocity, point_features={"charge": charge}, output="point"
        ).max_abs
        > 1e-2
    )


def test_pca_alignment_is_not_invariant(clouds: torch.Tensor) -> None:
    model = PCAAlign(PointMLP(pool=True))
    assert check_invariance(model, clouds).max_rel > 1e-3  # LAPACK's eigenvector signs are arbitrary


@pytest.mark.parametrize("wrapper", [TinvWrapper, FrameAveraging, PCAAlign])
def test_layouts_agree(wrapper: type, clouds: torch.Tensor) -> None:
    model = wrapper(PointMLP(pool=True))
    batched = model(clouds)
    singles = torch.stack([model(c) for c in clouds])
    torch.testing.assert_close(batched, singles)
    padded = torch.cat([clouds, torch.zeros(4, 5, 3, dtype=clouds.dtype)], 1)
    mask = torch.cat([torch.ones(4, 25, dtype=torch.bool), torch.zeros(4, 5, dtype=torch.bool)], 1)
    torch.testing.assert_close(model(padded, mask=mask) * 30 / 25, batched)  # the backbone mean-pools over 30 rows


@pytest.mark.parametrize("wrapper", [TinvWrapper, FrameAveraging])
def test_flat_batch(wrapper: type, clouds: torch.Tensor) -> None:
    batch = torch.arange(4).repeat_interleave(25)
    out = wrapper(FlatSquares())(clouds.reshape(100, 3), batch=batch)
    torch.testing.assert_close(out, wrapper(Lambda(lambda z: (z**2).sum(-2)))(clouds))


@pytest.mark.parametrize("wrapper", [TinvWrapper, FrameAveraging, PCAAlign])
def test_backbone_without_mask_is_refused(wrapper: type, clouds: torch.Tensor) -> None:
    """Dropping the mask would let the backbone pool over padding: refuse with a clear error."""
    model = wrapper(Lambda(lambda z: z.mean(-2)))
    mask = torch.ones(4, 25, dtype=torch.bool)
    with pytest.raises(
        ValueError, match=r"^mask: the backbone Lambda does not take a 'mask' argument, so it cannot tell"
    ):
        model(clouds, mask=mask)
    with pytest.raises(ValueError, match=r"^batch: the backbone Lambda does not take a 'batch' argument"):
        TinvWrapper(Lambda(lambda z: z))(clouds.reshape(100, 3), batch=torch.arange(4).repeat_interleave(25))
    assert model(clouds).shape == (4, 3)  # without a mask the same backbone runs
    masked_mean = lambda z, mask: (z * mask[..., None]).sum(-2) / mask.sum(-1, keepdim=True)  # noqa: E731
    torch.testing.assert_close(wrapper(masked_mean)(clouds, mask=mask), wrapper(Lambda(lambda z: z.mean(-2)))(clouds))


@pytest.mark.parametrize("group", ["O", "SO"])
def test_sign_augment_flips_axes_in_training_only(group: str, clouds: torch.Tensor) -> None:
    seen: list[torch.Tensor] = []
    recorder = Lambda(lambda z: seen.append(z) or z)
    model = TinvWrapper(recorder, group=group, output="point", sign_augment=True)
    canonical = tinvnn.canonicalize(clouds, group=group)
    torch.manual_seed(0)
    many = clouds.repeat(16, 1, 1)  # 64 samples: 4 clouds x 16 draws
    torch.testing.assert_close(model(many), many)  # each frame maps back exactly
    ratio = seen[-1] / canonical.repeat(16, 1, 1)
    signs = ratio[:, 0].sign()  # (64, 3): per-sample axis signs
    torch.testing.assert_close(ratio, signs[:, None].expand_as(ratio))
    patterns = {tuple(row) for row in signs.tolist()}
    assert len(patterns) == (8 if group == "O" else 4)
    if group == "SO":
        assert all(a * b * c == 1 for a, b, c in patterns)
    model.eval()
    model(clouds)
    torch.testing.assert_close(seen[-1], canonical)  # eval mode: the canonical frame, exactly invariant
    assert check_invariance(TinvWrapper(PointMLP(pool=True), sign_augment=True).eval(), clouds, group=group).ok(1e-9)


def test_frame_averaging_and_tinv_agree_for_sign_invariant_backbones(clouds: torch.Tensor) -> None:
    """A backbone blind to axis signs sees the same input through every frame."""
    even = lambda z: (z**2).mean(-2)  # noqa: E731
    torch.testing.assert_close(FrameAveraging(Lambda(even))(clouds), TinvWrapper(Lambda(even))(clouds))


def test_reprs_and_option_errors() -> None:
    expected = "CanonicalCoordinates(group=Rotations(), scale=True, on_ambiguity='ignore')"
    assert repr(CanonicalCoordinates(group="SO")) == expected
    assert "group=Orthogonal(), scale=True, output='vector', scale_vectors=False, on_ambiguity='ignore'" in repr(
        TinvWrapper(nn.Identity(), output="vector", scale_vectors=False)
    )
    with pytest.raises(ValueError, match=r"on_ambiguity must be one of \['ignore', 'raise', 'warn'\], got 'bogus'"):
        TinvWrapper(nn.Identity(), on_ambiguity="bogus")
    with pytest.raises(ValueError, match=r"output must be one of \['invariant', 'point', 'vector'\], got 'scalar'"):
        TinvWrapper(nn.Identity(), output="scalar")
    with pytest.raises(ValueError, match=r"group must be one of \['O', 'O2z', 'SO', 'SO2z'\], got 'E3'"):
        FrameAveraging(nn.Identity(), group="E3")


@pytest.mark.parametrize("wrapper", [TinvWrapper, FrameAveraging, PCAAlign, WeightedFrames])
def test_coincident_points_raise_one_clear_error(wrapper: type, clouds: torch.Tensor) -> None:
    """No NaN rows: every wrapper refuses scale normalisation of a sample whose points coincide."""
    bad = clouds.clone()
    bad[2] = 1.5
    with pytest.raises(ValueError, match=r"^sample 2: all points coincide, so the scale is zero \(use scale=False\)$"):
        wrapper(PointMLP(pool=True))(bad)
    assert torch.isfinite(wrapper(PointMLP(pool=True), scale=False)(bad)).all()


@pytest.mark.parametrize("wrapper", [TinvWrapper, FrameAveraging, WeightedFrames])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_vectors_are_refused(wrapper: type, value: float, clouds: torch.Tensor) -> None:
    model = wrapper(PointMLP(pool=False, vec=True), output="vector")
    vectors = torch.randn(4, 25, 3, dtype=torch.float64)
    vectors[1, 3, 2] = value
    with pytest.raises(ValueError, match=r"vectors must be finite, got NaN or Inf at index \(1, 3, 2\)"):
        model(clouds, vectors)
    mask = torch.ones(4, 25, dtype=torch.bool)
    mask[1, 3] = False  # NaN in padding is allowed
    assert torch.isfinite(model(clouds, vectors, mask=mask)[mask]).all()


def test_callables_that_hide_parameters_are_refused(clouds: torch.Tensor) -> None:
    inner = PointMLP(pool=True)
    with pytest.raises(
        ValueError, match=r"backbone: the plain callable '<lambda>' uses parameters the wrapper cannot see \(inner\)"
    ):
        TinvWrapper(lambda z, batch=None: inner(z))
    with pytest.raises(ValueError, match=r"cannot see \(self\)"):
        FrameAveraging(inner.forward)
    with pytest.raises(ValueError, match=r"cannot see \(partial\)"):
        WeightedFrames(functools.partial(inner))
    with pytest.raises(ValueError, match="backbone must be an nn.Module or a callable, got int"):
        PCAAlign(3)  # type: ignore[arg-type]
    stateless = TinvWrapper(lambda z: (z**2).mean(-2))  # a parameter-free function is fine
    assert stateless(clouds).shape == (4, 3) and not list(stateless.parameters())
    assert len(list(TinvWrapper(inner).parameters())) == 4


@pytest.mark.parametrize("output", ["vector", "point"])
def test_per_point_outputs_of_the_wrong_shape_are_refused(output: str) -> None:
    """A backbone whose output is not laid out like its input cannot be mapped back by a frame."""
    wrapper = TinvWrapper(torch.nn.Linear(3, 8), output=output)
    with pytest.raises(ValueError) as err:
        wrapper(torch.randn(2, 10, 3))
    assert str(err.value) == (
        f"backbone: output={output!r} needs per-point outputs laid out like its input (2, 10, 3) "
        "(..., N, [K,] D), got (2, 10, 8)"
    )


def test_check_equivariance_refuses_outputs_not_laid_out_like_pos() -> None:
    pos = torch.randn(20, 3, dtype=torch.float64)
    with pytest.raises(ValueError) as err:
        check_equivariance(lambda q: q.mean(-2), pos)
    assert str(err.value) == "fn: expected vector outputs laid out like pos, (20, 3) or (20, 'K', 3), got (3,)"
    assert check_equivariance(lambda q: q - q.mean(-2), pos).max_rel < 1e-12
