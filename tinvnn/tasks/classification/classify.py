"""Classify point files with a trained (by default the shipped) ModelNet40 classifier.

* :func:`read_point_file`: one shape from ``.npy``, ``.npz`` (key ``points``, or its only
  array), ``.xyz`` / ``.txt`` / ``.csv`` (x y z in the first three columns, the same number of
  columns on every line), ``.off`` (read here) or ``.ply`` / ``.obj`` / ``.stl`` (read by
  trimesh, the ``pointcloud`` extra). A mesh is sampled on its surface, area-weighted; a file without
  faces gives its vertices. A file is read as written or refused: a header whose counts do not
  match the data, a line of two coordinates, a negative count are errors, one line naming the
  file and the problem.
* :func:`invariant_subsets` / :func:`invariant_subsample`: the points the model sees (as many as
  it was trained on), chosen by a rule that depends only on the shape: points ordered by their
  canonical coordinates (invariant to pose, units, offset and point order; exact on symmetric
  shapes, whose ties rounding noise never breaks), then seeded draws of positions in that order,
  covering the points evenly. So the answer is the same whatever the file's pose, units, offset
  and point order.
* :func:`classify_points` / :func:`classify_files`: top-k classes with probabilities, averaged
  over :data:`DEFAULT_SUBSETS` draws unless told otherwise (``tinvnn classify --subsets K``).
* :class:`PointFileWarning`: a file that reads but holds little shape for the model: fewer
  distinct points than it was trained on, or coordinates whose precision at their offset
  (:data:`DETAIL_WARNING` of the shape's radius or coarser) blurs the shape. The answer is still
  given; the warning says why it may mean little.

The shipped classifier (:data:`DEFAULT_CLASSIFIER`) is PointNet with Frame Averaging over the 8
sign-flipped PCA frames (``method="fa"``), 256 points, width 256, 15 epochs on ModelNet40
(77.9 % test accuracy under any rotation, ``docs/results.md`` section 2; the
weighted frames reach 74.7 % at a third of its backbone calls). Frame Averaging is exactly
invariant except where two PCA eigenvalues tie (then the axes themselves are undefined).
ModelNet40 is z-up; the model is invariant to rotations, so a y-up file needs no conversion.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tinvnn import canonicalize
from tinvnn._checks import check_positive_int
from tinvnn._fallback import KEY_TOL, value_groups
from tinvnn._io import error_line
from tinvnn._optional import require
from tinvnn._scale import to_unit_range, unit_exponent
from tinvnn.tasks.classification.convert import read_off
from tinvnn.tasks.classification.datasets import sample_triangles
from tinvnn.tasks.classification.recipe import load_classifier

__all__ = [
    "DEFAULT_CLASSIFIER",
    "UPRIGHT_CLASSIFIER",
    "DEFAULT_SUBSETS",
    "POINT_FILE_SUFFIXES",
    "PointFileWarning",
    "classify_files",
    "classify_points",
    "invariant_subsample",
    "invariant_subsets",
    "read_point_file",
]

#: The shipped ModelNet40 classifier (PointNet + Frame Averaging).
DEFAULT_CLASSIFIER = Path(__file__).resolve().parents[2] / "checkpoints" / "modelnet40_fa.pt"
#: The shipped gravity-aware classifier (group ``"SO2z"``: any heading, scale and offset, z up;
#: ``tinvnn classify --upright``).
UPRIGHT_CLASSIFIER = DEFAULT_CLASSIFIER.with_name("modelnet40_upright.pt")
POINT_FILE_SUFFIXES = (".npy", ".npz", ".xyz", ".txt", ".csv", ".ply", ".off", ".obj", ".stl")
MESH_SAMPLES = 10_000  # surface samples drawn from a mesh before subsampling
#: Invariant draws whose probabilities are averaged: chosen by the rule of ``benchmarks/bench_heldout.py``
#: on its validation set (top-1 83.8 % with 1 draw, 83.6 / 83.4 / 84.4 % with 2 / 4 / 8).
DEFAULT_SUBSETS = 8
MODEL_BATCH = 256  # draws per forward pass (bounds the memory of many files and draws)
#: A file whose coordinates step by this fraction of the shape's RMS radius or more at their
#: offset (float32 about 1e5 radii from the origin, integers on a shape of radius 100) is warned of.
DETAIL_WARNING = 1e-2
_PLY_TYPES = {
    "char": "i1",
    "uchar": "u1",
    "short": "i2",
    "ushort": "u2",
    "int": "i4",
    "uint": "u4",
    "float": "f4",
    "double": "f8",
    "int8": "i1",
    "uint8": "u1",
    "int16": "i2",
    "uint16": "u2",
    "int32": "i4",
    "uint32": "u4",
    "float32": "f4",
    "float64": "f8",
}


class PointFileWarning(UserWarning):
    """A point file that reads but may hold too little shape for a meaningful answer."""


def read_point_file(path: str | os.PathLike[str], *, seed: int = 0) -> np.ndarray:
    """The points of one shape file as a float64 (N, 3) array (see the module docstring).

    Args:
        path: the file; its suffix selects the reader.
        seed: seed of the surface sampling of a mesh (``.off``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unknown suffix, an unreadable or malformed file, not three coordinates,
            an array of shape (3, N > 6) (points are rows: a transposed array), fewer than 3
            points, or NaN/Inf coordinates; the message starts with the file name.

    Warns:
        PointFileWarning: the coordinates' own precision at their offset is
            :data:`DETAIL_WARNING` of the shape's radius or coarser.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, expected a point file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in POINT_FILE_SUFFIXES:
        raise ValueError(
            f"{path}: unknown point file type {suffix or '(none)'!r}; expected one of {', '.join(POINT_FILE_SUFFIXES)}"
        )
    try:
        points = _READERS[suffix](path, seed)
    except ValueError as err:
        message = str(err)
        raise ValueError(message if message.startswith(str(path)) else f"{path}: {message}") from err
    except (OSError, EOFError, KeyError, IndexError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: unreadable {suffix} file ({type(err).__name__}: {err})") from err
    points = np.asarray(points)
    if points.dtype.names is not None or points.dtype.kind not in "iuf":
        raise ValueError(f"{path}: expected an array of real numbers, got dtype {points.dtype}")
    stored = points.dtype
    points = points.astype(np.float64)
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f"{path}: expected points of shape (N, 3), got {points.shape}")
    if points.shape[0] == 3 and points.shape[1] > 6:
        raise ValueError(
            f"{path}: expected points as rows, shape (N, 3), got {points.shape}: 3 points of "
            f"{points.shape[1]} numbers each; a transposed array? save array.T"
        )
    points = points[:, :3]
    if len(points) < 3:
        raise ValueError(f"{path}: expected at least 3 points, got {len(points)}")
    if not np.isfinite(points).all():
        raise ValueError(f"{path}: {int((~np.isfinite(points).all(1)).sum())} points have NaN or Inf coordinates")
    if not (points != points[0]).any():
        raise ValueError(f"{path}: all {len(points)} points coincide, so the shape has no extent to classify")
    _warn_of_coarse_coordinates(path, points, stored)
    return points


def _warn_of_coarse_coordinates(path: Path, points: np.ndarray, stored: np.dtype[Any]) -> None:
    """Warn when the step between neighbouring values of ``stored`` at the largest coordinate is
    :data:`DETAIL_WARNING` of the shape's RMS radius or more. Shape: points (N, 3) float64."""
    e = unit_exponent(points)  # measured on the coordinates scaled into [0.5, 1): no overflow at 1e300
    unit = to_unit_range(points)
    radius = float(np.sqrt(((unit - unit.mean(0)) ** 2).sum(1).mean()))
    largest = float(np.abs(unit).max())
    file_step = float(np.spacing(stored.type(np.abs(points).max()))) if stored.kind == "f" else 1.0
    step = math.ldexp(file_step, -e)
    if step >= DETAIL_WARNING * radius:
        warnings.warn(
            f"{path}: its {stored} coordinates step by {file_step:.2g}, {step / radius:.2g} of the shape's radius "
            f"({largest / radius:.2g} radii from the origin): the shape is blurred and the answer may mean little; "
            "store float64, or the shape nearer the origin",
            PointFileWarning,
            stacklevel=3,
        )


_NOT_NUMPY = "unreadable {} file: not a NumPy file of numbers (files holding Python objects are never loaded)"


def _read_npy(path: Path, seed: int) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError:
        raise ValueError(_NOT_NUMPY.format(".npy")) from None


def _read_npz(path: Path, seed: int) -> np.ndarray:
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError:
        raise ValueError(_NOT_NUMPY.format(".npz")) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        return archive  # an .npy file named .npz
    with archive as data:
        if "points" in data.files:
            return data["points"]
        if len(data.files) == 1:
            return data[data.files[0]]
        raise ValueError(f"expected a 'points' array (or a single array), got keys {data.files}")


def _read_text(path: Path, seed: int) -> np.ndarray:
    rows: list[list[float]] = []
    width = 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        words = [w for w in re.split(r"[,\s]+", line.strip()) if w]
        if not words or words[0].startswith(("#", "//")):
            continue
        try:
            values = [float(w) for w in words]
        except ValueError:
            got = line.strip()[:40]
            raise ValueError(f"line {number}: expected three numbers (x y z) per line, got {got!r}") from None
        if len(values) < 3:
            raise ValueError(f"line {number}: expected three numbers (x y z) per line, got {len(values)}")
        if width and len(values) != width:
            raise ValueError(f"line {number}: expected {width} numbers like the first line, got {len(values)}")
        width = width or len(values)
        rows.append(values[:3])
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def _ply_header(raw: bytes) -> tuple[str, list[tuple[str, int, list[tuple[str, str]]]], bytes]:
    """The format, the elements (name, count, [(property, type or "list")]) and the body of a PLY file."""
    end = raw.find(b"end_header")
    newline = raw.find(b"\n", end)
    if not raw.startswith(b"ply") or end < 0 or newline < 0:
        raise ValueError("not a PLY file (no 'ply' ... 'end_header' header)")
    header = raw[:end].decode("ascii", errors="replace").splitlines()
    fmt = next((line.split()[1] for line in header if line.startswith("format") and len(line.split()) > 1), "")
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise ValueError(f"unknown PLY format {fmt!r}")
    elements: list[tuple[str, int, list[tuple[str, str]]]] = []
    for line in header:
        words = line.split()
        if words[:1] == ["element"]:
            if len(words) != 3 or not re.fullmatch(r"\d+", words[2]):
                raise ValueError(f"expected 'element <name> <count>' with a count >= 0, got {line.strip()!r}")
            elements.append((words[1], int(words[2]), []))
        elif words[:1] == ["property"] and elements:
            kind = "list" if words[1:2] == ["list"] else words[1] if len(words) == 3 else ""
            if kind != "list" and kind not in _PLY_TYPES:
                raise ValueError(f"unknown PLY property {line.strip()!r}")
            elements[-1][2].append((words[-1], kind))
    vertex = next((e for e in elements if e[0] == "vertex"), None)
    if vertex is None or not {"x", "y", "z"} <= {n for n, t in vertex[2] if t != "list"}:
        names = [n for n, _ in vertex[2]] if vertex else "none"
        raise ValueError(f"expected a 'vertex' element with properties x, y, z, got {names}")
    return fmt, elements, raw[newline + 1 :]


def _check_ply_body(fmt: str, elements: list[tuple[str, int, list[tuple[str, str]]]], body: bytes) -> None:
    """Refuse a PLY body that does not hold exactly the records its header counts."""
    if fmt == "ascii":
        lines = [line for line in body.decode("ascii", errors="replace").splitlines() if line.strip()]
        expected = sum(count for _, count, _ in elements)
        if len(lines) != expected:
            counts = ", ".join(f"{count} {name}" for name, count, _ in elements)
            raise ValueError(f"the header counts {expected} records ({counts}), the body has {len(lines)} lines")
        start = 0
        for name, count, props in elements:
            if all(t != "list" for _, t in props):
                widths = [len(line.split()) for line in lines[start : start + count]]
                bad = next((i for i, width in enumerate(widths) if width != len(props)), None)
                if bad is not None:
                    raise ValueError(f"{name} {bad}: expected {len(props)} values, got {widths[bad]}")
            start += count
    elif all(t != "list" for _, _, props in elements for _, t in props):
        expected = sum(count * sum(np.dtype(_PLY_TYPES[t]).itemsize for _, t in props) for _, count, props in elements)
        if len(body) != expected:
            raise ValueError(f"the header counts {expected} bytes of data, the body has {len(body)}")


def _read_mesh(path: Path, seed: int) -> np.ndarray:
    """A mesh or point file read by trimesh: surface samples of a mesh, the vertices of a point cloud."""
    if path.suffix.lower() == ".ply":
        _check_ply_body(*_ply_header(path.read_bytes()))
    trimesh = require("trimesh", f"reading {path.suffix.lower()} files")
    try:
        loaded = trimesh.load(path, process=False)
    except Exception as err:  # noqa: BLE001 - a third-party parser: any failure is an unreadable file
        raise ValueError(f"unreadable {path.suffix.lower()} file ({type(err).__name__}: {err})") from err
    if isinstance(loaded, trimesh.Scene):
        loaded = loaded.to_geometry() if hasattr(loaded, "to_geometry") else loaded.dump(concatenate=True)
    vertices = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), dtype=np.float64)
    faces = np.asarray(getattr(loaded, "faces", np.zeros((0, 3))), dtype=np.int64).reshape(-1, 3)
    return _surface_or_points(vertices, faces, seed)


