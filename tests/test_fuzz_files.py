"""Files read as written, and one clear line for every failure of a file or a disk (issue 24,
sections 3 and 4; issue 22, readers): mesh and point formats read by a library, malformed
files refused (never regrouped or truncated), a full or read-only disk, names too long, corrupt
HDF5, Ctrl-C, and a dataset conversion that replaces all of its files or none."""

from __future__ import annotations

import errno
import os
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from tinvnn.cli import main
from tinvnn.tasks.classification.classify import DEFAULT_CLASSIFIER, MESH_SAMPLES, classify_files, read_point_file
from tinvnn.tasks.classification.convert import convert_modelnet40

pytest.importorskip("trimesh")

Capsys = pytest.CaptureFixture[str]
Patch = pytest.MonkeyPatch
SQUARE = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tinvnn: error: ") and "Traceback" not in err, err
    return err.strip()


def _on_the_unit_square(points: np.ndarray) -> None:
    assert points.shape == (MESH_SAMPLES, 3)
    assert np.abs(points[:, 2]).max() < 1e-12 and points[:, :2].min() >= -1e-12 and points[:, :2].max() <= 1 + 1e-12
    assert points[:, 0].std() > 0.2 and points[:, 1].std() > 0.2  # spread over the whole face


# --- readers (issue 22): a library reads .ply with list properties, .obj and .stl -------------------------------


def test_ply_mesh_with_a_list_property_and_another_element_first(tmp_path: Path) -> None:
    path = tmp_path / "m.ply"
    path.write_text(
        "ply\nformat ascii 1.0\ncomment a mesh whose first element is not the vertices\n"
        "element material 1\nproperty uchar red\n"
        "element vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
        "element face 2\nproperty list uchar int vertex_indices\nend_header\n"
        "7\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n3 0 1 2\n3 0 2 3\n"
    )
    _on_the_unit_square(read_point_file(path))


def test_binary_ply_with_faces_is_sampled_on_its_surface(tmp_path: Path) -> None:
    path = tmp_path / "m.ply"
    header = (
        "ply\nformat binary_little_endian 1.0\nelement vertex 4\nproperty double x\nproperty double y\n"
        "property double z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
    )
    face = struct.pack("<B4i", 4, 0, 1, 2, 3)  # one quad
    path.write_bytes(header.encode() + SQUARE.astype("<f8").tobytes() + face)
    _on_the_unit_square(read_point_file(path))


def test_obj_and_stl_meshes(tmp_path: Path) -> None:
    obj = tmp_path / "m.obj"
    obj.write_text("# a unit square\n" + "".join(f"v {x} {y} {z}\n" for x, y, z in SQUARE) + "f 1 2 3 4\n")
    _on_the_unit_square(read_point_file(obj))
    stl = tmp_path / "m.stl"
    facets = "".join(
        "facet normal 0 0 1\nouter loop\n"
        + "".join(f"vertex {x} {y} {z}\n" for x, y, z in SQUARE[list(t)])
        + "endloop\nendfacet\n"
        for t in ((0, 1, 2), (0, 2, 3))
    )
    stl.write_text(f"solid square\n{facets}endsolid square\n")
    _on_the_unit_square(read_point_file(stl))


def test_obj_of_two_objects_samples_both(tmp_path: Path) -> None:
    path = tmp_path / "two.obj"
    path.write_text("o a\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\no b\nv 0 0 1\nv 1 0 1\nv 0 1 1\nf 4 5 6\n")
    points = read_point_file(path)
    assert points.shape == (MESH_SAMPLES, 3) and set(np.unique(points[:, 2])) == {0.0, 1.0}
    assert 0.4 < (points[:, 2] == 1.0).mean() < 0.6  # equal areas, equal shares


def test_mesh_reader_missing_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "trimesh", None)  # as if not installed
    path = tmp_path / "m.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    assert main(["classify", str(path)]) == 2
    assert _one_error_line(capsys) == (
        "tinvnn: error: reading .obj files needs the optional dependency 'trimesh': pip install 'tinvnn[pointcloud]'"
    )


# --- files read as written (issue 24 section 3) ------------------------------------------------------------------


def _ply(count: str | int, rows: int) -> bytes:
    header = (
        f"ply\nformat ascii 1.0\nelement vertex {count}\n"
        "property float x\nproperty float y\nproperty float z\nend_header\n"
    )
    body = "".join(f"{i} {i % 7} {i % 5}\n" for i in range(rows))
    return (header + body).encode()


