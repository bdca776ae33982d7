"""n-body networks: shapes, and measured equivariance of the wrapped GNNs, EGNN and the plain GNN."""

from __future__ import annotations

import pytest
import torch

import tinvnn
from tinvnn.models.nbody import EGNN, GNN
from tinvnn.nn import FrameAveraging, TinvWrapper
from tinvnn.tasks.nbody.dataset import NBodySplit
from tinvnn.tasks.nbody.evaluate import equivariance_errors
from tinvnn.tasks.nbody.recipe import MODELS, NBodyModelConfig, build_nbody_model

F64_TOL = 1e-9


def _inputs(batch: int = 6, n: int = 5, *, charges: str = "mixed", generator=None):
    loc = torch.randn(batch, n, 3, dtype=torch.float64, generator=generator) * torch.tensor(
        [2.0, 1.0, 0.5], dtype=torch.float64
    )
    vel = 0.5 * torch.randn(batch, n, 3, dtype=torch.float64, generator=generator)
    if charges == "mixed":
        q = torch.randint(0, 2, (batch, n), generator=generator).to(torch.float64) * 2 - 1
    else:
        q = torch.ones(batch, n, dtype=torch.float64)
    return loc, vel, q


@pytest.mark.parametrize("name", MODELS)
def test_shapes_and_dtype(name, dtype):
    model = build_nbody_model(NBodyModelConfig(model=name, hidden=8, layers=2)).to(dtype)
    loc, vel, q = (t.to(dtype) for t in _inputs())
    out = model(loc, vel, charges=q)
    assert out.shape == loc.shape and out.dtype == dtype


@pytest.mark.parametrize("group", ["O", "SO"])
@pytest.mark.parametrize("wrapper", [TinvWrapper, FrameAveraging])
def test_wrapped_gnn_is_equivariant_with_scale(wrapper, group, generator):
    # Equal charges make the relabelling of the charges a no-op, so the audit may permute.
    model = wrapper(GNN(hidden=16, layers=2), group=group, scale=True, output="point").double().eval()
    loc, vel, q = _inputs(charges="equal", generator=generator)
    report = tinvnn.check_equivariance(
        lambda x, v: model(x, v, charges=q),
        loc,
        output="point",
        vectors=vel,
        group=group,
        scale=True,
        translate=True,
        permute=True,
        trials=4,
    )
    assert report.ok(F64_TOL), str(report)


@pytest.mark.parametrize("wrapper", [TinvWrapper, FrameAveraging])
def test_so_wrapper_keeps_chirality(wrapper, generator):
    model = wrapper(GNN(hidden=16, layers=2), group="SO", scale=False, output="point").double().eval()
    loc, vel, q = _inputs(charges="equal", generator=generator)
    report = tinvnn.check_equivariance(
        lambda x, v: model(x, v, charges=q),
        loc,
        output="point",
        vectors=vel,
        group="O",
        scale=False,
        translate=False,
        trials=6,
    )
    assert report.max_rel > 1e-3  # reflections are not part of its symmetry


def test_egnn_is_equivariant(generator):
    model = EGNN(hidden=16, layers=2).double().eval()
    loc, vel, q = _inputs(charges="equal", generator=generator)
    report = tinvnn.check_equivariance(
        lambda x, v: model(x, v, charges=q), loc, output="point", vectors=vel, scale=False, trials=4
    )
    assert report.ok(F64_TOL), str(report)


@pytest.mark.parametrize("name", ["tinv_gnn", "fa_gnn", "egnn"])
def test_benchmark_models_are_equivariant_with_mixed_charges(name, generator):
    loc, vel, q = _inputs(batch=8, generator=generator)
    split = NBodySplit(loc.float(), vel.float(), q.float(), loc.float())
    errors = equivariance_errors(build_nbody_model(NBodyModelConfig(model=name, hidden=16, layers=2)), split, trials=3)
    assert errors.orthogonal < F64_TOL and errors.permutation < F64_TOL


def test_plain_gnn_is_not_equivariant(generator):
    loc, vel, q = _inputs(batch=8, generator=generator)
    split = NBodySplit(loc.float(), vel.float(), q.float(), loc.float())
    errors = equivariance_errors(build_nbody_model(NBodyModelConfig(model="gnn", hidden=16, layers=2)), split, trials=3)
    assert errors.orthogonal > 1e-2
    assert errors.permutation < F64_TOL  # message passing is permutation-equivariant


@pytest.mark.parametrize("name", ["tinv_gnn", "fa_gnn"])
def test_gnn_options_keep_wrapped_models_equivariant(name, generator):
    """Relative-position edges and displacement outputs add no symmetry but keep the wrappers exact."""
    loc, vel, q = _inputs(batch=8, generator=generator)
    split = NBodySplit(loc.float(), vel.float(), q.float(), loc.float())
    options = {"sign_augment": True} if name == "tinv_gnn" else {}
    model = build_nbody_model(
        NBodyModelConfig(model=name, hidden=16, layers=2, relative=True, residual=True, **options)
    ).eval()
    errors = equivariance_errors(model, split, trials=3)
    assert errors.orthogonal < F64_TOL and errors.permutation < F64_TOL
    plain = equivariance_errors(
        build_nbody_model(NBodyModelConfig(model="gnn", hidden=16, layers=2, relative=True, residual=True)),
        split,
        trials=3,
    )
    assert plain.orthogonal > 1e-2


def test_gnn_options_change_the_function():
    loc, vel, q = _inputs()
    base = GNN(hidden=8, layers=1).double()
    residual = GNN(hidden=8, layers=1, residual=True).double()
    residual.load_state_dict(base.state_dict())
    torch.testing.assert_close(residual(loc, vel, charges=q), loc + base(loc, vel, charges=q))
    relative = GNN(hidden=8, layers=1, relative=True).double()
    assert relative.gcl[0].edge_mlp[0].in_features == base.gcl[0].edge_mlp[0].in_features + 4
    shifted = relative(loc + 1.0, vel, charges=q) - relative(loc, vel, charges=q)
    assert "relative=True, residual=False" in repr(relative) and shifted.abs().max() > 1e-3


def test_charges_matter():
    model = GNN(hidden=8, layers=1).double()
    loc, vel, q = _inputs()
    assert not torch.allclose(model(loc, vel, charges=q), model(loc, vel, charges=-q * (q > 0)))


@pytest.mark.parametrize("model", [GNN(hidden=8, layers=1), EGNN(hidden=8, layers=1)])
def test_bad_inputs(model):
    loc, vel, q = (t.float() for t in _inputs())
    with pytest.raises(ValueError, match="vel: expected shape"):
        model(loc, vel[:, :4], charges=q)
    with pytest.raises(ValueError, match="charges: expected shape"):
        model(loc, vel, charges=q[:, :4])
    with pytest.raises(ValueError, match=r"loc: expected shape \(B, n, d\)"):
        model(loc[0], vel[0], charges=q[0])


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match="tinv_gnn"):
        NBodyModelConfig(model="transformer")
    with pytest.raises(ValueError, match=r"^relative, residual: options of the GNN family, not of 'egnn'$"):
        NBodyModelConfig(model="egnn", residual=True)
    with pytest.raises(ValueError, match=r"^sign_augment: an option of 'tinv_gnn' only, got model 'fa_gnn'$"):
        NBodyModelConfig(model="fa_gnn", sign_augment=True)