def _surface_or_points(vertices: np.ndarray, triangles: np.ndarray, seed: int) -> np.ndarray:
    if len(triangles) == 0:
        return vertices  # a point cloud written as a mesh file
    if not np.isfinite(vertices).all():
        raise ValueError(f"{int((~np.isfinite(vertices).all(1)).sum())} vertices have NaN or Inf coordinates")
    samples, _ = sample_triangles(np.random.default_rng(seed), MESH_SAMPLES, vertices[triangles])
    return samples


def _read_off(path: Path, seed: int) -> np.ndarray:
    vertices, triangles = read_off(path)
    return _surface_or_points(vertices, triangles, seed)


_READERS = {
    ".npy": _read_npy,
    ".npz": _read_npz,
    ".xyz": _read_text,
    ".txt": _read_text,
    ".csv": _read_text,
    ".ply": _read_mesh,
    ".obj": _read_mesh,
    ".stl": _read_mesh,
    ".off": _read_off,
}


def invariant_subsets(points: np.ndarray, num: int, subsets: int = 1, *, seed: int = 0) -> np.ndarray:
    """``subsets`` draws of ``num`` points each, chosen by a rule invariant to pose, units, offset and point order.

    Points are ordered lexicographically by their canonical coordinates (:func:`tinvnn.canonicalize`
    in float64, exact on symmetric shapes too), values within ``1e-7`` radii counting as equal so
    that rounding noise never decides the order; then positions of that order are drawn with
    ``seed``, so the same shape gives the same subsets however it is stored. The first draw is
    ``num`` positions without replacement; the following draws take the positions not drawn yet
    in a seeded random order, and a new round over all positions starts when they run out, so
    ``subsets`` draws cover the points evenly (disjoint while ``subsets * num <= N``: 4 draws of 256
    of 1,024 points cover each point once); a draw that spans two rounds still holds ``num``
    distinct points. With fewer than ``num`` points every draw is made with replacement. Within a
    draw the points keep the canonical order.

    Args:
        points: one cloud.
        num: points per draw.
        subsets: number of draws.
        seed: seed of the draws.

    Shape:
        points (N, 3) -> (subsets, num, 3).

    Raises:
        ValueError: ``num`` or ``subsets`` not a positive integer.
    """
    check_positive_int(num, "points")
    check_positive_int(subsets, "subsets")
    z = canonicalize(torch.from_numpy(to_unit_range(points))).numpy()  # exact rescaling: any units
    order = np.lexsort(tuple(value_groups(column, KEY_TOL) for column in z.T[::-1]))  # first coordinate first
    rng = np.random.default_rng(seed)
    n = len(points)
    if n < num:
        positions = rng.choice(n, (subsets, num), replace=True)
    else:
        first = rng.choice(n, num, replace=False)
        pool = rng.permutation(np.setdiff1d(np.arange(n), first))  # not drawn yet in this round
        draws = [first]
        while len(draws) < subsets:
            draw, pool = pool[:num], pool[num:]
            if len(draw) < num:  # a new round; this draw's points are not drawn twice in it
                fresh = rng.permutation(n)
                fill = np.flatnonzero(~np.isin(fresh, draw))[: num - len(draw)]
                draw, pool = np.concatenate([draw, fresh[fill]]), np.delete(fresh, fill)
            draws.append(draw)
        positions = np.stack(draws)
    return np.asarray(points)[order[np.sort(positions, axis=1)]]


