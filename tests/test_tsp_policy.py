"""Attention policy, input variants, decoding and the exact invariance of the tinv solver."""

from __future__ import annotations

import pytest
import torch

from tinvnn.models.attention_tsp import AttentionTSP
from tinvnn.tasks.tsp.attention.decoding import decode_tours, farthest_start
from tinvnn.tasks.tsp.attention.recipe import DEFAULT_ATTENTION_CHECKPOINT, AttentionConfig, load_attention_model
from tinvnn.tasks.tsp.attention.reinforce import train_attention
from tinvnn.tasks.tsp.attention.variants import VARIANTS, dihedral8, get_variant, unit_square
from tinvnn.tasks.tsp.instances import uniform_instances
from tinvnn.tasks.tsp.objective import check_tours, tour_length
from tinvnn.tasks.tsp.transforms import TRANSFORMS, apply_transform
from tinvnn.training import LAST, CheckpointMismatchError, RunOptions, save_checkpoint


def _tiny_model() -> AttentionTSP:
    return AttentionTSP(embed_dim=16, num_layers=2, num_heads=2, ff_dim=32).double().eval()


def cyclic_form(tour: list[int]) -> tuple[int, ...]:
    """The tour as a cycle: starting at city 0, in the direction of its smaller neighbour."""
    k = tour.index(0)
    rotated = tour[k:] + tour[:k]
    return tuple(min(rotated, [0] + rotated[1:][::-1]))


def test_cyclic_form() -> None:
    assert cyclic_form([2, 0, 1, 3]) == cyclic_form([1, 0, 2, 3]) == cyclic_form([3, 1, 0, 2]) == (0, 1, 3, 2)
    assert cyclic_form([0, 1, 2, 3]) != cyclic_form([0, 2, 1, 3])


def test_model_rollouts_are_permutations() -> None:
    model = _tiny_model()
    coords = uniform_instances(3, 9, dtype=torch.float64)
    tours, logp = model.rollout(coords, torch.arange(9).expand(3, 9))
    assert tours.shape == (3, 9, 9) and logp.shape == (3, 9)
    check_tours(tours, 9)
    assert torch.equal(tours[:, :, 0], torch.arange(9).expand(3, 9))
    sampled, slogp = model.rollout(coords, None, sample=True, generator=torch.Generator().manual_seed(0))
    assert sampled.shape == (3, 1, 9) and (slogp <= 0).all()
    check_tours(sampled, 9)
    assert "AttentionTSP(embed_dim=16, num_layers=2" in repr(model)
    with pytest.raises(ValueError, match=r"expected coordinates of shape \(B, N, 2\)"):
        model.encode(torch.rand(3, 9, 3))
    with pytest.raises(ValueError, match="divisible"):
        AttentionTSP(embed_dim=10, num_heads=3)


def test_variant_inputs() -> None:
    coords, _, _ = apply_transform("all", uniform_instances(5, 10, dtype=torch.float64), seed=1)
    unit = unit_square(coords)
    assert unit.min() >= 0 and unit.max() <= 1 + 1e-12
    assert torch.allclose(unit.amax(1).amax(-1), torch.ones(5, dtype=torch.float64))
    views = dihedral8(unit)
    assert len(views) == 8 and len({tuple(v[0, 0].tolist()) for v in views}) == 8
    tours = torch.stack([torch.randperm(10) for _ in range(5)])
    for view in views:  # every dihedral view preserves tour lengths
        torch.testing.assert_close(tour_length(view, tours), tour_length(unit, tours))
    sym = get_variant("symnco").train_input(coords, torch.Generator().manual_seed(0))
    assert sym.min() >= 0 and sym.max() <= 1 + 1e-12 and not torch.allclose(sym, unit)
    assert get_variant("pomo8").trains_as == "unit" and get_variant("tinv8").trains_as == "tinv"
    assert get_variant("tinv").trains_as == "tinv"
    canon = get_variant("tinv").inference_input(coords)
    tinv8 = get_variant("tinv8").views(coords)
    assert len(tinv8) == 8 and torch.equal(tinv8[0], canon)
    for view in tinv8:
        torch.testing.assert_close(tour_length(view, tours), tour_length(canon, tours))
    with pytest.raises(
        ValueError, match="unknown variant 'foo'; expected one of raw, unit, pomo8, symnco, tinv, tinv8"
    ):
        get_variant("foo")
    assert set(VARIANTS) == {"raw", "unit", "pomo8", "symnco", "tinv", "tinv8"}


