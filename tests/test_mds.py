"""Classical MDS from distances agrees with the coordinate path and refuses bad matrices."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests._clouds import skewed_cloud
from tinvnn import NonEuclideanWarning, canonicalize, mds


def _pairwise(x: torch.Tensor) -> torch.Tensor:
    return (x[..., :, None, :] - x[..., None, :, :]).norm(dim=-1)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(n=st.integers(4, 300), d=st.sampled_from([2, 3, 5]), seed=st.integers(0, 2**31 - 1), scale=st.booleans())
def test_mds_of_distances_equals_canonicalize(n: int, d: int, seed: int, scale: bool) -> None:
    x = skewed_cloud(n, d, generator=torch.Generator().manual_seed(seed)) * 4.0 - 9.0
    z, frame = canonicalize(x, scale=scale, return_frame=True)
    assume(not bool(frame.ambiguous[0]) and float(frame.eigen_gap[0]) > 1e-2 and n > d)
    z_mds, info = mds(_pairwise(x), d, scale=scale, return_info=True)
    torch.testing.assert_close(z_mds, z, rtol=0, atol=1e-7 * float(z.abs().max()))
    assert float(info.negative_fraction[0]) < 1e-10 and int(info.clipped[0]) == 0


def test_mds_masked_batch_matches_per_sample(generator: torch.Generator) -> None:
    clouds = [skewed_cloud(n, 3, generator=generator) for n in (9, 20)]
    dist = torch.zeros(2, 20, 20, dtype=torch.float64)
    mask = torch.zeros(2, 20, dtype=torch.bool)
    for i, c in enumerate(clouds):
        dist[i, : len(c), : len(c)], mask[i, : len(c)] = _pairwise(c), True
    dist[0, 9:, :] = float("inf")  # padding content must not matter
    dist[0, :, 9:] = float("nan")
    out = mds(dist, 3, mask=mask)
    for i, c in enumerate(clouds):
        torch.testing.assert_close(out[i, : len(c)], mds(_pairwise(c), 3), rtol=0, atol=1e-9)
    assert bool((out[0, 9:] == 0).all())


def test_non_euclidean_distances_are_clipped_and_reported() -> None:
    # Shortest paths on a 6-cycle: not embeddable in any Euclidean space.
    n = 6
    idx = torch.arange(n)
    hops = (idx[:, None] - idx[None]).abs()
    dist = torch.minimum(hops, n - hops).to(torch.float64)
    with pytest.warns(NonEuclideanWarning, match="negative Gram eigenvalues carry up to"):
        z, info = mds(dist, 5, return_info=True)
    assert float(info.negative_fraction) > 0.01
    assert int(info.clipped) >= 1  # asked for 5 dims, fewer positive eigenvalues exist
    assert bool(torch.isfinite(z).all())


@pytest.mark.parametrize(
    "dist,kwargs,message",
    [
        (torch.ones(3, 4), {}, r"dist must be a square matrix \(N, N\) or a batch \(B, N, N\), got \(3, 4\)"),
        (torch.tensor([[0.0, 1.0], [2.0, 0.0]]), {}, "dist must be symmetric"),
        (torch.tensor([[0.0, -1.0], [-1.0, 0.0]]), {}, "dist must be non-negative"),
        (
            torch.tensor([[0.0, float("nan")], [float("nan"), 0.0]]),
            {},
            r"dist must be finite, got NaN or Inf at index \(0, 1\)",
        ),
        (torch.tensor([[1.0, 1.0], [1.0, 0.0]]), {}, "dist must have a zero diagonal"),
        (torch.zeros(3, 3), {"dim": 4}, "dim must be between 1 and N=3, got 4"),
        (torch.zeros(3, 3, dtype=torch.int64), {}, "dist must be a floating-point tensor"),
        (
            torch.zeros(3, 3),
            {"mask": torch.ones(3, dtype=torch.bool)},
            r"mask needs a batch of distance matrices \(B, N, N\)",
        ),
        (
            torch.zeros(1, 4, 4),
            {"dim": 3, "mask": torch.tensor([[True, True, False, False]])},
            "dim must be at most the smallest number of real points, 2, got 3",
        ),
    ],
)
def test_bad_distance_matrices(dist: torch.Tensor, kwargs: dict, message: str) -> None:
    kwargs = {"dim": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        mds(dist, **kwargs)


@pytest.mark.parametrize("n", [100, 1024])
def test_float32_cdist_is_accepted_and_matches_canonicalize(n: int) -> None:
    """``torch.cdist``'s float32 fast path leaves diagonal entries of order sqrt(eps) (1.6e-4 of
    the largest distance seen): the float32 default tolerance, 10 sqrt(eps), accepts them; a
    diagonal of 1 % is still refused, and float64 keeps 1e-6."""
    x = torch.randn(n, 3, generator=torch.Generator().manual_seed(n))
    d = torch.cdist(x, x)
    torch.testing.assert_close(mds(d, 3), canonicalize(x), rtol=0, atol=1e-5)
    d[0, 0] = 0.01 * d.max()
    with pytest.raises(ValueError, match=r"^dist must have a zero diagonal, got entries up to 0\.01 of the largest"):
        mds(d, 3)
    noisy = torch.cdist(x.double(), x.double()) + 1e-5 * torch.eye(n, dtype=torch.float64)
    with pytest.raises(ValueError, match="zero diagonal"):
        mds(noisy, 3)