def invariant_subsample(points: np.ndarray, num: int, *, seed: int = 0) -> np.ndarray:
    """``num`` of the points, chosen by a rule invariant to pose, units, offset and point order:
    the first draw of :func:`invariant_subsets`.

    Shape:
        points (N, 3) -> (num, 3).
    """
    return invariant_subsets(points, num, 1, seed=seed)[0]


def _unit_ball(points: np.ndarray) -> np.ndarray:
    """Centre on the centroid and scale to max radius 1, in float64, before the model's float32:
    a far offset or large units then cost nothing beyond the file's own precision."""
    centred = to_unit_range(points)  # exact: units from 1e-300 to 1e300 alike
    centred = centred - centred.mean(0)
    radius = float(np.linalg.norm(centred, axis=1).max(initial=0.0))
    return centred / radius if radius > 0 else centred


def classify_points(
    model: nn.Module,
    classes: list[str],
    clouds: list[np.ndarray],
    *,
    points: int,
    subsets: int = DEFAULT_SUBSETS,
    top: int = 5,
    seed: int = 0,
) -> list[list[dict[str, Any]]]:
    """Top-``top`` classes and probabilities of each cloud: the model's probabilities averaged over
    ``subsets`` invariant draws of ``points`` points (:func:`invariant_subsets`).

    Each draw is centred and scaled into the unit ball in float64 before the model's float32,
    so an offset of any size costs only the precision the coordinates themselves hold
    (``docs/errors.md``, "Files"). The model sees at most :data:`MODEL_BATCH` draws at a time.

    Shape:
        clouds: S arrays (N_i, 3) -> S lists of ``{"class", "probability"}``, most probable first.

    Raises:
        ValueError: ``points``, ``subsets`` or ``top`` not a positive integer.
    """
    check_positive_int(top, "top")
    check_positive_int(subsets, "subsets")
    device = next(model.parameters()).device
    draws = np.stack([_unit_ball(d) for c in clouds for d in invariant_subsets(c, points, subsets, seed=seed)])
    model.eval()
    with torch.no_grad():
        probs = torch.cat(
            [
                torch.softmax(model(torch.from_numpy(chunk).float().to(device)).double(), dim=-1).cpu()
                for chunk in np.split(draws, range(MODEL_BATCH, len(draws), MODEL_BATCH))
            ]
        )
    probs = probs.view(len(clouds), subsets, -1).mean(1)
    values, indices = probs.topk(min(top, len(classes)), dim=-1)
    return [
        [{"class": classes[int(i)], "probability": float(v)} for v, i in zip(vs, ids)]
        for vs, ids in zip(values, indices)
    ]


