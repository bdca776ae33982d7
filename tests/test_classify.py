"""`tinvnn classify`: point files of every supported format, the same answer whatever the file's
pose, units, offset and point order, and one-line errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests._clouds import symmetric_shapes
from tinvnn.cli import main
from tinvnn.group import AxialRotations
from tinvnn.tasks.classification import classify as classify_module
from tinvnn.tasks.classification.classify import (
    DEFAULT_CLASSIFIER,
    UPRIGHT_CLASSIFIER,
    PointFileWarning,
    classify_files,
    classify_points,
    invariant_subsample,
    invariant_subsets,
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


def test_a_transposed_or_boolean_array_is_refused(tmp_path: Path) -> None:
    pts = np.random.default_rng(0).normal(size=(50, 3))
    np.save(tmp_path / "t.npy", pts.T)
    with pytest.raises(ValueError) as err:
        read_point_file(tmp_path / "t.npy")
    assert str(err.value) == (
        f"{tmp_path / 't.npy'}: expected points as rows, shape (N, 3), got (3, 50): 3 points of 50 numbers each; "
        "a transposed array? save array.T"
    )
    np.save(tmp_path / "b.npy", pts > 0)
    with pytest.raises(ValueError, match=r"b\.npy: expected an array of real numbers, got dtype bool$"):
        read_point_file(tmp_path / "b.npy")
    np.save(tmp_path / "six.npy", np.hstack([pts, pts])[:3])  # 3 points with normals: read as written
    assert read_point_file(tmp_path / "six.npy").shape == (3, 3)


def test_coarse_coordinates_are_warned_of(tmp_path: Path) -> None:
    """float32 1e7 radii from the origin steps by about half the shape's radius: warned; the same
    offset in float64, or float32 near the origin, or integers on a large shape: not."""
    import warnings

    pts = np.random.default_rng(0).normal(size=(300, 3))
    np.save(tmp_path / "far32.npy", (pts + 1e7).astype(np.float32))
    with pytest.warns(PointFileWarning, match=r"far32\.npy: its float32 coordinates step by 1, 0\.5\d of the shape's"):
        read_point_file(tmp_path / "far32.npy")
    np.save(tmp_path / "int.npy", np.round(pts * 3).astype(np.int32))  # radius about 5 steps
    with pytest.warns(PointFileWarning, match=r"int\.npy: its int32 coordinates step by 1, 0\.2 of the shape's"):
        read_point_file(tmp_path / "int.npy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.save(tmp_path / "far64.npy", pts + 1e7)
        np.save(tmp_path / "near32.npy", (pts + 1e3).astype(np.float32))
        np.save(tmp_path / "int_large.npy", np.round(pts * 1000).astype(np.int64))
        for name in ("far64.npy", "near32.npy", "int_large.npy"):
            read_point_file(tmp_path / name)


@pytest.mark.skipif(not DEFAULT_CLASSIFIER.is_file(), reason="shipped classifier missing")
def test_a_bad_file_costs_only_its_own_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One line per bad file, the others classified, exit status 2; a sparse file gets a warning
    line; the JSON holds the error in the bad file's place."""
    pts = _shape()
    good, sparse, bad = tmp_path / "a.npy", tmp_path / "sparse.npy", tmp_path / "nan.npy"
    np.save(good, pts)
    np.save(sparse, pts[:40])
    np.save(bad, pts * np.nan)
    assert main(["classify", str(good), str(bad), str(sparse), "--top", "1"]) == 2
    out, err = capsys.readouterr()
    assert [line.split(":")[0] for line in out.splitlines()] == [str(good), str(sparse)]
    assert err.splitlines() == [
        f"tinvnn: warning: {sparse}: 40 distinct points, fewer than the 256 per shape the classifier was trained on: "
        "the answer may mean little",
        f"tinvnn: error: {bad}: 600 points have NaN or Inf coordinates",
    ]
    assert main(["classify", str(bad), str(good), "--json"]) == 2
    results = json.loads(capsys.readouterr().out)["results"]
    assert results[0] == {"file": str(bad), "error": f"{bad}: 600 points have NaN or Inf coordinates"}
    assert results[1]["file"] == str(good) and len(results[1]["top"]) == 5
    with pytest.raises(ValueError, match="NaN or Inf"):
        classify_files([good, bad])


