"""The invariance/equivariance audit catches what it should, and the group samplers are right."""

from __future__ import annotations

import pytest
import torch

from tinvnn import check_equivariance, check_invariance, random_orthogonal, random_similarity
from tests._clouds import skewed_cloud


@pytest.mark.parametrize("det", [None, 1, -1])
def test_random_orthogonal_is_orthogonal_with_the_asked_determinant(det: int | None, generator: torch.Generator) -> None:
    q = random_orthogonal(4, (50,), det=det, generator=generator)
    torch.testing.assert_close(q @ q.mT, torch.eye(4, dtype=q.dtype).expand(50, 4, 4), atol=1e-12, rtol=0)
    dets = torch.linalg.det(q)
    if det is None:
        assert bool((dets > 0).any() and (dets < 0).any())
    else:
        torch.testing.assert_close(dets, torch.full_like(dets, float(det)))


def test_random_orthogonal_is_haar_on_average(generator: torch.Generator) -> None:
    """E[Q] = 0 and E[Q_ij^2] = 1/d under the Haar measure."""
    q = random_orthogonal(3, (20000,), generator=generator)
    torch.testing.assert_close(q.mean(0), torch.zeros(3, 3, dtype=q.dtype), atol=0.02, rtol=0)
    torch.testing.assert_close((q**2).mean(0), torch.full((3, 3), 1 / 3, dtype=q.dtype), atol=0.02, rtol=0)


def test_similarity_acts_on_points_and_vectors(generator: torch.Generator) -> None:
    g = random_similarity(3, (2,), scale_range=(2.0, 2.0), translation=5.0, generator=generator)
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    expected = 2.0 * torch.einsum("bij,bnj->bni", g.Q, x) + g.t[:, None]
    torch.testing.assert_close(g.points(x), expected)
    v = torch.randn(2, 7, 4, 3, dtype=torch.float64)
    torch.testing.assert_close(g.vectors(v, scale=False), torch.einsum("bij,bnkj->bnki", g.Q, v))


def test_check_invariance_flags_a_non_invariant_function(generator: torch.Generator) -> None:
    x = skewed_cloud(30, 3, generator=generator)
    assert check_invariance(lambda p: p.sum(0), x).max_rel > 0.1
    assert check_invariance(lambda p: p.sum(0), x, translate=False, scale=False).max_rel > 0.1  # rotation alone
    invariant = check_invariance(lambda p: (p - p.mean(0)).norm(dim=1).sort().values, x, scale=False)
    assert invariant.ok(1e-10), invariant
    assert "invariance error over 8 random transforms" in str(invariant)


def test_per_point_outputs_are_unpermuted(generator: torch.Generator) -> None:
    x = skewed_cloud(40, 3, generator=generator)
    per_point = lambda p: (p - p.mean(-2, keepdim=True)).norm(dim=-1)  # noqa: E731
    assert check_invariance(per_point, x, scale=False, per_point=True).ok(1e-10)
    assert check_invariance(per_point, x, scale=False, per_point=False).max_rel > 0.1  # order matters
    assert check_invariance(per_point, x.reshape(4, 10, 3), scale=False, per_point=True).ok(1e-10)


def test_check_equivariance(generator: torch.Generator) -> None:
    x = skewed_cloud(20, 3, generator=generator)
    assert check_equivariance(lambda p: p * 1.0, x, output="point").ok(1e-12)
    centred = lambda p: p - p.mean(-2, keepdim=True)  # noqa: E731
    assert check_equivariance(centred, x, output="vector").ok(1e-12)
    assert check_equivariance(centred, x, output="vector", scale_output=False).max_rel > 0.1
    shifted = lambda p: p + torch.tensor([1.0, 0.0, 0.0], dtype=p.dtype)  # noqa: E731
    assert check_equivariance(shifted, x, output="vector", translate=False, scale=False).max_rel > 0.01
    with_velocity = lambda p, v: p + 0.1 * v  # noqa: E731
    v = torch.randn(20, 3, dtype=torch.float64)
    assert check_equivariance(with_velocity, x, vectors=v, output="point").ok(1e-12)
    with pytest.raises(ValueError, match=r"output must be one of \['point', 'vector'\], got 'scalar'"):
        check_equivariance(centred, x, output="scalar")


def test_audit_bad_input() -> None:
    with pytest.raises(ValueError, match=r"pos must have shape \(N, D\) or \(B, N, D\), got \(3,\)"):
        check_invariance(lambda p: p, torch.ones(3))
    with pytest.raises(ValueError, match="fn must return a tensor, got float"):
        check_invariance(lambda p: 1.0, torch.randn(5, 3))
    with pytest.raises(ValueError, match="trials must be >= 1, got 0"):
        check_invariance(lambda p: p, torch.randn(5, 3), trials=0)
