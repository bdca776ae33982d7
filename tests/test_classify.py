"""`tinvnn classify`: point files of every supported format, the same answer whatever the file's
pose, units, offset and point order, and one-line errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests._clouds import symmetric_shapes
from tinvnn.cli import main
from tinvnn.tasks.classification.classify import (
    DEFAULT_CLASSIFIER,
    classify_points,
    invariant_subsample,
    read_point_file,
)
from tinvnn.tasks.classification.datasets import load_dataset
from tinvnn.tasks.classification.recipe import load_classifier


def _shape() -> np.ndarray:
    return load_dataset("synthetic", "test", points=600, per_class=1).points[3].double().numpy()


def _write(path: Path, pts: np.ndarray) -> Path:
    suffix = path.suffix
    if suffix == ".npy":
        np.save(path, pts)
    elif suffix == ".npz":
        np.savez(path, points=pts)
    elif suffix in (".xyz", ".txt"):
        np.savetxt(path, pts)
    elif suffix == ".csv":
        np.savetxt(path, pts, delimiter=",")
    elif suffix == ".ply":
        header = (
            f"ply\nformat binary_little_endian 1.0\nelement vertex {len(pts)}\n"
            "property float x\nproperty float y\nproperty float z\nend_header\n"
        )
        path.write_bytes(header.encode() + pts.astype("<f4").tobytes())
    return path


def _moved(pts: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(rng.normal(size=(3, 3)))[0]  # any orthogonal map, reflections included
    return (250.0 * pts @ q.T + rng.uniform(-1e3, 1e3, 3))[rng.permutation(len(pts))]


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".xyz", ".txt", ".csv", ".ply"])
def test_every_format_reads_back(suffix: str, tmp_path: Path) -> None:
    pts = _shape()
    back = read_point_file(_write(tmp_path / f"s{suffix}", pts))
    np.testing.assert_allclose(back, pts, rtol=1e-6 if suffix == ".ply" else 1e-12, atol=1e-6)


def test_ascii_ply_and_off_mesh(tmp_path: Path) -> None:
    ply = tmp_path / "a.ply"
    ply.write_text(
        "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nend_header\n0 0 0 1\n1 0 0 2\n0 1 0 3\n"
    )
    np.testing.assert_array_equal(read_point_file(ply), [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    off = tmp_path / "m.off"
    off.write_text("OFF\n4 2 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n3 0 1 2\n3 0 2 3\n")
    samples = read_point_file(off)
    assert samples.shape[1] == 3 and len(samples) > 1000 and np.allclose(samples[:, 2], 0)
    assert samples[:, :2].min() >= 0 and samples[:, :2].max() <= 1


def test_subsample_is_invariant_to_pose_units_offset_and_order() -> None:
    pts = _shape()
    moved = _moved(pts, 1)
    a, b = invariant_subsample(pts, 256), invariant_subsample(moved, 256)
    d_a = np.linalg.norm(a[:, None] - a[None], axis=-1)
    d_b = np.linalg.norm(b[:, None] - b[None], axis=-1) / 250.0
    np.testing.assert_allclose(d_a, d_b, atol=1e-9)  # the same points, moved: same distances, same order


@pytest.mark.skipif(not DEFAULT_CLASSIFIER.is_file(), reason="shipped classifier missing")
def test_cli_same_answer_whatever_the_pose(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert DEFAULT_CLASSIFIER.stat().st_size < 2 * 1024**2
    pts = _shape()
    files = [
        _write(tmp_path / "a.npy", pts),
        _write(tmp_path / "b.xyz", _moved(pts, 2)),
        _write(tmp_path / "c.ply", _moved(pts, 3)),
    ]
    assert main(["classify", *map(str, files), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    tops = [[t["class"] for t in r["top"]] for r in results]
    assert len(tops[0]) == 5 and tops[0] == tops[1] == tops[2]
    probs = [r["top"][0]["probability"] for r in results]
    assert probs[0] == pytest.approx(probs[1], abs=1e-4) and probs[0] == pytest.approx(probs[2], abs=1e-4)
    assert sum(t["probability"] for t in results[0]["top"]) <= 1 + 1e-9


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.step", b"v 0 0 0", "unknown point file type '.step'"),
        ("x.xyz", b"1 2 three\n", "expected three numbers (x y z) per line"),
        ("x.xyz", b"1 2 3\n4 5 6\n", "expected at least 3 points, got 2"),
        ("x.xyz", b"1 2 3\n4 5 6\nnan 1 1\n", "1 points have NaN or Inf coordinates"),
        ("x.npy", b"not numpy", "unreadable .npy file"),
        ("x.ply", b"hello", "not a PLY file"),
        ("x.off", b"COFF\n", "not an OFF file"),
        ("x.npz", None, "expected a 'points' array (or a single array)"),
    ],
)
def test_bad_files_get_one_line_naming_them(
    name: str, content: bytes | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    if content is None:
        np.savez(path, a=np.zeros((5, 3)), b=np.zeros(2))
    else:
        path.write_bytes(content)
    assert main(["classify", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and message in err, err


@pytest.mark.skipif(not DEFAULT_CLASSIFIER.is_file(), reason="shipped classifier missing")
def test_a_perfectly_symmetric_shape_gets_one_answer_in_every_pose() -> None:
    """A cylinder of 5 rings of 36 points (exact C36): its points tie in distance to the centroid
    and in most canonical coordinates, so a subset chosen by the point order or by rounding noise
    differed between poses (top-1 vase 0.35 / vase 0.49 / cup 0.29 on three rotations)."""
    model, config, meta = load_classifier(DEFAULT_CLASSIFIER)
    cylinder = symmetric_shapes()["cylinder 5x36"].numpy()
    clouds = [cylinder] + [_moved(cylinder, seed) for seed in range(3)]
    answers = classify_points(model, list(meta["classes"]), clouds, points=int(config["points"]))
    for answer in answers[1:]:
        assert [a["class"] for a in answer] == [a["class"] for a in answers[0]]
        np.testing.assert_allclose(
            [a["probability"] for a in answer], [a["probability"] for a in answers[0]], atol=1e-5
        )
