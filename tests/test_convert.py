"""``tinvnn data convert``: tiny fake copies of the three ModelNet40 distributions, built in tmp_path."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tinvnn.cli import main
from tinvnn.tasks.classification import load_modelnet40
from tinvnn.tasks.classification.convert import convert_modelnet40, read_off, read_off_split, to_z_up

CLASSES = ("bottle", "flower_pot", "lamp")


def _tall_clouds(rng: np.random.Generator, count: int, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Clouds elongated along y (y-up objects, as in the PointNet releases) and their normals."""
    clouds = rng.standard_normal((count, points, 3)) * np.array([0.2, 1.0, 0.1]) + 5.0
    normals = np.zeros((count, points, 3))
    normals[..., 1] = 1.0  # pointing up (+y)
    return clouds, normals


def _check_layout(out: Path, split: str, count: int, points: int) -> dict[str, np.ndarray]:
    with np.load(out / f"{split}.npz", allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    assert set(arrays) == {"points", "normals", "labels", "classes"}
    assert arrays["points"].shape == (count, points, 3) and arrays["points"].dtype == np.float32
    assert arrays["normals"].shape == (count, points, 3) and arrays["labels"].shape == (count,)
    assert tuple(arrays["classes"]) == CLASSES
    centred = arrays["points"] - arrays["points"].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(np.abs(arrays["points"].mean(axis=1)), 0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(centred, axis=2).max(axis=1), 1, rtol=1e-6)
    return arrays


def _assert_z_up(arrays: dict[str, np.ndarray]) -> None:
    """The tall axis became z and the up normals point along +z."""
    spread = arrays["points"].std(axis=1).mean(axis=0)
    assert spread.argmax() == 2
    np.testing.assert_allclose(arrays["normals"][..., 2], 1.0, atol=1e-6)


def test_to_z_up_is_a_rotation() -> None:
    rot = to_z_up(np.eye(3), "y")
    np.testing.assert_allclose(rot @ rot.T, np.eye(3))
    assert np.linalg.det(rot) == pytest.approx(1.0)
    np.testing.assert_array_equal(to_z_up(np.array([0.0, 1.0, 0.0]), "y"), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(to_z_up(np.eye(3), "z"), np.eye(3))
    with pytest.raises(ValueError, match=r"up must be one of \['y', 'z'\], got 'x'"):
        to_z_up(np.eye(3), "x")


def _write_hdf5(root: Path) -> dict[str, np.ndarray]:
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    root.mkdir()
    (root / "shape_names.txt").write_text("\n".join(CLASSES) + "\n")
    labels = {}
    for name, count in (("train0", 4), ("train1", 3), ("test0", 2)):
        data, normal = _tall_clouds(rng, count, 8)
        label = rng.integers(0, 3, size=(count, 1)).astype(np.uint8)  # (S, 1), as in the release
        labels[name] = label[:, 0]
        with h5py.File(root / f"ply_data_{name}.h5", "w") as f:
            f["data"], f["label"], f["normal"] = data.astype(np.float32), label, normal.astype(np.float32)
    return labels


def test_hdf5(tmp_path: Path) -> None:
    labels = _write_hdf5(tmp_path / "modelnet40_ply_hdf5_2048")
    out = tmp_path / "data" / "modelnet40"
    paths = convert_modelnet40(tmp_path / "modelnet40_ply_hdf5_2048", "hdf5", out, up="y", points=6)
    assert paths == {"train": out / "train.npz", "test": out / "test.npz"}
    train = _check_layout(out, "train", 7, 6)
    np.testing.assert_array_equal(train["labels"], np.concatenate([labels["train0"], labels["train1"]]))
    _assert_z_up(train)
    loaded = load_modelnet40("test", points=6, root=tmp_path / "data")
    assert loaded.points.shape == (2, 6, 3) and loaded.classes == CLASSES


def _write_normal_resampled(root: Path) -> None:
    rng = np.random.default_rng(1)
    (root).mkdir()
    (root / "modelnet40_shape_names.txt").write_text("\n".join(CLASSES) + "\n")
    for split, ids in (("train", ["bottle_0001", "flower_pot_0001", "lamp_0001"]), ("test", ["flower_pot_0002"])):
        (root / f"modelnet40_{split}.txt").write_text("\n".join(ids) + "\n")
        for shape_id in ids:
            cloud, normal = _tall_clouds(rng, 1, 12)
            (root / shape_id.rsplit("_", 1)[0]).mkdir(exist_ok=True)
            rows = np.concatenate([cloud[0], normal[0]], axis=1)
            np.savetxt(root / shape_id.rsplit("_", 1)[0] / f"{shape_id}.txt", rows, delimiter=",", fmt="%.6f")


def test_normal_resampled(tmp_path: Path) -> None:
    _write_normal_resampled(tmp_path / "modelnet40_normal_resampled")
    out = tmp_path / "out"
    convert_modelnet40(tmp_path / "modelnet40_normal_resampled", "normal_resampled", out, up="y", points=10)
    train = _check_layout(out, "train", 3, 10)
    np.testing.assert_array_equal(train["labels"], [0, 1, 2])  # "flower_pot_0001" is of class flower_pot
    _assert_z_up(train)
    with pytest.raises(ValueError, match="expected at least 20 points per shape"):
        convert_modelnet40(
            tmp_path / "modelnet40_normal_resampled", "normal_resampled", out, up="y", points=20, overwrite=True
        )


_CUBE = """OFF
# a unit cube made of quads
8 6 0
0 0 0
1 0 0
1 1 0
0 1 0
0 0 1
1 0 1
1 1 1
0 1 1
4 0 3 2 1
4 4 5 6 7
4 0 1 5 4
4 2 3 7 6
4 1 2 6 5
4 0 4 7 3
"""
# ModelNet's header quirk: the counts on the OFF line; a tall triangular prism of triangles.
_PRISM = """OFF6 8 0
0 0 0
1 0 0
0 1 0
0 0 3
1 0 3
0 1 3
3 0 2 1
3 3 4 5
3 0 1 4
3 0 4 3
3 1 2 5
3 1 5 4
3 2 0 3
3 2 3 5
"""


def _write_off(root: Path) -> None:
    for name in CLASSES:
        for split in ("train", "test"):
            folder = root / name / split
            folder.mkdir(parents=True)
            (folder / f"{name}_0001.off").write_text(_CUBE)
            (folder / f"{name}_0002.off").write_text(_PRISM)


def test_read_off_triangulates_and_accepts_the_header_quirk(tmp_path: Path) -> None:
    (tmp_path / "cube.off").write_text(_CUBE)
    (tmp_path / "prism.off").write_text(_PRISM)
    vertices, triangles = read_off(tmp_path / "cube.off")
    assert vertices.shape == (8, 3) and triangles.shape == (12, 3)
    vertices, triangles = read_off(tmp_path / "prism.off")
    assert vertices.shape == (6, 3) and triangles.shape == (8, 3)
    (tmp_path / "bad.off").write_text("PLY\n")
    with pytest.raises(ValueError, match="bad.off: not an OFF file"):
        read_off(tmp_path / "bad.off")
    (tmp_path / "short.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n")
    with pytest.raises(ValueError, match="short.off: malformed OFF file"):
        read_off(tmp_path / "short.off")
    (tmp_path / "index.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n")
    with pytest.raises(ValueError, match=r"index.off: a face names a vertex outside \[0, 3\)"):
        read_off(tmp_path / "index.off")


def test_off_meshes_are_sampled_on_the_surface(tmp_path: Path) -> None:
    _write_off(tmp_path / "ModelNet40")
    raw = read_off_split(tmp_path / "ModelNet40", "train", points=200, seed=3)
    assert raw.classes == CLASSES and raw.labels.tolist() == [0, 0, 1, 1, 2, 2]
    cube = raw.points[0]
    assert cube.min() >= 0 and cube.max() <= 1
    np.testing.assert_allclose(np.abs(cube - 0.5).max(axis=1), 0.5, atol=1e-12)  # on a face of the cube
    assert raw.normals is not None
    np.testing.assert_allclose(np.linalg.norm(raw.normals, axis=2), 1, atol=1e-12)
    np.testing.assert_allclose(np.abs(raw.normals[0]).max(axis=1), 1, atol=1e-12)  # axis-aligned face normals
    again = read_off_split(tmp_path / "ModelNet40", "train", points=200, seed=3)
    np.testing.assert_array_equal(again.points, raw.points)  # reproducible from the seed
    out = tmp_path / "out"
    convert_modelnet40(tmp_path / "ModelNet40", "off", out, up="z", points=64)
    test = _check_layout(out, "test", 6, 64)
    assert test["points"][1].std(axis=0).argmax() == 2  # the prism stands along z


def test_cli_convert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_off(tmp_path / "ModelNet40")
    out = tmp_path / "data" / "modelnet40"
    args = ["data", "convert", str(tmp_path / "ModelNet40"), "--format", "off", "--up", "z", "--points", "32"]
    assert main([*args, "--data-dir", str(tmp_path / "data"), "--json"]) == 0  # default --out: <data dir>/modelnet40
    assert json.loads(capsys.readouterr().out) == {"train": str(out / "train.npz"), "test": str(out / "test.npz")}
    assert main([*args, "--out", str(out)]) == 2
    assert "already exist; pass --overwrite (overwrite=True) to replace them" in capsys.readouterr().err
    assert main([*args, "--out", str(out), "--force"]) == 0  # without --json: a line for people
    assert capsys.readouterr().out == f"wrote {out / 'train.npz'}, {out / 'test.npz'}\n"
    assert (
        main(
            [
                "data",
                "convert",
                str(tmp_path / "nowhere"),
                "--format",
                "normal_resampled",
                "--up",
                "y",
                "--out",
                str(out),
                "--force",
            ]
        )
        == 2
    )
    assert "nowhere: no such folder (expected the unpacked ModelNet40 download)" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    empty = ["data", "convert", str(tmp_path / "empty"), "--format", "normal_resampled", "--up", "y"]
    assert main([*empty, "--out", str(tmp_path / "o2")]) == 2
    assert "modelnet40_shape_names.txt not found" in capsys.readouterr().err


def test_hdf5_without_h5py_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)  # as if not installed
    assert (
        main(["data", "convert", str(tmp_path), "--format", "hdf5", "--up", "y", "--out", str(tmp_path / "out")]) == 2
    )
    assert capsys.readouterr().err.strip() == (
        "tinvnn: error: reading modelnet40_ply_hdf5_2048 needs the optional dependency 'h5py': "
        "pip install 'tinvnn[convert]'"
    )


def test_cli_convert_of_one_mesh_file_points_to_classify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mesh = tmp_path / "chair.off"
    mesh.write_text("OFF\n4 4 0\n0 0 0\n3 0 0\n0 2 0\n0 0 1\n3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n")
    assert main(["data", "convert", str(mesh), "--format", "off", "--up", "z", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        f"tinvnn: error: {mesh} is a file: data convert turns a whole ModelNet40 download (the unpacked folder) "
        f"into a dataset; to classify one shape, run `tinvnn classify {mesh}`\n"
    )
    assert not (tmp_path / "out").exists()


def test_cli_convert_of_a_missing_folder_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "ModelNet40"
    assert main(["data", "convert", str(missing), "--format", "off", "--up", "z", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        f"tinvnn: error: {missing}: no such folder (expected the unpacked ModelNet40 download)\n"
    )
    assert not (tmp_path / "out").exists()
