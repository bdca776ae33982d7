"""Shared fixtures: a seeded generator per test, the dtype matrix, and the data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tinvnn.paths import data_dir

# Tolerances for invariance of non-ambiguous samples, per dtype (relative error).
# float32 is limited by the input's own digits after a rotation, scale and a translation of up to
# 100 radii: the error grows like eps32 * (|t| / s) / eigen_gap (docs/conventions.md).
INVARIANCE_RTOL = {torch.float64: 1e-9, torch.float32: 1e-3}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture(params=[torch.float32, torch.float64], ids=["f32", "f64"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    return request.param


@pytest.fixture
def shared_data() -> Path:
    """The data directory (``$TINVNN_DATA``); skips the test when it is absent."""
    root = data_dir()
    if not root.is_dir():
        pytest.skip(f"data directory {root} not found (set TINVNN_DATA)")
    return root


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Caches written by tests go to a temporary directory, never the user's."""
    monkeypatch.setenv("TINVNN_CACHE", str(tmp_path_factory.mktemp("cache")))
