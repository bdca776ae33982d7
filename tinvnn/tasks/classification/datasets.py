"""Point-cloud classification data: the ModelNet40 npz loader and an embedded procedural dataset.

Both return a :class:`PointCloudDataset` of clouds in their upright pose (z vertical), centred
and scaled into the unit ball; transformations are applied later by the protocols.

**ModelNet40 layout** (``<data>/modelnet40/{train,test}.npz``, found through
:func:`tinvnn.paths.data_dir`): keys ``points`` float (S, P, 3) with P >= the requested points,
``labels`` int (S,) in [0, 40), ``classes`` (40,) names (and optional ``normals``, unused here).
:mod:`tinvnn.tasks.classification.convert` (``tinvnn data convert``) writes it from the common
ModelNet40 downloads (Wu et al., CVPR 2015); see ``docs/data.md``.

**Synthetic shapes** (:data:`SYNTHETIC_CLASSES`, no files needed): twelve families of parametric
surfaces with random proportions, area-weighted random surface sampling and Gaussian noise.
Each split is generated from its own seed, so train and test never share a cloud.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from tinvnn.paths import data_dir as default_data_dir

__all__ = [
    "DATASETS",
    "SYNTHETIC_CLASSES",
    "PointCloudDataset",
    "load_dataset",
    "load_modelnet40",
    "make_synthetic",
    "normalise_clouds",
    "face_normals",
    "sample_triangles",
    "subsample",
]

DATASETS = ("synthetic", "modelnet40")
SPLITS = ("train", "test")
MODELNET_LAYOUT = (
    "<data>/modelnet40/train.npz and test.npz, each with keys 'points' (S, P, 3) float, "
    "'labels' (S,) int and 'classes' (C,) str"
)


@dataclass(frozen=True)
class PointCloudDataset:
    """Clouds with labels, all in memory.

    Shape:
        points (S, N, 3) float32, labels (S,) int64 in [0, len(classes)).
    """

    points: Tensor
    labels: Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return self.points.shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices: Tensor) -> PointCloudDataset:
        """The clouds at ``indices`` (1-D int tensor)."""
        return PointCloudDataset(self.points[indices], self.labels[indices], self.classes)

    def per_class(self, limit: int, *, seed: int = 0) -> PointCloudDataset:
        """At most ``limit`` clouds of each class, chosen reproducibly from ``seed``, in original order."""
        if limit < 1:
            raise ValueError(f"expected a per-class limit >= 1, got {limit}")
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self), generator=g)
        keep = torch.zeros(len(self), dtype=torch.bool)
        counts = torch.zeros(self.num_classes, dtype=torch.long)
        for i in order.tolist():
            label = int(self.labels[i])
            if counts[label] < limit:
                counts[label] += 1
                keep[i] = True
        return self.subset(keep.nonzero().squeeze(1))


def subsample(points: Tensor, num: int, *, seed: int = 0) -> Tensor:
    """A reproducible random subset of ``num`` points of every cloud (a different one per cloud).

    Shape:
        points (S, P, 3) -> (S, num, 3). Raises ValueError when P < num.
    """
    if points.shape[1] < num:
        raise ValueError(f"expected clouds of at least {num} points (--points), got {points.shape[1]}")
    if points.shape[1] == num:
        return points
    g = torch.Generator().manual_seed(seed)
    idx = torch.rand(points.shape[:2], generator=g).argsort(dim=1)[:, :num]
    return torch.gather(points, 1, idx[..., None].expand(-1, -1, points.shape[2]))


def _check_points(points: Tensor, source: str) -> None:
    bad = (~torch.isfinite(points)).flatten(1).any(dim=1)
    if bad.any():
        where = bad.nonzero().squeeze(1)[:5].tolist()
        raise ValueError(f"{source}: {int(bad.sum())} clouds contain NaN or inf coordinates (first: {where})")


def load_modelnet40(
    split: str, *, points: int = 1024, root: str | Path | None = None, seed: int = 0
) -> PointCloudDataset:
    """Load a ModelNet40 split from ``<root>/modelnet40/<split>.npz`` (layout in the module docstring).

    Args:
        split: "train" or "test".
        points: points per cloud, a reproducible subset when the file has more.
        root: the data directory; default :func:`tinvnn.paths.data_dir` (``$TINVNN_DATA``).
        seed: seed of the point subset.

    Raises:
        FileNotFoundError: the file is missing (the message names the expected layout).
        ValueError: malformed file, NaN coordinates, or fewer points than requested.
    """
    if split not in SPLITS:
        raise ValueError(f"expected split in {SPLITS}, got {split!r}")
    path = default_data_dir(root) / "modelnet40" / f"{split}.npz"
    if not path.is_file():
        raise FileNotFoundError(
            f"ModelNet40 file {path} not found; expected {MODELNET_LAYOUT} "
            "(`tinvnn data convert` writes them from a ModelNet40 download, see docs/data.md)"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in ("points", "labels", "classes") if key in npz.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is not a readable npz file ({err}); expected {MODELNET_LAYOUT}") from err
    missing = {"points", "labels", "classes"} - set(arrays)
    if missing:
        raise ValueError(f"{path} lacks keys {sorted(missing)}; expected {MODELNET_LAYOUT}")
    raw_points, raw_labels, classes = arrays["points"], arrays["labels"], arrays["classes"]
    if raw_points.ndim != 3 or raw_points.shape[2] != 3 or raw_labels.shape != raw_points.shape[:1]:
        raise ValueError(
            f"{path}: expected points (S, P, 3) and labels (S,), got {raw_points.shape} and {raw_labels.shape}"
        )
    names = tuple(str(c) for c in classes)
    if not np.issubdtype(raw_labels.dtype, np.integer):
        if not np.issubdtype(raw_labels.dtype, np.floating) or not np.array_equal(raw_labels, np.round(raw_labels)):
            raise ValueError(f"{path}: expected integer labels, got dtype {raw_labels.dtype} with non-integer values")
    labels = torch.from_numpy(raw_labels.astype(np.int64))
    if labels.numel() and (labels.min() < 0 or labels.max() >= len(names)):
        raise ValueError(
            f"{path}: expected labels in [0, {len(names)}), got [{int(labels.min())}, {int(labels.max())}]"
        )
    cloud = torch.from_numpy(raw_points.astype(np.float32))
    _check_points(cloud, str(path))
    return PointCloudDataset(subsample(cloud, points, seed=seed), labels, names)


# --------------------------------------------------------------------------------------------
# Procedural shapes. Every generator returns (n, 3) surface points of one shape, z vertical.
# --------------------------------------------------------------------------------------------


def face_normals(tris: np.ndarray) -> np.ndarray:
    """Unnormalised normals of triangles (T, 3, 3) -> (T, 3): ``(b - a) x (c - a)``, whose
    length is twice the triangle's area (right-hand rule over the corners' order)."""
    return np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])


def sample_triangles(rng: np.random.Generator, n: int, tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted uniform random points on a set of triangles (a mesh surface).

    Shape:
        tris (T, 3, 3) corners -> points (n, 3) and the index of each point's triangle (n,).
        Raises ValueError when all triangles have zero area.
    """
    a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
    area = 0.5 * np.linalg.norm(face_normals(tris), axis=1)
    if not area.sum() > 0:
        raise ValueError(f"expected triangles with a positive total area, got {area.sum()} ({len(tris)} triangles)")
    which = rng.choice(len(tris), size=n, p=area / area.sum())
    u, v = rng.random((2, n, 1))
    flip = (u + v) > 1
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    return a[which] + u * (b - a)[which] + v * (c - a)[which], which


