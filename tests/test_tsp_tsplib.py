"""TSPLIB reader: round trips, distance conventions against hand-computed values, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tinvnn.tasks.tsp.heuristics import euclidean_matrix
from tinvnn.tasks.tsp.objective import matrix_tour_length
from tinvnn.tasks.tsp.reference import lkh_tour
from tinvnn.tasks.tsp.tsplib import (
    EDGE_WEIGHT_FORMATS,
    OWN_METRIC_MATRIX_MAX,
    TSPLIBError,
    TSPLIBInstance,
    distance_matrix,
    improvement_matrix,
    instance_matrix,
    planar_coordinates,
    read_solutions,
    read_tsplib,
    tour_length_tsplib,
    write_tour,
    write_tsplib,
)


def _write(tmp_path: Path, body: str, name: str = "bad.tsp") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


HEADER = "NAME : tiny\nTYPE : TSP\nDIMENSION : {n}\nEDGE_WEIGHT_TYPE : {ewt}\nNODE_COORD_SECTION\n"
EXPLICIT = "NAME : tiny\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EXPLICIT\nEDGE_WEIGHT_FORMAT : {fmt}\nEDGE_WEIGHT_SECTION\n"


def test_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    inst = TSPLIBInstance("rt", rng.uniform(-1e4, 1e4, (17, 2)), "CEIL_2D", "a comment")
    back = read_tsplib(write_tsplib(inst, tmp_path / "rt.tsp"))
    assert back.name == "rt" and back.edge_weight_type == "CEIL_2D" and back.comment == "a comment"
    np.testing.assert_array_equal(back.coords, inst.coords)


def test_euc_ceil_att_conventions() -> None:
    coords = np.array([[0.0, 0.0], [3.0, 4.2], [6734.0, 1453.0], [2233.0, 10.0]])
    euc = distance_matrix(coords, "EUC_2D")
    ceil = distance_matrix(coords, "CEIL_2D")
    att = distance_matrix(coords, "ATT")
    r01 = math.hypot(3.0, 4.2)  # 5.161...
    assert euc[0, 1] == 5 and ceil[0, 1] == 6
    # att48's first two cities: r = sqrt((4501^2 + 1443^2) / 10) = 1494.7 -> nint 1495 >= r -> 1495
    r23 = math.sqrt((4501**2 + 1443**2) / 10)
    assert att[2, 3] == math.floor(r23 + 0.5) == 1495
    # ATT rounds up when nint falls below r: r01 / sqrt(10) = 1.632 -> nint 2 -> 2; r = 0.3 case -> 1
    assert att[0, 1] == 2
    assert distance_matrix(np.array([[0.0, 0.0], [0.0, math.sqrt(0.9)], [5.0, 5.0]]), "ATT")[0, 1] == 1
    assert np.allclose(euc, euc.T) and np.all(np.diag(euc) == 0)
    assert euc[0, 1] < r01 < ceil[0, 1]


def test_manhattan_and_maximum_conventions() -> None:
    coords = np.array([[0.0, 0.0], [3.4, -4.3], [0.4, 0.4]])
    man = distance_matrix(coords, "MAN_2D")
    big = distance_matrix(coords, "MAX_2D")
    assert man[0, 1] == 8 and big[0, 1] == 4  # nint(7.7); max(nint(3.4), nint(4.3))
    assert man[0, 2] == 1 and big[0, 2] == 0  # nint(0.8); max(nint(0.4), nint(0.4))
    assert np.array_equal(man, man.T) and np.array_equal(big, big.T)


def test_geo_convention() -> None:
    # one degree of longitude on the equator: int(6378.388 * pi' / 180 + 1) with pi' = 3.141592
    coords = np.array([[0.0, 0.0], [0.0, 1.0], [0.30, 0.0]])  # 0.30 = 0 deg 30 min latitude
    dist = distance_matrix(coords, "GEO")
    assert dist[0, 1] == int(6378.388 * 3.141592 / 180 + 1) == 112
    assert dist[0, 2] == int(6378.388 * 3.141592 * (5 * 0.30 / 3) / 180 + 1) == 56
    lonlat = planar_coordinates(TSPLIBInstance("g", coords, "GEO"))
    assert lonlat[1, 0] == pytest.approx(3.141592 / 180) and lonlat[2, 1] == pytest.approx(3.141592 * 0.5 / 180)


@pytest.mark.parametrize("fmt", list(EDGE_WEIGHT_FORMATS))
def test_explicit_formats_read_the_same_matrix(tmp_path: Path, fmt: str) -> None:
    rng = np.random.default_rng(1)
    n = 7
    full = distance_matrix(rng.uniform(0, 100, (n, 2)), "EUC_2D")
    shape, diagonal = EDGE_WEIGHT_FORMATS[fmt]
    by_rows = {
        "full": [full[i, j] for i in range(n) for j in range(n)],
        "upper": [full[i, j] for i in range(n) for j in range(n) if j > i or (diagonal and j == i)],
        "lower": [full[i, j] for i in range(n) for j in range(n) if j < i or (diagonal and j == i)],
    }[shape]
    numbers = " ".join(f"{w:.0f}" for w in by_rows)
    body = (
        EXPLICIT.replace("DIMENSION : 3", f"DIMENSION : {n}").format(fmt=fmt)
        + numbers
        + "\nDISPLAY_DATA_SECTION\n1 0 0\nEOF\n"
    )
    inst = read_tsplib(_write(tmp_path, body, "ex.tsp"))
    assert inst.edge_weight_type == "EXPLICIT" and inst.coords is None and inst.num_cities == n
    np.testing.assert_array_equal(inst.weights, full)
    back = read_tsplib(write_tsplib(inst, tmp_path / "back.tsp"))
    np.testing.assert_array_equal(back.weights, full)
    tour = rng.permutation(n)
    assert tour_length_tsplib(inst, tour) == matrix_tour_length(full, tour)


@pytest.mark.parametrize("ewt", ["EUC_2D", "CEIL_2D", "ATT", "GEO", "MAN_2D", "MAX_2D"])
def test_tour_length_edge_by_edge_matches_matrix(ewt: str) -> None:
    rng = np.random.default_rng(2)
    inst = TSPLIBInstance("t", rng.uniform(0, 80, (40, 2)), ewt)
    tour = rng.permutation(40)
    assert tour_length_tsplib(inst, tour) == matrix_tour_length(instance_matrix(inst), tour)
    with pytest.raises(ValueError, match="permutation of 0..39"):
        tour_length_tsplib(inst, tour[:-1])


def test_improvement_matrix_by_metric() -> None:
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 80, (30, 2))
    assert improvement_matrix(TSPLIBInstance("e", xy, "EUC_2D")) is None  # measured on demand
    far = rng.uniform(0, 80, (OWN_METRIC_MATRIX_MAX + 1, 2))
    for ewt in ("GEO", "MAN_2D", "MAX_2D"):
        own = TSPLIBInstance("m", xy, ewt)
        np.testing.assert_array_equal(improvement_matrix(own), instance_matrix(own))
        assert improvement_matrix(TSPLIBInstance("M", far, ewt)) is None  # the planar proxy: no N x N matrix
    assert improvement_matrix(TSPLIBInstance("a", xy, "ATT")) is None


def test_explicit_planar_coordinates_from_mds() -> None:
    coords = np.random.default_rng(3).uniform(0, 100, (20, 2))
    inst = TSPLIBInstance("m", None, "EXPLICIT", weights=euclidean_matrix(coords))
    planar = planar_coordinates(inst)
    np.testing.assert_allclose(
        euclidean_matrix(planar) * (euclidean_matrix(coords).max() / euclidean_matrix(planar).max()),
        euclidean_matrix(coords),
        atol=1e-8,
    )


def test_write_tour(tmp_path: Path) -> None:
    path = write_tour("eil5", [2, 0, 1, 4, 3], tmp_path / "eil5.tour", comment="length 7")
    assert path.read_text() == (
        "NAME : eil5.tour\nCOMMENT : length 7\nTYPE : TOUR\nDIMENSION : 5\nTOUR_SECTION\n3\n1\n2\n5\n4\n-1\nEOF\n"
    )


def test_duplicate_coordinates_allowed(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER.format(n=4, ewt="EUC_2D") + "1 0 0\n2 0 0\n3 1 0\n4 0 1\nEOF\n", "dup.tsp")
    inst = read_tsplib(path)
    assert distance_matrix(inst.xy(), inst.edge_weight_type)[0, 1] == 0


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("NAME : x\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 1 1\n3 2 0\n", None, "missing DIMENSION"),
        ("NAME : x\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EUC_2D\n", None, "missing NODE_COORD_SECTION"),
        (
            HEADER.format(n=4, ewt="EUC_2D") + "1 0 0\n2 1 1\n3 2 0\nEOF\n",
            5,
            "DIMENSION is 4 but NODE_COORD_SECTION has 3",
        ),
        (HEADER.format(n=3, ewt="EUC_2D") + "1 0 0\n2 1 abc\n3 2 0\n", 7, "expected a number for y, got 'abc'"),
        (HEADER.format(n=3, ewt="EUC_2D") + "1 0 0\n2 1 1\n2 2 0\n", 8, "duplicate city index 2 (first on line 7)"),
        (HEADER.format(n=3, ewt="XRAY1") + "1 0 0\n2 1 1\n3 2 0\n", 4, "unsupported EDGE_WEIGHT_TYPE 'XRAY1'"),
        (HEADER.format(n=0, ewt="EUC_2D"), 3, "expected at least 1 city"),
        (
            HEADER.format(n=3, ewt="EUC_3D") + "1 0 0 0\n",
            4,
            "unsupported EDGE_WEIGHT_TYPE 'EUC_3D' (3-D coordinates; the solvers build planar tours)",
        ),
        (
            HEADER.format(n=3, ewt="EXPLICIT").replace("NODE_COORD", "EDGE_WEIGHT") + "1 2 3\n",
            None,
            "EXPLICIT needs an EDGE_WEIGHT_FORMAT",
        ),
        (
            EXPLICIT.format(fmt="UPPER_ROW") + "1 2\n",
            5,
            "EDGE_WEIGHT_SECTION has 2 numbers; UPPER_ROW of DIMENSION 3 needs 3",
        ),
        (
            EXPLICIT.format(fmt="FULL_MATRIX") + "0 1 2\n1 0 3\n2 4 0\n",
            5,
            "EDGE_WEIGHT_SECTION is not symmetric (cities 2 and 3)",
        ),
        (
            HEADER.format(n=3, ewt="EUC_2D").replace("NODE_COORD", "EDGE_WEIGHT"),
            5,
            "EDGE_WEIGHT_SECTION needs EDGE_WEIGHT_TYPE EXPLICIT",
        ),
        (HEADER.format(n=3, ewt="EUC_2D").replace("NODE_COORD", "TOUR"), 5, "unsupported section TOUR_SECTION"),
        (HEADER.format(n=3, ewt="EUC_2D") + "1 0 0\n2 1 1\n5 2 0\n", 8, "city index 5 outside 1..3"),
        (HEADER.format(n=3, ewt="EUC_2D") + "1 0 0\n2 1\n3 2 0\n", 7, "expected 'index x y'"),
        (
            "NAME : x\nTYPE : ATSP\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n",
            2,
            "unsupported TYPE",
        ),
        (
            HEADER.format(n=3, ewt="EUC_2D").replace("NODE_COORD", "FIXED_EDGES"),
            5,
            "FIXED_EDGES_SECTION: edges every tour must contain are not supported",
        ),
    ],
)
def test_malformed_files_name_file_line_and_problem(tmp_path: Path, body: str, line: int | None, message: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(TSPLIBError) as info:
        read_tsplib(path)
    text = str(info.value)
    assert message in text
    assert text.startswith(f"{path}:{line}:" if line is not None else f"{path}:")
    assert info.value.line == line


@pytest.mark.parametrize(
    ("ewt", "why"),
    [
        ("EUC_3D", "3-D coordinates; the solvers build planar tours"),
        ("MAN_3D", "3-D coordinates; the solvers build planar tours"),
        ("MAX_3D", "3-D coordinates; the solvers build planar tours"),
        ("CEIL_3D", "3-D coordinates; the solvers build planar tours"),
        ("XRAY1", "a crystallography distance function outside the standard's formulas"),
        ("XRAY2", "a crystallography distance function outside the standard's formulas"),
        ("SPECIAL", "a distance function the file does not define"),
    ],
)
def test_refused_edge_weight_types_say_why_in_one_line(tmp_path: Path, ewt: str, why: str) -> None:
    path = _write(tmp_path, HEADER.format(n=3, ewt=ewt) + "1 0 0 0\n2 1 0 0\n3 0 1 0\nEOF\n")
    with pytest.raises(TSPLIBError) as info:
        read_tsplib(path)
    assert str(info.value) == (
        f"{path}:4: unsupported EDGE_WEIGHT_TYPE '{ewt}' ({why}); "
        "expected one of EUC_2D, CEIL_2D, ATT, GEO, MAN_2D, MAX_2D, EXPLICIT"
    )


def test_tsplib_layout_variants_read_alike(tmp_path: Path) -> None:
    """Keys without spaces around the colon, lower-case types, exponents, no EOF, blank lines,
    optional header fields and a DISPLAY_DATA_SECTION: as in the files TSPLIB ships."""
    plain = read_tsplib(_write(tmp_path, HEADER.format(n=3, ewt="CEIL_2D") + "1 0 0\n2 1100 0\n3 0 20\nEOF\n"))
    body = (
        "NAME: tiny\nCOMMENT: a : b\nTYPE: TSP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: ceil_2d\n"
        "NODE_COORD_TYPE : TWOD_COORDS\nDISPLAY_DATA_TYPE : COORD_DISPLAY\n\nNODE_COORD_SECTION\n"
        "1 0.0e+00 0\n 2   1.1e+03 0.0\n3 0 2e1\n"
    )
    variant = read_tsplib(_write(tmp_path, body, "variant.tsp"))
    assert variant.edge_weight_type == "CEIL_2D" and variant.comment == "a : b"
    np.testing.assert_array_equal(variant.coords, plain.coords)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing.tsp"):
        read_tsplib(tmp_path / "nothing.tsp")


@pytest.mark.data
def test_shared_tsplib_optimum_from_lkh_tour(shared_data: Path) -> None:
    """LKH's tour of eil51 under the EUC_2D convention has exactly the published optimum."""
    folder = shared_data / "tsplib"
    inst = read_tsplib(folder / "eil51.tsp")
    optimum = read_solutions(folder / "solutions.txt")["eil51"]
    dist = distance_matrix(inst.xy(), inst.edge_weight_type)
    tour = lkh_tour(dist, precision=1.0)
    assert inst.num_cities == 51 and matrix_tour_length(dist, tour) == optimum == 426
