"""The fused kernel (tinvnn._kernels, numba) against the engine's torch path: same canonical
points, signs and frames where it applies; the torch path for every sample it leaves."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from tests._clouds import grid, skewed_cloud
from tinvnn import canonicalize
from tinvnn.frame import Frame

kernels = pytest.importorskip("tinvnn._kernels", reason="numba not installed (tinvnn[fast])")
engine = importlib.import_module("tinvnn.canonical")
fast_path = importlib.import_module("tinvnn._fast")
Tensor = torch.Tensor
FIELDS = ("t", "R", "s", "eigenvalues", "eigen_gap", "sign_margin", "tie_margin")


def _both(
    monkeypatch: pytest.MonkeyPatch, pos: Tensor, **kwargs: object
) -> tuple[tuple[Tensor, Frame], tuple[Tensor, Frame]]:
    """``canonicalize(pos, return_frame=True, **kwargs)`` with the kernel (if it applies) and by the torch path."""
    fast = canonicalize(pos, return_frame=True, **kwargs)  # type: ignore[call-overload]
    with monkeypatch.context() as m:
        m.setattr(fast_path, "FAST_KERNELS", False)
        slow = canonicalize(pos, return_frame=True, **kwargs)  # type: ignore[call-overload]
    return fast, slow


def _assert_same(fast: tuple[Tensor, Frame], slow: tuple[Tensor, Frame], atol: float, rtol: float = 1e-9) -> None:
    """Canonical points within ``atol``, frame fields within ``rtol`` (float64 rounding), flags identical."""
    (z, frame), (z_ref, ref) = fast, slow
    assert z.dtype == z_ref.dtype and z.shape == z_ref.shape
    torch.testing.assert_close(z, z_ref, rtol=0, atol=atol)
    for name in FIELDS:
        torch.testing.assert_close(getattr(frame, name), getattr(ref, name), rtol=rtol, atol=1e-12, msg=name)
    assert torch.equal(frame.tie_used, ref.tie_used) and torch.equal(frame.ambiguous, ref.ambiguous)


def _clear(x: Tensor, scale: bool = True, group: str = "O") -> np.ndarray:
    """(B,) bool: the samples of ``x`` (B, N, 3) the kernel finishes itself, at the default tolerances."""
    points = x.contiguous().numpy()
    return kernels.frames(points, np.empty_like(points), scale, group == "SO", *engine._kernel_bounds(1e-3, 1e-3))[-1]


def _batch(b: int, n: int, *, offset: float, dtype: torch.dtype, seed: int) -> Tensor:
    """(b, n, 3) skewed clouds, each shifted ``offset`` radii in a random direction."""
    g = torch.Generator().manual_seed(seed)
    x = torch.stack([skewed_cloud(n, 3, generator=g) for _ in range(b)])
    shift = torch.nn.functional.normalize(torch.randn(b, 1, 3, generator=g, dtype=torch.float64), dim=-1)
    return (x + offset * x.std() * shift).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("offset", [0.0, 1e3, 1e6])
@pytest.mark.parametrize(("group", "scale"), [("O", True), ("SO", True), ("O", False)])
def test_kernel_matches_the_torch_path(
    monkeypatch: pytest.MonkeyPatch, dtype: torch.dtype, offset: float, group: str, scale: bool
) -> None:
    x = _batch(24, 300, offset=offset, dtype=dtype, seed=int(offset) % 97)
    assert _clear(x, scale, group).mean() > 0.9  # the kernel, not the fallback, is under test
    fast, slow = _both(monkeypatch, x, group=group, scale=scale)
    radius = 1.0 if scale else float(slow[1].eigenvalues.sum(-1).sqrt().max())
    # float64 rounding of the centroid, `offset` radii out, bounds the agreement (both centre in float64).
    atol = radius * (1e-6 if dtype == torch.float32 else 1e-12 * max(offset, 1.0))
    _assert_same(fast, slow, atol, rtol=1e-12 * max(offset, 1e3))
    assert torch.equal(torch.sign(fast[1].R), torch.sign(slow[1].R))  # identical signs


@pytest.mark.parametrize("layout", ["padded", "single", "flat"])
def test_every_equal_size_layout_uses_the_kernel(monkeypatch: pytest.MonkeyPatch, layout: str) -> None:
    x = _batch(4, 200, offset=10.0, dtype=torch.float32, seed=1)
    pos, kwargs = {
        "padded": (x, {}),
        "single": (x[0], {}),
        "flat": (x.reshape(-1, 3), {"batch": torch.arange(4).repeat_interleave(200)}),
    }[layout]
    fast, slow = _both(monkeypatch, pos, **kwargs)
    _assert_same(fast, slow, 1e-6)
    monkeypatch.setattr(engine, "_torch_frame", None)  # any call would fail
    torch.testing.assert_close(canonicalize(pos, **kwargs), fast[0], rtol=0, atol=0)


def test_samples_near_a_threshold_take_the_torch_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ties, a null axis, a centrally symmetric cloud and a skewness on ``sign_tol`` are left to the
    torch path, per sample, with its results; the clear samples beside them keep the kernel's."""
    g = torch.Generator().manual_seed(3)
    x = _batch(8, 343, offset=5.0, dtype=torch.float64, seed=3)
    x[1] = grid(7, 3)  # tied eigenvalues, odd moments zero
    x[2, :, 2] = 0.0  # planar: a null axis
    half = skewed_cloud(171, 3, generator=g)
    x[3] = torch.cat([half, -half, torch.zeros(1, 3, dtype=torch.float64)])  # centrally symmetric
    z = skewed_cloud(343, 3, generator=g)
    z = (z - z.mean(0)) @ torch.linalg.eigh(torch.cov(z.T, correction=0))[1]
    x[4] = z / z.std(0, correction=0) * torch.tensor([2.0, 1.0, 1.0001], dtype=torch.float64)  # a near tie
    clear = _clear(x)
    assert not clear[1:5].any() and clear[[0, 5, 6, 7]].all()
    _assert_same(*_both(monkeypatch, x), atol=1e-12)
    _assert_same(*_both(monkeypatch, x, group="SO"), atol=1e-12)


