"""The recipes in ``docs/`` run as written and do what they say (in a fresh directory)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tinvnn.tasks.classification import BACKBONES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(), flags=re.S | re.M)


def test_extend_backbone_recipe_trains_and_stays_invariant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = python_blocks(DOCS / "extend-backbone.md")
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(BACKBONES, "point_mlp", BACKBONES["pointnet"])  # restored (removed) after the test
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "docs/extend-backbone.md", "exec"), namespace)
    assert BACKBONES["point_mlp"] is namespace["point_mlp_backbone"]
    assert type(namespace["model"].backbone).__name__ == "PointMLP"  # type: ignore[attr-defined]
    assert (tmp_path / "runs" / "point_mlp" / "checkpoint.pt").is_file()
    accuracy, report = capsys.readouterr().out.splitlines()[-2:]
    assert 0.0 <= float(accuracy) <= 1.0
    assert ast.literal_eval(report)["max_rel"] < 1e-9
