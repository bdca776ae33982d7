"""The charged n-body system of the EGNN and Frame Averaging benchmarks, vectorised in NumPy.

The dynamics follow ``vgsatorras/egnn n_body_system/dataset/synthetic_sim.py``
(``ChargedParticlesSim``, itself from ethanfetaya/NRI), step for step:

* ``n`` unit-mass particles in ``d`` dimensions with charges ``q_i`` drawn from {-1, +1}
  with probability 1/2 each.
* Force on particle ``i``: ``F_i = k * sum_{j != i} q_i q_j (x_i - x_j) / |x_i - x_j|^3``
  (``k`` = ``interaction_strength``; like charges repel). Every force component is clipped to
  ``[-max_force, max_force]`` (100 = ``0.1 / dt`` in the reference).
* Initial positions ``N(0, loc_std^2)`` per coordinate; initial velocities a uniformly random
  direction with norm exactly ``vel_norm``. A reflection into the box ``[-box_size, box_size]^d``
  is applied once at ``t = 0`` (it practically never triggers); there are no walls afterwards.
* Integration (the reference's "leapfrog", a kick-drift scheme): one kick
  ``v += dt F(x)`` at ``t = 0``; then for step ``i = 1 .. n_steps - 1``: drift ``x += dt v``,
  record ``(x, v)`` when ``i`` is a multiple of ``sample_every``, kick ``v += dt F(x)``.
  Recorded frame ``k`` (0-based) is therefore the state after ``(k + 1) * sample_every`` drifts,
  and its velocity is the one used for the last drift (half a step behind the position).
  With the defaults there are ``n_steps / sample_every - 1 = 49`` frames.

The samples are not bit-identical to the reference (it draws one trajectory at a time from
NumPy's legacy global generator); their distribution is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from tinvnn._checks import check_number, check_positive_int

__all__ = ["ChargedSystem", "Trajectories", "coulomb_forces", "simulate_charged", "total_energy"]


@dataclass(frozen=True)
class ChargedSystem:
    """Parameters of the charged particle system (defaults: the benchmark's).

    Attributes:
        n_particles: particles per system.
        dim: spatial dimension.
        box_size: half-width of the box used for the one reflection at ``t = 0``.
        loc_std: standard deviation of the initial coordinates.
        vel_norm: norm of every initial velocity.
        interaction_strength: the constant ``k`` of the pairwise force.
        dt: time step.
        n_steps: integration steps (the reference's ``T``).
        sample_every: steps between recorded frames.
        max_force: clip of every force component.

    Raises:
        ValueError: a non-positive ``dim``, ``box_size``, ``loc_std``, ``dt`` or ``max_force``,
            a negative ``vel_norm`` or ``interaction_strength``, a NaN or (but ``max_force``)
            infinite value, fewer than
            2 particles, or ``n_steps`` not a multiple of ``sample_every`` (>= 2 frames).
    """

    n_particles: int = 5
    dim: int = 3
    box_size: float = 5.0
    loc_std: float = 1.0
    vel_norm: float = 0.5
    interaction_strength: float = 1.0
    dt: float = 0.001
    n_steps: int = 5000
    sample_every: int = 100
    max_force: float = 100.0

    def __post_init__(self) -> None:
        check_positive_int(self.dim, "dim")
        check_number(self.box_size, "box_size", positive=True)
        check_number(self.loc_std, "loc_std", positive=True)
        check_number(self.vel_norm, "vel_norm")
        check_number(self.interaction_strength, "interaction_strength")
        check_number(self.dt, "dt", positive=True)
        if not (isinstance(self.max_force, (int, float)) and self.max_force > 0):  # inf: no clipping
            raise ValueError(f"max_force: expected a positive number (inf: no clipping), got {self.max_force!r}")
        if self.n_particles < 2:
            raise ValueError(f"n_particles: expected at least 2, got {self.n_particles}")
        if self.sample_every < 1 or self.n_steps < 2 * self.sample_every:
            raise ValueError(
                f"n_steps / sample_every: expected n_steps >= 2 * sample_every >= 2, "
                f"got n_steps={self.n_steps}, sample_every={self.sample_every}"
            )
        if self.n_steps % self.sample_every:
            raise ValueError(f"n_steps: expected a multiple of sample_every={self.sample_every}, got {self.n_steps}")

    @property
    def n_frames(self) -> int:
        """Recorded frames per trajectory, ``n_steps / sample_every - 1``."""
        return self.n_steps // self.sample_every - 1


class Trajectories(NamedTuple):
    """Simulated systems.

    Shape:
        loc: ``(S, T, n, d)`` positions of ``S`` systems at ``T`` recorded frames.
        vel: ``(S, T, n, d)`` velocities at the same frames.
        charges: ``(S, n)`` charges in {-1, +1}.
    """

    loc: np.ndarray
    vel: np.ndarray
    charges: np.ndarray


def coulomb_forces(
    loc: np.ndarray, charges: np.ndarray, *, interaction_strength: float = 1.0, max_force: float | None = None
) -> np.ndarray:
    """Pairwise Coulomb-like forces ``k sum_j q_i q_j (x_i - x_j) / |x_i - x_j|^3``.

    Args:
        loc: ``(S, n, d)`` positions.
        charges: ``(S, n)`` charges.
        interaction_strength: the constant ``k``.
        max_force: clip every component to ``[-max_force, max_force]``; ``None`` for no clip.

    Returns:
        ``(S, n, d)`` forces.
    """
    diff = loc[:, :, None, :] - loc[:, None, :, :]  # (S, n, n, d): x_i - x_j
    r2 = np.einsum("sijd,sijd->sij", diff, diff)
    diag = np.arange(loc.shape[1])
    r2[:, diag, diag] = 1.0  # self-pairs: any finite value, zeroed below
    size = interaction_strength * charges[:, :, None] * charges[:, None, :] / (r2 * np.sqrt(r2))
    size[:, diag, diag] = 0.0
    forces: np.ndarray = np.einsum("sij,sijd->sid", size, diff)
    if max_force is not None:
        np.clip(forces, -max_force, max_force, out=forces)
    return forces


def total_energy(
    loc: np.ndarray, vel: np.ndarray, charges: np.ndarray, *, interaction_strength: float = 1.0
) -> np.ndarray:
    """Kinetic plus potential energy ``sum |v|^2 / 2 + k sum_{i<j} q_i q_j / |x_i - x_j|``.

    Shape:
        loc, vel: ``(..., n, d)``; charges: ``(..., n)`` broadcastable against them;
        returns ``(...)``.
    """
    kinetic: np.ndarray = 0.5 * np.sum(vel**2, axis=(-1, -2))
    diff = loc[..., :, None, :] - loc[..., None, :, :]
    r = np.sqrt(np.sum(diff**2, axis=-1))
    iu = np.triu_indices(loc.shape[-2], k=1)
    qq = charges[..., :, None] * charges[..., None, :]
    potential = interaction_strength * np.sum(qq[..., iu[0], iu[1]] / r[..., iu[0], iu[1]], axis=-1)
    return kinetic + potential


def _reflect_into_box(loc: np.ndarray, vel: np.ndarray, box: float) -> None:
    """The reference's ``_clamp``: reflect positions outside ``[-box, box]`` and point velocities inward."""
    over = loc > box
    loc[over] = 2 * box - loc[over]
    vel[over] = -np.abs(vel[over])
    under = loc < -box
    loc[under] = -2 * box - loc[under]
    vel[under] = np.abs(vel[under])


def simulate_charged(num: int, rng: np.random.Generator, system: ChargedSystem = ChargedSystem()) -> Trajectories:
    """Simulate ``num`` independent charged systems at once.

    Args:
        num: number of systems ``S``.
        rng: the random generator (charges, positions, velocities are drawn from it in that order).
        system: the parameters.

    Returns:
        :class:`Trajectories` with ``T = system.n_frames`` frames.

    Example:
        >>> traj = simulate_charged(4, np.random.default_rng(0), ChargedSystem(n_steps=400))
        >>> traj.loc.shape, traj.charges.shape
        ((4, 3, 5, 3), (4, 5))
    """
    if num < 0:
        raise ValueError(f"num: expected a non-negative number of systems, got {num}")
    n, d = system.n_particles, system.dim
    charges = rng.choice(np.array([-1.0, 1.0]), size=(num, n))
    loc = rng.standard_normal((num, n, d)) * system.loc_std
    vel = rng.standard_normal((num, n, d))
    vel *= system.vel_norm / np.linalg.norm(vel, axis=-1, keepdims=True)
    _reflect_into_box(loc, vel, system.box_size)

    frames = system.n_frames
    loc_out = np.empty((num, frames, n, d))
    vel_out = np.empty((num, frames, n, d))

    def kick() -> None:
        vel[...] += system.dt * coulomb_forces(
            loc, charges, interaction_strength=system.interaction_strength, max_force=system.max_force
        )

    kick()
    last_recorded = frames * system.sample_every  # later steps never reach a recorded frame
    for step in range(1, last_recorded + 1):
        loc += system.dt * vel
        if step % system.sample_every == 0:
            k = step // system.sample_every - 1
            loc_out[:, k] = loc
            vel_out[:, k] = vel
        if step < last_recorded:
            kick()
    return Trajectories(loc_out, vel_out, charges)
