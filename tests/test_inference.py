"""Inference paths: they load no training code, and ``--device`` puts the model where it says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import tinvnn.tasks.classification.classify as classify_module
from tinvnn.cli import main
from tinvnn.tasks.classification.classify import DEFAULT_CLASSIFIER

ROOT = Path(__file__).resolve().parents[1]

#: The command line's modules: importing one (to build the parser) loads no training code; their
#: training handlers import it when called. (The library's inference modules are checked on their
#: source, function bodies included, by tests/test_architecture.py.)
INFERENCE_MODULES = [
    "tinvnn.cli",
    "tinvnn.cli._run",
    "tinvnn.cli.pointcloud",
    "tinvnn.cli.nbody",
    "tinvnn.cli.data",
    "tinvnn.cli.tsp",
]


def _is_training(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return (
        module == "tinvnn.training"
        or module.startswith("tinvnn.training.")
        or last in ("train", "distill", "demo", "imitation", "dagger", "finetune", "reinforce")
    )


@pytest.mark.parametrize("module", INFERENCE_MODULES)
def test_inference_modules_import_no_training_code(module: str) -> None:
    code = (
        f"import sys, {module}, tinvnn.cli; tinvnn.cli.build_parser(); "
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('tinvnn'))))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    loaded = run.stdout.split()
    assert module in loaded
    assert [m for m in loaded if _is_training(m)] == []


DEVICE_COMMANDS = [
    ["eval", "missing.pt"],
    ["audit", "missing.pt"],
    ["sweep-angle", "missing.pt"],
    ["classify", "missing.npy"],
    ["demo", "--out", "demo"],
    ["nbody", "eval", "missing.pt"],
]
DEVICE_IDS = [" ".join(a[:2]) if a[0] == "nbody" else a[0] for a in DEVICE_COMMANDS]


@pytest.mark.parametrize("argv", DEVICE_COMMANDS, ids=DEVICE_IDS)
def test_a_bad_device_is_refused_before_any_work(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--device", "tpu"]) == 2
    err = capsys.readouterr().err
    assert "device: expected auto (cuda if available, else cpu), cpu, cuda or cuda:INDEX, got 'tpu'" in err
    assert err.count("\n") == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("argv", DEVICE_COMMANDS, ids=DEVICE_IDS)
def test_cuda_without_a_gpu_is_a_clear_error(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--device", "cuda"]) == 2
    assert "device: 'cuda' asked for, but CUDA is not available here (use --device cpu)" in capsys.readouterr().err


def _cpu_or_cuda() -> list[Any]:
    cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
    return ["cpu", pytest.param("cuda", marks=cuda)]


@pytest.mark.parametrize("device", _cpu_or_cuda())
def test_classify_runs_the_model_on_the_given_device(
    device: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    placed: list[torch.device] = []
    load = classify_module.load_classifier

    def spy(path: Any, device: Any) -> Any:
        model, config, meta = load(path, device)
        placed.append(next(model.parameters()).device)
        return model, config, meta

    monkeypatch.setattr(classify_module, "load_classifier", spy)
    cloud = np.random.default_rng(0).normal(size=(300, 3))
    np.save(tmp_path / "shape.npy", cloud)
    assert main(["classify", str(tmp_path / "shape.npy"), "--device", device, "--json"]) == 0
    assert placed and placed[0].type == device
    top = json.loads(capsys.readouterr().out)["results"][0]["top"]
    assert len(top) == 5 and DEFAULT_CLASSIFIER.is_file()
