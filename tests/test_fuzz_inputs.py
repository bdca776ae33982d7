"""Inputs accepted that must not be (issue 24 sections 3 and 5): complex coordinates and
distances, coordinates and distances whose squares overflow, tolerances of NaN or Inf, trial
counts that are not counts. Each gets one ValueError naming the argument."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tinvnn.audit import check_invariance
from tinvnn.mds import mds

pytest.importorskip("scipy")

from tinvnn.geometry import knn_graph, landmark_mds  # noqa: E402


def _cloud(n: int = 20) -> torch.Tensor:
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _message(fn, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_complex_input_is_refused() -> None:
    pts = _cloud()
    expected = "points: expected real numbers, got complex dtype"
    assert _message(knn_graph, pts.to(torch.complex128) * (1 + 1j), 3) == f"{expected} torch.complex128"
    assert _message(knn_graph, pts.numpy() * (1 + 1j), 3) == f"{expected} complex128"
    d = torch.cdist(pts, pts)
    idx = np.arange(6)
    message = _message(landmark_mds, d[:6].numpy() * (1 + 1j), idx, 3)
    assert message == "landmark_dist: expected real numbers, got complex dtype complex128"
    message = _message(mds, d.to(torch.complex128), 3)
    assert message == "dist must be a floating-point tensor, got dtype torch.complex128"


def test_overflowing_magnitudes_are_refused() -> None:
    pts = _cloud()
    assert _message(knn_graph, pts * 1e200, 3).startswith("points: distances overflow float64 (coordinates up to ")
    d = torch.cdist(pts, pts) * 1e200
    assert _message(mds, d, 3).startswith("dist: distances up to ")
    assert "overflow float64 when squared; rescale them (e.g. divide by the largest)" in _message(mds, d, 3)
    message = _message(landmark_mds, d[:6].numpy(), np.arange(6), 3)
    assert message.startswith("landmark_dist: distances up to ") and "overflow float64 when squared" in message
    # the same clouds at a sane scale work: the refusal is about magnitude, not shape
    edge_index, weight = knn_graph(pts * 1e100, 3)
    assert torch.isfinite(weight).all() and edge_index.shape == (2, 60)


@pytest.mark.parametrize(("trials", "message"), [(True, "got True"), (2.5, "got 2.5"), (0, "got 0")])
def test_trials_must_be_a_count(trials: object, message: str) -> None:
    got = _message(check_invariance, lambda p: p.norm(), _cloud(), trials=trials)
    assert got == f"trials: expected a positive integer, {message}"


@pytest.mark.parametrize("rtol", [float("nan"), float("inf"), -1.0])
def test_report_ok_refuses_a_tolerance_that_passes_anything(rtol: float) -> None:
    report = check_invariance(lambda p: p[:, 0].sum(), _cloud())  # not invariant
    assert not report.ok(1e-3)
    assert _message(report.ok, rtol) == f"rtol: expected a finite non-negative number, got {rtol!r}"


@pytest.mark.parametrize("rtol", ["nan", "inf", "-1"])
def test_cli_audit_rtol(rtol: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinvnn.cli import main

    assert main(["audit", str(tmp_path / "never_read.pt"), "--rtol", rtol]) == 2  # refused before loading anything
    err = capsys.readouterr().err
    assert err == f"tinvnn: error: --rtol: expected a finite non-negative number, got {float(rtol)!r}\n"