_PLY_WITH_FACES = (
    b"ply\nformat ascii 1.0\nelement vertex 6\nproperty float x\nproperty float y\nproperty float z\n"
    b"element face 1\nproperty list uchar int vertex_indices\nend_header\n"
    b"0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 2\n"
)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "x.xyz",
            "".join(f"{i} {i * 2}\n" for i in range(300)).encode(),
            "line 1: expected three numbers (x y z) per line, got 2",
        ),
        ("x.csv", b"1,2,3\n4,5,6\n7,8\n", "line 3: expected three numbers (x y z) per line, got 2"),
        ("x.xyz", b"1 2 3\n4 5 6 7\n8 9 10\n", "line 2: expected 3 numbers like the first line, got 4"),
        ("x.off", b"OFF\n4 0 0\n0 0\n1 0\n0 1\n1 1\n", "vertex 0: expected three coordinates (x y z), got 2"),
        (
            "x.off",
            b"OFF\n-1 0 0\n" + b"".join(b"%d 0 1\n" % i for i in range(8)),
            "expected counts >= 0, got -1 vertices",
        ),
        (
            "x.off",
            b"OFF\n3 0 0\n" + b"".join(b"%d 0 1\n" % i for i in range(10)),
            "the header counts 3 vertex and 0 face lines, the file has 10",
        ),
        ("x.off", b"OFF\n4 1 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n2 0 1\n", "face 0: expected 'k i_1 .. i_k' with k >= 3"),
        ("x.ply", _PLY_WITH_FACES, "the header counts 7 records (6 vertex, 1 face), the body has 5 lines"),
        ("x.ply", _ply(3, 1024), "the header counts 3 records (3 vertex), the body has 1024 lines"),
        ("x.ply", _ply(-5, 1024), "expected 'element <name> <count>' with a count >= 0, got 'element vertex -5'"),
        ("x.ply", _ply(1024, 1024).replace(b"\n5 5 0\n", b"\n5 5\n"), "vertex 5: expected 3 values, got 2"),
        (
            "x.ply",
            _ply(1024, 1024).replace(b"ascii", b"binary_little_endian")[:200],
            "the header counts 12288 bytes of data",
        ),
        ("x.xyz", b"1 2 3\n1 2 3\n1 2 3\n", "all 3 points coincide, so the shape has no extent to classify"),
    ],
)
def test_malformed_files_are_refused(
    name: str, content: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["classify", str(path)]) == 2
    err = _one_error_line(capsys)
    assert str(path) in err and message in err, err


def test_structured_array_and_directory_and_long_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    structured = tmp_path / "s.npy"
    np.save(structured, np.zeros(10, dtype=[("x", "f8"), ("y", "f8"), ("z", "f8")]))
    assert main(["classify", str(structured)]) == 2
    dtype = "[('x', '<f8'), ('y', '<f8'), ('z', '<f8')]"
    assert f"expected an array of real numbers, got dtype {dtype}" in _one_error_line(capsys)
    folder = tmp_path / "chair.off"
    folder.mkdir()
    assert main(["classify", str(folder)]) == 2
    assert _one_error_line(capsys) == f"tinvnn: error: {folder}: is a directory, expected a point file"
    long_name = tmp_path / ("a" * 300 + ".npy")
    assert main(["classify", str(long_name)]) == 2
    assert _one_error_line(capsys) == f"tinvnn: error: {long_name}: File name too long"


@pytest.mark.skipif(not DEFAULT_CLASSIFIER.is_file(), reason="shipped classifier missing")
def test_a_far_offset_costs_nothing_beyond_the_files_precision(tmp_path: Path) -> None:
    """Centred in float64 before the model's float32: 1e7 radii away, the same answer."""
    from tinvnn.tasks.classification.datasets import load_dataset

    pts = load_dataset("synthetic", "test", points=600, per_class=1).points[3].double().numpy()
    radius = np.linalg.norm(pts - pts.mean(0), axis=1).max()
    np.save(tmp_path / "near.npy", pts)
    np.save(tmp_path / "far.npy", pts + 1e7 * radius * np.array([0.6, -0.8, 0.0]))
    near, far = classify_files([tmp_path / "near.npy", tmp_path / "far.npy"])
    assert [t["class"] for t in near["top"]] == [t["class"] for t in far["top"]]
    for a, b in zip(near["top"], far["top"]):
        assert a["probability"] == pytest.approx(b["probability"], abs=1e-5)


# --- disks and files (issue 24 section 4) -----------------------------------------------------------------------


