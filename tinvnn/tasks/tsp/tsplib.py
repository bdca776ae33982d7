"""Reader and writer of TSPLIB95 symmetric TSP files with node coordinates.

Supported: ``TYPE : TSP`` with a ``NODE_COORD_SECTION`` and ``EDGE_WEIGHT_TYPE`` one of
``EUC_2D``, ``CEIL_2D``, ``ATT`` or ``GEO``; anything else is refused with a message naming
the file, the line and the problem (:class:`TSPLIBError`, a ValueError).

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
  ``q1 = cos(lon_i - lon_j)``, ``q2 = cos(lat_i - lat_j)``, ``q3 = cos(lat_i + lat_j)``.

Cities are renumbered 0..N-1 in the order of their indices in the file; the file's own
indices must be 1..N, each once. Duplicate coordinates are allowed (their distance is 0).
The policy sees ``planar_coordinates``: the file's x, y for the planar types, and
(longitude, latitude) in radians for GEO (a planar approximation, used only to choose the
tour; lengths always use the file's metric).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "EDGE_WEIGHT_TYPES",
    "TSPLIBError",
    "TSPLIBInstance",
    "read_tsplib",
    "write_tsplib",
    "read_solutions",
    "distance_matrix",
    "planar_coordinates",
]

EDGE_WEIGHT_TYPES = ("EUC_2D", "CEIL_2D", "ATT", "GEO")


class TSPLIBError(ValueError):
    """A TSPLIB file that cannot be read; the message names the file, the line and the problem."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, problem: str) -> None:
        where = f"{path}" if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem


@dataclass(frozen=True)
class TSPLIBInstance:
    """A symmetric TSP with node coordinates.

    Attributes:
        name: the NAME field (else the file's stem).
        coords: (N, 2) float64 coordinates as written in the file.
        edge_weight_type: one of ``EDGE_WEIGHT_TYPES``.
        comment: the COMMENT field, or "".
    """

    name: str
    coords: np.ndarray
    edge_weight_type: str
    comment: str = ""

    @property
    def num_cities(self) -> int:
        return int(self.coords.shape[0])


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
    in_coords = False
    coord_section_line = None
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line == "EOF":
            break
        if in_coords:
            parts = line.split()
            if parts[0].endswith("_SECTION"):
                raise TSPLIBError(path, lineno, f"unsupported section {parts[0]} (only NODE_COORD_SECTION)")
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
        if line.startswith("NODE_COORD_SECTION"):
            in_coords, coord_section_line = True, lineno
            continue
        if line.split()[0].endswith("_SECTION"):
            raise TSPLIBError(path, lineno, f"unsupported section {line.split()[0]} (only NODE_COORD_SECTION)")
        if ":" not in line:
            raise TSPLIBError(path, lineno, f"expected 'KEY : VALUE' or NODE_COORD_SECTION, got {line!r}")
        key, value = (part.strip() for part in line.split(":", 1))
        header[key.upper()] = (value, lineno)

    problem_type, type_line = header.get("TYPE", ("TSP", None))
    if problem_type.upper() != "TSP":
        raise TSPLIBError(path, type_line, f"unsupported TYPE {problem_type!r} (only symmetric TSP)")
    if "EDGE_WEIGHT_TYPE" not in header:
        raise TSPLIBError(path, None, "missing EDGE_WEIGHT_TYPE")
    ewt, ewt_line = header["EDGE_WEIGHT_TYPE"]
    if ewt.upper() not in EDGE_WEIGHT_TYPES:
        raise TSPLIBError(
            path, ewt_line, f"unsupported EDGE_WEIGHT_TYPE {ewt!r}; expected one of {', '.join(EDGE_WEIGHT_TYPES)}"
        )
    if "DIMENSION" not in header:
        raise TSPLIBError(path, None, "missing DIMENSION")
    dim_text, dim_line = header["DIMENSION"]
    try:
        dimension = int(dim_text)
    except ValueError:
        raise TSPLIBError(path, dim_line, f"expected an integer DIMENSION, got {dim_text!r}") from None
    if dimension < 3:
        raise TSPLIBError(path, dim_line, f"expected at least 3 cities, got DIMENSION {dimension}")
    if coord_section_line is None:
        raise TSPLIBError(path, None, "missing NODE_COORD_SECTION")
    if len(nodes) != dimension:
        raise TSPLIBError(
            path, coord_section_line, f"DIMENSION is {dimension} but NODE_COORD_SECTION has {len(nodes)} cities"
        )
    if sorted(nodes) != list(range(1, dimension + 1)):
        bad = min(set(nodes) - set(range(1, dimension + 1)))
        raise TSPLIBError(path, node_line[bad], f"city index {bad} outside 1..{dimension}")
    coords = np.array([nodes[i] for i in range(1, dimension + 1)], dtype=np.float64)
    name = header.get("NAME", (path.stem, None))[0]
    return TSPLIBInstance(name, coords, ewt.upper(), header.get("COMMENT", ("", None))[0])


def write_tsplib(instance: TSPLIBInstance, path: str | os.PathLike[str]) -> Path:
    """Write ``instance`` in TSPLIB95 format (coordinates with ``repr`` precision)."""
    path = Path(path)
    lines = [f"NAME : {instance.name}"]
    if instance.comment:
        lines.append(f"COMMENT : {instance.comment}")
    lines += ["TYPE : TSP", f"DIMENSION : {instance.num_cities}", f"EDGE_WEIGHT_TYPE : {instance.edge_weight_type}"]
    lines.append("NODE_COORD_SECTION")
    lines += [f"{i + 1} {x!r} {y!r}" for i, (x, y) in enumerate(instance.coords.tolist())]
    lines.append("EOF")
    path.write_text("\n".join(lines) + "\n")
    return path


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


def distance_matrix(coords: np.ndarray, edge_weight_type: str) -> np.ndarray:
    """(N, N) float64 matrix of TSPLIB integer distances (zero diagonal) under a convention."""
    coords = np.asarray(coords, dtype=np.float64)
    kind = edge_weight_type.upper()
    if kind == "GEO":
        lat, lon = _geo_radians(coords[:, 0]), _geo_radians(coords[:, 1])
        q1 = np.cos(lon[:, None] - lon[None, :])
        q2 = np.cos(lat[:, None] - lat[None, :])
        q3 = np.cos(lat[:, None] + lat[None, :])
        inner = np.clip(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3), -1.0, 1.0)
        dist = np.trunc(6378.388 * np.arccos(inner) + 1.0)
    else:
        diff = coords[:, None, :] - coords[None, :, :]
        sq = (diff**2).sum(-1)
        if kind == "EUC_2D":
            dist = _nint(np.sqrt(sq))
        elif kind == "CEIL_2D":
            dist = np.ceil(np.sqrt(sq))
        elif kind == "ATT":
            r = np.sqrt(sq / 10.0)
            t = _nint(r)
            dist = np.where(t < r, t + 1.0, t)
        else:
            raise ValueError(f"unsupported EDGE_WEIGHT_TYPE {edge_weight_type!r}; expected one of {', '.join(EDGE_WEIGHT_TYPES)}")
    np.fill_diagonal(dist, 0.0)
    return dist


def planar_coordinates(instance: TSPLIBInstance) -> np.ndarray:
    """(N, 2) coordinates the policy sees: as written, or (longitude, latitude) radians for GEO."""
    if instance.edge_weight_type == "GEO":
        return np.stack([_geo_radians(instance.coords[:, 1]), _geo_radians(instance.coords[:, 0])], -1)
    return instance.coords.copy()
