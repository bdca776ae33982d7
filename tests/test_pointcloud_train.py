"""Training harness: resume round trip, refusal of mismatched checkpoints, CLI end to end, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tinvnn.cli import main
from tinvnn.tasks.classification.evaluate import load_model
from tinvnn.tasks.classification.methods import build_backbone, build_model
from tinvnn.tasks.classification.train import TrainConfig, train
from tinvnn.training import CheckpointMismatchError, load_checkpoint, seed_everything

TINY = dict(points=32, per_class=4, test_per_class=2, epochs=2, batch_size=8, width=16, k=4)


def test_resume_refuses_a_changed_schedule(tmp_path: Path) -> None:
    train(TrainConfig(method="aug", out=str(tmp_path), **{**TINY, "epochs": 1}), progress=False)
    # the cosine schedule depends on the number of epochs, so resuming with another one refuses
    with pytest.raises(CheckpointMismatchError, match="epochs: checkpoint=1 expected=2"):
        train(TrainConfig(method="aug", out=str(tmp_path), **TINY), resume=True, progress=False)


def test_killed_run_resumes_exactly(tmp_path: Path) -> None:
    config = TrainConfig(method="tinv", out=str(tmp_path / "a"), **{**TINY, "epochs": 3})
    full = train(config, progress=False)
    weights = load_checkpoint(tmp_path / "a" / "checkpoint.pt")["state"]["model"]
    # Simulate a kill after epoch 1: keep the epoch-1 checkpoint, then resume.
    killed = TrainConfig(method="tinv", out=str(tmp_path / "b"), **{**TINY, "epochs": 3})

    class Stop(Exception):
        pass

    import tinvnn.tasks.classification.train as train_module

    original = train_module.save_checkpoint
    saved = []

    def save_then_die(*args, **kwargs):
        original(*args, **kwargs)
        saved.append(1)
        if len(saved) == 1:
            raise Stop

    train_module.save_checkpoint = save_then_die
    try:
        with pytest.raises(Stop):
            train(killed, progress=False)
    finally:
        train_module.save_checkpoint = original
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["state"]["epoch"] == 1
    resumed = train(killed, resume=True, progress=False)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    assert resumed["history"][-1]["loss"] == pytest.approx(full["history"][-1]["loss"], rel=1e-6)
    again = load_checkpoint(tmp_path / "b" / "checkpoint.pt")["state"]["model"]
    for key, value in weights.items():
        torch.testing.assert_close(again[key], value)


def test_checkpoint_written_before_a_config_key_existed_resumes(tmp_path: Path) -> None:
    config = TrainConfig(method="tinv", out=str(tmp_path), **{**TINY, "epochs": 1})
    train(config, progress=False)
    path = tmp_path / "checkpoint.pt"
    payload = torch.load(path, weights_only=False)
    del payload["config"]["sign_augment"]  # as written before sign_augment was added
    torch.save(payload, path)
    assert [h["epoch"] for h in train(config, resume=True, progress=False)["history"]] == [1]
    with pytest.raises(CheckpointMismatchError, match="sign_augment: checkpoint=False expected=True"):
        train(TrainConfig(method="tinv", sign_augment=True, out=str(tmp_path), **{**TINY, "epochs": 1}), resume=True, progress=False)


def test_checkpoint_from_another_backbone_is_refused(tmp_path: Path) -> None:
    train(TrainConfig(method="none", out=str(tmp_path), **{**TINY, "epochs": 1}), progress=False)
    with pytest.raises(CheckpointMismatchError, match="backbone: checkpoint='pointnet' expected='dgcnn'"):
        train(TrainConfig(method="none", backbone="dgcnn", out=str(tmp_path), **{**TINY, "epochs": 1}), resume=True, progress=False)
    with pytest.raises(CheckpointMismatchError, match="method: checkpoint='none' expected='tinv'"):
        load_model(tmp_path / "checkpoint.pt", {"method": "tinv"})


def test_config_validation_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown backbone 'pointnet2'; expected one of \('pointnet', 'dgcnn'\)"):
        TrainConfig(backbone="pointnet2")
    with pytest.raises(ValueError, match="unknown rotation protocol 'SO4'"):
        TrainConfig(train_protocol="SO4")
    with pytest.raises(ValueError, match=r"^sign_augment: an option of method 'tinv' only, got method 'fa'$"):
        TrainConfig(method="fa", sign_augment=True)
    with pytest.raises(ValueError, match=r"^sign_augment: an option of method 'tinv' only, got method 'pca'$"):
        build_model("pca", build_backbone("pointnet", 3, width=16), sign_augment=True)


def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    flags = ["--points", "32", "--per-class", "4", "--test-per-class", "2", "--width", "16", "--batch-size", "8"]
    assert main(["train", "--method", "tinv", "--sign-augment", "--epochs", "2", "--out", str(run), "--no-progress", *flags]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2] and metrics["config"]["sign_augment"] is True
    capsys.readouterr()
    ckpt = str(run / "checkpoint.pt")
    assert main(["eval", ckpt, "--protocol", "z", "SO3+scale", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    acc = {k: v["accuracy"] for k, v in result["results"].items()}
    assert set(acc) == {"z", "SO3+scale"} and acc["z"] == pytest.approx(acc["SO3+scale"], abs=1 / 24 + 1e-9)
    assert main(["audit", ckpt, "--json", "--clouds", "4", "--rtol", "1e-6"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["max_rel"] < 1e-6 and report["method"] == "tinv"
    assert main(["sweep-angle", ckpt, "--step", "90", "--out", str(tmp_path / "sweep.png")]) == 0
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert sweep["angles_deg"] == [0.0, 90.0, 180.0] and (tmp_path / "sweep.png").stat().st_size > 1000
    curve = next(iter(sweep["accuracy"].values()))
    assert max(curve) - min(curve) <= 1 / 24 + 1e-9  # invariant model: flat up to ambiguous clouds
    # bad input: unknown names, missing files
    assert main(["eval", str(tmp_path / "missing.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["train", "--method", "magic", "--out", str(tmp_path / "x")]) == 2
    assert "expected one of ('none', 'aug', 'pca', 'fa', 'tinv')" in capsys.readouterr().err
    assert main(["train", "--dataset", "modelnet40", "--data-dir", str(tmp_path / "nodata"), "--out", str(tmp_path / "x")]) == 2
    assert "expected <data>/modelnet40/train.npz" in capsys.readouterr().err


def test_ddp_two_processes_agree(tmp_path: Path) -> None:
    """The same command under torchrun with 2 CPU processes (gloo): the replicas stay equal."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "tinvnn", "train", "--method", "tinv", "--epochs", "1", "--points", "16", "--per-class", "2",
           "--test-per-class", "1", "--width", "8", "--batch-size", "4", "--no-progress", "--out", str(tmp_path)]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    sums = metrics["param_checksums"]
    assert len(sums) == 2 and sums[0] == pytest.approx(sums[1], rel=1e-12, abs=1e-12)
    assert metrics["config"]["method"] == "tinv" and [h["epoch"] for h in metrics["history"]] == [1]
    # the replicas did train: the saved weights differ from a fresh model's
    seed_everything(0)
    fresh = build_model("tinv", build_backbone("pointnet", 12, width=8))
    assert sums[0] != pytest.approx(float(sum(p.detach().double().sum() for p in fresh.parameters())), rel=1e-9)


def test_demo_runs_on_the_embedded_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--data-dir", str(tmp_path / "no-data"), "--epochs", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "embedded synthetic shapes" in printed and "SO3+scale" in printed and "invariance error" in printed
    result = json.loads((out / "demo.json").read_text())
    assert result["models"]["tinv"]["invariance"]["max_rel"] < 1e-9
    assert result["models"]["none"]["invariance"]["max_rel"] > 1e-3
    tinv_acc = result["models"]["tinv"]["accuracy"]
    assert max(tinv_acc.values()) - min(tinv_acc.values()) <= 1 / 240 + 1e-9  # at most one ambiguous cloud
    assert (out / "angle_sweep.png").stat().st_size > 1000
