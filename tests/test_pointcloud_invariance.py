"""The compared methods on untrained backbones: tinv and fa exactly invariant, none and pca not."""

from __future__ import annotations

import pytest
import torch
from conftest import INVARIANCE_RTOL

from tinvnn import check_invariance
from tinvnn.tasks.classification.datasets import make_synthetic
from tinvnn.tasks.classification.methods import (
    BACKBONES,
    METHODS,
    build_backbone,
    train_augmentation,
    wrap_backbone,
)


def model(method: str, backbone: str, group: str = "O", dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    torch.manual_seed(0)
    return wrap_backbone(method, build_backbone(backbone, 12, width=16, k=6), group=group).to(dtype).eval()


@pytest.fixture(scope="module")
def clouds() -> torch.Tensor:
    """Four generic synthetic clouds (distinct eigenvalues, clear signs)."""
    return make_synthetic(1, points=48, seed=3).points[[0, 2, 5, 8]]


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("group", ["O", "SO"])
@pytest.mark.parametrize("method", ["tinv", "fa", "weighted"])
def test_tinv_and_fa_are_exactly_invariant(
    method: str, group: str, backbone: str, clouds: torch.Tensor, dtype: torch.dtype
) -> None:
    report = check_invariance(model(method, backbone, group, dtype), clouds.to(dtype), group=group, trials=4)
    assert report.ok(INVARIANCE_RTOL[dtype]), str(report)


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("method", ["none", "pca"])
def test_none_and_pca_are_not_invariant(method: str, backbone: str, clouds: torch.Tensor) -> None:
    report = check_invariance(model(method, backbone), clouds.double(), group="O", trials=4)
    assert report.max_rel > 1e-3, str(report)


def test_fa_and_tinv_agree_on_input_layouts(clouds: torch.Tensor) -> None:
    """(B, N, 3), one cloud (N, 3), and a padded batch with a mask give the same logits."""
    padded = torch.zeros(2, 48, 3, dtype=torch.float64)
    padded[0], padded[1, :30] = clouds[0].double(), clouds[1, :30].double()
    mask = torch.zeros(2, 48, dtype=torch.bool)
    mask[0], mask[1, :30] = True, True
    for method in ("tinv", "fa"):
        net = model(method, "pointnet")
        batched = net(clouds.double())
        torch.testing.assert_close(net(clouds[2].double()), batched[2])
        masked = net(padded, mask=mask)
        torch.testing.assert_close(masked[0], batched[0])
        torch.testing.assert_close(masked[1], net(clouds[1, :30].double()))


def test_tinv_is_one_backbone_call_fa_is_eight(clouds: torch.Tensor) -> None:
    calls = []
    for method in ("tinv", "fa"):
        net = model(method, "pointnet")
        backbone = net.backbone
        handle = backbone.register_forward_hook(lambda mod, inp, out, m=method: calls.append((m, inp[0].shape[0])))
        net(clouds.double())
        handle.remove()
    assert calls == [("tinv", 4), ("fa", 32)]


def test_methods_and_repr() -> None:
    assert METHODS == ("none", "aug", "pca", "fa", "tinv", "weighted", "weighted_draw", "learned")
    assert train_augmentation("aug", "O").rotation == "O3" and train_augmentation("aug", "SO").rotation == "SO3"
    assert train_augmentation("tinv", "O") is None
    assert "TinvWrapper" in repr(model("tinv", "pointnet"))
    assert "train_frames='draw'" in repr(model("weighted_draw", "pointnet"))
    assert "candidates=48, max_frames=2" in repr(model("learned", "pointnet"))
    with pytest.raises(
        ValueError,
        match=r"unknown method 'vn'; expected one of "
        r"\('none', 'aug', 'pca', 'fa', 'tinv', 'weighted', 'weighted_draw', 'learned'\)",
    ):
        wrap_backbone("vn", torch.nn.Identity())
    with pytest.raises(ValueError, match=r"unknown group 'SE'"):
        wrap_backbone("tinv", torch.nn.Identity(), group="SE")
