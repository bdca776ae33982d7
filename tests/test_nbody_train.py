"""The training harness: best-validation selection, checkpoints, config round trip."""

from __future__ import annotations

import pytest
import torch

from tinvnn.tasks.nbody.dataset import NBodyConfig, load_nbody
from tinvnn.tasks.nbody.evaluate import evaluate_mse
from tinvnn.tasks.nbody.recipe import NBodyTrainConfig, load_nbody_model
from tinvnn.tasks.nbody.simulator import ChargedSystem
from tinvnn.tasks.nbody.train import train_nbody
from tinvnn.training import CheckpointMismatchError, RunOptions, save_checkpoint

DATA = NBodyConfig(n_train=20, n_val=10, n_test=10, frame_in=1, frame_out=3, system=ChargedSystem(n_steps=500))


@pytest.mark.parametrize("name", ["egnn", "fa_gnn"])
def test_best_validation_epoch_and_checkpoint(name, tmp_path):
    data = load_nbody(DATA, root=tmp_path)
    config = NBodyTrainConfig(model=name, epochs=3, batch_size=10, hidden=8, layers=1, eval_every=1, data=DATA)
    model, result = train_nbody(config, data, RunOptions(out=str(tmp_path / "run"), progress=False))
    vals = [v for _, _, v in result.history]
    assert [e for e, _, _ in result.history] == [1, 2, 3]
    assert result.best_epoch == 1 + vals.index(min(vals)) and result.best_val_mse == min(vals)
    assert result.test_mse == pytest.approx(evaluate_mse(model, data["test"]), rel=1e-6)
    assert result.seconds_per_step > 0
    loaded, loaded_config, meta = load_nbody_model(tmp_path / "run")  # a run directory means its best.pt
    assert loaded_config == config and meta["best"]["epoch"] == result.best_epoch
    split = data["test"]
    torch.testing.assert_close(
        loaded(split.loc, split.vel, charges=split.charges), model(split.loc, split.vel, charges=split.charges)
    )


def test_config_round_trip_and_checks():
    config = NBodyTrainConfig(model="gnn", lr=3e-4, data=DATA)
    assert NBodyTrainConfig.from_dict(config.to_dict()) == config
    assert config.learning_rate == 3e-4 and NBodyTrainConfig(model="egnn").learning_rate == 5e-4
    with pytest.raises(ValueError, match="model: expected one of"):
        NBodyTrainConfig(model="mlp")
    with pytest.raises(ValueError, match="epochs"):
        NBodyTrainConfig(epochs=0)
    with pytest.raises(ValueError, match=r"^relative, residual: options of the GNN family, not of 'egnn'$"):
        NBodyTrainConfig(model="egnn", residual=True)
    with pytest.raises(ValueError, match=r"^sign_augment: an option of 'tinv_gnn' only, got model 'fa_gnn'$"):
        NBodyTrainConfig(model="fa_gnn", sign_augment=True)
    options = NBodyTrainConfig(model="tinv_gnn", relative=True, residual=True, sign_augment=True, data=DATA)
    assert NBodyTrainConfig.from_dict(options.to_dict()) == options
    old = config.to_dict()
    for key in ("relative", "residual", "sign_augment"):  # checkpoints written before these options
        del old[key]
    assert NBodyTrainConfig.from_dict(old) == config


def test_foreign_checkpoint_is_rejected(tmp_path):
    save_checkpoint(tmp_path / "other.pt", {"model": {}}, {"arch": "pointnet"})
    with pytest.raises(
        CheckpointMismatchError, match=r"not a tinvnn n-body checkpoint: NBodyTrainConfig: unknown keys \['arch'\]"
    ):
        load_nbody_model(tmp_path / "other.pt")
    save_checkpoint(tmp_path / "empty.pt", {"model": {}}, {})
    with pytest.raises(
        CheckpointMismatchError, match="its weights do not fit the n-body model its configuration describes"
    ):
        load_nbody_model(tmp_path / "empty.pt")
