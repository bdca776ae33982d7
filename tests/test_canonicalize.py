"""The engine's contract: invariance, distance preservation, layouts, ties, chirality, errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tinvnn
from tests._clouds import grid, same_point_set, skewed_cloud, whitened
from tests.conftest import INVARIANCE_RTOL
from tinvnn import canonicalize, check_invariance, random_orthogonal
from tinvnn._layout import Layout

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


def _transform(x: Tensor, q: Tensor, s: float, t: Tensor, perm: Tensor) -> Tensor:
    return (s * x.to(torch.float64) @ q.T + t)[perm].to(x.dtype)


Tensor = torch.Tensor


@SETTINGS
@given(
    n=st.integers(3, 2000),
    d=st.sampled_from([2, 3, 5]),
    det=st.sampled_from([1, -1]),
    log_scale=st.floats(-3, 3),
    shift=st.floats(0, 1e5),
    seed=st.integers(0, 2**31 - 1),
)
def test_invariance_float64(n: int, d: int, det: int, log_scale: float, shift: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = skewed_cloud(n, d, generator=g)
    z, frame = canonicalize(x, return_frame=True)
    assume(not bool(frame.ambiguous[0]) and float(frame.eigen_gap[0]) > 1e-2)
    q = random_orthogonal(d, det=det, generator=g)
    t = shift * torch.nn.functional.normalize(torch.randn(d, generator=g, dtype=torch.float64), dim=0)
    perm = torch.randperm(n, generator=g)
    z2 = canonicalize(_transform(x, q, 10.0**log_scale, t, perm))
    err = (z2 - z[perm]).abs().max() / z.abs().max()
    assert err < 1e-5


@SETTINGS
@given(n=st.integers(3, 2000), d=st.sampled_from([2, 3, 5]), log_scale=st.floats(-3, 3), seed=st.integers(0, 2**31 - 1))
def test_invariance_float32(n: int, d: int, log_scale: float, seed: int) -> None:
    """float32: translations up to 100 shape radii (more destroys the input's own digits)."""
    g = torch.Generator().manual_seed(seed)
    x = skewed_cloud(n, d, generator=g, dtype=torch.float32)
    z, frame = canonicalize(x, return_frame=True)
    assume(float(frame.sign_margin[0]) > 0.05 and float(frame.eigen_gap[0]) > 0.05)
    q = random_orthogonal(d, generator=g)
    radius = float(frame.s[0]) * 10.0**log_scale  # of the scaled shape
    t = 100 * radius * torch.nn.functional.normalize(torch.randn(d, generator=g, dtype=torch.float64), dim=0)
    perm = torch.randperm(n, generator=g)
    z2 = canonicalize(_transform(x, q, 10.0**log_scale, t, perm))
    assert z2.dtype == torch.float32
    err = (z2 - z[perm]).abs().max() / z.abs().max()
    assert err < INVARIANCE_RTOL[torch.float32]


@SETTINGS
@given(n=st.integers(3, 500), d=st.sampled_from([1, 2, 3, 5]), seed=st.integers(0, 2**31 - 1))
def test_distances_preserved_up_to_scale(n: int, d: int, seed: int) -> None:
    x = skewed_cloud(n, d, generator=torch.Generator().manual_seed(seed)) * 7.0 + 3.0
    z, frame = canonicalize(x, return_frame=True)
    torch.testing.assert_close(_pairwise(z) * frame.s[0], _pairwise(x), rtol=1e-9, atol=1e-9)
    z_raw = canonicalize(x, scale=False)
    torch.testing.assert_close(_pairwise(z_raw), _pairwise(x), rtol=1e-9, atol=1e-9)


def _pairwise(x: Tensor) -> Tensor:
    """Exact pairwise distances (``torch.cdist`` uses a matmul shortcut that loses digits)."""
    return (x[:, None] - x[None]).norm(dim=-1)


def test_check_invariance_agrees(dtype: torch.dtype, generator: torch.Generator) -> None:
    x = skewed_cloud(300, 3, generator=generator, dtype=dtype)
    report = check_invariance(canonicalize, x, per_point=True, translation=100.0, scale_range=(1e-3, 1e3))
    assert report.ok(INVARIANCE_RTOL[dtype]), report


def test_canonical_form_is_centred_diagonal_and_unit_rms(generator: torch.Generator) -> None:
    z, frame = canonicalize(skewed_cloud(400, 3, generator=generator), return_frame=True)
    torch.testing.assert_close(z.mean(0), torch.zeros(3, dtype=z.dtype), atol=1e-12, rtol=0)
    cov = z.T @ z / len(z)
    torch.testing.assert_close(cov, torch.diag(torch.diagonal(cov)), atol=1e-12, rtol=0)
    assert bool((torch.diagonal(cov)[:-1] >= torch.diagonal(cov)[1:]).all()), "axes ordered by variance"
    torch.testing.assert_close(z.pow(2).sum(1).mean(), torch.tensor(1.0, dtype=z.dtype))
    assert bool(((z**3).mean(0) > 0).all()), "sign rule: positive third moments"
    torch.testing.assert_close(frame.R.mT @ frame.R, torch.eye(3, dtype=z.dtype)[None], atol=1e-12, rtol=0)


def test_frame_round_trip_points_and_vectors(generator: torch.Generator) -> None:
    x = skewed_cloud(50, 3, generator=generator).reshape(5, 10, 3)
    z, frame = canonicalize(x, return_frame=True)
    torch.testing.assert_close(frame.to_canonical(x), z)
    torch.testing.assert_close(frame.from_canonical(z), x)
    v = torch.randn(5, 10, 4, 3, dtype=torch.float64)  # K = 4 vectors per point
    v_c = frame.to_canonical(v, vector=True, scale=False)
    torch.testing.assert_close(v_c.norm(dim=-1), v.norm(dim=-1))
    torch.testing.assert_close(frame.from_canonical(v_c, vector=True, scale=False), v)
    with pytest.raises(ValueError, match=r"laid out like the points, shape \(5, 10, \.\.\., D\)"):
        frame.to_canonical(torch.randn(4, 10, 3, dtype=torch.float64))


def test_so_keeps_chirality(generator: torch.Generator) -> None:
    x = skewed_cloud(200, 3, generator=generator)
    mirror = x * torch.tensor([-1.0, 1.0, 1.0], dtype=x.dtype)
    z_o, z_o_mirror = canonicalize(x), canonicalize(mirror)
    torch.testing.assert_close(z_o, z_o_mirror, rtol=0, atol=1e-10)  # O: a mirror image is the same shape
    z_so, frame = canonicalize(x, group="SO", return_frame=True)
    assert float(torch.linalg.det(frame.R[0])) == pytest.approx(1.0)
    assert float((z_so - canonicalize(mirror, group="SO")).abs().max()) > 1e-2  # SO: it is not
    report = check_invariance(lambda p: canonicalize(p, group="SO"), x, group="SO", per_point=True)
    assert report.ok(1e-9), report


@pytest.mark.parametrize("layout", ["mask", "batch"])
def test_batched_layouts_match_per_sample_calls(layout: str, generator: torch.Generator) -> None:
    sizes = [7, 30, 12]
    clouds = [skewed_cloud(n, 3, generator=generator) for n in sizes]
    singles = [canonicalize(c, group="SO") for c in clouds]
    if layout == "mask":
        pos = torch.zeros(3, max(sizes), 3, dtype=torch.float64)
        mask = torch.zeros(3, max(sizes), dtype=torch.bool)
        for i, c in enumerate(clouds):
            pos[i, : len(c)], mask[i, : len(c)] = c, True
        out = canonicalize(pos, mask=mask, group="SO")
        assert bool((out[~mask] == 0).all())
        got = [out[i, : len(c)] for i, c in enumerate(clouds)]
    else:
        batch = torch.cat([torch.full((n,), i) for i, n in enumerate(sizes)])
        perm = torch.randperm(len(batch), generator=generator)  # samples interleaved: order is free
        out = canonicalize(torch.cat(clouds)[perm], batch=batch[perm], group="SO")
        out = out[torch.argsort(perm)]
        got = list(out.split(sizes))
    for a, b in zip(got, singles, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("ids", [[0, 0, 1, 1, 2, 2], [0, 1, 2, 0, 1, 2], [0, 0, 0, 1, 1, 2]])
def test_flat_index_of_every_flat_layout(ids: list[int]) -> None:
    """In-order equal-size batches (a reshape, index built on demand) and the general ones give
    each point its sample id and its slot among that sample's points, in input order."""
    batch = torch.tensor(ids)
    layout = Layout.from_input(torch.zeros(len(ids), 3), None, batch, min_points=1)
    sample, slot = layout.flat_index()
    assert sample.tolist() == ids
    assert slot.tolist() == [ids[:i].count(ids[i]) for i in range(len(ids))]
    assert layout.contiguous == (ids == sorted(ids) and len(set(ids.count(i) for i in set(ids))) == 1)
    x = torch.arange(18.0).reshape(6, 3)
    torch.testing.assert_close(layout.from_dense(layout.to_dense(x)), x)
    with pytest.raises(ValueError, match="a padded layout has no flat index"):
        Layout.from_input(torch.zeros(2, 4, 3), None, None).flat_index()


def test_dtype_kept_and_input_untouched(dtype: torch.dtype, generator: torch.Generator) -> None:
    x = skewed_cloud(40, 3, generator=generator, dtype=dtype)
    before = x.clone()
    z = canonicalize(x)
    assert z.dtype == dtype and z.shape == x.shape
    assert torch.equal(x, before)


def test_gradients_flow_and_match_finite_differences(generator: torch.Generator) -> None:
    x = skewed_cloud(12, 3, generator=generator).requires_grad_()
    assert torch.autograd.gradcheck(lambda p: canonicalize(p), (x,))


# ---------------------------------------------------------------------- ties and symmetry
@pytest.mark.parametrize("d,side", [(2, 6), (3, 4)])
def test_grid_same_point_set_under_every_transform(d: int, side: int, generator: torch.Generator) -> None:
    """Equal eigenvalues and zero odd moments: the tie rule still finds the same point set,
    up to the grid's own symmetry (which permutes points, so compare as sets)."""
    x = grid(side, d)
    z, frame = canonicalize(x, return_frame=True)
    assert bool(frame.tie_used[0]) and float(frame.eigen_gap[0]) < 1e-12
    for _ in range(10):
        q = random_orthogonal(d, generator=generator)
        moved = 3.7 * x @ q.T + torch.randn(d, generator=generator, dtype=torch.float64) * 50
        assert same_point_set(canonicalize(moved), z, atol=1e-8)


@pytest.mark.parametrize("d", [2, 3])
def test_tied_eigenvalues_without_symmetry_are_exactly_invariant(d: int, generator: torch.Generator) -> None:
    """Isotropic covariance but a generic shape: plain PCA is arbitrary here, the tie rule is not."""
    x = whitened(300, d, generator=generator)
    z, frame = canonicalize(x, return_frame=True)
    assert bool(frame.tie_used[0]) and not bool(frame.ambiguous[0])
    report = check_invariance(canonicalize, x, per_point=True, trials=10)
    assert report.ok(1e-7), report


def test_partial_tie_inside_a_generic_shape(generator: torch.Generator) -> None:
    """Two tied eigenvalues (like a square footprint) plus a distinct third one (the height),
    with no symmetry: the tie rule must orient the footprint the same way every time."""
    x = whitened(300, 3, generator=generator) * torch.tensor([3.0, 1.0, 1.0], dtype=torch.float64)
    z, frame = canonicalize(x, return_frame=True)
    assert bool(frame.tie_used[0]) and float(frame.eigen_gap[0]) < 1e-12 and not bool(frame.ambiguous[0])
    report = check_invariance(canonicalize, x, per_point=True, trials=10)
    assert report.ok(1e-7), report


def test_ambiguity_actions_on_a_symmetric_grid() -> None:
    x = grid(4, 2)
    _, frame = canonicalize(x, return_frame=True)
    assert bool(frame.ambiguous[0]) and float(frame.sign_margin[0]) < 1e-12
    with pytest.warns(tinvnn.AmbiguityWarning, match=r"1 sample\(s\) have a near-ambiguous canonical frame"):
        canonicalize(x, on_ambiguity="warn")
    with pytest.raises(ValueError, match="near-ambiguous canonical frame"):
        canonicalize(x, on_ambiguity="raise")


def test_rank_deficient_inputs_are_invariant(generator: torch.Generator) -> None:
    """Planar points in 3-D and 3 points in 5-D: null axes are arbitrary but move no point."""
    planar = torch.cat([skewed_cloud(100, 2, generator=generator), torch.zeros(100, 1, dtype=torch.float64)], 1)
    for x in (planar, skewed_cloud(3, 5, generator=generator)):
        _, frame = canonicalize(x, return_frame=True)
        assert float(frame.sign_margin[0]) > 1e-3
        for group in ("O", "SO"):
            fn = lambda p, g=group: canonicalize(p, group=g)  # noqa: E731
            assert check_invariance(fn, x, group=group, per_point=True).ok(1e-8)


@pytest.mark.slow  # compiling takes 30-40 s on the 2-core development VM
def test_compiles_to_one_graph_matching_eager(generator: torch.Generator) -> None:
    """fullgraph=True: no data-dependent Python branch and no host synchronisation on the way;
    the rare branch (here a tie) runs inside the same graph, value checks become assertions."""
    compiled = torch.compile(canonicalize, fullgraph=True)
    common = torch.stack([skewed_cloud(300, 3, generator=generator) for _ in range(2)]).float()
    tied = torch.stack([whitened(300, 3, generator=generator), skewed_cloud(300, 3, generator=generator)]).float()
    for x in (common, tied):
        torch.testing.assert_close(compiled(x), canonicalize(x), rtol=0, atol=1e-6)
    bad = common.clone()
    bad[1, 7, 2] = float("nan")
    with pytest.raises(RuntimeError, match="pos must be finite"):
        compiled(bad)


@pytest.mark.slow  # compiling takes 40-90 s on the 2-core development VM
@pytest.mark.parametrize("group", ["SO2z", "O2z"])
def test_axial_group_compiles_to_one_graph_matching_eager(generator: torch.Generator, group: str) -> None:
    """The axial frame step (rule 9: a 2-D frame of the projected points) traces as one graph too."""
    compiled = torch.compile(lambda p: canonicalize(p, group=group), fullgraph=True)
    x = torch.stack([skewed_cloud(300, 3, generator=generator) for _ in range(2)]).float()
    torch.testing.assert_close(compiled(x), canonicalize(x, group=group), rtol=0, atol=1e-6)


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"pos": [[0.0, 1.0]]}, "pos must be a torch.Tensor, got list"),
        ({"pos": torch.ones(4, 3, dtype=torch.int64)}, "pos must be a floating-point tensor, got dtype torch.int64"),
        (
            {"pos": torch.ones(4)},
            r"pos must have shape \(N, D\), \(B, N, D\) or flat \(N_total, D\) with batch, got \(4,\)",
        ),
        ({"pos": torch.ones(2, 2, 2, 2)}, r"got \(2, 2, 2, 2\)"),
        (
            {"pos": torch.tensor([[0.0, 1.0], [float("nan"), 2.0], [1.0, 1.0]])},
            r"pos must be finite, got NaN or Inf at index \(1, 0\)",
        ),
        ({"pos": torch.tensor([[0.0, float("inf")], [1.0, 2.0]])}, r"at index \(0, 1\)"),
        ({"pos": torch.ones(1, 3)}, "sample 0 of pos has 1 point\\(s\\); at least 2 points are needed"),
        ({"pos": torch.ones(5, 3)}, "sample 0: all points coincide, so the scale is zero \\(use scale=False\\)"),
        (
            {"pos": torch.randn(2, 4, 3), "mask": torch.tensor([[True] * 4, [False] * 4])},
            "sample 1 of pos has an all-False mask row",
        ),
        (
            {"pos": torch.randn(2, 4, 3), "mask": torch.ones(2, 5, dtype=torch.bool)},
            r"mask must be a bool tensor of shape \(2, 4\)",
        ),
        ({"pos": torch.randn(4, 3), "mask": torch.ones(4, dtype=torch.bool)}, r"mask needs a padded batch \(B, N, D\)"),
        (
            {"pos": torch.randn(4, 3), "batch": torch.zeros(3, dtype=torch.long)},
            r"batch must be an integer tensor of shape \(4,\)",
        ),
        (
            {"pos": torch.randn(4, 3), "batch": torch.tensor([0, 0, 2, 2])},
            r"sample 1 of pos has no points \(batch ids must run 0..B-1 without gaps\)",
        ),
        ({"pos": torch.randn(0, 3)}, r"sample 0 of pos has 0 point\(s\)"),
        ({"pos": torch.randn(4, 3), "group": "SE"}, r"group must be one of \['O', 'O2z', 'SO', 'SO2z'\], got 'SE'"),
        (
            {"pos": torch.randn(4, 3), "on_ambiguity": "skip"},
            r"on_ambiguity must be one of \['ignore', 'raise', 'warn'\], got 'skip'",
        ),
    ],
)
def test_bad_input_messages(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        canonicalize(**kwargs)


def test_identical_points_allowed_without_scale() -> None:
    z = canonicalize(torch.ones(5, 3) * 4.0, scale=False)
    assert torch.equal(z, torch.zeros(5, 3))
