"""Convert the common ModelNet40 distributions to tinvnn's npz layout (``tinvnn data convert``).

Three distributions are read, each from the directory it unpacks to:

* ``hdf5``: ``modelnet40_ply_hdf5_2048`` (PointNet, Qi et al. 2017): ``ply_data_{train,test}<i>.h5``
  with ``data`` (S, 2048, 3), ``label`` (S, 1), optional ``normal`` (S, 2048, 3), and
  ``shape_names.txt``. The first ``points`` points of each shape are kept. **y is up.**
* ``normal_resampled``: ``modelnet40_normal_resampled`` (PointNet++): ``modelnet40_{train,test}.txt``
  listing shape ids (``chair_0001``), ``modelnet40_shape_names.txt``, and one text file per shape,
  ``<class>/<id>.txt``, of 10,000 rows ``x,y,z,nx,ny,nz``. The first ``points`` rows are kept.
  **y is up.**
* ``off``: the original meshes (``ModelNet40/<class>/{train,test}/<id>.off``, Wu et al. 2015);
  ``points`` area-weighted random samples of each surface, with the unit normal of the sampled
  face (oriented by its vertex order), reproducible from ``seed``. Classes are the sorted class
  folders. **z is up.**

The up axis is never guessed: ``up`` names the source's vertical axis and a proper rotation
(``y`` up: ``(x, y, z) -> (x, -z, y)``) makes z vertical, as the protocols assume. Each shape is
then centred on the centroid of its kept points and scaled to max radius 1; normals are rotated
and stay unit vectors.

Output, ``<out>/{train,test}.npz`` (read by :func:`~tinvnn.tasks.classification.load_modelnet40`):
``points`` float32 (S, N, 3), ``labels`` int64 (S,), ``classes`` (C,) str, and ``normals``
float32 (S, N, 3) when the source has them (all three do; some copies of the HDF5 files lack them).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tinvnn._checks import check_choice, check_positive_int
from tinvnn._io import atomic_write_all
from tinvnn._optional import require
from tinvnn.tasks.classification.datasets import SPLITS, face_normals, normalise_clouds, sample_triangles

__all__ = [
    "FORMATS",
    "UP_AXES",
    "ShapeSplit",
    "convert_modelnet40",
    "read_hdf5_split",
    "read_normal_resampled_split",
    "read_off",
    "read_off_split",
    "read_split",
    "to_z_up",
]

log = logging.getLogger(__name__)

UP_AXES = ("y", "z")
# Rotation (acting on column vectors) that takes the named up axis to +z; det = +1.
_TO_Z_UP = {
    "z": np.eye(3),
    "y": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
}


@dataclass(frozen=True)
class ShapeSplit:
    """One split as read from a distribution, before the up-axis rotation and normalisation.

    Shape:
        points (S, N, 3), normals (S, N, 3) or None, labels (S,) int64 in [0, len(classes)).
    """

    points: np.ndarray
    normals: np.ndarray | None
    labels: np.ndarray
    classes: tuple[str, ...]


def to_z_up(vectors: np.ndarray, up: str) -> np.ndarray:
    """Rotate points or normals whose vertical axis is ``up`` ("y" or "z") so that z is vertical.

    Shape:
        vectors (..., 3) -> (..., 3).

    Example:
        >>> to_z_up(np.array([0.0, 1.0, 0.0]), "y")
        array([0., 0., 1.])
    """
    if up not in _TO_Z_UP:
        raise ValueError(f"up must be one of {list(UP_AXES)}, got {up!r}")
    return vectors @ _TO_Z_UP[up].T


def _read_names(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _first_points(array: np.ndarray, points: int, source: str | os.PathLike[str]) -> np.ndarray:
    """The first ``points`` rows along the point dim (-2) of ``array``; ValueError when short."""
    if array.shape[-2] < points:
        raise ValueError(f"{source}: expected at least {points} points per shape (--points), got {array.shape[-2]}")
    return array[..., :points, :]


def _h5_index(path: Path) -> int:
    match = re.search(r"(\d+)\.h5$", path.name)
    return int(match.group(1)) if match else -1


def read_hdf5_split(root: str | os.PathLike[str], split: str, *, points: int = 1024) -> ShapeSplit:
    """Read one split of ``modelnet40_ply_hdf5_2048`` (layout in the module docstring).

    Args:
        root: the unpacked folder (with ``ply_data_train0.h5`` and ``shape_names.txt``).
        split: "train" or "test".
        points: keep the first ``points`` of each shape's points.

    Raises:
        FileNotFoundError: no ``ply_data_<split>*.h5`` or no ``shape_names.txt`` in ``root``.
        ValueError: a file without ``data``/``label`` or with inconsistent shapes.
        MissingDependencyError: h5py is not installed.
    """
    h5py = require("h5py", "reading modelnet40_ply_hdf5_2048")
    root = Path(root)
    files = sorted(root.glob(f"ply_data_{split}*.h5"), key=_h5_index)
    if not files:
        raise FileNotFoundError(f"no ply_data_{split}*.h5 in {root} (expected the modelnet40_ply_hdf5_2048 folder)")
    classes = tuple(_read_names(root / "shape_names.txt"))
    parts: list[tuple[np.ndarray, np.ndarray | None, np.ndarray]] = []
    for path in files:
        data, label, normal = _read_h5(h5py, path)
        if data.ndim != 3 or data.shape[2] != 3 or label.shape not in ((len(data),), (len(data), 1)):
            raise ValueError(
                f"{path}: expected data (S, P, 3) and label (S,) or (S, 1), got {data.shape} and {label.shape}"
            )
        if label.dtype.kind not in "biuf" or not np.isfinite(label).all() or (label != np.round(label)).any():
            raise ValueError(
                f"{path}: expected whole-number labels, got {label.dtype} values such as {_first_bad_label(label)}"
            )
        if normal is not None and normal.shape != data.shape:
            raise ValueError(f"{path}: expected normal of shape {data.shape} like data, got {normal.shape}")
        parts.append((data, normal, label.reshape(-1)))
    normals = [n for _, n, _ in parts if n is not None]
    return ShapeSplit(
        points=_first_points(np.concatenate([d for d, _, _ in parts]), points, root),
        normals=_first_points(np.concatenate(normals), points, root) if len(normals) == len(parts) else None,
        labels=np.concatenate([lab for _, _, lab in parts]).astype(np.int64),
        classes=classes,
    )


def _read_h5(h5py: Any, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``data``, ``label`` and ``normal`` (or None) of one HDF5 file; ValueError naming the file
    when it is empty, truncated, corrupt or lacks a dataset."""
    try:
        with h5py.File(path, "r") as f:
            if "data" not in f or "label" not in f:
                raise ValueError(f"{path}: expected datasets 'data' and 'label', got {sorted(f.keys())}")
            data, label = np.asarray(f["data"]), np.asarray(f["label"])
            normal = np.asarray(f["normal"]) if "normal" in f else None
    except (OSError, KeyError, RuntimeError, TypeError) as err:
        if isinstance(err, OSError) and err.errno is not None:
            raise  # the system's error (permission, ...): reported as such
        raise ValueError(f"{path}: not a readable HDF5 file (empty, truncated or corrupt: {err})") from err
    if data.dtype.names is not None or label.dtype.names is not None:
        raise ValueError(f"{path}: expected arrays of numbers, got a structured array")
    return data, label, normal