def _greedy_forms(model: AttentionTSP, variant: str, coords: torch.Tensor, name: str) -> list[tuple[int, ...]]:
    moved, _, order = apply_transform(name, coords, seed=7)
    tours, _ = decode_tours(model, get_variant(variant), moved, decode="greedy")
    return [cyclic_form(t) for t in order.gather(1, tours).tolist()]


@pytest.mark.parametrize("variant", ["tinv", "tinv8"])
@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_tinv_greedy_tour_is_invariant(name: str, variant: str) -> None:
    model = _tiny_model()
    coords = uniform_instances(16, 15, dtype=torch.float64)
    assert _greedy_forms(model, variant, coords, name) == _greedy_forms(model, variant, coords, "identity")


@pytest.mark.parametrize("name", ["rotate", "all"])
def test_unit_greedy_tour_is_not_invariant(name: str) -> None:
    """Negative control: the unit-square input changes the tour under rotation."""
    model = _tiny_model()
    coords = uniform_instances(16, 15, dtype=torch.float64)
    assert _greedy_forms(model, "unit", coords, name) != _greedy_forms(model, "unit", coords, "identity")


def test_decodings_and_two_opt() -> None:
    model = _tiny_model()
    coords = uniform_instances(4, 12, dtype=torch.float64)
    variant = get_variant("unit")
    results = {}
    for decode in ("greedy", "multistart", "sample"):
        tours, lengths = decode_tours(
            model, variant, coords, decode=decode, samples=2, generator=torch.Generator().manual_seed(0)
        )
        check_tours(tours, 12)
        torch.testing.assert_close(lengths, tour_length(coords, tours))
        results[decode] = lengths
    assert (results["multistart"] <= results["greedy"] + 1e-12).all()  # greedy's start is one of the N starts
    _, refined = decode_tours(model, variant, coords, decode="multistart", two_opt=True)
    assert (refined <= results["multistart"] + 1e-12).all()
    pomo8 = decode_tours(model, get_variant("pomo8"), coords, decode="multistart")[1]
    assert (pomo8 <= results["multistart"] + 1e-12).all()  # the first view is unit's input
    tinv = decode_tours(model, get_variant("tinv"), coords, decode="multistart")[1]
    tinv8 = decode_tours(model, get_variant("tinv8"), coords, decode="multistart")[1]
    assert (tinv8 <= tinv + 1e-12).all()
    with pytest.raises(ValueError, match="unknown decoding 'beam'"):
        decode_tours(model, variant, coords, decode="beam")


def test_farthest_start() -> None:
    coords = torch.tensor([[[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0]]])
    assert farthest_start(coords).tolist() == [3]


def test_training_runs_and_round_trips(tmp_path) -> None:
    config = AttentionConfig(
        variant="tinv",
        num_cities=8,
        embed_dim=16,
        num_layers=1,
        num_heads=2,
        ff_dim=16,
        batch_size=4,
        steps=4,
        steps_per_epoch=2,
        val_instances=4,
    )
    model, history = train_attention(config, RunOptions(out=str(tmp_path / "run"), progress=False))
    assert [h["epoch"] for h in history] == [1, 2] and all(h["val_length"] > 0 for h in history)
    loaded, loaded_config = load_attention_model(tmp_path / "run" / LAST)
    assert loaded_config == config
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    for views_only in ("pomo8", "tinv8"):
        with pytest.raises(ValueError, match="adds test-time views to another model"):
            AttentionConfig(variant=views_only)
    save_checkpoint(tmp_path / "other.pt", {"model": {}}, {"lr": 1.0})
    with pytest.raises(
        CheckpointMismatchError, match="its weights do not fit the TSP policy its configuration describes"
    ):
        load_attention_model(tmp_path / "other.pt")


def test_shipped_checkpoint_is_small_tinv_and_invariant() -> None:
    assert DEFAULT_ATTENTION_CHECKPOINT.stat().st_size < 2 * 1024**2
    model, config = load_attention_model(DEFAULT_ATTENTION_CHECKPOINT)
    assert config.variant == "tinv" and config.num_cities == 20
    model = model.double()
    coords = uniform_instances(8, 20, dtype=torch.float64)
    base = _greedy_forms(model, "tinv", coords, "identity")
    for name in TRANSFORMS:
        assert _greedy_forms(model, "tinv", coords, name) == base, name
