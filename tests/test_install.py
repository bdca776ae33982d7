"""The core install (torch, numpy only) gives a working command and one-line errors for extras.

The optional dependencies are hidden from a subprocess by a ``sitecustomize`` module that makes
their import fail and ``importlib.util.find_spec`` return None (torch probes for tqdm that way),
as on a machine where ``pip install tinvnn`` installed no extra.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tinvnn import __version__
from tinvnn._optional import COMMAND_EXTRAS, EXTRA_MODULES, EXTRAS, MissingDependencyError, missing_dependency, require
from tinvnn.cli import TASK_COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]

_BLOCKER = """
import sys

for name in {blocked!r}:
    sys.modules[name] = None  # `import name` raises ModuleNotFoundError; importlib.util.find_spec(name) is None
"""


def _run_core_only(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` with every optional dependency of tinvnn made unimportable."""
    (tmp_path / "sitecustomize.py").write_text(_BLOCKER.format(blocked=sorted(EXTRAS)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


_EVERY_HELP = """
import argparse
from tinvnn.cli import build_parser

def walk(parser, path):
    print(" ".join(path), len(parser.format_help()))
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                walk(sub, path + [name])

walk(build_parser(), ["tinvnn"])
"""


def test_every_help_works_without_extras(tmp_path: Path) -> None:
    help_ = _run_core_only(tmp_path, "-m", "tinvnn", "--help")
    assert help_.returncode == 0, help_.stderr
    for commands in TASK_COMMANDS.values():
        for command in commands:
            assert command in help_.stdout
    assert "unavailable" not in help_.stdout
    every = _run_core_only(tmp_path, "-c", _EVERY_HELP)
    assert every.returncode == 0, every.stderr
    shown = {line.rsplit(" ", 1)[0] for line in every.stdout.splitlines()}
    assert {
        "tinvnn classify",
        "tinvnn tsp solve",
        "tinvnn tsp imitate",
        "tinvnn nbody train",
        "tinvnn data convert",
    } <= shown
    version = _run_core_only(tmp_path, "-m", "tinvnn", "--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"tinvnn {__version__}")


def test_a_task_without_extras_prints_one_line(tmp_path: Path) -> None:
    run = _run_core_only(tmp_path, "-m", "tinvnn", "tsp", "solve", "x.tsp")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert lines == ["tinvnn: error: tinvnn tsp needs the optional dependency 'scipy': pip install 'tinvnn[tsp]'"]


def test_point_cloud_training_and_nbody_need_no_extra(tmp_path: Path) -> None:
    """Issue 22: classification no longer asks for elkai, h5py, scipy or even tqdm (plain progress lines)."""
    tiny = (
        "--method none --points 32 --width 16 --per-class 3 --test-per-class 1 --epochs 1 --batch-size 4 --no-progress"
    ).split()
    train = _run_core_only(tmp_path, "-m", "tinvnn", "train", *tiny, "--out", "run")
    assert train.returncode == 0, train.stderr
    audit = _run_core_only(tmp_path, "-m", "tinvnn", "audit", "run/checkpoint.pt", "--clouds", "2", "--trials", "1")
    assert audit.returncode == 0, audit.stderr
    sweep = _run_core_only(tmp_path, "-m", "tinvnn", "sweep-angle", "run/checkpoint.pt", "--step", "90")
    assert sweep.stderr.strip().splitlines() == [
        "tinvnn: error: tinvnn sweep-angle needs the optional dependency 'matplotlib': pip install 'tinvnn[pointcloud]'"
    ]
    nbody = (
        "--epochs 1 --data-n-train 10 --data-n-val 5 --data-n-test 5 --data-frame-in 0 "
        "--data-frame-out 2 --data-system-n-steps 500 --hidden 8 --layers 1 "
        "--batch-size 5 --out nbody"
    ).split()
    run = _run_core_only(tmp_path, "-m", "tinvnn", "nbody", "train", *nbody)
    assert run.returncode == 0, run.stderr


def _extras_from_pyproject() -> dict[str, set[str]]:
    """Each extra of pyproject.toml -> the optional top-level modules it installs (extras it includes resolved)."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    module_of = {
        "tqdm": "tqdm",
        "matplotlib": "matplotlib",
        "scipy": "scipy",
        "elkai": "elkai",
        "h5py": "h5py",
        "trimesh": "trimesh",
        "torch_geometric": "torch_geometric",
    }

    def modules(extra: str) -> set[str]:
        found: set[str] = set()
        for requirement in extras[extra]:
            name = re.split(r"[<>=\[ ]", requirement, maxsplit=1)[0]
            if name == "tinvnn":
                for inner in requirement[requirement.index("[") + 1 : requirement.index("]")].split(","):
                    found |= modules(inner)
            elif name in module_of:
                found.add(module_of[name])
        return found

    # test and fast serve the suite and the engine's kernel; peers, benchmarks/bench_peers.py only:
    # no library error names them.
    return {extra: modules(extra) for extra in extras if extra not in ("test", "fast", "peers")}


def test_extras_in_pyproject_match_what_the_errors_name() -> None:
    assert _extras_from_pyproject() == {extra: set(mods) for extra, mods in EXTRA_MODULES.items()}
    for module, extra in EXTRAS.items():  # the smallest extra that installs it
        smallest = min(len(mods) for mods in EXTRA_MODULES.values() if module in mods)
        assert module in EXTRA_MODULES[extra] and len(EXTRA_MODULES[extra]) == smallest, module
    assert set(COMMAND_EXTRAS) == {c for commands in TASK_COMMANDS.values() for c in commands}
    assert EXTRA_MODULES["pointcloud"].isdisjoint({"elkai", "h5py", "scipy"})  # classification: no TSP solver, no HDF5
    assert EXTRA_MODULES["tasks"] == set(EXTRAS) - {"torch_geometric"}


def test_library_imports_without_extras_and_names_the_extra_at_use(tmp_path: Path) -> None:
    script = """
import torch
import tinvnn, tinvnn.geometry, tinvnn.nn
print(tinvnn.canonicalize(torch.randn(10, 3)).shape)
print(tinvnn.geometry.euclidean_distances(torch.randn(4, 3)).shape)  # needs no scipy
for use in (lambda: tinvnn.geometry.knn_graph(torch.randn(10, 3), 3), lambda: __import__("tinvnn.pyg")):
    try:
        use()
    except ModuleNotFoundError as err:
        print(type(err).__name__, err)
"""
    run = _run_core_only(tmp_path, "-c", script)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "torch.Size([10, 3])",
        "torch.Size([4, 4])",
        "MissingDependencyError tinvnn.geometry needs the optional dependency 'scipy': pip install 'tinvnn[geometry]'",
        "MissingDependencyError tinvnn.pyg needs the optional dependency 'torch_geometric': pip install 'tinvnn[pyg]'",
    ]


def test_task_commands_lists_what_each_module_registers() -> None:
    for module_name, commands in TASK_COMMANDS.items():
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module_name).register(sub)
        assert tuple(sub.choices) == commands, module_name


def test_missing_dependency_only_for_optional_modules() -> None:
    err = missing_dependency(ModuleNotFoundError("No module named 'scipy.sparse'", name="scipy.sparse"), "f")
    assert isinstance(err, MissingDependencyError) and err.name == "scipy"
    assert err.install == "pip install 'tinvnn[geometry]'"
    assert missing_dependency(ModuleNotFoundError("No module named 'tinvnn.x'", name="tinvnn.x"), "f") is None
    with pytest.raises(ModuleNotFoundError) as info:
        require("tinvnn.no_such_module", "f")
    assert not isinstance(info.value, MissingDependencyError)
    assert require("numpy", "f").__name__ == "numpy"


def test_cli_reports_bad_input_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"tinvnn {__version__}"
    with pytest.raises(SystemExit) as info:
        main(["data", "convert", "x", "--format", "obj", "--up", "y"])
    assert info.value.code == 2 and "invalid choice: 'obj'" in capsys.readouterr().err
