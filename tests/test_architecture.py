"""The house rules, checked on the source: no import cycle inside ``tinvnn`` (function-level
imports included), and inference never reaches training code.

Imports are read with :mod:`ast` (every ``import`` statement, at module level or inside a
function), so an import placed inside a function to hide a cycle is seen. A *training module*
is ``tinvnn.training`` or any module that imports it (a task's trainer, distillation, imitation,
fine-tuning); inference modules must not reach one, transitively, counting the package
``__init__`` modules that importing a submodule runs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import pytest

import tinvnn

ROOT = Path(tinvnn.__file__).parent

# What a user runs to predict, never to train: the library's faces and every inference path.
# (The command line's modules import training code inside their training handlers only:
# tests/test_inference.py imports them and checks what they load.)
INFERENCE = (
    "tinvnn",
    "tinvnn.nn",
    "tinvnn.pyg",
    "tinvnn.geometry",
    "tinvnn.tsp",
    "tinvnn.tasks.classification.classify",
    "tinvnn.tasks.classification.evaluate",
    "tinvnn.tasks.classification.recipe",
    "tinvnn.tasks.classification.sweep",
    "tinvnn.tasks.nbody.evaluate",
    "tinvnn.tasks.nbody.recipe",
    "tinvnn.tasks.tsp.local.recipe",
    "tinvnn.tasks.tsp.local.solver",
    "tinvnn.tasks.tsp.attention.recipe",
    "tinvnn.tasks.tsp.attention.decoding",
    "tinvnn.tasks.tsp.attention.evaluate",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(module: str, level: int, current: str) -> str:
    if level == 0:
        return module
    package = current if MODULES[current].name == "__init__.py" else current.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{module}" if module else package


def imports_in(source: str, name: str) -> frozenset[str]:
    """The ``tinvnn`` modules that the source of module ``name`` imports anywhere (function bodies too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module or "", node.level, name)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return frozenset(found)


@cache
def imports(name: str) -> frozenset[str]:
    return imports_in(MODULES[name].read_text(), name)


def _with_parents(name: str) -> set[str]:
    """``name`` and the packages whose ``__init__`` importing it runs."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def reached(name: str) -> set[str]:
    """Every module that importing ``name`` and calling its functions may load."""
    seen: set[str] = set()
    todo = list(_with_parents(name))
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for target in imports(module):
            todo.extend(_with_parents(target))
    return seen


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def training_modules() -> set[str]:
    return {m for m in MODULES if m.startswith("tinvnn.training")} | {
        m for m in MODULES if any(t.startswith("tinvnn.training") for t in imports(m))
    }


def test_no_import_cycles() -> None:
    assert cycles({m: imports(m) for m in MODULES}) == []


def test_cycles_found_in_a_known_graph() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": []}
    assert cycles(graph) == [["a", "b", "c"]]


def test_function_level_and_relative_imports_are_read() -> None:
    source = "def f():\n    from tinvnn.training.harness import fit\n    from . import objective\n"
    found = imports_in(source, "tinvnn.tasks.tsp.local.solver")
    assert found == {"tinvnn.training.harness", "tinvnn.tasks.tsp.local"}


@pytest.mark.parametrize("name", INFERENCE)
def test_inference_reaches_no_training_module(name: str) -> None:
    assert name in MODULES, f"{name} is listed as an inference module but does not exist"
    leaked = sorted(reached(name) & training_modules())
    assert leaked == [], f"{name} reaches training code: {leaked}"


def test_training_modules_are_recognised() -> None:
    trainers = training_modules()
    assert "tinvnn.training.harness" in trainers
    assert "tinvnn.tasks.classification.train" in trainers
    assert "tinvnn.tasks.tsp.local.imitation" in trainers
    assert "tinvnn.tasks.classification.recipe" not in trainers
