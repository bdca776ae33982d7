"""The n-body dataset: generated once into the cache, split independence, frame checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinvnn.paths import cache_dir
from tinvnn.tasks.nbody.dataset import NBodyConfig, load_nbody, trajectory_cache_path
from tinvnn.tasks.nbody.simulator import ChargedSystem, simulate_charged

TINY = ChargedSystem(n_steps=500)  # 4 recorded frames


def test_generated_once_and_cached(tmp_path):
    config = NBodyConfig(n_train=6, n_val=4, n_test=3, frame_in=1, frame_out=3, system=TINY)
    data = load_nbody(config, root=tmp_path)
    assert {k: len(v) for k, v in data.items()} == {"train": 6, "val": 4, "test": 3}
    assert data["train"].loc.shape == (6, 5, 3) and data["train"].charges.shape == (6, 5)
    assert data["train"].loc.dtype == torch.float32
    path = trajectory_cache_path("train", config, tmp_path)
    assert path.is_file() and path.parent.parent == tmp_path
    stamp = path.stat().st_mtime_ns
    again = load_nbody(config, root=tmp_path)
    assert path.stat().st_mtime_ns == stamp  # read back, not regenerated
    for a, b in zip(data["train"].tensors(), again["train"].tensors()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_cache_is_regenerated(tmp_path, damage, caplog):
    config = NBodyConfig(n_train=3, n_val=2, n_test=2, frame_in=1, frame_out=3, system=TINY)
    data = load_nbody(config, root=tmp_path)
    path = trajectory_cache_path("train", config, tmp_path)
    raw = path.read_bytes()
    path.write_bytes({"truncate": raw[: len(raw) // 2], "garbage": b"not an npz file", "empty": b""}[damage])
    again = load_nbody(config, root=tmp_path)
    assert "unreadable" in caplog.text and "generating it again" in caplog.text
    for a, b in zip(data["train"].tensors(), again["train"].tensors()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # the same systems: generation is seeded
    assert path.read_bytes() == raw


def test_default_cache_is_the_cache_dir():
    config = NBodyConfig(n_train=2, n_val=2, n_test=2, frame_in=0, frame_out=1, system=TINY)
    load_nbody(config)
    assert trajectory_cache_path("val", config).is_file()
    assert trajectory_cache_path("val", config).is_relative_to(cache_dir())


def test_input_and_target_frames_come_from_one_trajectory(tmp_path):
    config = NBodyConfig(n_train=3, n_val=2, n_test=2, frame_in=1, frame_out=3, system=TINY)
    split = load_nbody(config, root=tmp_path)["train"]
    child = np.random.SeedSequence(config.seed).spawn(3)[0]
    traj = simulate_charged(3, np.random.default_rng(child), TINY)
    np.testing.assert_allclose(split.loc.numpy(), traj.loc[:, 1], rtol=1e-6)
    np.testing.assert_allclose(split.target.numpy(), traj.loc[:, 3], rtol=1e-6)
    np.testing.assert_allclose(split.vel.numpy(), traj.vel[:, 1], rtol=1e-6)


def test_splits_are_independent_of_each_others_sizes(tmp_path):
    small = load_nbody(NBodyConfig(n_train=2, n_val=3, n_test=2, system=TINY, frame_in=0, frame_out=1), root=tmp_path)
    large = load_nbody(NBodyConfig(n_train=5, n_val=3, n_test=2, system=TINY, frame_in=0, frame_out=1), root=tmp_path)
    torch.testing.assert_close(small["val"].loc, large["val"].loc)
    assert not torch.allclose(small["train"].loc[:2], small["val"].loc[:2])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"frame_in": 3, "frame_out": 3}, "frame_in < frame_out"),
        ({"frame_in": 0, "frame_out": 4}, "recorded frames"),
        ({"n_val": 0}, "n_val"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NBodyConfig(system=TINY, **kwargs)