def _write_off_tree(root: Path, *, bad_test: bool = False) -> None:
    tetra = "OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n"
    for name in ("box", "cone"):
        for split in ("train", "test"):
            folder = root / name / split
            folder.mkdir(parents=True, exist_ok=True)
            text = "OFF\n4 1 0\n0 0\n1 0\n0 1\n1 1\n3 0 1 2\n" if bad_test and split == "test" else tetra
            (folder / f"{name}_0001.off").write_text(text)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_convert_replaces_all_files_or_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad, out = tmp_path / "good", tmp_path / "bad", tmp_path / "out"
    _write_off_tree(good)
    _write_off_tree(bad, bad_test=True)
    convert_modelnet40(good, "off", out, up="z", points=16)
    before = _files(out)
    assert set(before) == {"train.npz", "test.npz"}
    args = ["data", "convert", str(bad), "--format", "off", "--up", "z", "--points", "16"]
    assert main([*args, "--out", str(out), "--force"]) == 2  # the test split is malformed
    assert "vertex 0: expected three coordinates (x y z), got 2" in _one_error_line(capsys)
    assert _files(out) == before  # train.npz was not replaced, no temporary left
    fresh = tmp_path / "fresh" / "modelnet40"
    assert main([*args, "--out", str(fresh)]) == 2
    _one_error_line(capsys)
    assert not fresh.parent.exists()  # nothing left behind, not even the folders made for it


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_convert_on_a_full_or_read_only_disk(
    code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "src", tmp_path / "out"
    _write_off_tree(source)
    convert_modelnet40(source, "off", out, up="z", points=16)
    before = _files(out)
    calls = []
    real_savez = np.savez

    def failing_savez(handle: object, **arrays: object) -> None:
        calls.append(1)
        if len(calls) == 2:  # the second split: the first is already written beside its target
            raise OSError(code, os.strerror(code), str(out / "test.npz"))
        real_savez(handle, **arrays)  # type: ignore[arg-type]

    monkeypatch.setattr(np, "savez", failing_savez)
    args = ["data", "convert", str(source), "--format", "off", "--up", "z", "--points", "16"]
    assert main([*args, "--out", str(out), "--force"]) == 2
    assert _one_error_line(capsys) == f"tinvnn: error: {out / 'test.npz'}: {os.strerror(code)}"
    assert _files(out) == before


def test_convert_out_under_a_file_and_a_float_label(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "src"
    _write_off_tree(source)
    (tmp_path / "afile").write_text("x")
    under = tmp_path / "afile" / "sub"
    assert main(["data", "convert", str(source), "--format", "off", "--up", "z", "--out", str(under)]) == 2
    assert _one_error_line(capsys) == f"tinvnn: error: {tmp_path / 'afile' / 'sub'}: Not a directory"
    h5py = pytest.importorskip("h5py")
    root = tmp_path / "h5"
    root.mkdir()
    (root / "shape_names.txt").write_text("a\nb\n")
    for split in ("train", "test"):
        with h5py.File(root / f"ply_data_{split}0.h5", "w") as f:
            f["data"] = np.random.default_rng(0).normal(size=(2, 32, 3)).astype(np.float32)
            f["label"] = np.array([[0.0], [0.5]], dtype=np.float32)
    args = ["data", "convert", str(root), "--format", "hdf5", "--up", "y", "--points", "16"]
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    assert "expected whole-number labels, got float32 values such as 0.5" in _one_error_line(capsys)


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated"])
def test_corrupt_hdf5_is_one_line(damage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h5py = pytest.importorskip("h5py")
    root = tmp_path / "h5"
    root.mkdir()
    (root / "shape_names.txt").write_text("a\nb\n")
    path = root / "ply_data_train0.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.random.default_rng(0).normal(size=(64, 256, 3)).astype(np.float32)
        f["label"] = np.zeros((64, 1), dtype=np.uint8)
    raw = path.read_bytes()
    path.write_bytes({"empty": b"", "garbage": b"not an hdf5 file" * 10, "truncated": raw[: len(raw) // 2]}[damage])
    args = ["data", "convert", str(root), "--format", "hdf5", "--up", "y", "--points", "16"]
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    assert f"{path}: not a readable HDF5 file" in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_eval_on_a_text_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("test results\n")  # torch's weights_only unpickler: IndexError: pop from empty list
    assert main(["eval", str(path)]) == 2
    assert f"{path} is not a tinvnn checkpoint" in _one_error_line(capsys)


def test_train_refuses_a_checkpoint_that_is_a_directory_before_training(
    tmp_path: Path, monkeypatch: Patch, capsys: Capsys
) -> None:
    import tinvnn.tasks.classification.train as train_module

    out = tmp_path / "run"
    (out / "checkpoint.pt").mkdir(parents=True)
    monkeypatch.setattr(train_module, "train", lambda *a, **k: pytest.fail("trained before checking --out"))
    assert main(["train", "--dataset", "synthetic", "--out", str(out), "--resume"]) == 2
    assert _one_error_line(capsys) == (
        f"tinvnn: error: {out / 'checkpoint.pt'} exists and is not a file; expected the run's checkpoint (--out {out})"
    )


def test_train_on_a_read_only_disk(tmp_path: Path, monkeypatch: Patch, capsys: Capsys) -> None:
    out = tmp_path / "run"
    real_mkdir = Path.mkdir

    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        if self == out:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert main(["train", "--dataset", "synthetic", "--out", str(out), "--epochs", "1"]) == 2
    assert _one_error_line(capsys) == f"tinvnn: error: {out}: Read-only file system"


def test_ctrl_c_during_train_is_one_line(tmp_path: Path, monkeypatch: Patch, capsys: Capsys) -> None:
    import tinvnn.tasks.classification.train as train_module

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "train", interrupted)
    out = tmp_path / "run"
    assert main(["train", "--dataset", "synthetic", "--out", str(out)]) == 130
    assert capsys.readouterr().err == f"tinvnn: stopped; resume with --resume (--out {out})\n"


# --- n-body: degenerate physics refused before any work, a read-only cache one line -------------------------------

_NBODY_TINY = (
    "nbody train --data-n-train 4 --data-n-val 2 --data-n-test 2 --epochs 1 "
    "--data-system-n-steps 400 --data-system-sample-every 10 --data-frame-in 1 "
    "--data-frame-out 2 --batch-size 2"
).split()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--data-system-dt", "0"], "--data-system-dt: expected a finite positive number, got 0.0"),
        (["--data-system-box-size", "-5"], "--data-system-box-size: expected a finite positive number, got -5.0"),
        (["--data-system-box-size", "0"], "--data-system-box-size: expected a finite positive number, got 0.0"),
        (
            ["--data-system-max-force", "-1"],
            "--data-system-max-force: expected a positive number (inf: no clipping), got -1.0",
        ),
        (["--data-system-dim", "2"], "system.dim: expected 3 (the n-body models take 3-D coordinates), got 2"),
        (["--data-system-dim", "7"], "system.dim: expected 3 (the n-body models take 3-D coordinates), got 7"),
    ],
)
def test_nbody_degenerate_physics(flags: list[str], message: str, tmp_path: Path, capsys: Capsys) -> None:
    out = tmp_path / "run"
    assert main([*_NBODY_TINY, *flags, "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 2
    assert _one_error_line(capsys) == f"tinvnn: error: {message}"
    assert not out.exists() and not (tmp_path / "cache").exists()  # refused before any work


def test_nbody_read_only_cache_dir(tmp_path: Path, monkeypatch: Patch, capsys: Capsys) -> None:
    cache = tmp_path / "cache"
    real_mkdir = Path.mkdir

    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        if self == cache:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert main([*_NBODY_TINY, "--out", str(tmp_path / "run"), "--cache-dir", str(cache)]) == 2
    assert _one_error_line(capsys) == f"tinvnn: error: {cache}: Read-only file system"


# --- training: a full disk keeps the last checkpoint ---------------------------------------------------------------

_TRAIN_TINY = (
    "train --dataset synthetic --points 32 --width 16 --per-class 1 --test-per-class 1 --batch-size 8 --no-progress"
).split()


def test_train_on_a_full_disk_keeps_the_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    out = tmp_path / "run"
    assert main([*_TRAIN_TINY, "--epochs", "1", "--out", str(out)]) == 0
    before = (out / "checkpoint.pt").read_bytes()
    capsys.readouterr()

    def full(obj: object, handle: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as write() says it: no file name

    monkeypatch.setattr(torch, "save", full)
    assert main([*_TRAIN_TINY, "--epochs", "2", "--out", str(out), "--resume"]) == 2
    assert _one_error_line(capsys) == f"tinvnn: error: {out / 'checkpoint.pt'}: No space left on device"
    assert (out / "checkpoint.pt").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_sweep_angle_on_a_read_only_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tinvnn._io as io_module

    out = tmp_path / "run"
    assert main([*_TRAIN_TINY, "--epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / "plots"))

    monkeypatch.setattr(io_module.tempfile, "mkstemp", read_only)
    monkeypatch.setattr(Path, "mkdir", read_only)
    png = tmp_path / "plots" / "sweep.png"
    assert main(["sweep-angle", str(out / "checkpoint.pt"), "--out", str(png), "--step", "90", "--no-progress"]) == 2
    assert _one_error_line(capsys) == f"tinvnn: error: {tmp_path / 'plots'}: Read-only file system"
