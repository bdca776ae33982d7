"""The recipe of docs/extend-group.md runs as written: its python blocks, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "extend-group.md"


def test_the_group_recipe_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert blocks, f"{DOC} holds no python block"
    namespace: dict[str, object] = {"__name__": "recipe"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102
    assert namespace["group"].__class__.__name__ == "AxialRotations"