def _box_tris(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    return np.array([[corners[f[0]], corners[f[i]], corners[f[i + 1]]] for f in faces for i in (1, 2)])


def _split(rng: np.random.Generator, n: int, areas: list[float]) -> list[int]:
    p = np.asarray(areas) / sum(areas)
    return list(rng.multinomial(n, p))


def _disk(rng: np.random.Generator, n: int, r: float, z: float) -> np.ndarray:
    rad, ang = r * np.sqrt(rng.random(n)), rng.uniform(0, 2 * math.pi, n)
    return np.stack([rad * np.cos(ang), rad * np.sin(ang), np.full(n, z)], axis=1)


def _tube(rng: np.random.Generator, n: int, r0: float, r1: float, z0: float, z1: float) -> np.ndarray:
    """Lateral surface of a (truncated) cone from radius r0 at z0 to r1 at z1, area-uniform."""
    u = rng.random(n)
    if abs(r1 - r0) > 1e-9:  # radius linear in height; area density proportional to radius
        t = (np.sqrt(r0**2 + u * (r1**2 - r0**2)) - r0) / (r1 - r0)
    else:
        t = u
    rad, ang = r0 + t * (r1 - r0), rng.uniform(0, 2 * math.pi, n)
    return np.stack([rad * np.cos(ang), rad * np.sin(ang), z0 + t * (z1 - z0)], axis=1)


def _ellipsoid(rng: np.random.Generator, n: int) -> np.ndarray:
    d = rng.standard_normal((n, 3))
    radii = rng.uniform([0.5, 0.3, 0.15], [0.7, 0.5, 0.3])
    scaled: np.ndarray = d / np.linalg.norm(d, axis=1, keepdims=True) * radii
    return scaled


def _box(rng: np.random.Generator, n: int) -> np.ndarray:
    half = rng.uniform([0.5, 0.3, 0.1], [0.7, 0.45, 0.25])
    return sample_triangles(rng, n, _box_tris(-half, half))[0]


def _cylinder(rng: np.random.Generator, n: int) -> np.ndarray:
    r, h = rng.uniform(0.15, 0.3), rng.uniform(0.8, 1.2)
    k = _split(rng, n, [2 * math.pi * r * h, math.pi * r * r, math.pi * r * r])
    return np.concatenate([_tube(rng, k[0], r, r, 0, h), _disk(rng, k[1], r, 0), _disk(rng, k[2], r, h)])


def _cone(rng: np.random.Generator, n: int) -> np.ndarray:
    r, h = rng.uniform(0.3, 0.5), rng.uniform(0.8, 1.2)
    k = _split(rng, n, [math.pi * r * math.hypot(r, h), math.pi * r * r])
    return np.concatenate([_tube(rng, k[0], r, 0, 0, h), _disk(rng, k[1], r, 0)])


def _torus(rng: np.random.Generator, n: int) -> np.ndarray:
    big, small = rng.uniform(0.6, 0.8), rng.uniform(0.12, 0.25)
    u = rng.uniform(0, 2 * math.pi, n)
    v = rng.uniform(0, 2 * math.pi, 4 * n)  # rejection sampling for area-uniformity in v
    v = v[rng.random(4 * n) < (big + small * np.cos(v)) / (big + small)][:n]
    u = u[: len(v)]
    rad = big + small * np.cos(v)
    return np.stack([rad * np.cos(u), rad * np.sin(u), small * np.sin(v)], axis=1)


def _pyramid(rng: np.random.Generator, n: int) -> np.ndarray:
    a, b, h = rng.uniform(0.45, 0.6), rng.uniform(0.3, 0.45), rng.uniform(0.6, 1.0)
    base = np.array([[-a, -b, 0], [a, -b, 0], [a, b, 0], [-a, b, 0]])
    apex = np.array([0, 0, h])
    tris = [[base[i], base[(i + 1) % 4], apex] for i in range(4)] + [
        [base[0], base[1], base[2]],
        [base[0], base[2], base[3]],
    ]
    return sample_triangles(rng, n, np.array(tris))[0]


def _tetrahedron(rng: np.random.Generator, n: int) -> np.ndarray:
    s = rng.uniform([0.8, 0.5, 0.4], [1.0, 0.7, 0.6])
    v = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float) * s
    return sample_triangles(
        rng, n, np.array([[v[i], v[j], v[k]] for i, j, k in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3))])
    )[0]