def _first_bad_label(label: np.ndarray) -> str:
    if label.dtype.kind not in "biuf":
        return repr(label.reshape(-1)[:1].tolist())
    flat = label.reshape(-1)
    bad = ~np.isfinite(flat) | (flat != np.round(flat))
    return repr(flat[bad][:1].tolist()[0]) if bad.any() else "?"


def read_normal_resampled_split(root: str | os.PathLike[str], split: str, *, points: int = 1024) -> ShapeSplit:
    """Read one split of ``modelnet40_normal_resampled`` (layout in the module docstring).

    Args:
        root: the unpacked folder (with ``modelnet40_train.txt`` and one folder per class).
        split: "train" or "test".
        points: keep the first ``points`` rows of each shape's file.

    Raises:
        FileNotFoundError: a list file or a shape file is missing.
        ValueError: a shape file with fewer than ``points`` rows or not 6 columns, or an id of
            an unknown class.
    """
    root = Path(root)
    classes = tuple(_read_names(root / "modelnet40_shape_names.txt"))
    label_of = {name: i for i, name in enumerate(classes)}
    ids = _read_names(root / f"modelnet40_{split}.txt")
    clouds, labels = [], []
    for count, shape_id in enumerate(ids, 1):
        name = shape_id.rsplit("_", 1)[0]  # "flower_pot_0001" -> "flower_pot"
        if name not in label_of:
            raise ValueError(f"{root / f'modelnet40_{split}.txt'}: shape {shape_id!r} of unknown class {name!r}")
        path = root / name / f"{shape_id}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (listed in modelnet40_{split}.txt)")
        rows = np.loadtxt(path, delimiter=",", max_rows=points, dtype=np.float64, ndmin=2)
        if rows.shape[1] != 6:
            raise ValueError(f"{path}: expected rows 'x,y,z,nx,ny,nz', got {rows.shape[1]} columns")
        clouds.append(_first_points(rows, points, path))
        labels.append(label_of[name])
        _log_progress(split, count, len(ids))
    table = np.stack(clouds) if clouds else np.zeros((0, points, 6))
    return ShapeSplit(table[..., :3], table[..., 3:], np.asarray(labels, dtype=np.int64), classes)


