"""PointNet and DGCNN backbones: shapes, permutation invariance, masks, bad input."""

from __future__ import annotations

import pytest
import torch

from tinvnn.models import DGCNN, PointNet, knn
from tinvnn.tasks.classification.methods import BACKBONES, build_backbone


def tiny(name: str, num_classes: int = 5, **kwargs) -> torch.nn.Module:
    return build_backbone(name, num_classes, width=16, k=4, **kwargs).eval()


@pytest.mark.parametrize("name", BACKBONES)
def test_backbone_shapes_and_permutation_invariance(name: str, generator: torch.Generator) -> None:
    net = tiny(name).double()
    x = torch.randn(3, 40, 3, generator=generator, dtype=torch.float64)
    out = net(x)
    assert out.shape == (3, 5)
    perm = torch.randperm(40, generator=generator)
    torch.testing.assert_close(net(x[:, perm]), out)
    torch.testing.assert_close(net(x[1]), out[1])  # one cloud (N, 3)


@pytest.mark.parametrize("name", BACKBONES)
def test_mask_ignores_padding(name: str, generator: torch.Generator) -> None:
    net = tiny(name).double()
    x = torch.randn(2, 30, 3, generator=generator, dtype=torch.float64)
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[1, 20:] = False
    padded = x.clone()
    padded[1, 20:] = 1e3  # garbage in the padding must not matter
    out = net(padded, mask=mask)
    torch.testing.assert_close(out[1], net(x[1, :20]))
    torch.testing.assert_close(out[0], net(x[0]))


def test_vectors_and_features_become_channels(generator: torch.Generator) -> None:
    net = PointNet(4, in_channels=3 + 6 + 2, global_widths=(16, 16), head_widths=(8,)).eval()
    x = torch.randn(2, 10, 3, generator=generator)
    out = net(x, torch.randn(2, 10, 2, 3, generator=generator), features=torch.randn(2, 10, 2, generator=generator))
    assert out.shape == (2, 4)
    with pytest.raises(ValueError, match="expected 11 input channels per point, got 3"):
        net(x)


def test_feature_transform_regulariser(generator: torch.Generator) -> None:
    net = tiny("pointnet", feature_transform=True).train()
    net(torch.randn(4, 20, 3, generator=generator))
    # The T-Net starts at the identity, so the orthogonality penalty starts at zero.
    assert net.feature_tnet is not None
    assert float(net.feature_transform_loss.detach()) == pytest.approx(0.0, abs=1e-10)


def test_knn_finds_nearest_and_respects_mask() -> None:
    x = torch.tensor([[[0.0, 1.0, 3.0, 10.0]]])  # (B=1, C=1, N=4)
    assert knn(x, 2)[0].tolist() == [[0, 1], [1, 0], [2, 1], [3, 2]]
    mask = torch.tensor([[True, False, True, True]])
    assert knn(x, 2, mask)[0, 0].tolist() == [0, 2]
    with pytest.raises(ValueError, match="1 <= k <= N = 4"):
        knn(x, 5)


def test_unknown_backbone_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown backbone 'resnet'; expected one of \('pointnet', 'dgcnn'\)"):
        build_backbone("resnet", 3)


def test_defaults_are_the_papers_sizes() -> None:
    pointnet, dgcnn = PointNet(40), DGCNN(40)
    assert pointnet.globl[-3].out_channels == 1024 and pointnet.head[-1].in_features == 256
    assert [e.mlp[0].out_channels for e in dgcnn.edges] == [64, 64, 128, 256] and dgcnn.k == 20
