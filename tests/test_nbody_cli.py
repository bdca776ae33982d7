"""``tinvnn nbody train|eval`` end to end on a tiny setting."""

from __future__ import annotations

import json

import pytest

from tinvnn.cli import main

TINY = (
    "--data-n-train 20 --data-n-val 10 --data-n-test 10 --epochs 2 "
    "--eval-every 1 --hidden 8 --layers 1 --batch-size 10 --no-progress"
).split()


def test_train_then_eval_json(tmp_path, capsys, monkeypatch):
    # the CLI always simulates the benchmark system (frames 30 -> 40); 40 systems keep it cheap
    run = tmp_path / "tinv"
    assert main(["nbody", "train", "--model", "tinv_gnn", *TINY, "--out", str(run), "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)
    ckpt = run / "best.pt"
    assert trained["model"] == "tinv_gnn" and trained["checkpoint"] == str(ckpt) and ckpt.is_file()
    assert 1 <= trained["best_epoch"] <= 2 and trained["test_mse"] > 0

    assert main(["nbody", "eval", str(ckpt), "--json", "--trials", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["test_mse"] == pytest.approx(trained["test_mse"], rel=1e-5)
    assert result["equivariance"]["O"]["orthogonal"] < 1e-9
    assert result["equivariance"]["SO"]["permutation"] < 1e-9

    assert main(["nbody", "eval", str(run)]) == 0  # a run directory: its best.pt
    assert "test MSE" in capsys.readouterr().out


def test_train_with_gnn_options(tmp_path, capsys):
    run = tmp_path / "tinv_opts"
    args = ["nbody", "train", "--model", "tinv_gnn", *TINY, "--relative", "--residual", "--sign-augment"]
    assert main([*args, "--out", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test_mse"] > 0
    assert main(["nbody", "eval", str(run), "--json", "--trials", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["equivariance"]["O"]["orthogonal"] < 1e-9
    assert main(["nbody", "train", "--model", "egnn", *TINY, "--residual", "--out", str(tmp_path / "egnn")]) == 2
    assert "--relative, --residual: options of the GNN family" in capsys.readouterr().err


def test_eval_errors_exit_2(tmp_path, capsys):
    assert main(["nbody", "eval", str(tmp_path / "missing.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_unknown_model_is_rejected(capsys):
    with pytest.raises(SystemExit):
        main(["nbody", "train", "--model", "transformer"])
    assert "invalid choice" in capsys.readouterr().err