def _helix(rng: np.random.Generator, n: int) -> np.ndarray:
    radius, turns, height, tube = (
        rng.uniform(0.3, 0.45),
        rng.uniform(2.0, 3.5),
        rng.uniform(1.0, 1.6),
        rng.uniform(0.04, 0.08),
    )
    t = rng.uniform(0, 2 * math.pi * turns, n)
    centre = np.stack([radius * np.cos(t), radius * np.sin(t), height * t / t.max()], axis=1)
    return centre + tube * _ball_dirs(rng, n)


def _ball_dirs(rng: np.random.Generator, n: int) -> np.ndarray:
    d = rng.standard_normal((n, 3))
    unit: np.ndarray = d / np.linalg.norm(d, axis=1, keepdims=True)
    return unit


def _table(rng: np.random.Generator, n: int) -> np.ndarray:
    a, b, h, leg = rng.uniform(0.5, 0.7), rng.uniform(0.3, 0.5), rng.uniform(0.5, 0.8), rng.uniform(0.03, 0.06)
    tris = [_box_tris(np.array([-a, -b, h]), np.array([a, b, h + 0.05]))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            cx, cy = sx * (a - 2 * leg), sy * (b - 2 * leg)
            tris.append(_box_tris(np.array([cx - leg, cy - leg, 0]), np.array([cx + leg, cy + leg, h])))
    return sample_triangles(rng, n, np.concatenate(tris))[0]


def _hourglass(rng: np.random.Generator, n: int) -> np.ndarray:
    r, neck, h = rng.uniform(0.3, 0.45), rng.uniform(0.03, 0.1), rng.uniform(0.5, 0.7)
    k = _split(rng, n, [1.0, 1.0])
    return np.concatenate([_tube(rng, k[0], r, neck, -h, 0), _tube(rng, k[1], neck, r, 0, h)])


def _cross(rng: np.random.Generator, n: int) -> np.ndarray:
    lx, ly, lz, w = rng.uniform(0.6, 0.8), rng.uniform(0.35, 0.55), rng.uniform(0.15, 0.3), rng.uniform(0.05, 0.1)
    return sample_triangles(
        rng,
        n,
        np.concatenate(
            [
                _box_tris(np.array([-lx, -w, -w]), np.array([lx, w, w])),
                _box_tris(np.array([-w, -ly, -w]), np.array([w, ly, w])),
                _box_tris(np.array([-w, -w, -lz]), np.array([w, w, lz])),
            ]
        ),
    )[0]


def _mug(rng: np.random.Generator, n: int) -> np.ndarray:
    r, h = rng.uniform(0.3, 0.4), rng.uniform(0.6, 0.9)
    hr, ht = rng.uniform(0.15, 0.25), rng.uniform(0.03, 0.06)
    k = _split(rng, n, [2 * math.pi * r * h, math.pi * r * r, math.pi * hr * 2 * math.pi * ht])
    u = rng.uniform(-math.pi / 2, math.pi / 2, k[2])
    v = rng.uniform(0, 2 * math.pi, k[2])
    rad = hr + ht * np.cos(v)
    handle = np.stack([r + rad * np.cos(u), ht * np.sin(v), h / 2 + rad * np.sin(u)], axis=1)
    return np.concatenate([_tube(rng, k[0], r, r, 0, h), _disk(rng, k[1], r, 0), handle])


_GENERATORS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "ellipsoid": _ellipsoid,
    "box": _box,
    "cylinder": _cylinder,
    "cone": _cone,
    "torus": _torus,
    "pyramid": _pyramid,
    "tetrahedron": _tetrahedron,
    "helix": _helix,
    "table": _table,
    "hourglass": _hourglass,
    "cross": _cross,
    "mug": _mug,
}
SYNTHETIC_CLASSES: tuple[str, ...] = tuple(_GENERATORS)


