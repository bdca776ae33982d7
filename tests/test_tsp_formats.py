"""Every TSPLIB format the reader supports, with cities at one point, solved through the front door."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tinvnn.tasks.tsp.local.recipe import ImitationConfig, build_scorer
from tinvnn.tasks.tsp.tsplib import (
    EDGE_WEIGHT_FORMATS,
    EDGE_WEIGHT_TYPES,
    TSPLIBInstance,
    distance_matrix,
    read_tsplib,
    tour_length_tsplib,
    write_tsplib,
)
from tinvnn.training import save_checkpoint
from tinvnn.tsp import solve


@pytest.fixture
def local_checkpoint(tmp_path: Path) -> Path:
    config = ImitationConfig(k=6, dim=16, layers=1, heads=2)
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "local.pt", {"model": build_scorer(config).state_dict()}, config.to_dict())


def _with_twins(n: int, seed: int) -> np.ndarray:
    """(n + 3, 2) integer coordinates in [0, 90]^2 (GEO degrees stay valid) with three cities at
    the points of others."""
    rng = np.random.default_rng(seed)
    coords = rng.integers(0, 90, (n, 2)).astype(np.float64)
    coords = np.unique(coords, axis=0)
    return np.concatenate([coords, coords[[0, 3, 3]]])


@pytest.mark.parametrize("ewt", [t for t in EDGE_WEIGHT_TYPES if t != "EXPLICIT"])
def test_coordinate_types_with_duplicates(local_checkpoint: Path, tmp_path: Path, ewt: str) -> None:
    coords = _with_twins(30, 1)
    path = write_tsplib(TSPLIBInstance("twins", coords, ewt), tmp_path / "twins.tsp")
    result = solve(path, checkpoint=local_checkpoint, decode="greedy", kicks=5)
    assert sorted(result.tour.tolist()) == list(range(len(coords))) and result.duplicates == 3
    assert result.edge_weight_type == ewt
    assert result.length == tour_length_tsplib(read_tsplib(path), result.tour)
    position = {int(c): i for i, c in enumerate(result.tour)}
    for twin, city in ((len(coords) - 3, 0), (len(coords) - 2, 3), (len(coords) - 1, 3)):
        assert abs(position[twin] - position[city]) in (1, 2)  # right after its city (or its other twin)


@pytest.mark.parametrize("fmt", list(EDGE_WEIGHT_FORMATS))
def test_explicit_formats_with_duplicates(local_checkpoint: Path, tmp_path: Path, fmt: str) -> None:
    coords = _with_twins(20, 2)
    full = distance_matrix(coords, "EUC_2D")
    n = len(full)
    shape, diagonal = EDGE_WEIGHT_FORMATS[fmt]
    numbers = {
        "full": [full[i, j] for i in range(n) for j in range(n)],
        "upper": [full[i, j] for i in range(n) for j in range(n) if j > i or (diagonal and j == i)],
        "lower": [full[i, j] for i in range(n) for j in range(n) if j < i or (diagonal and j == i)],
    }[shape]
    lines = [" ".join(f"{w:.0f}" for w in numbers[i : i + 10]) for i in range(0, len(numbers), 10)]
    display = [f"{i + 1} {x:.0f} {y:.0f}" for i, (x, y) in enumerate(coords.tolist())]
    body = "\n".join(
        [f"NAME : ex\nTYPE : TSP\nDIMENSION : {n}\nEDGE_WEIGHT_TYPE : EXPLICIT\nEDGE_WEIGHT_FORMAT : {fmt}"]
        + ["DISPLAY_DATA_TYPE : TWOD_DISPLAY", "EDGE_WEIGHT_SECTION", *lines, "DISPLAY_DATA_SECTION", *display, "EOF"]
    )
    path = tmp_path / "ex.tsp"
    path.write_text(body + "\n")
    result = solve(path, checkpoint=local_checkpoint, decode="greedy", kicks=5)
    assert sorted(result.tour.tolist()) == list(range(n)) and result.edge_weight_type == "EXPLICIT"
    assert result.length == tour_length_tsplib(read_tsplib(path), result.tour)
    nxt = np.roll(result.tour, -1)
    assert (full[result.tour, nxt] == 0).sum() == 3  # each twin next to its city: three zero-length edges
