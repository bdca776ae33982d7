"""benchmarks/bench_peers.py on tiny synthetic clouds: the runs, the measurements, resume, the report.

The peers run when their libraries are installed (``pip install 'tinvnn[peers]'``) and are
skipped otherwise; CI installs ``[tasks,test]``, which brings PyTorch Geometric only.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch

from tinvnn.checkpoint import load_checkpoint
from tinvnn.training import RunOptions, fit

ROOT = Path(__file__).resolve().parents[1]


def _load_bench() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("bench_peers", ROOT / "benchmarks" / "bench_peers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_peers"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


bench = _load_bench()
TINY = bench.Settings(
    dataset="synthetic", points=32, width=16, epochs=1, batch_size=8, per_class=4, test_per_class=2, equiadapt_knn=4
)
OURS = ["none_z", "tinv_z"]
PEER_RUNS = ["pyg_pca_z", "fa_pytorch_z", "equiadapt_z"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One benchmark over tinvnn's tinv, none and every peer (skipped ones recorded as such)."""
    out = tmp_path_factory.mktemp("peers")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TINVNN_CACHE", str(tmp_path_factory.mktemp("cache")))
        data = bench.benchmark(TINY, out, only=OURS + PEER_RUNS, timing_repeats=1)
    return out, data


def _peer(data: dict[str, Any], run: str) -> dict[str, Any]:
    entry: dict[str, Any] = data["runs"][run]
    if "skipped" in entry:
        pytest.skip(f"{run}: {entry['skipped']}")
    return entry


def test_tinv_is_invariant_and_none_is_not(finished: tuple[Path, dict[str, Any]]) -> None:
    runs = finished[1]["runs"]
    tinv, none = runs["tinv_z"], runs["none_z"]
    assert max(tinv["invariance_error"].values()) < 1e-5  # float32, under O(3), scale and shift
    assert none["invariance_error"]["O3+scale+shift"] > 1e-2
    assert tinv["backbone_calls_per_cloud"] == none["backbone_calls_per_cloud"] == 1.0
    for entry in (tinv, none):
        assert set(entry["accuracy"]) == set(bench.TESTS)
        assert all(0.0 <= a <= 1.0 for a in entry["accuracy"].values())
        assert entry["epochs_trained"] == 1 and entry["train_seconds_per_epoch"] > 0
    # exactly invariant: the same predictions, so the same accuracy, under every test protocol
    assert len(set(tinv["accuracy"].values())) == 1
    assert set(finished[1]["timing"]["ms_per_batch"]) >= set(OURS)


def test_results_file_and_resume(finished: tuple[Path, dict[str, Any]]) -> None:
    out, data = finished
    assert json.loads((out / "results.json").read_text())["runs"] == data["runs"]
    stamp = (out / "tinv_z" / "checkpoint.pt").stat().st_mtime_ns
    again = bench.benchmark(TINY, out, only=["tinv_z"], timing_repeats=1)
    assert (out / "tinv_z" / "checkpoint.pt").stat().st_mtime_ns == stamp  # not retrained
    assert again["runs"]["tinv_z"] == data["runs"]["tinv_z"]  # not measured again


def test_unfinished_run_continues(tmp_path: Path) -> None:
    two = dataclasses.replace(TINY, epochs=2)
    config = bench.run_config(bench.Run("none", "z"), two)
    options = RunOptions(out=str(tmp_path / "none_z"), stop_after=1, progress=False)
    first = fit(bench.PeerTask(config), options).history  # then a kill
    data = bench.benchmark(two, tmp_path, only=["none_z"], timing_repeats=1)
    assert data["runs"]["none_z"]["epochs_trained"] == 2
    history = load_checkpoint(tmp_path / "none_z" / "checkpoint.pt")["meta"]["history"]
    assert history[0] == first[0]  # the first epoch was kept, not trained again


def test_other_settings_refused(finished: tuple[Path, dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="holds runs of other settings .*; use another --out"):
        bench.benchmark(dataclasses.replace(TINY, epochs=2), finished[0], only=["none_z"])


def test_given_checkpoint_must_match(finished: tuple[Path, dict[str, Any]]) -> None:
    config = bench.run_config(bench.Run("tinv", "z"), TINY)
    with pytest.raises(ValueError, match=r"trained with other settings: method='none' \(expected 'tinv'\)"):
        bench.load_given(finished[0] / "none_z", config)
    model, history = bench.load_given(finished[0] / "tinv_z", config)
    assert len(history) == 1 and not model.training


def test_report(finished: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--report", str(finished[0] / "results.json")])
    table = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip("| ") for line in table.splitlines() if line.startswith("| ")}
    assert rows >= set(bench.ROWS)
    assert "| aug | not run |" in table
    tinv = next(line for line in table.splitlines() if line.startswith("| tinv |"))
    assert tinv.count(" *") == 2  # its SO3 columns reuse the z-trained model


def test_unknown_run_and_bad_peer_config() -> None:
    with pytest.raises(ValueError, match=r"unknown runs \['nonsense'\]; expected names from \['none_z'"):
        bench.select_runs(["none_z", "nonsense"])
    with pytest.raises(
        ValueError, match="peer 'fa_pytorch' wraps the plain backbone: expected method 'none', got 'tinv'"
    ):
        bench.PeerTrainConfig(method="tinv", peer="fa_pytorch")


def test_pyg_normalize_rotation_is_not_invariant(finished: tuple[Path, dict[str, Any]]) -> None:
    entry = _peer(finished[1], "pyg_pca_z")
    assert entry["invariance_error"]["SO3"] > 1e-4  # eigenvector signs follow the input
    assert entry["backbone_calls_per_cloud"] == 1.0


def test_frame_averaging_pytorch_is_o3_invariant_but_not_scale(finished: tuple[Path, dict[str, Any]]) -> None:
    entry = _peer(finished[1], "fa_pytorch_z")
    errors = entry["invariance_error"]
    assert errors["O3"] < 1e-4
    assert errors["SO3+scale"] > 1e-4
    assert entry["backbone_calls_per_cloud"] == 8.0


def test_equiadapt_is_rotation_only(finished: tuple[Path, dict[str, Any]]) -> None:
    errors = _peer(finished[1], "equiadapt_z")["invariance_error"]
    assert errors["SO3"] < 1e-4  # equivariant canonicalizer
    assert errors["O3"] > 10 * errors["SO3"]  # no reflections
    assert errors["O3+scale+shift"] > 10 * errors["SO3"]  # nor scale or translation


def test_equiadapt_loads_without_its_init() -> None:
    if importlib.util.find_spec("omegaconf") is None or not bench.peer_installed("equiadapt"):
        pytest.skip("equiadapt is not installed")
    pointcloud = bench.load_equiadapt_pointcloud()
    model = bench.EquiadaptCanonicalized(torch.nn.Flatten(), knn=4)
    assert pointcloud.VNSmall is type(model.canonicalizer.canonicalization_network)
    assert model(torch.randn(2, 16, 3)).shape == (2, 48)