def normalise_clouds(points: np.ndarray) -> np.ndarray:
    """Centre each cloud on its centroid and scale it to max radius 1 (into the unit ball).

    Shape:
        points (..., N, 3) -> (..., N, 3).
    """
    points = points - points.mean(axis=-2, keepdims=True)
    scaled: np.ndarray = points / np.linalg.norm(points, axis=-1).max(axis=-1)[..., None, None]
    return scaled


def make_synthetic(per_class: int, *, points: int = 1024, seed: int = 0, noise: float = 0.01) -> PointCloudDataset:
    """Generate ``per_class`` clouds of each of the :data:`SYNTHETIC_CLASSES`.

    Each cloud is one shape with random proportions (class-specific ranges), ``points``
    area-weighted random surface samples, centred on its centroid, scaled to max radius 1, plus
    isotropic Gaussian noise of standard deviation ``noise``. Upright pose: z is vertical.

    Shape:
        -> points (per_class * 12, points, 3), labels (per_class * 12,), classes in label order.

    Example:
        >>> make_synthetic(2, points=64).points.shape
        torch.Size([24, 64, 3])
    """
    if per_class < 1 or points < 4:
        raise ValueError(f"expected per_class >= 1 and points >= 4, got {per_class} and {points}")
    rng = np.random.default_rng(seed)
    clouds, labels = [], []
    for label, make in enumerate(_GENERATORS.values()):
        for _ in range(per_class):
            cloud = make(rng, points)
            while len(cloud) < points:  # rejection samplers may come back short
                cloud = np.concatenate([cloud, make(rng, points)])
            cloud = normalise_clouds(cloud[rng.permutation(len(cloud))[:points]])
            clouds.append(cloud + noise * rng.standard_normal(cloud.shape))
            labels.append(label)
    return PointCloudDataset(
        torch.as_tensor(np.stack(clouds), dtype=torch.float32),
        torch.as_tensor(labels, dtype=torch.long),
        SYNTHETIC_CLASSES,
    )


def load_dataset(
    name: str,
    split: str,
    *,
    points: int,
    root: str | Path | None = None,
    seed: int = 0,
    per_class: int | None = None,
) -> PointCloudDataset:
    """Load ``split`` of the dataset ``name`` (one of :data:`DATASETS`).

    Args:
        name: "synthetic" (generated, no files) or "modelnet40" (``<root>/modelnet40``).
        split: "train" or "test"; synthetic splits come from different seeds.
        points: points per cloud.
        root: data directory for ModelNet40.
        seed: data seed (point subsets, synthetic generation).
        per_class: synthetic: clouds per class (default 100 train, 30 test); ModelNet40: keep at
            most this many clouds of each class (default all).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")
    if split not in SPLITS:
        raise ValueError(f"expected split in {SPLITS}, got {split!r}")
    if name == "synthetic":
        count = per_class if per_class is not None else (100 if split == "train" else 30)
        return make_synthetic(count, points=points, seed=seed * 2 + (split == "test"))
    data = load_modelnet40(split, points=points, root=root, seed=seed)
    return data if per_class is None else data.per_class(per_class, seed=seed)
