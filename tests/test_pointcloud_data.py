"""Datasets (synthetic, ModelNet40 npz) and transformation protocols."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tinvnn.group import axis_angle_rotation
from tinvnn.tasks.classification.datasets import (
    SYNTHETIC_CLASSES,
    load_dataset,
    load_modelnet40,
    make_synthetic,
    subsample,
)
from tinvnn.tasks.classification.protocols import Protocol, parse_protocol, random_rotations


def write_npz(root: Path, split: str, points: np.ndarray, labels: np.ndarray, classes: list[str]) -> None:
    (root / "modelnet40").mkdir(parents=True, exist_ok=True)
    np.savez(root / "modelnet40" / f"{split}.npz", points=points, labels=labels, classes=np.array(classes))


def test_synthetic_is_reproducible_balanced_and_normalised() -> None:
    a, b = make_synthetic(3, points=64, seed=5), make_synthetic(3, points=64, seed=5)
    torch.testing.assert_close(a.points, b.points)
    assert len(SYNTHETIC_CLASSES) >= 10 and a.classes == SYNTHETIC_CLASSES
    assert a.points.shape == (3 * len(SYNTHETIC_CLASSES), 64, 3)
    assert torch.bincount(a.labels).tolist() == [3] * len(SYNTHETIC_CLASSES)
    assert torch.isfinite(a.points).all()
    radius = a.points.norm(dim=-1).amax(dim=1)
    assert ((radius > 0.9) & (radius < 1.1)).all()  # unit ball plus noise
    assert a.points.mean(dim=1).abs().max() < 0.05  # centred (up to noise)
    assert not torch.equal(a.points, make_synthetic(3, points=64, seed=6).points)


def test_synthetic_splits_differ() -> None:
    train = load_dataset("synthetic", "train", points=32, per_class=2)
    test = load_dataset("synthetic", "test", points=32, per_class=2)
    assert not torch.equal(train.points, test.points)


def test_subsample_is_reproducible_and_checks_size(generator: torch.Generator) -> None:
    pts = torch.randn(4, 50, 3, generator=generator)
    sub = subsample(pts, 20, seed=1)
    torch.testing.assert_close(sub, subsample(pts, 20, seed=1))
    assert sub.shape == (4, 20, 3)
    # every kept point is one of the cloud's own points
    assert all((sub[i][:, None, :] == pts[i][None]).all(-1).any(-1).all() for i in range(4))
    with pytest.raises(ValueError, match="at least 60 points"):
        subsample(pts, 60)


def test_modelnet_loader_reads_the_npz_layout(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    write_npz(
        tmp_path,
        "train",
        rng.standard_normal((6, 40, 3)).astype(np.float16),
        np.array([0, 1, 2, 0, 1, 2], np.int8),
        ["a", "b", "c"],
    )
    data = load_modelnet40("train", points=16, root=tmp_path)
    assert data.points.shape == (6, 16, 3) and data.points.dtype == torch.float32
    assert data.classes == ("a", "b", "c") and data.labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert len(load_dataset("modelnet40", "train", points=16, root=tmp_path, per_class=1)) == 3


def test_modelnet_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="expected <data>/modelnet40/train.npz"):
        load_modelnet40("train", root=tmp_path / "nowhere")
    pts = np.zeros((2, 8, 3), np.float32)
    pts[1, 3, 0] = np.nan
    write_npz(tmp_path, "train", pts, np.array([0, 1]), ["a", "b"])
    with pytest.raises(ValueError, match=r"1 clouds contain NaN or inf coordinates \(first: \[1\]\)"):
        load_modelnet40("train", points=8, root=tmp_path)
    write_npz(tmp_path, "train", np.zeros((2, 8, 3)), np.array([0.0, 1.7]), ["a", "b"])
    with pytest.raises(ValueError, match="expected integer labels, got dtype float64 with non-integer values"):
        load_modelnet40("train", points=8, root=tmp_path)
    write_npz(tmp_path, "train", np.zeros((2, 8, 3)), np.array([0.0, 1.0]), ["a", "b"])  # integral floats are fine
    assert load_modelnet40("train", points=8, root=tmp_path).labels.tolist() == [0, 1]
    write_npz(tmp_path, "train", np.zeros((2, 8, 3)), np.array([0, 1]), ["a", "b"])
    with pytest.raises(ValueError, match="at least 16 points"):
        load_modelnet40("train", points=16, root=tmp_path)
    np.savez(tmp_path / "modelnet40" / "test.npz", points=np.zeros((2, 8, 3)))
    with pytest.raises(ValueError, match=r"lacks keys \['classes', 'labels'\]"):
        load_modelnet40("test", points=8, root=tmp_path)
    (tmp_path / "modelnet40" / "test.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not a readable npz"):
        load_modelnet40("test", points=8, root=tmp_path)
    with pytest.raises(ValueError, match=r"unknown dataset 'shapenet'; expected one of \('synthetic', 'modelnet40'\)"):
        load_dataset("shapenet", "train", points=8)


@pytest.mark.data
def test_shared_modelnet40_if_present(shared_data: Path) -> None:
    if not (shared_data / "modelnet40" / "test.npz").is_file():
        pytest.skip("no modelnet40 in the data directory")
    data = load_dataset("modelnet40", "test", points=64, root=shared_data, per_class=2)
    assert data.num_classes == 40 and len(data) == 80
    assert torch.isfinite(data.points).all() and data.points.norm(dim=-1).max() <= 1.01


@pytest.mark.parametrize("kind", ["I", "z", "O2z", "SO3", "O3"])
def test_rotation_protocols_are_orthogonal_of_the_right_kind(kind: str, generator: torch.Generator) -> None:
    rot = random_rotations(kind, 64, generator)
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(rot @ rot.transpose(1, 2), eye.expand(64, 3, 3))
    det = torch.linalg.det(rot)
    if kind in ("O3", "O2z"):
        assert (det < 0).any() and (det > 0).any()
    else:
        torch.testing.assert_close(det, torch.ones(64, dtype=torch.float64))
    if kind in ("z", "O2z"):  # z stays vertical
        torch.testing.assert_close(rot[:, :, 2], eye[:, 2].expand(64, 3))
    if kind == "SO3":  # not stuck to an axis
        assert rot[:, 2, 2].min() < 0.5


def test_protocol_apply_convention(generator: torch.Generator) -> None:
    pts = torch.randn(8, 20, 3, generator=generator, dtype=torch.float64)
    out = parse_protocol("SO3+scale+translate").apply(pts, torch.Generator().manual_seed(3))
    # distances are scaled by one factor per cloud in [0.5, 2]
    ratio = torch.cdist(out, out)[:, 0, 1:] / torch.cdist(pts, pts)[:, 0, 1:]
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))
    assert ((ratio >= 0.5) & (ratio <= 2.0)).all()
    assert Protocol().apply(pts, generator) is pts
    assert str(parse_protocol("z+translate")) == "z+translate"


def test_bad_protocols_list_valid_names() -> None:
    with pytest.raises(
        ValueError, match=r"unknown rotation protocol 'SO2'; expected one of \('I', 'z', 'O2z', 'SO3', 'O3'\)"
    ):
        parse_protocol("SO2")
    with pytest.raises(ValueError, match="ROTATION\\[\\+scale\\]\\[\\+translate\\]"):
        parse_protocol("z+shear")


def test_axis_angle_rotation() -> None:
    rot = axis_angle_rotation(
        torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64), torch.tensor([math.pi / 2], dtype=torch.float64)
    )
    torch.testing.assert_close(
        torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64) @ rot[0].T,
        torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64),
    )
