"""``tinvnn tsp solve`` with a local-view policy, as a user runs it: tours, .tour files, plot
titles, EXPLICIT instances, trivial instances and one-line errors for bad input."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tinvnn.cli import main
from tinvnn.tasks.tsp.heuristics import euclidean_matrix
from tinvnn.tasks.tsp.local.recipe import INFERENCE_K_KEY, ImitationConfig, build_scorer, inference_k
from tinvnn.tasks.tsp.render import tour_title
from tinvnn.tasks.tsp.tsplib import TSPLIBInstance, distance_matrix, read_tsplib, write_tsplib
from tinvnn.training import CheckpointMismatchError, load_checkpoint, save_checkpoint


@pytest.fixture
def local_checkpoint(tmp_path: Path) -> Path:
    config = ImitationConfig(k=6, dim=16, layers=1, heads=2)
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "local.pt", {"model": build_scorer(config).state_dict()}, config.to_dict())


def _instance(tmp_path: Path, n: int, name: str = "small") -> tuple[TSPLIBInstance, Path]:
    inst = TSPLIBInstance(name, np.random.default_rng(n).uniform(0, 1000, (n, 2)).round(1), "EUC_2D")
    return inst, write_tsplib(inst, tmp_path / f"{name}.tsp")


def test_solve_writes_tour_file_and_reports_method(
    local_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inst, tsp = _instance(tmp_path, 30)
    (tmp_path / "solutions.txt").write_text("small : 4000\n")
    tour_file = tmp_path / "out" / "small.tour"
    tour_file.parent.mkdir()
    capsys.readouterr()
    args = [
        "tsp",
        "solve",
        str(tsp),
        "--checkpoint",
        str(local_checkpoint),
        "--tour",
        str(tour_file),
        "--no-plot",
        "--json",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "local policy, multistart x16 + 2-opt/Or-opt/3-opt + 1000 kicks" and sorted(
        out["tour"]
    ) == list(range(30))
    dist = distance_matrix(inst.coords, "EUC_2D")
    assert out["length"] == dist[out["tour"], np.roll(out["tour"], -1)].sum()
    assert out["gap"] == pytest.approx(100 * (out["length"] / 4000 - 1))
    lines = tour_file.read_text().splitlines()
    assert lines[2:5] == ["TYPE : TOUR", "DIMENSION : 30", "TOUR_SECTION"] and lines[-2:] == ["-1", "EOF"]
    assert [int(c) - 1 for c in lines[5:-2]] == out["tour"]
    assert main(args[:-1] + ["--decode", "greedy", "--no-improve", "--overwrite"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("; local policy, greedy")
    assert main(args[:-1] + ["--kicks", "0", "--overwrite"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("; local policy, multistart x16 + 2-opt/Or-opt/3-opt")


def test_plot_title_states_method_length_and_gap(local_checkpoint: Path, tmp_path: Path) -> None:
    title = tour_title("eil51", 51, "local policy, greedy", 440.0, optimum=426.0, gap=3.29)
    assert title == "eil51 (51 cities): local policy, greedy\nlength 440, gap 3.29 % to optimum 426"
    assert (
        tour_title("x", 5, "m", 12.4, explicit=True)
        == "x (5 cities): m\nlength 12\n(cities drawn at their MDS coordinates)"
    )
    _, tsp = _instance(tmp_path, 12)
    plot = tmp_path / "tour.png"
    assert main(["tsp", "solve", str(tsp), "--checkpoint", str(local_checkpoint), "--plot", str(plot)]) == 0
    assert plot.stat().st_size > 1000


def test_solve_explicit_matrix_through_mds(
    local_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coords = np.random.default_rng(1).uniform(0, 100, (25, 2))
    weights = np.rint(euclidean_matrix(coords))
    path = write_tsplib(TSPLIBInstance("ex25", None, "EXPLICIT", weights=weights), tmp_path / "ex25.tsp")
    capsys.readouterr()
    assert main(["tsp", "solve", str(path), "--checkpoint", str(local_checkpoint), "--no-plot", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["edge_weight_type"] == "EXPLICIT" and sorted(out["tour"]) == list(range(25))
    assert out["length"] == weights[out["tour"], np.roll(out["tour"], -1)].sum()
    assert read_tsplib(path).weights.shape == (25, 25)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_one_to_three_cities_solved_trivially(
    local_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], n: int
) -> None:
    _, tsp = _instance(tmp_path, n)
    capsys.readouterr()
    assert main(["tsp", "solve", str(tsp), "--checkpoint", str(local_checkpoint), "--no-plot", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tour"] == list(range(n)) and out["method"] == "trivial (at most 3 cities)"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "DIMENSION : 5\nEDGE_WEIGHT_TYPE : EXPLICIT\nEDGE_WEIGHT_FORMAT : UPPER_ROW\nEDGE_WEIGHT_SECTION\n"
            + "1e303 " * 10
            + "\n",
            "bad.tsp:5: EDGE_WEIGHT_SECTION has weights up to 1e+303: a tour of 5 cities could be longer than 1e+300",
        ),
        (
            "DIMENSION : 5\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 3 0\n3 0 4\n",
            "bad.tsp:4: DIMENSION is 5 but NODE_COORD_SECTION has 3 cities",
        ),
        (
            "DIMENSION : 3\nEDGE_WEIGHT_TYPE : EUC_3D\nNODE_COORD_SECTION\n1 0 0 0\n2 3 0 0\n3 0 4 0\n",
            "bad.tsp:3: unsupported EDGE_WEIGHT_TYPE 'EUC_3D' (3-D coordinates; the solvers build planar tours)",
        ),
        (
            "DIMENSION : 3\nEDGE_WEIGHT_TYPE : EUC_2D\nEDGE_DATA_SECTION\n1 2\n",
            "bad.tsp:4: unsupported section EDGE_DATA_SECTION",
        ),
    ],
)
def test_bad_input_one_line_error(
    local_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, message: str
) -> None:
    bad = tmp_path / "bad.tsp"
    bad.write_text("NAME : bad\n" + body)
    capsys.readouterr()
    assert main(["tsp", "solve", str(bad), "--checkpoint", str(local_checkpoint), "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tinvnn: error: ") and message in err


def test_geo_instance_improved_in_its_own_metric(
    local_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coords = [
        (38.24, 20.42),
        (39.57, 26.15),
        (40.56, 25.32),
        (36.26, 23.12),
        (33.48, 10.54),
        (37.56, 12.19),
        (38.42, 13.11),
    ]
    path = write_tsplib(TSPLIBInstance("geo7", np.array(coords), "GEO"), tmp_path / "geo7.tsp")
    dist = distance_matrix(np.array(coords), "GEO")
    best = min(
        sum(dist[t[i], t[(i + 1) % 7]] for i in range(7))
        for t in ((0, *p) for p in itertools.permutations(range(1, 7)))
    )
    capsys.readouterr()
    assert main(["tsp", "solve", str(path), "--checkpoint", str(local_checkpoint), "--no-plot", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["length"] == best


def test_inference_k_from_metadata_and_k_option(
    local_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert inference_k(local_checkpoint) == 6  # no metadata: the k it was trained with
    payload = load_checkpoint(local_checkpoint)
    wider = save_checkpoint(tmp_path / "wider.pt", payload["state"], payload["config"], {INFERENCE_K_KEY: 9})
    assert inference_k(wider) == 9
    _, tsp = _instance(tmp_path, 40)
    base = ["tsp", "solve", str(tsp), "--no-plot", "--json", "--decode", "greedy", "--no-improve"]
    runs = {}
    for name, extra in {
        "meta": ["--checkpoint", str(wider)],
        "flag": ["--checkpoint", str(local_checkpoint), "--k", "9"],
        "trained": ["--checkpoint", str(local_checkpoint)],
    }.items():
        capsys.readouterr()
        assert main(base + extra) == 0
        runs[name] = json.loads(capsys.readouterr().out)
    assert runs["meta"]["k"] == runs["flag"]["k"] == 9 and runs["trained"]["k"] == 6
    assert runs["meta"]["tour"] == runs["flag"]["tour"]  # the metadata's k is what --k sets
    bad = save_checkpoint(tmp_path / "bad.pt", payload["state"], payload["config"], {INFERENCE_K_KEY: 0})
    with pytest.raises(CheckpointMismatchError, match=r"bad\.pt: metadata inference_k=0 is not a positive integer$"):
        inference_k(bad)
    capsys.readouterr()
    assert main(base + ["--checkpoint", str(local_checkpoint), "--k", "0"]) == 2
    assert capsys.readouterr().err == "tinvnn: error: --k: expected a positive number of candidate slots, got 0\n"
