"""Local views with context (the visit state of each point's nearest cities): the training
states and tour construction compute the same tokens, tours stay exactly invariant, and a
policy widened to context starts out deciding exactly as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.test_tsp_local import TINY, _permuted, _similarity
from tinvnn.tasks.tsp.heuristics import euclidean_matrix, nearest_neighbour
from tinvnn.tasks.tsp.local.construction import construct_tours
from tinvnn.tasks.tsp.local.imitation import (
    ImitationData,
    ImitationTask,
    _instance_states,
    _near_table,
    _tour_states,
    _with_context_inputs,
    imitation_loss,
)
from tinvnn.tasks.tsp.local.recipe import CONTEXT_NEIGHBOURS, NUM_CONTEXT, NUM_FEATURES, build_scorer
from tinvnn.tasks.tsp.local.solver import LocalDecoding, solve_local
from tinvnn.tasks.tsp.local.views import LocalView, neighbour_table, view_features
from tinvnn.training import save_checkpoint

CONTEXT = TINY.replace(context=True)


@pytest.fixture
def context_scorer() -> torch.nn.Module:
    torch.manual_seed(1)
    return build_scorer(CONTEXT).double().eval()


def test_context_states_match_brute_force() -> None:
    rng = np.random.default_rng(21)
    n, k = 40, 6
    coords, tour = rng.random((n, 2)), rng.permutation(n)
    states = _instance_states(coords, tour, 150, k, np.random.default_rng(2), context=True)
    index = {tuple(p): i for i, p in enumerate(coords.tolist())}
    position = np.argsort(tour)
    dist = euclidean_matrix(coords)
    checked = 0
    for i in range(len(states["target"])):
        cur, start = index[tuple(states["current"][i])], index[tuple(states["start"][i])]
        nxt = [index[tuple(p)] for p in states["candidates"][i][states["valid"][i]].tolist()][states["target"][i]]
        step = 1 if tour[(position[cur] + 1) % n] == nxt else -1
        walked = (position[cur] - position[start]) * step % n
        visited = {int(tour[(position[start] + step * j) % n]) for j in range(walked + 1)}
        cities = [cur, start] + [index[tuple(p)] for p in states["candidates"][i].tolist()]
        for slot, city in enumerate(cities):
            if slot >= 2 and not states["valid"][i][slot - 2]:
                continue
            neighbours = [c for c in np.argsort(dist[city], kind="stable") if c != city][:CONTEXT_NEIGHBOURS]
            free = [c for c in neighbours if c not in visited]
            share, nearest = states["context"][i, slot]
            assert share == pytest.approx(len(free) / CONTEXT_NEIGHBOURS)
            assert nearest == (pytest.approx(dist[city, free[0]]) if free else np.inf)
            checked += 1
    assert checked > 300


def test_training_states_and_construction_see_the_same_tokens(context_scorer: torch.nn.Module) -> None:
    coords = np.random.default_rng(22).random((50, 2))
    recorded: list[torch.Tensor] = []
    tour = construct_tours(context_scorer, coords, [7], k=CONTEXT.k, on_step=lambda t, v, p: recorded.append(t[0]))[0]
    steps = np.arange(len(coords) - 2)
    states = _tour_states(
        coords,
        _near_table(coords, CONTEXT.k),
        tour,
        np.zeros_like(steps),
        np.zeros(len(steps), dtype=bool),
        steps,
        CONTEXT.k,
        neighbour_table(coords),
    )
    assert len(states["target"]) == len(steps) == len(recorded)  # every next city is a candidate
    view = LocalView(
        *(torch.from_numpy(states[key]) for key in ("current", "start", "candidates", "valid", "complete", "context"))
    )
    tokens = view_features(view)[0]
    assert tokens.shape == (len(steps), CONTEXT.k + 2, NUM_FEATURES + NUM_CONTEXT)
    torch.testing.assert_close(tokens, torch.stack(recorded), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "decoding",
    [LocalDecoding("greedy", improve=False), LocalDecoding("multistart", starts=3)],
    ids=["greedy", "multistart"],
)
def test_context_tours_identical_for_transformed_and_permuted_copies(
    context_scorer: torch.nn.Module, decoding: LocalDecoding
) -> None:
    coords = np.random.default_rng(23).random((70, 2))
    base = solve_local(context_scorer, coords, k=CONTEXT.k, decoding=decoding).tour
    for seed, reflect in ((3, False), (4, True)):
        moved = solve_local(context_scorer, _similarity(coords, seed, reflect=reflect), k=CONTEXT.k, decoding=decoding)
        np.testing.assert_array_equal(moved.tour, base)
    shuffled, perm = _permuted(coords, 5)
    np.testing.assert_array_equal(
        perm[solve_local(context_scorer, shuffled, k=CONTEXT.k, decoding=decoding).tour], base
    )


def test_widened_policy_decides_as_before(tmp_path: Path) -> None:
    torch.manual_seed(2)
    plain = build_scorer(TINY).double().eval()
    widened = build_scorer(CONTEXT).double()
    widened.load_state_dict(_with_context_inputs({"state": {"model": plain.state_dict()}})["state"]["model"])
    coords = np.random.default_rng(24).random((60, 2))
    np.testing.assert_array_equal(
        construct_tours(widened, coords, [0, 9], k=TINY.k), construct_tours(plain, coords, [0, 9], k=TINY.k)
    )
    # the task widens a plain --init policy, and refuses to drop a context policy's inputs
    data = _tiny_data(context=True)
    save_checkpoint(tmp_path / "plain.pt", {"model": plain.float().state_dict()}, TINY.to_dict(), {})
    task = ImitationTask(CONTEXT.replace(init=str(tmp_path / "plain.pt"), val_states=10), data)
    assert task.build_model().embed.in_features == NUM_FEATURES + NUM_CONTEXT
    save_checkpoint(tmp_path / "context.pt", {"model": widened.float().state_dict()}, CONTEXT.to_dict(), {})
    task = ImitationTask(TINY.replace(init=str(tmp_path / "context.pt"), val_states=10), _tiny_data(context=False))
    with pytest.raises(
        ValueError, match=r"^init: .*context\.pt was trained with context; pass context=True \(--context\)$"
    ):
        task.build_model()


def _tiny_data(*, context: bool) -> ImitationData:
    rng = np.random.default_rng(25)
    coords = torch.from_numpy(rng.random((2, 30, 2)))
    tours = torch.stack([torch.from_numpy(nearest_neighbour(euclidean_matrix(c.numpy()))) for c in coords])
    return ImitationData([{"coords": coords, "tours": tours}], k=TINY.k, states_per_city=2.0, context=context)


def test_context_data_trains() -> None:
    data = _tiny_data(context=True)
    view, target = data.batch(torch.arange(16))
    assert view.context is not None and view.context.shape == (16, TINY.k + 2, NUM_CONTEXT)
    model = build_scorer(CONTEXT)
    loss = imitation_loss(model, (view, target))
    loss.backward()
    assert torch.isfinite(loss) and model.embed.weight.grad is not None
    assert model.embed.weight.grad[:, NUM_FEATURES:].abs().sum() > 0  # the context reaches the scorer


def test_stored_states_give_the_constructions_tokens(context_scorer: torch.nn.Module) -> None:
    """ImitationData stores views relative to the current city in view radii (float32): its
    tokens equal those of construction up to float32 rounding, context included."""
    coords = 1000.0 * np.random.default_rng(26).random((40, 2))
    recorded: list[torch.Tensor] = []
    tour = construct_tours(context_scorer, coords, [3], k=CONTEXT.k, on_step=lambda t, v, p: recorded.append(t[0]))[0]
    item = {"coords": torch.from_numpy(coords), "tours": torch.from_numpy(tour)[None], "steps": torch.tensor([0])}
    data = ImitationData([], k=CONTEXT.k, states_per_city=1.0, dagger=[item], dagger_steps=len(coords), context=True)
    tokens = view_features(data.batch(torch.arange(len(data)))[0])[0]
    assert len(data) == len(coords) - 2 and torch.isfinite(tokens).all()
    torch.testing.assert_close(tokens.double(), torch.stack(recorded), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match=r"^data: states with context for a run with context=False$"):
        ImitationTask(TINY.replace(val_states=5), data)


def test_neighbour_table_of_one_city_is_empty() -> None:
    near, dist = neighbour_table(np.zeros((1, 2)))
    assert near.shape == dist.shape == (1, 0)
