"""Library calls a user gets wrong, or inputs at the edges: a clear error naming the argument, or
a sane result (finite, invariant where promised), never a silent wrong answer."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tinvnn import canonicalize, check_equivariance, check_invariance


@settings(max_examples=25, deadline=None)
@given(
    bad_trial=st.integers(min_value=0, max_value=5), value=st.sampled_from([float("nan"), float("inf"), -float("inf")])
)
def test_check_invariance_never_reports_a_non_finite_output_as_invariant(bad_trial: int, value: float) -> None:
    calls = {"n": 0}

    def fn(x: torch.Tensor) -> torch.Tensor:
        out = torch.cdist(x, x).mean(-1)
        calls["n"] += 1
        return out if calls["n"] != bad_trial + 2 else torch.full_like(out, value)  # call 1 is the reference

    calls["n"] = 0
    report = check_invariance(fn, torch.randn(20, 3, dtype=torch.float64), scale=False, trials=6)
    assert report.max_rel == float("inf") and not report.ok(1e-3)


def test_check_invariance_refuses_a_non_finite_reference() -> None:
    with pytest.raises(ValueError, match="fn returned NaN or Inf on the untransformed input"):
        check_invariance(lambda x: x.sum() * float("nan"), torch.randn(10, 3))
    with pytest.raises(ValueError, match="fn returned NaN or Inf on the untransformed input"):
        check_equivariance(lambda x: x / 0.0, torch.randn(10, 3), output="point")


@pytest.mark.parametrize(
    ("option", "value"), [("return_frame", "no"), ("return_frame", 1), ("scale", "no"), ("scale", None)]
)
def test_canonicalize_refuses_a_flag_that_is_not_a_bool(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^{option}: expected True or False, got {value!r}$"):
        canonicalize(torch.randn(10, 3), **{option: value})
