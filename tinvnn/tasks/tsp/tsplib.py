"""Reader and writer of TSPLIB95 symmetric TSP files, and tour files.

Supported: ``TYPE : TSP`` with a ``NODE_COORD_SECTION`` and ``EDGE_WEIGHT_TYPE`` one of
``EUC_2D``, ``CEIL_2D``, ``ATT``, ``GEO``, ``MAN_2D`` or ``MAX_2D``, or ``EDGE_WEIGHT_TYPE :
EXPLICIT`` with an ``EDGE_WEIGHT_SECTION`` in any ``EDGE_WEIGHT_FORMAT`` of the standard
(``FULL_MATRIX``, ``UPPER_ROW``, ``LOWER_ROW``, ``UPPER_DIAG_ROW``, ``LOWER_DIAG_ROW`` and the
``_COL`` variants); a ``DISPLAY_DATA_SECTION`` (coordinates for drawing only) is read past. That
covers every symmetric TSP instance of TSPLIB95 but ``linhp318``. Refused, with a message naming
the file, the line and the problem (:class:`TSPLIBError`, a ValueError): 3-D coordinates
(``EUC_3D``, ``MAN_3D``, ``MAX_3D``, ``CEIL_3D``: no TSPLIB TSP instance has them), ``XRAY1``,
``XRAY2`` and ``SPECIAL`` (distance functions outside the standard's formulas), a
``FIXED_EDGES_SECTION`` (edges every tour must contain: ``linhp318``; the solvers cannot be told
to keep an edge), and any other section or problem type.

Distance conventions (TSPLIB95 documentation, Reinelt 1995), for cities i, j with
``dx = x_i - x_j``, ``dy = y_i - y_j`` and ``nint(v) = floor(v + 0.5)``:

* ``EUC_2D``: ``nint(sqrt(dx^2 + dy^2))``;
* ``CEIL_2D``: ``ceil(sqrt(dx^2 + dy^2))``;
* ``ATT`` (pseudo-Euclidean): ``r = sqrt((dx^2 + dy^2) / 10)``, ``t = nint(r)``,
  ``t + 1`` if ``t < r`` else ``t``;
* ``GEO``: coordinates are ``DDD.MM`` (degrees and minutes); latitude (x) and longitude (y)
  in radians are ``pi * (deg + 5 * min / 3) / 180`` with ``pi = 3.141592`` and
  ``deg = int(v)``, ``min = v - deg``; the distance is
  ``int(6378.388 * acos(0.5 * ((1 + q1) * q2 - (1 - q1) * q3)) + 1)`` with
  ``q1 = cos(lon_i - lon_j)``, ``q2 = cos(lat_i - lat_j)``, ``q3 = cos(lat_i + lat_j)``
  (TSPLIB95's text writes ``deg = nint(v)``; its published optima, Concorde and LKH truncate,
  as here; two cities at one point are 1 km apart);
* ``MAN_2D``: ``nint(|dx| + |dy|)``;
* ``MAX_2D``: ``max(nint(|dx|), nint(|dy|))``.

* ``EXPLICIT``: the matrix as given (symmetric; the diagonal is ignored).

Cities are renumbered 0..N-1 in the order of their indices in the file; the file's own
indices must be 1..N, each once. Duplicate coordinates are read (their distance is 0); the
solvers refuse them. The policy sees ``planar_coordinates``: the file's x, y for the planar
types, (longitude, latitude) in radians for GEO (a planar approximation), and for EXPLICIT
the 2-D canonical coordinates that classical MDS (``tinvnn.mds``) finds from the distances
alone. Coordinates only choose the tour; lengths always use the file's metric
(:func:`tour_length_tsplib`, O(N) memory). The Manhattan and maximum metrics, unlike the
others, change under a rotation of the coordinates: the policy's tour stays the same, its
length in the file's metric does not.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tinvnn._io import atomic_write
from tinvnn._scale import to_unit_range
from tinvnn.mds import NonEuclideanWarning, mds
from tinvnn.tasks.tsp.objective import check_tours

__all__ = [
    "EDGE_WEIGHT_TYPES",
    "EDGE_WEIGHT_FORMATS",
    "OWN_METRIC_MATRIX_MAX",
    "TSPLIBError",
    "TSPLIBInstance",
    "read_tsplib",
    "write_tsplib",
    "write_tour",
    "read_solutions",
    "load_tsplib_dir",
    "distance_matrix",
    "instance_matrix",
    "improvement_matrix",
    "pair_distances",
    "tour_length_tsplib",
    "planar_coordinates",
]

EDGE_WEIGHT_TYPES = ("EUC_2D", "CEIL_2D", "ATT", "GEO", "MAN_2D", "MAX_2D", "EXPLICIT")
#: EDGE_WEIGHT_FORMAT of EXPLICIT files -> (triangle read row by row, with the diagonal);
#: a symmetric matrix's upper triangle by columns is its lower triangle by rows.
EDGE_WEIGHT_FORMATS = {
    "FULL_MATRIX": ("full", False),
    "UPPER_ROW": ("upper", False),
    "LOWER_ROW": ("lower", False),
    "UPPER_DIAG_ROW": ("upper", True),
    "LOWER_DIAG_ROW": ("lower", True),
    "UPPER_COL": ("lower", False),
    "LOWER_COL": ("upper", False),
    "UPPER_DIAG_COL": ("lower", True),
    "LOWER_DIAG_COL": ("upper", True),
}
_WHY_NOT = {
    "EUC_3D": "3-D coordinates; the solvers build planar tours",
    "MAN_3D": "3-D coordinates; the solvers build planar tours",
    "MAX_3D": "3-D coordinates; the solvers build planar tours",
    "CEIL_3D": "3-D coordinates; the solvers build planar tours",
    "XRAY1": "a crystallography distance function outside the standard's formulas",
    "XRAY2": "a crystallography distance function outside the standard's formulas",
    "SPECIAL": "a distance function the file does not define",
}


class TSPLIBError(ValueError):
    """A TSPLIB file that cannot be read; the message names the file, the line and the problem."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, problem: str) -> None:
        where = f"{path}" if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem


