"""The core install (torch, numpy only) gives a working command and one-line errors for extras.

The optional dependencies are hidden from a subprocess by a ``sitecustomize`` module that makes
their import fail, as on a machine where ``pip install tinvnn`` installed no extra.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinvnn import __version__
from tinvnn._optional import EXTRAS, MissingDependencyError, missing_dependency, require
from tinvnn.cli import TASK_COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]

_BLOCKER = """
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
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
    assert {"tinvnn classify", "tinvnn tsp solve", "tinvnn tsp imitate", "tinvnn nbody train", "tinvnn data convert"} <= shown
    version = _run_core_only(tmp_path, "-m", "tinvnn", "--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"tinvnn {__version__}")


def test_a_task_without_extras_prints_one_line(tmp_path: Path) -> None:
    run = _run_core_only(tmp_path, "-m", "tinvnn", "train", "--epochs", "1", "--out", "x")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinvnn: error: tinvnn train needs the optional dependency")
    assert lines[0].endswith("pip install 'tinvnn[tasks]'")


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
        "MissingDependencyError tinvnn.geometry needs the optional dependency 'scipy': pip install 'tinvnn[tasks]'",
        "MissingDependencyError tinvnn.pyg needs the optional dependency 'torch_geometric': pip install 'tinvnn[pyg]'",
    ]


def test_task_commands_lists_what_each_module_registers() -> None:
    for module_name, commands in TASK_COMMANDS.items():
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module_name).register(sub)
        assert tuple(sub.choices) == commands, module_name


def test_missing_dependency_only_for_optional_modules() -> None:
    err = missing_dependency(ModuleNotFoundError("No module named 'scipy.sparse'", name="scipy.sparse"), "f")
    assert isinstance(err, MissingDependencyError) and err.name == "scipy" and err.install == "pip install 'tinvnn[tasks]'"
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