def read_off(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read an OFF mesh; polygons are split into triangle fans.

    Accepts ModelNet's quirk of counts on the header line (``OFF490 518 0``) and ``#`` comments.

    Returns:
        vertices (V, 3) float64 and triangles (F, 3) int64 vertex indices.

    Raises:
        ValueError: not an OFF file, negative counts, a number of lines other than the header's
            counts, a vertex of fewer than three coordinates, a face of fewer than three
            corners, or a face that names a missing vertex.
    """
    lines = [line.split("#", 1)[0].strip() for line in Path(path).read_text().splitlines()]
    lines = [line for line in lines if line]
    if not lines or not lines[0].startswith("OFF"):
        raise ValueError(
            f"{path}: not an OFF file (expected a first line 'OFF', got {lines[0][:20] if lines else ''!r})"
        )
    head, body = lines[0][3:].split(), lines[1:]
    if not head and body:
        head, body = body[0].split(), body[1:]
    try:
        num_vertices, num_faces = int(head[0]), int(head[1])
    except (ValueError, IndexError):
        got = " ".join(head)[:40]
        raise ValueError(f"{path}: malformed OFF file (expected counts 'V F E' after 'OFF', got {got!r})") from None
    if num_vertices < 0 or num_faces < 0:
        raise ValueError(
            f"{path}: malformed OFF file (expected counts >= 0, got {num_vertices} vertices and {num_faces} faces)"
        )
    if len(body) != num_vertices + num_faces:
        raise ValueError(
            f"{path}: malformed OFF file (the header counts {num_vertices} vertex and {num_faces} face lines, "
            f"the file has {len(body)} lines)"
        )
    try:
        rows = [line.split() for line in body[:num_vertices]]
        short = next((i for i, row in enumerate(rows) if len(row) < 3), None)
        if short is not None:
            raise ValueError(f"vertex {short}: expected three coordinates (x y z), got {len(rows[short])}")
        vertices = np.array([row[:3] for row in rows], dtype=np.float64).reshape(-1, 3)
        triangles = _triangulate(body[num_vertices:])
    except (ValueError, IndexError) as err:
        raise ValueError(f"{path}: malformed OFF file ({err})") from err
    if triangles.size and (triangles.min() < 0 or triangles.max() >= num_vertices):
        raise ValueError(f"{path}: a face names a vertex outside [0, {num_vertices})")
    return vertices, triangles


def _triangulate(face_lines: Sequence[str]) -> np.ndarray:
    """Face lines ``k i_1 .. i_k`` -> (F, 3) triangles (fans); all-triangle meshes in one pass."""
    flat = np.array(" ".join(face_lines).split(), dtype=np.int64)
    if flat.size == 4 * len(face_lines) and (flat[::4] == 3).all():
        return flat.reshape(-1, 4)[:, 1:]
    fans: list[tuple[int, int, int]] = []
    for number, line in enumerate(face_lines):
        k, *corners = (int(t) for t in line.split())
        if k < 3 or len(corners) < k:
            raise ValueError(f"face {number}: expected 'k i_1 .. i_k' with k >= 3, got {line[:40]!r}")
        fans.extend((corners[0], corners[i], corners[i + 1]) for i in range(1, k - 1))
    return np.asarray(fans, dtype=np.int64).reshape(-1, 3)


def _sample_mesh(vertices: np.ndarray, triangles: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` area-weighted surface samples with their face's unit normal, (n, 6)."""
    corners = vertices[triangles]
    samples, which = sample_triangles(rng, n, corners)
    normals = face_normals(corners[which])
    return np.concatenate([samples, normals / np.linalg.norm(normals, axis=1, keepdims=True)], axis=1)


def read_off_split(root: str | os.PathLike[str], split: str, *, points: int = 1024, seed: int = 0) -> ShapeSplit:
    """Sample one split of the ModelNet40 OFF meshes (``<root>/<class>/<split>/*.off``).

    Args:
        root: the ``ModelNet40`` folder (one folder per class).
        split: "train" or "test".
        points: surface samples per shape.
        seed: seed of the sampling (with the split, so train and test draw differently).

    Raises:
        FileNotFoundError: no ``<class>/<split>`` folder in ``root``.
        ValueError: a malformed mesh or one of zero area.
    """
    root = Path(root)
    classes = tuple(sorted(p.name for p in root.iterdir() if (p / split).is_dir())) if root.is_dir() else ()
    if not classes:
        raise FileNotFoundError(f"no <class>/{split}/ folders in {root} (expected the ModelNet40 mesh folder)")
    files = [
        (label, path) for label, name in enumerate(classes) for path in sorted((root / name / split).glob("*.off"))
    ]
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    clouds = []
    for count, (_, path) in enumerate(files, 1):
        vertices, triangles = read_off(path)
        try:
            clouds.append(_sample_mesh(vertices, triangles, points, rng))
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err
        _log_progress(split, count, len(files))
    table = np.stack(clouds) if clouds else np.zeros((0, points, 6))
    labels = np.asarray([label for label, _ in files], dtype=np.int64)
    return ShapeSplit(table[..., :3], table[..., 3:], labels, classes)


def _log_progress(split: str, count: int, total: int) -> None:
    if count % 1000 == 0 or count == total:
        log.info("%s: %d/%d shapes", split, count, total)


FORMATS = ("hdf5", "normal_resampled", "off")


def read_split(
    source: str | os.PathLike[str], fmt: str, split: str, *, points: int = 1024, seed: int = 0
) -> ShapeSplit:
    """Read ``split`` of the distribution ``fmt`` (one of :data:`FORMATS`) unpacked in ``source``."""
    if fmt == "hdf5":
        return read_hdf5_split(source, split, points=points)
    if fmt == "normal_resampled":
        return read_normal_resampled_split(source, split, points=points)
    if fmt == "off":
        return read_off_split(source, split, points=points, seed=seed)
    raise ValueError(f"format must be one of {list(FORMATS)}, got {fmt!r}")


def convert_modelnet40(
    source: str | os.PathLike[str],
    fmt: str,
    out: str | os.PathLike[str],
    *,
    up: str,
    points: int = 1024,
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Convert a ModelNet40 distribution to ``<out>/{train,test}.npz`` (tinvnn's layout).

    Args:
        source: the unpacked distribution's folder.
        fmt: one of :data:`FORMATS` (``hdf5``, ``normal_resampled``, ``off``).
        out: output folder; ``<data>/modelnet40`` is where :func:`load_modelnet40` looks.
        up: the source's vertical axis, ``"y"`` (the PointNet releases ``hdf5`` and
            ``normal_resampled``) or ``"z"`` (the original ``off`` meshes); required, never guessed.
        points: points per shape in the output.
        seed: seed of the mesh sampling (``off`` only).
        overwrite: replace existing output files (else FileExistsError).

    Returns:
        ``{"train": path, "test": path}``.

    Raises:
        FileExistsError: an output exists and ``overwrite`` is False, or ``out`` is a file.
        ValueError / FileNotFoundError / OSError: a malformed source, a full disk, ...; then no
            output was replaced and nothing was left behind (every split is written beside its
            target and all are renamed into place only when all succeeded).

    Example:
        >>> convert_modelnet40("modelnet40_ply_hdf5_2048", "hdf5", "data/modelnet40", up="y")  # doctest: +SKIP
    """
    check_choice(fmt, "format", FORMATS)
    check_choice(up, "up", UP_AXES)
    check_positive_int(points, "points")
    if not Path(source).exists():
        raise FileNotFoundError(f"{source}: no such folder (expected the unpacked ModelNet40 download)")
    if Path(source).is_file():
        raise ValueError(
            f"{source} is a file: data convert turns a whole ModelNet40 download (the unpacked folder) "
            f"into a dataset; to classify one shape, run `tinvnn classify {source}`"
        )
    paths = {split: Path(out) / f"{split}.npz" for split in SPLITS}
    if Path(out).exists() and not Path(out).is_dir():
        raise FileExistsError(f"{out} is a file; expected a folder for train.npz and test.npz (--out)")
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist; pass --overwrite (overwrite=True) to replace them")

    def writer(split: str) -> Callable[[BinaryIO], None]:
        def write(handle: BinaryIO) -> None:
            shapes = read_split(source, fmt, split, points=points, seed=seed)
            arrays: dict[str, Any] = _to_layout(shapes, up, f"{source} ({split})")
            np.savez(handle, **arrays)
            log.info("%s: %d shapes of %d points, %d classes", split, len(shapes.labels), points, len(shapes.classes))

        return write

    # Every split is read and written beside its target first; all replace their targets only
    # when all succeeded, so a failure leaves the old dataset (or a fresh ``out``) as it was.
    atomic_write_all({path: writer(split) for split, path in paths.items()})
    return paths


def _to_layout(shapes: ShapeSplit, up: str, source: str) -> dict[str, np.ndarray]:
    """Rotate to z up, centre and scale each shape; the npz arrays, checked."""
    labels = shapes.labels
    if labels.size and (labels.min() < 0 or labels.max() >= len(shapes.classes)):
        raise ValueError(
            f"{source}: expected labels in [0, {len(shapes.classes)}), got [{labels.min()}, {labels.max()}]"
        )
    points = to_z_up(shapes.points.astype(np.float64), up)
    radius = np.linalg.norm(points - points.mean(axis=-2, keepdims=True), axis=-1).max(axis=-1, initial=0.0)
    bad = ~np.isfinite(points).all(axis=(1, 2)) | ~(radius > 0)
    if bad.any():
        raise ValueError(
            f"{source}: {int(bad.sum())} shapes are non-finite or a single point "
            f"(first: {np.flatnonzero(bad)[:5].tolist()})"
        )
    arrays: dict[str, np.ndarray] = {
        "points": normalise_clouds(points).astype(np.float32),
        "labels": labels.astype(np.int64),
        "classes": np.asarray(shapes.classes, dtype=str),
    }
    if shapes.normals is not None:
        arrays["normals"] = to_z_up(shapes.normals.astype(np.float64), up).astype(np.float32)
    return arrays
