"""The invariance/equivariance audit catches what it should, and the group samplers are right."""

from __future__ import annotations

import pytest
import torch

from tests._clouds import skewed_cloud
from tinvnn import canonicalize, check_equivariance, check_invariance, random_orthogonal, random_similarity
from tinvnn.group import sign_patterns
from tinvnn.nn import TinvWrapper


@pytest.mark.parametrize("det", [None, 1, -1])
def test_random_orthogonal_is_orthogonal_with_the_asked_determinant(
    det: int | None, generator: torch.Generator
) -> None:
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


@pytest.mark.parametrize("d", [0, 1, 2, 3, 5])
def test_sign_patterns_are_every_diagonal_reflection_once(d: int) -> None:
    signs = sign_patterns(d, dtype=torch.float32)
    assert signs.shape == (2**d, d) and signs.dtype == torch.float32
    assert set(signs.flatten().tolist()) <= {1.0, -1.0}
    assert len({tuple(row) for row in signs.tolist()}) == 2**d  # all distinct
    assert bool((signs[0] == 1).all())  # the identity first


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
    with pytest.raises(ValueError, match="trials: expected a positive integer, got 0"):
        check_invariance(lambda p: p, torch.randn(5, 3), trials=0)


class _PooledMLP(torch.nn.Module):
    """A backbone on a flat batch: per-point MLP, summed per sample. Shape: (N_total, 3) -> (B, 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.mlp = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))

    def forward(self, z: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        h = self.mlp(z)
        return torch.zeros(int(batch.max()) + 1, h.shape[1], dtype=h.dtype).index_add_(0, batch, h)


@pytest.mark.parametrize("interleaved", [False, True], ids=["sorted", "interleaved"])
def test_flat_batch_is_audited_per_sample(interleaved: bool, generator: torch.Generator) -> None:
    """With batch=, each sample gets its own transform and points stay in their sample: no false alarm."""
    sizes = torch.tensor([30, 40, 25])
    pos = torch.cat([skewed_cloud(int(k), 3, generator=generator) for k in sizes])
    batch = torch.repeat_interleave(torch.arange(3), sizes)
    if interleaved:  # PyG does not require samples to be contiguous
        order = torch.randperm(len(batch), generator=generator)
        pos, batch = pos[order], batch[order]
    model = TinvWrapper(_PooledMLP()).double().eval()
    fn = lambda p: model(p, batch=batch)  # noqa: E731
    assert check_invariance(fn, pos).max_rel > 0.01  # read as one cloud: points move across samples
    assert check_invariance(fn, pos, batch=batch).ok(1e-9)
    per_point = lambda p: canonicalize(p, batch=batch)  # noqa: E731
    assert check_invariance(per_point, pos, batch=batch, per_point=True).ok(1e-9)
    assert check_equivariance(lambda p: p * 1.0, pos, batch=batch, output="point").ok(1e-12)
    # a joint quantity of the samples is not invariant when each sample moves on its own
    assert check_invariance(lambda p: p.mean(0).norm(), pos, batch=batch, scale=False).max_rel > 0.01


def test_unit_vectors_are_rotated_not_scaled(generator: torch.Generator) -> None:
    x = skewed_cloud(60, 3, generator=generator)
    normals = torch.nn.functional.normalize(torch.randn(60, 3, generator=generator, dtype=torch.float64), dim=1)

    def canonical_normals(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        _, frame = canonicalize(p, return_frame=True)
        return frame.to_canonical(n, vector=True, scale=False)

    assert check_invariance(canonical_normals, x, vectors=normals, per_point=True).max_rel > 0.1  # scaled normals
    assert check_invariance(canonical_normals, x, vectors=normals, unit_vectors=True, per_point=True).ok(1e-10)


def test_audit_bad_batch() -> None:
    with pytest.raises(ValueError, match=r"batch must be an integer tensor of shape \(5,\)"):
        check_invariance(lambda p: p, torch.randn(5, 3), batch=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"with batch, pos must be flat \(N_total, D\)"):
        check_invariance(lambda p: p, torch.randn(2, 5, 3), batch=torch.zeros(5, dtype=torch.long))
