"""The accuracy-versus-angle plot says what a reader needs without the terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tinvnn.tasks.classification.demo import plan_demo
from tinvnn.tasks.classification.sweep import chance_level, save_sweep, sweep_outputs


def test_chance_level_is_the_most_frequent_class() -> None:
    assert chance_level(torch.tensor([0, 1, 2, 3])) == 0.25
    assert chance_level(torch.tensor([2, 2, 2, 0])) == 0.75
    with pytest.raises(ValueError, match="at least one label"):
        chance_level(torch.tensor([], dtype=torch.long))


def test_save_sweep_writes_title_and_chance(tmp_path: Path) -> None:
    title = plan_demo(tmp_path / "no-data", epochs=3).title
    assert title.startswith("synthetic shapes (12 classes): PointNet trained 3 epochs on 40 clouds/class (256 points")
    png, js = save_sweep(
        {"none": [0.9, 0.4], "tinv": [0.8, 0.8]}, [0.0, 90.0], tmp_path / "s.png", title=title, chance=1 / 12
    )
    assert png.stat().st_size > 1000
    assert json.loads(js.read_text()) == {
        "title": title,
        "chance": 1 / 12,
        "angles_deg": [0.0, 90.0],
        "accuracy": {"none": [0.9, 0.4], "tinv": [0.8, 0.8]},
    }


def test_save_sweep_keeps_existing_files_unless_told(tmp_path: Path) -> None:
    curves, angles = {"tinv": [0.8, 0.8]}, [0.0, 90.0]
    png, js = save_sweep(curves, angles, tmp_path / "new" / "s.png")
    before = png.read_bytes()
    with pytest.raises(FileExistsError) as err:
        save_sweep({"tinv": [0.1, 0.1]}, angles, png)
    assert str(err.value) == f"{png} and {js} exist; pass --overwrite (overwrite=True) to replace them"
    assert png.read_bytes() == before and json.loads(js.read_text())["accuracy"] == curves
    save_sweep({"tinv": [0.1, 0.1]}, angles, png, overwrite=True)
    assert json.loads(js.read_text())["accuracy"] == {"tinv": [0.1, 0.1]}
    with pytest.raises(
        ValueError, match=r"^out: expected a \.png file name \(the JSON goes beside it\), got .*s\.jpg$"
    ):
        sweep_outputs(tmp_path / "s.jpg")
