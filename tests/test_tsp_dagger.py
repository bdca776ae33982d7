"""DAgger for the local-view TSP policy: the open-path reduction against brute force, the states
of labelled rollouts, fine-tuning from a policy, and ``tinvnn tsp imitate --dagger-instances``
end to end on a tiny setting."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tinvnn.cli import main
from tinvnn.paths import cache_dir
from tinvnn.tasks.tsp.instances import TRAINING_FAMILIES
from tinvnn.tasks.tsp.local import dagger, imitation
from tinvnn.tasks.tsp.local.construction import construct_tours
from tinvnn.tasks.tsp.local.dagger import dagger_dir, expert_path, generate_dagger, load_dagger
from tinvnn.tasks.tsp.local.imitation import ImitationData, export_policy
from tinvnn.tasks.tsp.local.recipe import (
    ImitationConfig,
    build_scorer,
    dagger_label_sets,
    load_local_policy,
    training_families,
)
from tinvnn.training import CheckpointMismatchError, load_checkpoint, save_checkpoint

TINY = ImitationConfig(k=6, dim=16, layers=1, heads=2)


def _path_length(coords: np.ndarray, path: list[int]) -> float:
    return float(np.linalg.norm(np.diff(coords[path], axis=0), axis=1).sum())


@pytest.mark.parametrize("seed", range(12))
def test_expert_path_is_the_shortest_open_path(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 11))
    coords = rng.random((n, 2))
    current, start, *rest = rng.permutation(n).tolist()
    unvisited = np.asarray(rest[: int(rng.integers(1, min(len(rest), 6) + 1))])  # the others: visited
    path = expert_path(coords, current, unvisited, start)
    assert sorted(path.tolist()) == sorted(unvisited.tolist())
    best = min(_path_length(coords, [current, *p, start]) for p in itertools.permutations(unvisited.tolist()))
    assert _path_length(coords, [current, *path.tolist(), start]) == pytest.approx(best, abs=1e-5)


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "policy.pt", {"model": build_scorer(TINY).state_dict()}, TINY.to_dict())


@pytest.fixture
def small_instances(monkeypatch: pytest.MonkeyPatch) -> None:
    """DAgger and behaviour-cloning instances of 20-30 cities, validation instances of 30."""
    monkeypatch.setattr(dagger, "DAGGER_SIZES", (20, 30))
    monkeypatch.setattr(imitation, "_round_plan", lambda index, families: [(families[0], 20, 2), (families[-1], 25, 1)])
    monkeypatch.setattr(imitation, "_VAL_CITIES", 30)


def test_dagger_tours_and_states(policy: Path, small_instances: None) -> None:
    directory = generate_dagger(policy, 8, progress=False)
    assert directory == dagger_dir(policy, 0) and len(list(directory.glob("chunk_*.pt"))) == 1
    items = load_dagger(policy, 8)
    model, config = load_local_policy(policy)
    for item in items[:2]:
        coords, n = item["coords"].numpy(), len(item["coords"])
        for tour, t, chosen in zip(item["tours"].numpy(), item["steps"].tolist(), item["policy"].tolist()):
            assert sorted(tour.tolist()) == list(range(n)) and 1 <= t <= n - 3
            rollout = construct_tours(model, coords, [int(tour[0])], k=config.k)[0]
            np.testing.assert_array_equal(tour[: t + 1], rollout[: t + 1])  # the policy's own prefix
            assert chosen == rollout[t + 1]
            best = expert_path(coords, int(tour[t]), tour[t + 1 :], int(tour[0]))
            assert _path_length(coords, [*tour[t:].tolist(), tour[0]]) == pytest.approx(
                _path_length(coords, [tour[t], *best.tolist(), tour[0]]), abs=1e-5
            )
    data = ImitationData([], k=config.k, states_per_city=1.0, dagger=items[:1], dagger_steps=3)
    item = items[0]
    coords, (tour, t) = item["coords"].numpy(), (item["tours"][0].numpy(), int(item["steps"][0]))
    # the first state is the policy's own: current tour[t], candidates its k nearest unvisited cities
    unvisited = tour[t + 1 :]
    nearest = unvisited[np.argsort(np.linalg.norm(coords[unvisited] - coords[tour[t]], axis=1))[: config.k]]
    view, target = data.batch(torch.tensor([0]))
    radius = np.linalg.norm(coords[nearest] - coords[tour[t]], axis=1).max()
    np.testing.assert_allclose(
        view.candidates[0].numpy(), (coords[nearest] - coords[tour[t]]) / radius, rtol=1e-5, atol=1e-6
    )
    assert (
        nearest[int(target[0])] == tour[t + 1]
        and (data.source == 0).all()
        and len(data) + data.skipped == 3 * len(item["steps"])
    )


def test_fine_tuning_starts_from_init_and_checks_its_shape(policy: Path) -> None:
    model = imitation.ImitationTask.build_model.__get__(_StubTask(TINY.replace(init=str(policy))))()
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, load_checkpoint(policy)["state"]["model"][name])
    with pytest.raises(CheckpointMismatchError, match="dim"):
        imitation.ImitationTask.build_model.__get__(_StubTask(TINY.replace(init=str(policy), dim=32)))()
    with pytest.raises(ValueError, match="--init"):
        TINY.replace(dagger_instances=8)
    config = TINY.replace(init="a.pt", dagger_instances=16, dagger_sets="runs/x:y/b.pt:8, c.pt:24")
    assert dagger_label_sets(config) == [(Path("a.pt"), 16), (Path("runs/x:y/b.pt"), 8), (Path("c.pt"), 24)]
    with pytest.raises(ValueError, match="val_instances >= 0"):
        TINY.replace(val_instances=-1)
    for bad in ("b.pt", "b.pt:0", ":8", "b.pt:x"):
        with pytest.raises(ValueError, match="POLICY:INSTANCES"):
            TINY.replace(dagger_sets=bad)


def test_families_option_names_training_families() -> None:
    assert training_families(TINY.families) == ("uniform", "clustered", "lattice")  # the default: the shipped data
    assert ImitationConfig.from_dict({"k": 6}).families == "uniform,clustered,lattice"  # older checkpoints
    assert training_families("drilling, lattice-exact,mixed") == (
        "drilling",
        "lattice-exact",
        "mixed",
    )
    known = "uniform, clustered, lattice, lattice-exact, lattice-jitter, drilling, mixed"
    with pytest.raises(ValueError) as err:
        TINY.replace(families="uniform,circles")
    assert str(err.value) == f"families: 'circles' is not a training family; expected comma-separated names of {known}"
    with pytest.raises(ValueError) as err:
        TINY.replace(families="duplicates")
    assert str(err.value) == (
        f"families: 'duplicates' is not a training family; expected comma-separated names of {known} "
        "(duplicate cities are merged before construction: train on clustered)"
    )
    for bad in ("", "mixed,"):
        with pytest.raises(ValueError, match="is not a training family"):
            TINY.replace(families=bad)
    with pytest.raises(ValueError) as err:
        TINY.replace(families="mixed,drilling,mixed")
    assert str(err.value) == "families: expected distinct names, got 'mixed,drilling,mixed'"


class _StubTask:
    def __init__(self, config: ImitationConfig) -> None:
        self.config = config


def test_cli_imitate_with_dagger_end_to_end(
    policy: Path, tmp_path: Path, small_instances: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    torch.manual_seed(1)  # an earlier DAgger iteration's policy
    earlier = save_checkpoint(tmp_path / "earlier.pt", {"model": build_scorer(TINY).state_dict()}, TINY.to_dict())
    argv = [
        "tsp",
        "imitate",
        "--rounds",
        "1",
        "--init",
        str(policy),
        "--dagger-instances",
        "16",
        "--dagger-steps",
        "3",
        "--dagger-sets",
        f"{earlier}:8",
        "--k",
        "6",
        "--dim",
        "16",
        "--layers",
        "1",
        "--heads",
        "2",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "3",
        "--batch-size",
        "16",
        "--val-states",
        "20",
        "--val-instances",
        "2",
        "--out",
        str(out),
        "--threads",
        "1",
        "--no-progress",
    ]
    assert main(argv) == 0
    payload = load_checkpoint(out / "checkpoint.pt")
    record = payload["meta"]["history"][-1]
    assert payload["config"]["init"] == str(policy) and len(list(dagger_dir(earlier, 0).glob("chunk_*.pt"))) == 1
    assert payload["meta"]["dagger_states"] == sum(
        len(ImitationData([], k=6, states_per_city=1.0, dagger=load_dagger(p, c), dagger_steps=3))
        for p, c in ((policy, 16), (earlier, 8))
    )
    assert 0.0 <= record["val_accuracy_dagger"] <= 1.0 and record["val_greedy_gap"] >= 0.0
    exported = export_policy(out, tmp_path / "tuned.pt")
    model, config = load_local_policy(exported)
    assert config.dagger_instances == 16 and sum(p.numel() for p in model.parameters()) > 0
    capsys.readouterr()
    assert main(argv + ["--resume"]) == 0  # labels and tours are cached; the finished run is kept
    assert json.loads((out / "metrics.json").read_text())["finished"]


def test_cli_imitate_with_families_draws_only_those(policy: Path, tmp_path: Path, small_instances: None) -> None:
    families = ("drilling", "mixed")
    argv = ["tsp", "imitate", "--rounds", "1", "--init", str(policy), "--dagger-instances", "8", "--families"]
    argv += ["drilling,mixed", "--k", "6", "--dim", "16", "--layers", "1", "--heads", "2", "--epochs", "1"]
    argv += ["--steps-per-epoch", "2", "--batch-size", "16", "--val-states", "20", "--out", str(tmp_path / "run")]
    assert main(argv + ["--threads", "1", "--no-progress"]) == 0
    tours = cache_dir() / "tsp_imitation"
    assert sorted(p.name for p in tours.iterdir()) == ["dagger-v1", "tours-v1-drilling+mixed"]  # no default data
    groups = imitation.load_tours(1, families)
    assert [g["family"] for g in groups] == ["drilling", "mixed"]
    for group, n in zip(groups, (20, 25)):
        coords = group["coords"]
        torch.testing.assert_close(coords, _family_instances(group["family"], coords.shape[0], n))
    items = load_dagger(policy, 8, families=families)
    assert dagger_dir(policy, 0, families).name.endswith("-seed0-drilling+mixed")
    assert [item["family"] for item in items] == ["drilling", "mixed"] * 4
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["config"]["families"] == "drilling,mixed"


def _family_instances(family: str, count: int, n: int) -> torch.Tensor:
    """The first group of round 0 (seed 0) of ``family`` when it comes first in the round."""
    generator = torch.Generator().manual_seed(0)
    if family != "drilling":  # the second group: draw the first one's instances before it
        TRAINING_FAMILIES["drilling"](2, 20, generator=generator, dtype=torch.float64)
    return TRAINING_FAMILIES[family](count, n, generator=generator, dtype=torch.float64)