def test_skewness_on_sign_tol_takes_the_torch_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sign decided within the ambiguity band of ``sign_tol`` is ambiguous, as the torch path says."""
    x = _batch(6, 300, offset=0.0, dtype=torch.float64, seed=5)
    ref = canonicalize(x, return_frame=True)[1]
    sign_tol = float(ref.sign_margin[2]) * 1.001  # sample 2's weakest sign sits on the threshold
    fast, slow = _both(monkeypatch, x, sign_tol=sign_tol)
    _assert_same(fast, slow, 1e-12)
    assert bool(fast[1].ambiguous[2])


def test_out_of_range_and_unsupported_inputs_keep_the_torch_path(monkeypatch: pytest.MonkeyPatch) -> None:
    x = _batch(3, 100, offset=0.0, dtype=torch.float64, seed=7)
    for pos, kwargs in [
        (x * 1e80, {}),  # third moments beyond float64 in input units: per sample
        (x.to(torch.float16), {}),
        (x[..., :2].contiguous(), {}),
        (x, {"mask": torch.ones(3, 100, dtype=torch.bool).index_fill_(1, torch.tensor([5]), False)}),
    ]:
        _assert_same(*_both(monkeypatch, pos, **kwargs), atol=1e-3 if pos.dtype == torch.float16 else 1e-9)
    leaf = x.clone().requires_grad_()
    z = canonicalize(leaf)
    z.sum().backward()
    assert leaf.grad is not None
    with pytest.raises(ValueError, match="^pos"):
        canonicalize(
            x.index_put(
                (torch.tensor([1]), torch.tensor([3]), torch.tensor([0])),
                torch.tensor(float("nan"), dtype=torch.float64),
            )
        )
    with pytest.raises(ValueError, match="all points coincide"):
        canonicalize(torch.ones(2, 10, 3))


def test_jacobi_eigh_matches_lapack() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        lam = np.sort(rng.random(3) * 10.0 ** rng.uniform(-6, 6, 3))[::-1]
        cov = (q * lam) @ q.T
        evals, evecs = np.empty(3), np.empty((3, 3))
        kernels._eigh3(cov.copy(), evals, evecs)
        np.testing.assert_allclose(evals, np.linalg.eigvalsh(cov)[::-1], rtol=0, atol=1e-14 * lam[0])
        np.testing.assert_allclose(evecs.T @ evecs, np.eye(3), atol=1e-14)
        np.testing.assert_allclose(evecs.T @ cov @ evecs, np.diag(evals), atol=1e-14 * lam[0])
