"""``tinvnn.tsp.solve``, the Python API of the TSP solvers: its documented example, files and
arrays alike, both model families, and inference that imports no training code."""

from __future__ import annotations

import doctest
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import tinvnn.tsp
from tinvnn.cli import main
from tinvnn.tasks.tsp.tsplib import TSPLIBInstance, distance_matrix, write_tsplib
from tinvnn.tsp import TSPSolution, solve


def test_docstring_example_runs() -> None:
    finder = doctest.DocTestFinder()
    (test,) = [t for t in finder.find(tinvnn.tsp) if t.name == "tinvnn.tsp.solve"]
    result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test)
    assert result.attempted >= 4 and result.failed == 0


def test_file_solution_matches_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inst = TSPLIBInstance("small", np.random.default_rng(5).uniform(0, 1000, (40, 2)).round(1), "EUC_2D")
    path = write_tsplib(inst, tmp_path / "small.tsp")
    (tmp_path / "solutions.txt").write_text("small : 5000\n")
    result = solve(path, decode="greedy", kicks=20)
    dist = distance_matrix(inst.coords, "EUC_2D")
    assert isinstance(result, TSPSolution) and sorted(result.tour.tolist()) == list(range(40))
    assert result.length == dist[result.tour, np.roll(result.tour, -1)].sum()
    assert result.optimum == 5000 and result.gap == pytest.approx(100 * (result.length / 5000 - 1))
    assert result.model == "local" and result.k == 24 and result.variant is None
    capsys.readouterr()
    assert main(["tsp", "solve", str(path), "--decode", "greedy", "--kicks", "20", "--json", "--no-plot"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record.pop("seconds") > 0
    expected = result.record()
    expected.pop("seconds")
    assert record == expected


def test_coordinates_array_tensor_and_list_agree() -> None:
    cities = np.random.default_rng(2).uniform(-5, 5, (30, 2))
    a = solve(cities, decode="greedy", improve=False)
    b = solve(torch.from_numpy(cities), decode="greedy", improve=False)
    c = solve(cities.tolist(), decode="greedy", improve=False)
    assert (a.tour == b.tour).all() and (a.tour == c.tour).all()
    assert a.edge_weight_type is None and a.gap is None and a.method == "local policy, greedy"
    closed = np.append(a.tour, a.tour[0])
    assert a.length == pytest.approx(np.linalg.norm(np.diff(cities[closed], axis=0), axis=1).sum())


def test_attention_model_through_the_same_call() -> None:
    cities = np.random.default_rng(4).uniform(0, 1, (12, 2))
    result = solve(cities, model="attention", variant="tinv8", improve=True)
    assert result.method == "attention policy (tinv8), multistart + 2-opt" and result.variant == "tinv8"
    assert result.k is None and sorted(result.tour.tolist()) == list(range(12))
    greedy = solve(cities, model="attention", decode="greedy")
    moved = solve(cities @ np.array([[0.0, 1.0], [1.0, 0.0]]) * 3.0 + 2.0, model="attention", decode="greedy")
    assert greedy.variant == "tinv" and (moved.tour == greedy.tour).all()
    assert moved.length == pytest.approx(3.0 * greedy.length)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "ptr"}, "model: expected one of local, attention, got 'ptr'"),
        ({"decode": "beam"}, "decode: expected one of auto, greedy, multistart, sample, got 'beam'"),
        ({"optimum": float("nan")}, "optimum: expected a finite positive length, got nan"),
        ({"k": 0}, "k: expected a positive number of candidate slots, got 0"),
        ({"model": "local", "variant": "tinv"}, "variant applies to the attention model"),
        ({"model": "attention", "k": 4}, "k applies to the local policy"),
        ({"k": 2.5}, "k: expected a positive number of candidate slots, got 2.5"),
        ({"starts": 0}, "starts: expected a positive number of start cities, got 0"),
        ({"kicks": -1}, "kicks: expected a number of kicks >= 0, got -1"),
        ({"kicks": True}, "kicks: expected a number of kicks >= 0, got True"),
        ({"seed": "a"}, "seed: expected an integer, got 'a'"),
        ({"decode": "greedy", "starts": 4}, "starts: applies to decode 'multistart', got decode 'greedy'"),
        ({"decode": "multistart", "samples": 4}, "samples: applies to decode 'sample', got decode 'multistart'"),
        ({"starts": 4, "samples": 4}, "starts and samples: give one"),
        ({"model": "attention", "starts": 4}, "starts applies to the local policy"),
    ],
)
def test_bad_options_raise_value_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        solve(np.random.default_rng(0).uniform(0, 1, (10, 2)), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"cities: expected \(N, 2\) coordinates or a TSPLIB path, got shape \(10, 3\)"
    ):
        solve(np.zeros((10, 3)))


def test_starts_or_samples_choose_the_decoding_under_auto() -> None:
    """An explicit ``starts`` (``samples``) is used, never ignored: under ``auto`` it means
    multistart (sample); explicit multistart without it takes auto's count."""
    cities = np.random.default_rng(5).uniform(0, 1, (40, 2))
    assert solve(cities, starts=3, kicks=0).method.startswith("local policy, multistart x3 ")
    assert solve(cities, samples=2, kicks=0).method.startswith("local policy, sampling x2 ")
    assert solve(cities, decode="multistart", kicks=0).method.startswith("local policy, multistart x16 ")
    assert solve(cities, kicks=0).method.startswith("local policy, multistart x16 ")


def test_real_coordinates_only_and_any_scale(tmp_path: Path) -> None:
    """Complex or boolean coordinates are refused (a cast would drop or invent numbers); from 1e-300
    to 1e300 the tour is the same (an exact power-of-two rescaling inside) and the length scales;
    a TSPLIB file with coordinates beyond 1e154 gets finite lengths."""
    cities = np.random.default_rng(6).uniform(0, 1, (30, 2))
    for bad, dtype in ((cities + 0j, "complex128"), (cities > 0.5, "bool")):
        with pytest.raises(ValueError, match=rf"^cities: expected real coordinates, got dtype {dtype}$"):
            solve(bad)
    base = solve(cities, kicks=50)
    for power in (-996, -500, 500, 1000):
        scaled = solve(np.ldexp(cities, power), kicks=50)
        assert (scaled.tour == base.tour).all() and scaled.length == math.ldexp(base.length, power)
    lines = "\n".join(f"{i + 1} {x:.17g} {y:.17g}" for i, (x, y) in enumerate(np.ldexp(cities, 700)))
    path = tmp_path / "huge.tsp"
    path.write_text(
        f"NAME: huge\nTYPE: TSP\nDIMENSION: 30\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n{lines}\nEOF\n"
    )
    huge = solve(path, kicks=50)
    assert (huge.tour == base.tour).all() and huge.length == pytest.approx(math.ldexp(base.length, 700), rel=1e-12)


def test_inference_imports_no_training_code() -> None:
    """Solving (both families) and evaluating import neither the run harness nor a training algorithm."""
    code = (
        "import sys, numpy as np\n"
        "import tinvnn.tsp, tinvnn.tasks.tsp.attention.evaluate\n"
        "tinvnn.tsp.solve(np.random.default_rng(0).uniform(0, 1, (8, 2)), kicks=0)\n"
        "tinvnn.tsp.solve(np.random.default_rng(0).uniform(0, 1, (8, 2)), model='attention')\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    modules = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    training = ("tinvnn.training", "imitation", "dagger", "finetune", "reinforce", "chunks")
    assert [m for m in modules if m.startswith("tinvnn") and any(t in m for t in training)] == []