@dataclass(frozen=True)
class TSPLIBInstance:
    """A symmetric TSP with node coordinates or an explicit distance matrix.

    Attributes:
        name: the NAME field (else the file's stem).
        coords: (N, 2) float64 coordinates as written in the file; None for EXPLICIT.
        edge_weight_type: one of ``EDGE_WEIGHT_TYPES``.
        comment: the COMMENT field, or "".
        weights: (N, N) float64 symmetric distances with a zero diagonal for EXPLICIT, else None.
    """

    name: str
    coords: np.ndarray | None
    edge_weight_type: str
    comment: str = ""
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.coords is None) == (self.weights is None):
            raise ValueError("a TSPLIBInstance has either coordinates or (EXPLICIT) weights")

    @property
    def num_cities(self) -> int:
        return int(self.weights.shape[0] if self.weights is not None else self.xy().shape[0])

    def xy(self) -> np.ndarray:
        """The file's (N, 2) coordinates; ValueError for an EXPLICIT instance, which has none."""
        if self.coords is None:
            raise ValueError(f"{self.name} is an EXPLICIT instance without coordinates")
        return self.coords


def _number(path: Path, lineno: int, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TSPLIBError(path, lineno, f"expected a number for {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise TSPLIBError(path, lineno, f"expected a finite number for {what}, got {text!r}")
    return value


def read_tsplib(path: str | os.PathLike[str]) -> TSPLIBInstance:
    """Read a TSPLIB95 ``.tsp`` file (see the module docstring for what is supported).

    Raises:
        FileNotFoundError: no such file.
        TSPLIBError: the file is malformed or of an unsupported type.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TSPLIB file not found: {path}")
    header: dict[str, tuple[str, int]] = {}
    nodes: dict[int, tuple[float, float]] = {}
    node_line: dict[int, int] = {}
    weights: list[float] = []
    section, section_line = None, {}
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line == "EOF":
            break
        first = line.split()[0]
        if first.endswith("_SECTION"):
            if first == "FIXED_EDGES_SECTION":
                raise TSPLIBError(
                    path,
                    lineno,
                    "FIXED_EDGES_SECTION: edges every tour must contain are not supported (the solvers cannot keep an "
                    "edge); remove the section to solve the instance without them",
                )
            if first not in ("NODE_COORD_SECTION", "EDGE_WEIGHT_SECTION", "DISPLAY_DATA_SECTION"):
                raise TSPLIBError(
                    path,
                    lineno,
                    f"unsupported section {first} (only NODE_COORD_SECTION, EDGE_WEIGHT_SECTION, DISPLAY_DATA_SECTION)",
                )
            if "EDGE_WEIGHT_TYPE" in header:  # refuse an unusable metric before reading its data
                _edge_weight_type(path, header)
            section, section_line[first] = first, lineno
            continue
        if section == "NODE_COORD_SECTION":
            parts = line.split()
            if len(parts) != 3:
                raise TSPLIBError(path, lineno, f"expected 'index x y', got {line!r}")
            index_f = _number(path, lineno, parts[0], "the city index")
            if index_f != int(index_f):
                raise TSPLIBError(path, lineno, f"expected an integer city index, got {parts[0]!r}")
            index = int(index_f)
            if index in nodes:
                raise TSPLIBError(path, lineno, f"duplicate city index {index} (first on line {node_line[index]})")
            nodes[index] = (_number(path, lineno, parts[1], "x"), _number(path, lineno, parts[2], "y"))
            node_line[index] = lineno
            continue
        if section == "EDGE_WEIGHT_SECTION":
            weights += [_number(path, lineno, part, "an edge weight") for part in line.split()]
            continue
        if section == "DISPLAY_DATA_SECTION":
            continue
        if ":" not in line:
            raise TSPLIBError(path, lineno, f"expected 'KEY : VALUE' or a *_SECTION, got {line!r}")
        key, value = (part.strip() for part in line.split(":", 1))
        header[key.upper()] = (value, lineno)

    problem_type, type_line = header.get("TYPE", ("TSP", None))
    if problem_type.upper() != "TSP":
        raise TSPLIBError(path, type_line, f"unsupported TYPE {problem_type!r} (only symmetric TSP)")
    ewt = _edge_weight_type(path, header)
    if "DIMENSION" not in header:
        raise TSPLIBError(path, None, "missing DIMENSION")
    dim_text, dim_line = header["DIMENSION"]
    try:
        dimension = int(dim_text)
    except ValueError:
        raise TSPLIBError(path, dim_line, f"expected an integer DIMENSION, got {dim_text!r}") from None
    if dimension < 1:
        raise TSPLIBError(path, dim_line, f"expected at least 1 city, got DIMENSION {dimension}")
    name = header.get("NAME", (path.stem, None))[0]
    comment = header.get("COMMENT", ("", None))[0]
    if ewt == "EXPLICIT":
        matrix = _explicit_matrix(path, header, weights, section_line.get("EDGE_WEIGHT_SECTION"), dimension)
        return TSPLIBInstance(name, None, ewt, comment, matrix)
    if "EDGE_WEIGHT_SECTION" in section_line:
        raise TSPLIBError(
            path, section_line["EDGE_WEIGHT_SECTION"], f"EDGE_WEIGHT_SECTION needs EDGE_WEIGHT_TYPE EXPLICIT, got {ewt}"
        )
    if "NODE_COORD_SECTION" not in section_line:
        raise TSPLIBError(path, None, "missing NODE_COORD_SECTION")
    if len(nodes) != dimension:
        raise TSPLIBError(
            path,
            section_line["NODE_COORD_SECTION"],
            f"DIMENSION is {dimension} but NODE_COORD_SECTION has {len(nodes)} cities",
        )
    if sorted(nodes) != list(range(1, dimension + 1)):
        bad = min(set(nodes) - set(range(1, dimension + 1)))
        raise TSPLIBError(path, node_line[bad], f"city index {bad} outside 1..{dimension}")
    coords = np.array([nodes[i] for i in range(1, dimension + 1)], dtype=np.float64)
    return TSPLIBInstance(name, coords, ewt, comment)


def _edge_weight_type(path: Path, header: dict[str, tuple[str, int]]) -> str:
    """The header's EDGE_WEIGHT_TYPE, upper case, if it is one of ``EDGE_WEIGHT_TYPES``."""
    if "EDGE_WEIGHT_TYPE" not in header:
        raise TSPLIBError(path, None, "missing EDGE_WEIGHT_TYPE")
    ewt, line = header["EDGE_WEIGHT_TYPE"]
    ewt = ewt.upper()
    if ewt not in EDGE_WEIGHT_TYPES:
        why = f" ({_WHY_NOT[ewt]})" if ewt in _WHY_NOT else ""
        raise TSPLIBError(
            path, line, f"unsupported EDGE_WEIGHT_TYPE {ewt!r}{why}; expected one of {', '.join(EDGE_WEIGHT_TYPES)}"
        )
    return ewt


def _explicit_matrix(
    path: Path, header: dict[str, tuple[str, int]], weights: list[float], line: int | None, n: int
) -> np.ndarray:
    """The (N, N) matrix of an EXPLICIT file's EDGE_WEIGHT_SECTION in its EDGE_WEIGHT_FORMAT."""
    fmt, fmt_line = header.get("EDGE_WEIGHT_FORMAT", ("", None))
    if fmt.upper() not in EDGE_WEIGHT_FORMATS:
        raise TSPLIBError(
            path,
            fmt_line,
            f"EXPLICIT needs an EDGE_WEIGHT_FORMAT, one of {', '.join(EDGE_WEIGHT_FORMATS)}; got {fmt!r}",
        )
    if line is None:
        raise TSPLIBError(path, None, "missing EDGE_WEIGHT_SECTION")
    shape, diagonal = EDGE_WEIGHT_FORMATS[fmt.upper()]
    if shape == "full":
        rows, cols = np.indices((n, n)).reshape(2, -1)
    else:
        offset = 0 if diagonal else (1 if shape == "upper" else -1)
        rows, cols = np.triu_indices(n, offset) if shape == "upper" else np.tril_indices(n, offset)
    if len(weights) != len(rows):
        raise TSPLIBError(
            path,
            line,
            f"EDGE_WEIGHT_SECTION has {len(weights)} numbers; {fmt.upper()} of DIMENSION {n} needs {len(rows)}",
        )
    matrix = np.zeros((n, n))
    matrix[rows, cols] = weights
    if shape != "full":
        matrix[cols, rows] = weights
    np.fill_diagonal(matrix, 0.0)
    if not np.array_equal(matrix, matrix.T):
        i, j = np.argwhere(matrix != matrix.T)[0]
        raise TSPLIBError(
            path, line, f"EDGE_WEIGHT_SECTION is not symmetric (cities {i + 1} and {j + 1}); only symmetric TSP"
        )
    if (matrix < 0).any():
        raise TSPLIBError(path, line, "EDGE_WEIGHT_SECTION has negative distances")
    largest = float(matrix.max(initial=0.0))
    if largest * n > _LENGTH_MAX:
        raise TSPLIBError(
            path,
            line,
            f"EDGE_WEIGHT_SECTION has weights up to {largest:.3g}: a tour of {n} cities could be longer than "
            f"{_LENGTH_MAX:.0e} (float64 overflows near 1.8e+308); rescale the weights",
        )
    return matrix


# A tour's length, a sum of N weights, must stay finite with room for the improvement step's
# sums of a few edges.
_LENGTH_MAX = 1e300
# EXPLICIT weights outside this range are scaled by a power of two before MDS (exact, so the
# coordinates are those of the unscaled matrix): its squared distances would overflow or underflow.
_MDS_SAFE = (2.0**-300, 2.0**300)


def write_tsplib(instance: TSPLIBInstance, path: str | os.PathLike[str]) -> Path:
    """Write ``instance`` in TSPLIB95 format (coordinates with ``repr`` precision; EXPLICIT as FULL_MATRIX)."""
    path = Path(path)
    lines = [f"NAME : {instance.name}"]
    if instance.comment:
        lines.append(f"COMMENT : {instance.comment}")
    lines += ["TYPE : TSP", f"DIMENSION : {instance.num_cities}", f"EDGE_WEIGHT_TYPE : {instance.edge_weight_type}"]
    if instance.weights is not None:
        lines += ["EDGE_WEIGHT_FORMAT : FULL_MATRIX", "EDGE_WEIGHT_SECTION"]
        lines += [" ".join(f"{w!r}" for w in row) for row in instance.weights.tolist()]
    else:
        lines.append("NODE_COORD_SECTION")
        lines += [f"{i + 1} {x!r} {y!r}" for i, (x, y) in enumerate(instance.xy().tolist())]
    lines.append("EOF")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_tour(name: str, tour: np.ndarray | list[int], path: str | os.PathLike[str], *, comment: str = "") -> Path:
    """Write a TSPLIB95 ``.tour`` file: ``TYPE : TOUR``, the 1-based cities of ``tour`` (N,), ``-1``, ``EOF``
    (atomically: a failed write leaves any earlier file at ``path`` as it was)."""
    path = Path(path)
    cities = [int(c) + 1 for c in tour]
    lines = [f"NAME : {name}.tour"] + ([f"COMMENT : {comment}"] if comment else [])
    lines += ["TYPE : TOUR", f"DIMENSION : {len(cities)}", "TOUR_SECTION", *map(str, cities), "-1", "EOF"]
    text = ("\n".join(lines) + "\n").encode()
    return atomic_write(path, lambda handle: handle.write(text))


def read_solutions(path: str | os.PathLike[str]) -> dict[str, float]:
    """Optimal lengths from a ``name : length`` file (the shared data's ``solutions.txt``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"solutions file not found: {path}")
    solutions = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if ":" not in line:
            raise TSPLIBError(path, lineno, f"expected 'name : length', got {line!r}")
        name, value = (part.strip() for part in line.split(":", 1))
        solutions[name] = _number(path, lineno, value.split()[0] if value else value, f"the length of {name}")
    return solutions


def _geo_radians(values: np.ndarray) -> np.ndarray:
    pi = 3.141592
    deg = np.trunc(values)
    minutes = values - deg
    return pi * (deg + 5.0 * minutes / 3.0) / 180.0


def _nint(values: np.ndarray) -> np.ndarray:
    return np.floor(values + 0.5)


def pair_distances(a: np.ndarray, b: np.ndarray, edge_weight_type: str) -> np.ndarray:
    """TSPLIB distances between coordinates ``a`` (..., 2) and ``b`` (..., 2), broadcast: (...) float64."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    kind = edge_weight_type.upper()
    if kind == "GEO":
        lat_a, lon_a = _geo_radians(a[..., 0]), _geo_radians(a[..., 1])
        lat_b, lon_b = _geo_radians(b[..., 0]), _geo_radians(b[..., 1])
        q1, q2, q3 = np.cos(lon_a - lon_b), np.cos(lat_a - lat_b), np.cos(lat_a + lat_b)
        inner = np.clip(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3), -1.0, 1.0)
        return np.trunc(6378.388 * np.arccos(inner) + 1.0)
    if kind == "MAN_2D":
        return _nint(np.abs(a - b).sum(-1))
    if kind == "MAX_2D":
        return _nint(np.abs(a - b)).max(-1)
    if kind == "EUC_2D":
        return _nint(_euclidean(a - b))
    if kind == "CEIL_2D":
        return np.ceil(_euclidean(a - b))
    if kind == "ATT":
        r = _euclidean(a - b, 10.0)
        t = _nint(r)
        return np.where(t < r, t + 1.0, t)
    coordinate_types = [t for t in EDGE_WEIGHT_TYPES if t != "EXPLICIT"]
    raise ValueError(
        f"unsupported EDGE_WEIGHT_TYPE {edge_weight_type!r} for coordinates; "
        f"expected one of {', '.join(coordinate_types)}"
    )


def _euclidean(delta: np.ndarray, divisor: float = 1.0) -> np.ndarray:
    """``sqrt((dx^2 + dy^2) / divisor)`` of ``delta`` (..., 2) as TSPLIB computes it, and
    ``hypot(dx, dy) / sqrt(divisor)`` where the squares overflow (coordinates beyond about 1e154)."""
    with np.errstate(over="ignore"):
        sq = (delta**2).sum(-1)
    root = np.sqrt(sq / divisor)
    big = ~np.isfinite(sq)
    if big.any():
        root = np.where(big, np.hypot(delta[..., 0], delta[..., 1]) / math.sqrt(divisor), root)
    return root


def distance_matrix(coords: np.ndarray, edge_weight_type: str) -> np.ndarray:
    """(N, N) float64 matrix of TSPLIB integer distances (zero diagonal) under a convention."""
    coords = np.asarray(coords, dtype=np.float64)
    dist = pair_distances(coords[:, None, :], coords[None, :, :], edge_weight_type)
    np.fill_diagonal(dist, 0.0)
    return dist


def instance_matrix(instance: TSPLIBInstance) -> np.ndarray:
    """(N, N) distances of an instance in its own metric (O(N^2) memory: small instances only)."""
    if instance.weights is not None:
        return instance.weights
    return distance_matrix(instance.xy(), instance.edge_weight_type)


#: GEO, MAN_2D and MAX_2D instances up to this size are improved in their own metric, an (N, N) matrix.
OWN_METRIC_MATRIX_MAX = 3000
# Metrics that Euclidean distances of the coordinates do not approximate (up to scale and rounding).
_OWN_METRIC = ("GEO", "MAN_2D", "MAX_2D")


def improvement_matrix(instance: TSPLIBInstance) -> np.ndarray | None:
    """The (N, N) distances a tour improvement step should measure in, or None for Euclidean
    distances of :func:`planar_coordinates` computed on demand (O(N) memory).

    EXPLICIT instances: their matrix. GEO, MAN_2D, MAX_2D: their own distances up to
    :data:`OWN_METRIC_MATRIX_MAX` cities (beyond, Euclidean distances of the planar coordinates as a
    proxy: (longitude, latitude) for GEO). EUC_2D, CEIL_2D, ATT: None, the coordinates' own
    distances (these differ only by a monotone scale and integer rounding).
    """
    if instance.weights is not None:
        return instance.weights
    if instance.edge_weight_type in _OWN_METRIC and instance.num_cities <= OWN_METRIC_MATRIX_MAX:
        return instance_matrix(instance)
    return None


def tour_length_tsplib(instance: TSPLIBInstance, tour: np.ndarray | list[int]) -> float:
    """Length of a closed tour (N,) in the instance's own metric, edge by edge (O(N) memory)."""
    t = np.asarray(tour, dtype=np.int64)
    check_tours(torch.from_numpy(t), instance.num_cities)
    nxt = np.roll(t, -1)
    if instance.weights is not None:
        return float(instance.weights[t, nxt].sum())
    xy = instance.xy()
    return float(pair_distances(xy[t], xy[nxt], instance.edge_weight_type).sum())


def planar_coordinates(instance: TSPLIBInstance) -> np.ndarray:
    """(N, 2) coordinates the policy sees: as written, (longitude, latitude) radians for GEO,
    classical MDS coordinates (``tinvnn.mds``, canonical, unit RMS radius) for EXPLICIT (weights
    beyond 2^300 or below 2^-300 are scaled by a power of two first, which changes nothing else)."""
    if instance.weights is not None:
        if instance.num_cities == 1:
            return np.zeros((1, 2))
        weights = instance.weights
        largest = float(weights.max(initial=0.0))
        if largest > 0 and not _MDS_SAFE[0] <= largest <= _MDS_SAFE[1]:
            weights = to_unit_range(weights)  # largest in [0.5, 1): exact
        with warnings.catch_warnings():  # expected for road or rounded distances: the
            warnings.simplefilter("ignore", NonEuclideanWarning)  # coordinates only guide the search
            return mds(torch.from_numpy(weights), 2).numpy()
    if instance.edge_weight_type == "GEO":
        return np.stack([_geo_radians(instance.xy()[:, 1]), _geo_radians(instance.xy()[:, 0])], -1)
    return instance.xy().copy()


def load_tsplib_dir(directory: str | os.PathLike[str]) -> tuple[list[TSPLIBInstance], dict[str, float]]:
    """Every ``*.tsp`` of a directory (sorted by size, then name) and its ``solutions.txt``."""
    directory = Path(directory)
    files = sorted(directory.glob("*.tsp"))
    if not files:
        raise FileNotFoundError(f"no *.tsp files in {directory}")
    instances = sorted((read_tsplib(f) for f in files), key=lambda i: (i.num_cities, i.name))
    solutions = directory / "solutions.txt"
    return instances, read_solutions(solutions) if solutions.is_file() else {}