@pytest.mark.skipif(not DEFAULT_CLASSIFIER.is_file(), reason="shipped classifier missing")
def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    """stdout a pipe nobody reads (as ``| head`` leaves it): status 141, nothing on stderr."""
    import os
    import subprocess
    import sys

    np.save(tmp_path / "a.npy", _shape())
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tinvnn", "classify", str(tmp_path / "a.npy"), "--json"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, "")


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


def test_subsets_cover_the_points_evenly_and_the_first_is_the_single_draw() -> None:
    pts = np.random.default_rng(0).normal(size=(1000, 3)) * [3.0, 2.0, 1.0]
    draws = invariant_subsets(pts, 250, 6, seed=4)
    assert draws.shape == (6, 250, 3)
    np.testing.assert_array_equal(draws[0], invariant_subsample(pts, 250, seed=4))
    first_round = np.unique(draws[:4].reshape(-1, 3), axis=0)
    assert len(first_round) == 1000  # 4 disjoint draws of 250 cover each of the 1,000 points once
    assert len(np.unique(draws[4:].reshape(-1, 3), axis=0)) == 500  # the next round starts afresh
    few = invariant_subsets(pts[:100], 250, 3)
    assert few.shape == (3, 250, 3) and not np.array_equal(few[0], few[1])  # with replacement, independent


@pytest.mark.parametrize("n", [300, 257, 511, 700])
def test_a_draw_spanning_two_rounds_holds_distinct_points(n: int) -> None:
    """300 points, 8 draws of 256: draw 2 takes the 44 left, then 212 of a new round (it took
    points it already held, down to 203 distinct, before)."""
    pts = np.random.default_rng(n).normal(size=(n, 3)) * [3.0, 2.0, 1.0]
    draws = invariant_subsets(pts, 256, 8)
    assert [len(np.unique(d, axis=0)) for d in draws] == [256] * 8
    counts = np.unique(draws.reshape(-1, 3), axis=0, return_counts=True)[1]
    assert len(counts) == n and counts.max() - counts.min() <= 1 + (8 * 256) // n  # every point, evenly


def test_subsets_are_invariant_to_pose_units_offset_and_order() -> None:
    pts = _shape()
    a, b = invariant_subsets(pts, 256, 3), invariant_subsets(_moved(pts, 5), 256, 3)
    for draw_a, draw_b in zip(a, b):
        d_a = np.linalg.norm(draw_a[:, None] - draw_a[None], axis=-1)
        d_b = np.linalg.norm(draw_b[:, None] - draw_b[None], axis=-1) / 250.0
        np.testing.assert_allclose(d_a, d_b, atol=1e-9)


@pytest.mark.skipif(not DEFAULT_CLASSIFIER.is_file(), reason="shipped classifier missing")
def test_averaged_probabilities_are_the_mean_over_draws_and_invariant() -> None:
    model, config, meta = load_classifier(DEFAULT_CLASSIFIER)
    classes, num = list(meta["classes"]), int(config["points"])
    pts = _shape()
    with torch.no_grad():  # the naive path: each draw through the model, probabilities averaged by hand
        draws = [d - d.mean(0) for d in invariant_subsets(pts, num, 3)]
        batch = torch.tensor(np.stack([d / np.linalg.norm(d, axis=1).max() for d in draws]), dtype=torch.float32)
        naive = torch.softmax(model.eval()(batch).double(), dim=-1)
    for subsets, expected in ((1, naive[0]), (3, naive.mean(0))):
        ranked = classify_points(model, classes, [pts, _moved(pts, 6)], points=num, subsets=subsets, top=40)
        for answer in ranked:  # the file as stored, and moved, scaled, offset and shuffled
            got = {a["class"]: a["probability"] for a in answer}
            np.testing.assert_allclose([got[c] for c in classes], expected.numpy(), atol=1e-5)


@pytest.mark.parametrize(("subsets", "top"), [(0, 5), (2.0, 5), (True, 5), (2, 0)])
def test_bad_subsets_or_top_are_refused_before_loading(subsets: object, top: int) -> None:
    name = "subsets" if top == 5 else "top"
    value = subsets if top == 5 else top
    with pytest.raises(ValueError, match=f"^{name}: expected a positive integer, got {value!r}$"):
        classify_files(["missing.npy"], checkpoint="missing.pt", subsets=subsets, top=top)  # type: ignore[arg-type]


