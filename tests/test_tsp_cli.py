"""``tinvnn tsp train|eval|solve`` end to end on tiny settings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tinvnn.checkpoint import save_checkpoint
from tinvnn.cli import main
from tinvnn.tasks.tsp.local.recipe import ImitationConfig, build_scorer
from tinvnn.tasks.tsp.tsplib import TSPLIBInstance, distance_matrix, write_tsplib


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    run = tmp_path / "tiny"
    args = [
        "tsp",
        "train",
        "--variant",
        "unit",
        "--num-cities",
        "8",
        "--embed-dim",
        "16",
        "--num-layers",
        "1",
        "--num-heads",
        "2",
        "--ff-dim",
        "16",
        "--batch-size",
        "4",
        "--steps",
        "2",
        "--steps-per-epoch",
        "2",
        "--val-instances",
        "4",
        "--threads",
        "1",
        "--no-progress",
        "--out",
        str(run),
    ]
    assert main(args) == 0 and (run / "best.pt").is_file()
    return run / "best.pt"


def test_train_eval_json(tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    args = [
        "tsp",
        "eval",
        "--checkpoint",
        str(tiny_checkpoint),
        "--num-cities",
        "10",
        "--num",
        "6",
        "--transform",
        "identity",
        "rotate",
        "scale",
        "--json",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["variant"] == "unit" and out["num_instances"] == 6
    assert set(out["results"]) == {"identity", "rotate", "scale"}
    assert all(r["gap"] >= -1e-6 for r in out["results"].values())
    assert main(args[:-1] + ["--variant", "pomo8", "--decode", "multistart"]) == 0
    table = capsys.readouterr().out
    assert "TSP-10, 6 instances, pomo8, multistart" in table and "rotate" in table


def test_solve_prints_tour_gap_and_plot(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    inst = TSPLIBInstance("small", rng.integers(0, 1000, (12, 2)).astype(float), "EUC_2D")
    tsp = write_tsplib(inst, tmp_path / "small.tsp")
    (tmp_path / "solutions.txt").write_text("small : 2500\n")
    plot = tmp_path / "tour.png"
    capsys.readouterr()
    assert main(["tsp", "solve", str(tsp), "--checkpoint", str(tiny_checkpoint), "--plot", str(plot), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(out["tour"]) == list(range(12)) and plot.stat().st_size > 1000
    dist = distance_matrix(inst.coords, "EUC_2D")
    assert out["length"] == dist[out["tour"], np.roll(out["tour"], -1)].sum()
    assert out["gap"] == pytest.approx(100 * (out["length"] / 2500 - 1))
    assert main(["tsp", "solve", str(tsp), "--checkpoint", str(tiny_checkpoint), "--optimum", "2000", "--no-plot"]) == 0
    text = capsys.readouterr().out
    assert "tour (0-based):" in text and "optimum: 2000" in text and "gap:" in text


def test_solve_errors_exit_2(tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.tsp"
    bad.write_text(
        "NAME : bad\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EUC_3D\nNODE_COORD_SECTION\n1 0 0 0\n2 1 0 0\n3 0 1 0\n"
    )
    capsys.readouterr()
    assert main(["tsp", "solve", str(bad), "--checkpoint", str(tiny_checkpoint)]) == 2
    assert f"{bad}:3: unsupported EDGE_WEIGHT_TYPE 'EUC_3D'" in capsys.readouterr().err
    assert main(["tsp", "solve", str(bad), "--checkpoint", str(tiny_checkpoint), "--variant", "tinv"]) == 2
    assert "needs a checkpoint trained as 'tinv'" in capsys.readouterr().err
    assert main(["tsp", "solve", str(bad), "--checkpoint", str(tiny_checkpoint), "--k", "8"]) == 2
    assert (
        capsys.readouterr().err == "tinvnn: error: k applies to the local policy; the attention model sees every city\n"
    )
    local = tiny_checkpoint.parent / "local.pt"
    save_checkpoint(
        local,
        {"model": build_scorer(ImitationConfig(k=4, dim=8, layers=1, heads=2)).state_dict()},
        ImitationConfig(k=4, dim=8, layers=1, heads=2).to_dict(),
    )
    assert main(["tsp", "solve", str(bad), "--checkpoint", str(local), "--variant", "tinv8"]) == 2
    assert "variant applies to the attention model; the local policy has no variants" in capsys.readouterr().err


def test_solve_with_the_shipped_attention_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command docs/results.md shows: the shipped TSP-20 tinv model, x8 views + 2-opt."""
    inst = TSPLIBInstance("small", np.random.default_rng(3).integers(0, 1000, (15, 2)).astype(float), "EUC_2D")
    tsp = write_tsplib(inst, tmp_path / "small.tsp")
    capsys.readouterr()
    args = ["tsp", "solve", str(tsp), "--variant", "tinv8", "--improve", "--json"]  # a variant: attention
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "attention policy (tinv8), multistart + 2-opt" and out["variant"] == "tinv8"
    assert out["checkpoint"].endswith("tsp20_tinv.pt") and sorted(out["tour"]) == list(range(15))
    assert main([*args[:3], "--model", "attention", *args[3:]]) == 0
    assert json.loads(capsys.readouterr().out)["tour"] == out["tour"]


@pytest.mark.data
def test_shipped_checkpoint_solves_tsplib(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default policy is the shipped local-view one: multistart + improvement on eil51."""
    capsys.readouterr()
    plot = tmp_path / "eil51.png"
    assert main(["tsp", "solve", str(shared_data / "tsplib" / "eil51.tsp"), "--json", "--plot", str(plot)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "local policy, multistart x16 + 2-opt/Or-opt/3-opt + 1000 kicks" and out[
        "checkpoint"
    ].endswith("tsp_local.pt")
    assert (
        out["optimum"] == 426 and sorted(out["tour"]) == list(range(51)) and out["k"] == 24
    )  # the checkpoint's inference k
    assert 0 <= out["gap"] < 5 and plot.is_file()


def test_train_refuses_view_only_variants_and_bad_clips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tsp", "train", "--variant", "tinv8", "--out", str(tmp_path / "x")]) == 2
    assert "tinv8 adds test-time views to another model; train variant 'tinv'" in capsys.readouterr().err
    for clip in ("-1", "0", "nan"):
        assert main(["tsp", "train", "--grad-clip", clip, "--out", str(tmp_path / "x")]) == 2
        assert f"--grad-clip: expected a finite positive number, got {float(clip)}" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # refused before any work
