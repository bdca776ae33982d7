"""Static types users see: ``make test`` runs mypy over this file (``[tool.mypy] files``), and
pytest runs it too, so the types asserted here are also the runtime types."""

from __future__ import annotations

import torch
from torch import Tensor
from typing_extensions import assert_type

from tinvnn import Frame, MDSInfo, canonicalize, mds


def test_canonicalize_overloads_follow_return_frame() -> None:
    x = torch.randn(10, 3)
    z = assert_type(canonicalize(x), Tensor)
    assert z.shape == (10, 3)  # `z.shape` type-checks: no union with the tuple
    z, frame = assert_type(canonicalize(x, return_frame=True), tuple[Tensor, Frame])
    assert isinstance(frame, Frame) and frame.R.shape == (1, 3, 3)
    flag: bool = bool(torch.rand(()) < 2)
    either = assert_type(canonicalize(x, return_frame=flag), Tensor | tuple[Tensor, Frame])
    assert isinstance(either, tuple)


def test_mds_overloads_follow_return_info() -> None:
    x = torch.randn(6, 2, dtype=torch.float64)
    dist = (x[:, None] - x[None]).norm(dim=-1)
    coords = assert_type(mds(dist, 2), Tensor)
    assert coords.shape == (6, 2)
    coords, info = assert_type(mds(dist, 2, return_info=True), tuple[Tensor, MDSInfo])
    assert isinstance(info, MDSInfo)
