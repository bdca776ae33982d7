"""Classification training: checkpoint compatibility, refusal of mismatched checkpoints, CLI end to end.

Resume, extension and torchrun are tested for every task in test_harness.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tinvnn.cli import main
from tinvnn.tasks.classification.methods import build_backbone, wrap_backbone
from tinvnn.tasks.classification.recipe import ClassifierTrainConfig, load_classifier
from tinvnn.tasks.classification.train import train
from tinvnn.training import CheckpointMismatchError, RunOptions, export_weights, load_checkpoint, save_checkpoint

TINY = dict(points=32, per_class=4, test_per_class=2, epochs=2, batch_size=8, width=16, k=4)


def _run(out: Path, **kw: object) -> RunOptions:
    return RunOptions(out=str(out), progress=False, **kw)  # type: ignore[arg-type]


def test_checkpoint_written_before_config_keys_existed_resumes(tmp_path: Path) -> None:
    config = ClassifierTrainConfig(method="tinv", **{**TINY, "epochs": 1})
    train(config, _run(tmp_path))
    path = tmp_path / "checkpoint.pt"
    payload = torch.load(path, weights_only=True)
    del payload["config"]["sign_augment"]  # as written before sign_augment was added
    payload["config"]["out"] = str(tmp_path)  # as written while the run directory was a config key
    torch.save(payload, path)
    assert [h["epoch"] for h in train(config, _run(tmp_path, resume=True))["history"]] == [1]
    assert load_classifier(path)[1]["sign_augment"] is False
    with pytest.raises(CheckpointMismatchError, match="sign_augment: checkpoint=False expected=True"):
        train(
            ClassifierTrainConfig(method="tinv", sign_augment=True, **{**TINY, "epochs": 1}),
            _run(tmp_path, resume=True),
        )


def test_checkpoint_from_another_backbone_is_refused(tmp_path: Path) -> None:
    train(ClassifierTrainConfig(method="none", **{**TINY, "epochs": 1}), _run(tmp_path))
    with pytest.raises(CheckpointMismatchError, match="backbone: checkpoint='pointnet' expected='dgcnn'"):
        train(
            ClassifierTrainConfig(method="none", backbone="dgcnn", **{**TINY, "epochs": 1}), _run(tmp_path, resume=True)
        )
    with pytest.raises(CheckpointMismatchError, match="method: checkpoint='none' expected='tinv'"):
        load_classifier(tmp_path / "checkpoint.pt", expected={"method": "tinv"})
    with pytest.raises(CheckpointMismatchError, match="is not a point-cloud classifier checkpoint"):
        load_classifier(save_checkpoint(tmp_path / "other.pt", {"model": {}}, {"arch": "x"}))


def test_config_validation_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown backbone 'pointnet2'; expected one of \('pointnet', 'dgcnn'\)"):
        ClassifierTrainConfig(backbone="pointnet2")
    with pytest.raises(ValueError, match="unknown rotation protocol 'SO4'"):
        ClassifierTrainConfig(train_protocol="SO4")
    with pytest.raises(ValueError, match=r"^sign_augment: an option of method 'tinv' only, got method 'fa'$"):
        ClassifierTrainConfig(method="fa", sign_augment=True)
    with pytest.raises(ValueError, match=r"^sign_augment: an option of method 'tinv' only, got method 'pca'$"):
        wrap_backbone("pca", build_backbone("pointnet", 3, width=16), sign_augment=True)
    with pytest.raises(
        ValueError,
        match=r"^threshold, max_frames: options of methods \('weighted', 'weighted_draw'\) only, got method 'tinv'$",
    ):
        ClassifierTrainConfig(method="tinv", threshold=2.0)
    with pytest.raises(ValueError, match=r"^max_frames: expected a positive integer, got 0$"):
        ClassifierTrainConfig(method="weighted", max_frames=0)


def test_weighted_frame_options_reach_the_model_and_its_checkpoint(tmp_path: Path) -> None:
    config = ClassifierTrainConfig(method="weighted_draw", threshold=2.5, max_frames=8, **{**TINY, "epochs": 1})
    train(config, _run(tmp_path))
    model, saved, _ = load_classifier(tmp_path / "checkpoint.pt")
    assert (model.threshold, model.max_frames, model.train_frames) == (2.5, 8, "draw")
    assert (saved["threshold"], saved["max_frames"]) == (2.5, 8)
    with pytest.raises(CheckpointMismatchError, match="threshold: checkpoint=2.5 expected=1.0"):
        train(
            ClassifierTrainConfig(method="weighted_draw", max_frames=8, **{**TINY, "epochs": 1}),
            _run(tmp_path, resume=True),
        )


def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    flags = ["--points", "32", "--per-class", "4", "--test-per-class", "2", "--width", "16", "--batch-size", "8"]
    assert (
        main(
            ["train", "--method", "tinv", "--sign-augment", "--epochs", "2", "--out", str(run), "--no-progress", *flags]
        )
        == 0
    )
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
    capsys.readouterr()
    assert main(["sweep-angle", ckpt, "--step", "90", "--out", str(tmp_path / "sweep.png")]) == 2  # kept
    assert capsys.readouterr().err == (
        f"tinvnn: error: {tmp_path / 'sweep.png'} and {tmp_path / 'sweep.json'} exist; "
        "pass --overwrite (overwrite=True) to replace them\n"
    )
    assert main(["sweep-angle", ckpt, "--step", "90", "--out", str(tmp_path / "sweep.png"), "--overwrite"]) == 0
    # bad input: unknown names, missing files
    assert main(["eval", str(tmp_path / "missing.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--method", "magic", "--out", str(tmp_path / "x")])
    assert "argument --method: invalid choice: 'magic'" in capsys.readouterr().err
    # an existing run is kept unless --resume or --overwrite
    assert main(["train", "--method", "tinv", "--epochs", "1", "--out", str(run), "--no-progress", *flags]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--method",
                "tinv",
                "--sign-augment",
                "--epochs",
                "3",
                "--resume",
                "--out",
                str(run),
                "--no-progress",
                *flags,
            ]
        )
        == 0
    )
    assert [h["epoch"] for h in json.loads((run / "metrics.json").read_text())["history"]] == [1, 2, 3]
    assert (
        main(["train", "--dataset", "modelnet40", "--data-dir", str(tmp_path / "nodata"), "--out", str(tmp_path / "x")])
        == 2
    )
    assert "expected <data>/modelnet40/train.npz" in capsys.readouterr().err


def test_demo_runs_on_the_embedded_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert (
        main(["demo", "--out", str(out), "--data-dir", str(tmp_path / "no-data"), "--epochs", "1", "--no-progress"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "embedded synthetic shapes" in printed and "SO3+scale" in printed and "invariance error" in printed
    result = json.loads((out / "demo.json").read_text())
    assert result["models"]["tinv"]["invariance"]["max_rel"] < 1e-9
    assert result["models"]["none"]["invariance"]["max_rel"] > 1e-3
    tinv_acc = result["models"]["tinv"]["accuracy"]
    assert max(tinv_acc.values()) - min(tinv_acc.values()) <= 1 / 240 + 1e-9  # at most one ambiguous cloud
    weighted = result["models"]["weighted"]
    assert weighted["invariance"]["max_rel"] < 1e-9 and "weighted" in printed
    assert max(weighted["accuracy"].values()) - min(weighted["accuracy"].values()) <= 1 / 240 + 1e-9
    assert (out / "angle_sweep.png").stat().st_size > 1000


def test_exported_classifier_predicts_like_its_run(tmp_path: Path) -> None:
    train(ClassifierTrainConfig(method="fa", **{**TINY, "epochs": 1}), _run(tmp_path / "run"))
    exported = export_weights(tmp_path / "run", tmp_path / "shipped.pt")
    assert set(load_checkpoint(exported)["state"]) == {"model"}
    (model, config, meta), (run_model, run_config, _) = load_classifier(exported), load_classifier(tmp_path / "run")
    assert config == run_config and meta["epoch"] == 1 and meta["source"] == "checkpoint.pt"
    points = torch.randn(3, 32, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(model(points), run_model(points))
