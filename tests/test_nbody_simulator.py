"""The charged n-body simulator: conventions, conservation, determinism, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from tinvnn.tasks.nbody.simulator import ChargedSystem, coulomb_forces, simulate_charged, total_energy


def _reference_one(loc, vel, charges, system):
    """Unvectorised transcription of the EGNN generator's loop for one system."""
    loc, vel = loc.copy(), vel.copy()
    frames = []

    def force(x):
        f = np.zeros_like(x)
        for i in range(len(x)):
            for j in range(len(x)):
                if i != j:
                    r = x[i] - x[j]
                    f[i] += system.interaction_strength * charges[i] * charges[j] * r / np.linalg.norm(r) ** 3
        return np.clip(f, -system.max_force, system.max_force)

    vel += system.dt * force(loc)
    for step in range(1, system.n_steps):
        loc += system.dt * vel
        if step % system.sample_every == 0:
            frames.append(loc.copy())
        vel += system.dt * force(loc)
    return np.stack(frames)


def test_matches_unvectorised_reference_loop():
    system = ChargedSystem(n_steps=300, sample_every=100)
    traj = simulate_charged(3, np.random.default_rng(5), system)
    rng = np.random.default_rng(5)  # same draws, same order
    charges = rng.choice(np.array([-1.0, 1.0]), size=(3, 5))
    loc0 = rng.standard_normal((3, 5, 3))
    vel0 = rng.standard_normal((3, 5, 3))
    vel0 *= 0.5 / np.linalg.norm(vel0, axis=-1, keepdims=True)
    assert traj.loc.shape == (3, system.n_frames, 5, 3) == (3, 2, 5, 3)
    np.testing.assert_array_equal(traj.charges, charges)
    for s in range(3):
        np.testing.assert_allclose(
            traj.loc[s], _reference_one(loc0[s], vel0[s], charges[s], system), rtol=0, atol=1e-12
        )


def test_charges_and_seeding():
    a = simulate_charged(64, np.random.default_rng(0), ChargedSystem(n_steps=200))
    b = simulate_charged(64, np.random.default_rng(0), ChargedSystem(n_steps=200))
    c = simulate_charged(64, np.random.default_rng(1), ChargedSystem(n_steps=200))
    assert set(np.unique(a.charges)) == {-1.0, 1.0}
    np.testing.assert_array_equal(a.loc, b.loc)
    assert not np.allclose(a.loc, c.loc)


def test_momentum_conserved_without_clipping():
    system = ChargedSystem(n_steps=1000, max_force=float("inf"))
    traj = simulate_charged(16, np.random.default_rng(2), system)
    momentum = traj.vel.sum(axis=2)  # unit masses
    np.testing.assert_allclose(momentum, np.broadcast_to(momentum[:, :1], momentum.shape), atol=1e-9)


def _drift_and_min_distance(dt: float, n_steps: int):
    system = ChargedSystem(dt=dt, n_steps=n_steps, sample_every=n_steps // 100)
    traj = simulate_charged(64, np.random.default_rng(0), system)
    energy = total_energy(traj.loc, traj.vel, traj.charges[:, None])
    drift = np.abs(energy - energy[:, :1]).max(axis=1) / np.maximum(np.abs(energy[:, 0]), 0.1)
    dist = np.linalg.norm(traj.loc[:, :, :, None] - traj.loc[:, :, None], axis=-1)
    dist[:, :, np.arange(5), np.arange(5)] = np.inf
    return drift, dist.min(axis=(1, 2, 3))


def test_energy_drift_bounded_and_first_order():
    # Away from close encounters (where forces are clipped and 1/r^3 is stiff) the
    # kick-drift scheme keeps the energy to a few percent over one time unit, and the error
    # halves with dt (first order: the recorded velocity lags the position by half a step).
    drift, min_dist = _drift_and_min_distance(0.001, 1000)
    drift_half, min_dist_half = _drift_and_min_distance(0.0005, 2000)
    calm = (min_dist > 0.2) & (min_dist_half > 0.2)
    assert calm.sum() >= 32
    assert drift[calm].max() < 0.05
    ratio = np.median(drift_half[calm]) / np.median(drift[calm])
    assert 0.35 < ratio < 0.65


def test_forces_are_pairwise_and_clipped():
    rng = np.random.default_rng(4)
    loc = rng.standard_normal((8, 5, 3))
    q = rng.choice([-1.0, 1.0], size=(8, 5))
    f = coulomb_forces(loc, q)
    np.testing.assert_allclose(f.sum(axis=1), 0, atol=1e-9)  # Newton's third law
    close = loc.copy()
    close[:, 1] = close[:, 0] + 1e-3
    assert np.abs(coulomb_forces(close, q, max_force=100.0)).max() == pytest.approx(100.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"n_particles": 1}, "n_particles"), ({"n_steps": 250}, "multiple"), ({"n_steps": 100}, "n_steps >= 2")],
)
def test_bad_system(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ChargedSystem(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dt": 0.0}, "dt: expected a finite positive number, got 0.0"),
        ({"dt": float("nan")}, "dt: expected a finite positive number, got nan"),
        ({"box_size": -5.0}, "box_size: expected a finite positive number, got -5.0"),
        ({"box_size": 0.0}, "box_size: expected a finite positive number, got 0.0"),
        ({"max_force": -1.0}, "max_force: expected a positive number (inf: no clipping), got -1.0"),
        ({"max_force": float("nan")}, "max_force: expected a positive number (inf: no clipping), got nan"),
        ({"dim": 0}, "dim: expected a positive integer, got 0"),
        ({"loc_std": 0.0}, "loc_std: expected a finite positive number, got 0.0"),
        ({"vel_norm": -0.5}, "vel_norm: expected a finite non-negative number, got -0.5"),
    ],
)
def test_degenerate_physics_is_refused(kwargs, message):
    """Issue 24: `nbody train` trained on dt 0, a negative or empty box, a negative force clip."""
    with pytest.raises(ValueError) as info:
        ChargedSystem(**kwargs)
    assert str(info.value) == message
