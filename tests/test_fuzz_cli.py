"""Command lines a user gets wrong: each ends with exit status 2 and one line naming the problem,
never a traceback, never a silent result, and never work lost or a file overwritten.

Every case runs in-process through ``tinvnn.cli.main``; argparse errors (unknown choices, bad
types) exit through ``SystemExit(2)``, library checks return 2 with ``tinvnn: error: ...``.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from tinvnn.cli import main
from tinvnn.training import save_checkpoint

TINY_CLS = "--points 16 --per-class 2 --test-per-class 1 --width 8 --batch-size 4 --no-progress".split()
TINY_NBODY = (
    "--data-n-train 10 --data-n-val 4 --data-n-test 4 --data-frame-in 1 "
    "--data-frame-out 3 --data-system-n-steps 500 --hidden 8 --layers 1 "
    "--batch-size 5 --no-progress"
).split()
TINY_TSP = (
    "--num-cities 6 --embed-dim 8 --num-layers 1 --num-heads 2 --ff-dim 8 "
    "--batch-size 4 --val-instances 4 --no-progress"
).split()


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    return code, err


BAD_FLAGS = [
    # (command line, a fragment of the message; a field's check names its flag)
    (["train", *TINY_CLS, "--threads", "0"], "--threads: expected a positive integer, got 0"),
    (["train", *TINY_CLS, "--threads", "-1"], "--threads: expected a positive integer, got -1"),
    (["train", *TINY_CLS, "--log-every", "0"], "--log-every: expected a positive integer, got 0"),
    (["train", *TINY_CLS, "--epochs", "0"], "--epochs: expected a positive integer, got 0"),
    (["train", *TINY_CLS, "--lr", "nan"], "--lr: expected a finite positive number, got nan"),
    (["train", *TINY_CLS, "--lr", "inf"], "--lr: expected a finite positive number, got inf"),
    (["train", *TINY_CLS, "--lr", "-1"], "--lr: expected a finite positive number, got -1.0"),
    (["train", *TINY_CLS, "--weight-decay", "-0.1"], "--weight-decay: expected a finite non-negative number"),
    (["train", *TINY_CLS, "--device", "tpu"], "device: expected auto"),
    (["train", *TINY_CLS, "--method", "magic"], "invalid choice: 'magic'"),
    (["train", *TINY_CLS, "--epochs", "two"], "invalid int value: 'two'"),
    (["train", *TINY_CLS, "--resume", "--overwrite"], "resume and overwrite: choose one"),
    (["train", *TINY_CLS, "--stop-after", "0"], "--stop-after: expected a positive integer, got 0"),
    (
        ["train", *TINY_CLS, "--backbone", "dgcnn", "--k", "1000"],
        "--k: expected fewer DGCNN neighbours than points per cloud (16), got 1000",
    ),
    (["nbody", "train", *TINY_NBODY, "--epochs", "0"], "--epochs: expected a positive integer, got 0"),
    (["nbody", "train", *TINY_NBODY, "--lr", "nan"], "--lr: expected a finite positive number, got nan"),
    (["nbody", "train", *TINY_NBODY, "--threads", "0"], "--threads: expected a positive integer, got 0"),
    (["nbody", "train", *TINY_NBODY, "--data-frame-out", "99"], "frames: expected 0 <= frame_in < frame_out"),
    (["tsp", "train", *TINY_TSP, "--grad-clip", "-1"], "--grad-clip: expected a finite positive number, got -1.0"),
    (["tsp", "train", *TINY_TSP, "--grad-clip", "0"], "--grad-clip: expected a finite positive number, got 0.0"),
    (["tsp", "train", *TINY_TSP, "--grad-clip", "nan"], "--grad-clip: expected a finite positive number, got nan"),
    (["tsp", "train", *TINY_TSP[2:], "--num-cities", "2"], "--num-cities: expected at least 3 cities, got 2"),
    (["tsp", "train", *TINY_TSP, "--steps", "0"], "--steps: expected a positive integer, got 0"),
    (["tsp", "train", *TINY_TSP, "--steps", "150"], "--steps: expected a multiple of steps_per_epoch (100), got 150"),
    (["tsp", "train", *TINY_TSP, "--log-every", "0"], "--log-every: expected a positive integer, got 0"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_FLAGS, ids=[" ".join([a[0], *a[-2:]]) for a, _ in BAD_FLAGS])
def test_bad_flags_exit_2_with_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run([*argv, "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and message in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()  # refused before any work


LIBRARY_CHECKS = [
    # a library function's message about an argument, spelt with the command's flag
    (["tsp", "solve", "{tsp}", "--kicks", "-1"], "tinvnn: error: --kicks: expected a number of kicks >= 0, got -1"),
    (
        ["tsp", "solve", "{tsp}", "--starts", "0"],
        "tinvnn: error: --starts: expected a positive number of start cities, got 0",
    ),
    (
        ["tsp", "solve", "{tsp}", "--decode", "greedy", "--starts", "3"],
        "tinvnn: error: --starts: applies to decode 'multistart', got decode 'greedy'",
    ),
    (
        ["tsp", "solve", "{tsp}", "--optimum", "0"],
        "tinvnn: error: --optimum: expected a finite positive length, got 0.0",
    ),
    (["classify", "{npy}", "--top", "0"], "tinvnn: error: --top: expected a positive integer, got 0"),
    (["train", *TINY_CLS, "--device", "tpu"], "tinvnn: error: --device: expected auto"),
    (["tsp", "eval", "--threads", "0"], "tinvnn: error: --threads: expected a positive integer, got 0"),
]


@pytest.mark.parametrize(("argv", "message"), LIBRARY_CHECKS, ids=[" ".join(a[:1] + a[-2:]) for a, _ in LIBRARY_CHECKS])
def test_library_checks_name_the_flag(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tsp = tmp_path / "four.tsp"
    tsp.write_text(
        "NAME: four\nTYPE: TSP\nDIMENSION: 4\nEDGE_WEIGHT_TYPE: EUC_2D\n"
        "NODE_COORD_SECTION\n1 0 0\n2 9 0\n3 9 9\n4 0 9\nEOF\n"
    )
    npy = tmp_path / "cloud.npy"
    np.save(npy, np.random.default_rng(0).normal(size=(300, 3)))
    code, err = _run([a.format(tsp=tsp, npy=npy) for a in argv], capsys)
    assert code == 2 and err.startswith(message) and err.count("\n") == 1, err


@pytest.mark.parametrize("command", ["classification", "nbody", "tsp"])
def test_out_that_is_a_file_or_under_a_file(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = {
        "classification": ["train", "--epochs", "1", *TINY_CLS],
        "nbody": ["nbody", "train", "--epochs", "1", *TINY_NBODY],
        "tsp": ["tsp", "train", "--steps", "1", "--steps-per-epoch", "1", *TINY_TSP],
    }[command]
    (tmp_path / "file").write_text("keep me")
    for out, message in (
        (tmp_path / "file", "is not a directory"),
        (tmp_path / "file" / "below", "cannot create run directory"),
    ):
        code, err = _run([*argv, "--out", str(out)], capsys)
        assert code == 2 and message in err, err
    assert (tmp_path / "file").read_text() == "keep me"


@pytest.mark.parametrize("command", ["classification", "nbody", "tsp"])
def test_existing_run_is_kept_without_resume_or_overwrite(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = {
        "classification": ["train", "--epochs", "1", *TINY_CLS],
        "nbody": ["nbody", "train", "--epochs", "1", *TINY_NBODY],
        "tsp": ["tsp", "train", "--steps", "1", "--steps-per-epoch", "1", *TINY_TSP],
    }[command]
    run = tmp_path / "run"
    assert _run([*argv, "--out", str(run)], capsys)[0] == 0
    before = (run / "checkpoint.pt").read_bytes()
    code, err = _run([*argv, "--out", str(run)], capsys)
    assert code == 2 and "already holds a run" in err and (run / "checkpoint.pt").read_bytes() == before
    assert _run([*argv, "--out", str(run), "--overwrite", "--seed", "3"], capsys)[0] == 0
    assert (run / "checkpoint.pt").read_bytes() != before


class _RunsCode:
    def __reduce__(self):  # unpickling this would call os.system
        return (os.system, ("echo pwned > pwned.txt",))


def _evil_checkpoint(path: Path) -> Path:
    buffer = io.BytesIO()
    torch.save(
        {"config": {}, "state": {"model": _RunsCode()}, "meta": {}}, buffer, pickle_protocol=pickle.HIGHEST_PROTOCOL
    )
    path.write_bytes(buffer.getvalue())
    return path


LOADERS = [
    ["eval", "{ckpt}"],
    ["audit", "{ckpt}"],
    ["sweep-angle", "{ckpt}", "--out", "{tmp}/s.png"],
    ["nbody", "eval", "{ckpt}"],
    ["tsp", "eval", "--checkpoint", "{ckpt}", "--num-cities", "6", "--num", "2"],
]


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the crafted file uses protocol 5 on purpose
@pytest.mark.parametrize("argv", LOADERS, ids=[" ".join(a[:2]) for a in LOADERS])
@pytest.mark.parametrize("damage", ["code", "truncated", "foreign", "inconsistent"])
def test_every_checkpoint_reader_refuses_bad_files(
    argv: list[str], damage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / "bad.pt"
    if damage == "code":
        _evil_checkpoint(ckpt)
    elif damage == "truncated":
        save_checkpoint(ckpt, {"model": {"w": torch.randn(500)}}, {})
        ckpt.write_bytes(ckpt.read_bytes()[:700])
    elif damage == "foreign":
        save_checkpoint(ckpt, {"model": {}}, {"arch": "resnet"})
    else:  # every config key known, weights of another shape
        save_checkpoint(ckpt, {"model": {"w": torch.zeros(3)}}, {}, {"classes": ["a", "b"]})
    code, err = _run([a.format(ckpt=ckpt, tmp=tmp_path) for a in argv], capsys)
    assert code == 2 and str(ckpt) in err and "Traceback" not in err, err
    assert not (tmp_path / "pwned.txt").exists()
    if damage == "code":
        assert "could run code" in err


def test_a_checkpoint_with_nan_weights_is_never_scored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert _run(["train", "--method", "tinv", "--epochs", "1", *TINY_CLS, "--out", str(run)], capsys)[0] == 0
    payload = torch.load(run / "checkpoint.pt", weights_only=True)
    payload["state"]["model"] = {
        k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
        for k, v in payload["state"]["model"].items()
    }
    torch.save(payload, run / "checkpoint.pt")
    code, err = _run(["eval", str(run / "checkpoint.pt"), "--json"], capsys)
    assert code == 2 and "NaN or Inf logits" in err
    code, err = _run(["audit", str(run / "checkpoint.pt"), "--json", "--clouds", "2"], capsys)
    assert code == 2 and "NaN or Inf" in err


def test_tsp_solve_never_reports_an_impossible_gap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from tinvnn.tasks.tsp.tsplib import TSPLIBInstance, write_tsplib

    # a 4-city file that calls itself eil51, beside a solutions.txt that knows eil51's optimum
    path = write_tsplib(
        TSPLIBInstance("eil51", np.array([[0, 0], [0, 10], [10, 10], [10, 0]], float), "EUC_2D"), tmp_path / "eil51.tsp"
    )
    (tmp_path / "solutions.txt").write_text("eil51 : 426\n")
    code = main(["tsp", "solve", str(path), "--json", "--no-plot"])
    record = json.loads(capsys.readouterr().out)
    assert code == 0 and record["length"] == 40 and record["gap"] is None and record["optimum"] is None
    assert "cannot be this instance's" in caplog.text
    for bad in ("nan", "inf", "0", "-5"):
        code, err = _run(["tsp", "solve", str(path), "--optimum", bad, "--no-plot"], capsys)
        assert code == 2 and f"optimum: expected a finite positive length, got {float(bad)}" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--num-cities", "0"], "--num-cities: expected at least 3 cities, got 0"),
        (["--num", "0"], "--num: expected a positive number of instances, got 0"),
    ],
)
def test_tsp_eval_refuses_empty_test_sets(flags: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from tinvnn.tasks.tsp.attention.recipe import DEFAULT_ATTENTION_CHECKPOINT

    code, err = _run(["tsp", "eval", "--checkpoint", str(DEFAULT_ATTENTION_CHECKPOINT), *flags], capsys)
    assert code == 2 and message in err, err


def test_a_broken_pipe_that_is_not_stdout_is_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tinvnn.cli.pointcloud as pointcloud

    def broken(args: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(pointcloud, "_classify", broken)
    assert main(["classify", "x.npy"]) == 2
    assert capsys.readouterr().err == "tinvnn: error: Broken pipe\n"