def test_cli_refuses_a_bad_subsets_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "a.npy", _shape())
    assert main(["classify", str(path), "--subsets", "0"]) == 2
    assert "subsets: expected a positive integer, got 0" in capsys.readouterr().err


@pytest.mark.skipif(not DEFAULT_CLASSIFIER.is_file(), reason="shipped classifier missing")
def test_many_draws_go_through_the_model_in_chunks_with_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    model, config, meta = load_classifier(DEFAULT_CLASSIFIER)
    classes, num = list(meta["classes"]), int(config["points"])
    pts = _shape()
    clouds = [pts, _moved(pts, 7), _moved(pts[::-1][:400], 8)]
    whole = classify_points(model, classes, clouds, points=num, subsets=3, top=3)
    monkeypatch.setattr(classify_module, "MODEL_BATCH", 4)  # 9 draws: three forward passes
    chunked = classify_points(model, classes, clouds, points=num, subsets=3, top=3)
    for a, b in zip(whole, chunked):
        assert [x["class"] for x in a] == [x["class"] for x in b]
        np.testing.assert_allclose([x["probability"] for x in a], [x["probability"] for x in b], atol=1e-6)


def test_upright_classifier_keeps_up_and_forgets_heading_units_and_offset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert UPRIGHT_CLASSIFIER.stat().st_size < 2 * 1024**2
    _, config, _ = load_classifier(UPRIGHT_CLASSIFIER)
    assert config["group"] == "SO2z"
    pts = _shape()
    rng = np.random.default_rng(0)
    heading = AxialRotations().random_orthogonal(3, (2,), generator=torch.Generator().manual_seed(0)).numpy()
    files = [_write(tmp_path / "a.npy", pts)] + [
        _write(tmp_path / f"h{i}.xyz", (40.0 * pts @ q.T + rng.uniform(-1e3, 1e3, 3))[rng.permutation(len(pts))])
        for i, q in enumerate(heading)
    ]
    assert main(["classify", *map(str, files), "--upright", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    ranked = [[(t["class"], t["probability"]) for t in r["top"]] for r in results]
    for other in ranked[1:]:
        assert [c for c, _ in other] == [c for c, _ in ranked[0]]
        assert [p for _, p in other] == pytest.approx([p for _, p in ranked[0]], abs=1e-4)
    tilted = _write(tmp_path / "tilted.npy", pts[:, [2, 1, 0]] * np.array([1.0, 1.0, -1.0]))  # lying on its side
    assert main(["classify", str(tilted), "--upright", "--json"]) == 0
    lying = json.loads(capsys.readouterr().out)["results"][0]["top"]
    assert [t["probability"] for t in lying] != pytest.approx([p for _, p in ranked[0]], abs=1e-4)


def test_upright_and_checkpoint_are_one_choice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "a.npy", _shape())
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", str(path), "--upright", "--checkpoint", "x.pt"])
    assert exit_info.value.code == 2
    assert "argument --checkpoint: not allowed with argument --upright" in capsys.readouterr().err


@pytest.mark.skipif(not DEFAULT_CLASSIFIER.is_file(), reason="shipped classifier missing")
def test_units_from_1e_minus_200_to_1e200_give_the_same_answer() -> None:
    """Exact power-of-two rescaling inside: the same draws and the same probabilities at any units
    float64 holds (squares of 1e200 would overflow, of 1e-200 underflow)."""
    pts = _shape()
    model, config, meta = load_classifier(DEFAULT_CLASSIFIER)
    clouds = [pts, pts * 1e200, pts * 1e-200, pts * 2.0**900]
    for power in (900, -900):  # a power of two: the very same points are drawn
        np.testing.assert_array_equal(
            invariant_subsets(pts * 2.0**power, 256, 2), invariant_subsets(pts, 256, 2) * 2.0**power
        )
    ranked = classify_points(model, list(meta["classes"]), clouds, points=int(config["points"]), subsets=2, top=3)
    for other in ranked[1:]:
        assert [t["class"] for t in other] == [t["class"] for t in ranked[0]]
        for a, b in zip(other, ranked[0]):
            assert a["probability"] == pytest.approx(b["probability"], abs=1e-6)
