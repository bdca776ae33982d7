"""REINFORCE fine-tuning of the local-view policy: recorded rollout states, the POMO-baseline
loss assembled per rollout, configuration errors, and ``tinvnn tsp finetune`` end to end."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tinvnn.cli import main
from tinvnn.tasks.tsp.local import finetune, imitation
from tinvnn.tasks.tsp.local.construction import construct_tours
from tinvnn.tasks.tsp.local.finetune import LocalReinforceTask, export_finetuned, reinforce_loss
from tinvnn.tasks.tsp.local.recipe import (
    INFERENCE_K_KEY,
    NUM_CONTEXT,
    NUM_FEATURES,
    ImitationConfig,
    LocalReinforceConfig,
    build_scorer,
    inference_k,
    load_local_policy,
)
from tinvnn.tasks.tsp.objective import tour_length
from tinvnn.training import load_checkpoint, save_checkpoint

TINY = ImitationConfig(k=6, dim=16, layers=1, heads=2)


@pytest.fixture(params=[False, True], ids=["plain", "context"])
def policy(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    torch.manual_seed(0)
    config = TINY.replace(context=request.param)
    return save_checkpoint(tmp_path / "policy.pt", {"model": build_scorer(config).state_dict()}, config.to_dict())


def test_on_step_records_every_decision_and_the_greedy_choice(policy: Path) -> None:
    model, config = load_local_policy(policy)
    coords = np.random.default_rng(0).random((15, 2))
    steps: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    tours = construct_tours(model, coords, [0, 7, 3], k=config.k, on_step=lambda *state: steps.append(state))
    assert len(steps) == 15 - 2  # the last city involves no decision
    for step, (tokens, valid, pick) in enumerate(steps):
        features = NUM_FEATURES + NUM_CONTEXT * config.context
        assert tokens.shape == (3, config.k + 2, features) and tokens.dtype == torch.float64
        assert valid.shape == (3, config.k) and int(valid[0].sum()) == min(config.k, 15 - 1 - step)
        np.testing.assert_array_equal(pick.numpy(), model(tokens).masked_fill(~valid, -torch.inf).argmax(-1).numpy())
    assert sorted(tours[1].tolist()) == list(range(15))


def test_reinforce_loss_is_the_baseline_weighted_log_probability_of_each_rollout(policy: Path) -> None:
    model, config = load_local_policy(policy)
    coords = np.random.default_rng(1).random((12, 2))
    starts = np.array([0, 5, 9, 2])
    loss, lengths = reinforce_loss(model, coords, starts, k=config.k, generator=torch.Generator().manual_seed(3))
    assert model.training  # left in training mode for the optimizer step
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    # the same rollouts again (same generator seed), with their log-probabilities summed per rollout
    log_p = torch.zeros(4, dtype=torch.float64)

    def add(tokens: torch.Tensor, valid: torch.Tensor, pick: torch.Tensor) -> None:
        scores = model(tokens).masked_fill(~valid, -torch.inf)
        log_p.add_(torch.log_softmax(scores, -1).gather(1, pick[:, None])[:, 0])

    tours = construct_tours(
        model, coords, starts.tolist(), k=config.k, sample=True, generator=torch.Generator().manual_seed(3), on_step=add
    )
    expected_lengths = tour_length(torch.from_numpy(coords)[None], torch.from_numpy(tours)[None])[0]
    torch.testing.assert_close(lengths, expected_lengths)
    advantage = (expected_lengths - expected_lengths.mean()) / expected_lengths.mean()
    torch.testing.assert_close(loss.detach(), (advantage * log_p).mean())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"starts": 1}, "starts: expected 2 <= starts <= min_cities (100), got 1"),
        ({"min_cities": 10, "starts": 11}, "starts: expected 2 <= starts <= min_cities (10), got 11"),
        ({"min_cities": 50, "max_cities": 40}, "expected 5 <= min_cities <= max_cities, got 50 and 40"),
        ({"lr": 0.0}, "lr: expected"),
        ({"steps_per_epoch": 0}, "steps_per_epoch: expected a positive integer, got 0"),
        ({"ema": 1.0}, "ema: expected a decay in [0, 1), got 1.0"),
        ({"k": 0}, "k: expected a positive integer, got 0"),
        ({"families": "uniform,duplicates"}, "families: 'duplicates' is not a training family"),
    ],
)
def test_config_errors(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        LocalReinforceConfig(**options)


def test_training_instances_come_from_the_named_families(policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[np.ndarray] = []

    def record(model: object, coords: np.ndarray, starts: np.ndarray, **_: object) -> tuple[torch.Tensor, torch.Tensor]:
        seen.append(coords)
        return torch.zeros(()), torch.ones(len(starts))

    monkeypatch.setattr(finetune, "reinforce_loss", record)
    config = LocalReinforceConfig(init=str(policy), families="drilling,lattice-exact", min_cities=60, max_cities=80)
    task = LocalReinforceTask(config.replace(starts=4, val_instances=1))
    for batch in range(4):
        task.training_step(None, batch, None)  # type: ignore[arg-type]
    for batch, coords in enumerate(seen):
        if batch % 2 == 0:  # drilling: 3 to 8 rows of holes
            assert min(len(np.unique(coords[:, d])) for d in (0, 1)) <= 8
        pitch = min(np.diff(np.unique(coords[:, d])).min() for d in (0, 1))  # both families: on a unit grid
        np.testing.assert_allclose(coords / pitch, np.round(coords / pitch), atol=1e-9)


def test_cli_finetune_end_to_end(policy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imitation, "_VAL_CITIES", 20)
    payload = load_checkpoint(policy)  # a policy with an inference k chosen for its own weights
    policy = save_checkpoint(
        policy,
        payload["state"],
        payload["config"],
        {INFERENCE_K_KEY: 9, INFERENCE_K_KEY + "_sweep": {}, "origin": "test"},
    )
    assert LocalReinforceTask(LocalReinforceConfig(init=str(policy))).k == 9  # rollouts as the policy decides
    assert LocalReinforceTask(LocalReinforceConfig(init=str(policy), k=5)).k == 5
    out, exported = tmp_path / "run", tmp_path / "tuned.pt"
    argv = [
        "tsp",
        "finetune",
        "--init",
        str(policy),
        "--min-cities",
        "10",
        "--max-cities",
        "14",
        "--starts",
        "4",
        "--lr",
        "1e-3",
        "--epochs",
        "2",
        "--steps-per-epoch",
        "3",
        "--val-instances",
        "2",
        "--out",
        str(out),
        "--threads",
        "1",
        "--no-progress",
        "--export",
        str(exported),
    ]
    assert main(argv) == 0
    history = load_checkpoint(out / "checkpoint.pt")["meta"]["history"]
    assert [h["epoch"] for h in history] == [1, 2] and all(h["val_greedy_gap"] >= 0.0 for h in history)
    model, config = load_local_policy(exported)
    meta = load_checkpoint(exported)["meta"]
    assert config == load_local_policy(policy)[1] and meta["finetune"]["config"]["init"] == str(policy)
    assert meta["origin"] == "test" and meta[INFERENCE_K_KEY] == inference_k(exported) == 9  # the k it was tuned at
    assert meta["finetune"]["k"] == 9 and INFERENCE_K_KEY + "_sweep" not in meta
    before = load_checkpoint(policy)["state"]["model"]
    assert any(not torch.equal(value, before[name].double()) for name, value in model.state_dict().items())
    assert export_finetuned(out, tmp_path / "again.pt").is_file()
    assert main(argv + ["--resume"]) == 0  # a finished run is kept