def classify_files(
    paths: list[str | os.PathLike[str]],
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    subsets: int = DEFAULT_SUBSETS,
    top: int = 5,
    seed: int = 0,
    device: str | torch.device = "cpu",
    skip_bad_files: bool = False,
) -> list[dict[str, Any]]:
    """Read each file, classify it with ``checkpoint`` (default: :data:`DEFAULT_CLASSIFIER`) on ``device``,
    averaging over ``subsets`` invariant draws of the points the model was trained on (:func:`classify_points`).

    Args:
        skip_bad_files: a file that cannot be read gets ``{"file", "error"}`` (the one-line
            reason) instead of stopping the call; the others are classified.

    Returns:
        One ``{"file", "points", "top": [{"class", "probability"}, ...]}`` per file, in order.

    Raises:
        ValueError / FileNotFoundError: a bad file (unless ``skip_bad_files``; all files are read
            before any is classified), ``top`` or ``subsets`` not a positive integer (checked
            before the model is loaded).

    Warns:
        PointFileWarning: a file with fewer distinct points than the model was trained on, or
            with coarse coordinates (:func:`read_point_file`).
    """
    check_positive_int(top, "top")
    check_positive_int(subsets, "subsets")
    model, config, meta = load_classifier(checkpoint or DEFAULT_CLASSIFIER, device)
    points = int(config["points"])
    clouds: list[np.ndarray | None] = []
    results: list[dict[str, Any]] = []
    for path in paths:
        try:
            cloud = read_point_file(path, seed=seed)
        except (ValueError, OSError) as err:
            if not skip_bad_files:
                raise
            clouds.append(None)
            results.append({"file": str(path), "error": error_line(err)})
            continue
        distinct = len(np.unique(cloud, axis=0))
        if distinct < points:
            warnings.warn(
                f"{path}: {distinct} distinct points, fewer than the {points} per shape the classifier was trained "
                "on: the answer may mean little",
                PointFileWarning,
                stacklevel=2,
            )
        clouds.append(cloud)
        results.append({"file": str(path), "points": len(cloud)})
    good = [c for c in clouds if c is not None]
    ranked = iter(
        classify_points(model, list(meta["classes"]), good, points=points, subsets=subsets, top=top, seed=seed)
        if good
        else []
    )
    for result, read in zip(results, clouds):
        if read is not None:
            result["top"] = next(ranked)
    return results
