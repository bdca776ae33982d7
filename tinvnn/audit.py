"""Audit any function for invariance or equivariance under random similarities and permutations.

Users check their own models with these (``tinvnn audit`` on a checkpoint, or in a test); the
library's tests use them everywhere. Inputs are transformed in float64 and cast back to the
input dtype; outputs are compared in float64. All three point layouts are audited: one sample
(N, D), a batch (B, N, D), and a flat PyG batch (N_total, D) with ``batch=`` (each sample moved
by its own transform, points permuted within their sample).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from tinvnn._checks import check_choice, check_finite, check_number, check_positive_int, check_tensor
from tinvnn._layout import Layout
from tinvnn.group import Group, Similarity, as_group, random_similarity

__all__ = ["InvarianceReport", "check_invariance", "check_equivariance"]

OUTPUT_KINDS = ("vector", "point")


@dataclass(frozen=True)
class InvarianceReport:
    """Largest change of a function's output over random group elements.

    Attributes:
        max_abs: max |f(T x) - expected| over all trials and output entries; ``inf`` when a
            transformed input gave NaN or Inf.
        max_rel: ``max_abs`` divided by max |expected| of the same trial.
        trials: number of random group elements tried.
        worst_trial: index of the trial that gave ``max_rel``.
        kind: ``"invariance"``, ``"vector equivariance"`` or ``"point equivariance"``.
    """

    max_abs: float
    max_rel: float
    trials: int
    worst_trial: int
    kind: str = "invariance"

    def ok(self, rtol: float) -> bool:
        """True when ``max_rel <= rtol`` (False when the output became NaN or Inf under a transform).

        Raises:
            ValueError: ``rtol`` is not a finite non-negative number (NaN or Inf would pass anything).
        """
        check_number(rtol, "rtol")
        return self.max_rel <= rtol

    def __str__(self) -> str:
        return (
            f"{self.kind} error over {self.trials} random transforms: "
            f"max abs {self.max_abs:.3e}, max rel {self.max_rel:.3e} (worst trial {self.worst_trial})"
        )


def check_invariance(
    fn: Callable[..., Tensor],
    pos: Tensor,
    *,
    vectors: Tensor | None = None,
    unit_vectors: bool = False,
    point_features: Mapping[str, Tensor] | None = None,
    batch: Tensor | None = None,
    group: Group | str = "O",
    scale: bool = True,
    translate: bool = True,
    permute: bool = True,
    per_point: bool = False,
    trials: int = 8,
    seed: int = 0,
    scale_range: tuple[float, float] = (0.5, 2.0),
    translation: float = 10.0,
) -> InvarianceReport:
    """Measure how much ``fn``'s output changes when its input is moved by the group.

    Each trial draws per sample a random element of ``group`` (a :class:`~tinvnn.group.Group` or
    its alias: O(D) for ``"O"``, SO(D) for ``"SO"``), a log-uniform scale in ``scale_range`` (if
    ``scale``), a Gaussian translation of ``translation`` input radii (if ``translate``) and one random permutation of
    the points (if ``permute``), and compares ``fn(T x)`` with ``fn(x)``.

    Args:
        fn: ``fn(pos)`` or, with ``vectors``, ``fn(pos, vectors)``; returns a tensor. Put
            models in ``eval()`` mode first (dropout or batch statistics break invariance).
        pos: (N, D) one sample, (B, N, D) a batch, or flat (N_total, D) with ``batch``.
        vectors: optional per-point vectors (velocities, normals) (..., N, [K,] D), rotated
            (and scaled when ``scale``, unless ``unit_vectors``) with the points.
        unit_vectors: ``vectors`` are unit directions (normals): rotated but never scaled.
        point_features: optional per-point invariant inputs (charges, colours) laid out like
            ``pos`` without its last dim, (N, ...) or (B, N, ...); permuted with the points and
            passed as keyword arguments: ``fn(pos[, vectors], **point_features)``.
        batch: (N_total,) sample id of each point of a flat ``pos`` (PyG layout). Each sample
            gets its own random transform, and points are permuted only among the points of
            their own sample, so ``batch`` is the same for every call and ``fn`` may close over
            it: ``check_invariance(lambda p: model(p, batch=batch), pos, batch=batch)``.
        per_point: the output has one row per point along the point dim of ``pos``
            (dim 0 for (N, D) and flat, 1 for (B, N, D)), so it is un-permuted before comparing.
        trials, seed: how many random elements (a positive int; ``True`` and ``2.5`` are
            refused), and their seed.

    Returns:
        An :class:`InvarianceReport`.

    Example:
        >>> report = check_invariance(lambda x: torch.cdist(x, x).mean(), torch.randn(50, 3), scale=False)
        >>> report.ok(1e-5)
        True
    """
    return _audit(
        fn,
        pos,
        vectors=vectors,
        unit_vectors=unit_vectors,
        point_features=point_features,
        batch=batch,
        equivariant=None,
        group=group,
        scale=scale,
        translate=translate,
        permute=permute,
        per_point=per_point,
        trials=trials,
        seed=seed,
        scale_range=scale_range,
        translation=translation,
    )


def check_equivariance(
    fn: Callable[..., Tensor],
    pos: Tensor,
    *,
    output: str = "vector",
    vectors: Tensor | None = None,
    unit_vectors: bool = False,
    point_features: Mapping[str, Tensor] | None = None,
    batch: Tensor | None = None,
    scale_output: bool = True,
    group: Group | str = "O",
    scale: bool = True,
    translate: bool = True,
    permute: bool = True,
    trials: int = 8,
    seed: int = 0,
    scale_range: tuple[float, float] = (0.5, 2.0),
    translation: float = 10.0,
) -> InvarianceReport:
    """Measure ``f(T x) - T f(x)`` for per-point outputs, with the same draws as :func:`check_invariance`.

    Args:
        output: ``"vector"`` (velocities, forces, displacements: rotated, and scaled when
            ``scale_output``) or ``"point"`` (positions: the full similarity, translation included).
        scale_output: vector outputs carry length units (scale with the input); False for unit
            vectors such as predicted normals.
        Other arguments as in :func:`check_invariance`; outputs are per point, laid out like ``pos``.
    """
    check_choice(output, "output", OUTPUT_KINDS)
    return _audit(
        fn,
        pos,
        vectors=vectors,
        unit_vectors=unit_vectors,
        point_features=point_features,
        batch=batch,
        equivariant=(output, scale_output),
        group=group,
        scale=scale,
        translate=translate,
        permute=permute,
        per_point=True,
        trials=trials,
        seed=seed,
        scale_range=scale_range,
        translation=translation,
    )


def _audit(
    fn: Callable[..., Tensor],
    pos: Tensor,
    *,
    vectors: Tensor | None,
    unit_vectors: bool,
    point_features: Mapping[str, Tensor] | None,
    batch: Tensor | None,
    equivariant: tuple[str, bool] | None,
    group: Group | str,
    scale: bool,
    translate: bool,
    permute: bool,
    per_point: bool,
    trials: int,
    seed: int,
    scale_range: tuple[float, float],
    translation: float,
) -> InvarianceReport:
    group = as_group(group)
    check_positive_int(trials, "trials")  # True and 2.5 too: not a count of trials
    if batch is None:
        check_tensor(pos, "pos")
        if pos.dim() not in (2, 3):
            raise ValueError(f"pos must have shape (N, D) or (B, N, D), got {tuple(pos.shape)}")
        check_finite(pos, "pos")
        layout = Layout.from_input(pos, None, None, min_points=1, check_values=False)
        sample = None
        batch_shape = tuple(pos.shape[:-2])
    else:
        layout = Layout.from_input(pos, None, batch, min_points=1)
        sample = batch.long()
        batch_shape = (layout.num_samples,)
    point_dim = 0 if sample is not None else pos.dim() - 2
    n, d = pos.shape[-2], pos.shape[-1]
    _check_point_inputs(pos, vectors, point_features)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        features = dict(point_features or {})
        reference = _call(fn, pos, vectors, features).to(torch.float64)
        if not bool(torch.isfinite(reference).all()):
            raise ValueError("fn returned NaN or Inf on the untransformed input: its invariance cannot be measured")
        points = tuple(pos.shape[:-1])
        if equivariant is not None and (
            tuple(reference.shape[: len(points)]) != points
            or reference.dim() not in (pos.dim(), pos.dim() + 1)
            or reference.shape[-1] != d
        ):
            raise ValueError(
                f"fn: expected {equivariant[0]} outputs laid out like pos, {points + (d,)} or "
                f"{points + ('K', d)}, got {tuple(reference.shape)}"
            )
        radius = _radius(pos, layout)
        worst_abs, worst_rel, worst_trial = 0.0, 0.0, 0
        for trial in range(trials):
            g = random_similarity(
                d,
                batch_shape,
                group=group,
                scale_range=scale_range if scale else None,
                translation=radius * translation if translate else 0.0,
                generator=gen,
            )
            g = Similarity(g.Q.to(pos.device), g.s.to(pos.device), g.t.to(pos.device))
            act = _Action(g, sample)
            perm = _permutation(n, sample, gen).to(pos.device) if permute else torch.arange(n, device=pos.device)
            moved_pos = act.points(pos).index_select(point_dim, perm)
            moved_vec = None
            if vectors is not None:
                moved_vec = act.vectors(vectors, scale=scale and not unit_vectors).index_select(point_dim, perm)
            moved_features = {k: v.index_select(point_dim, perm) for k, v in features.items()}
            out = _call(fn, moved_pos, moved_vec, moved_features).to(torch.float64)
            if per_point:
                out = out.index_select(point_dim, torch.argsort(perm))
            expected = reference if equivariant is None else _expected(reference, act, *equivariant, scale=scale)
            if out.shape != expected.shape:
                raise ValueError(
                    f"fn returned shape {tuple(out.shape)} for the moved input, {tuple(expected.shape)} before"
                )
            err = float((out - expected).abs().max()) if out.numel() else 0.0
            if not bool(torch.isfinite(out).all()):
                err = float("inf")  # NaN compares false with everything: count it as the worst error
            rel = err / max(float(expected.abs().max()) if expected.numel() else 0.0, 1e-300)
            if rel > worst_rel or trial == 0:
                worst_rel, worst_trial = rel, trial
            worst_abs = max(worst_abs, err)
    kind = "invariance" if equivariant is None else f"{equivariant[0]} equivariance"
    return InvarianceReport(worst_abs, worst_rel, trials, worst_trial, kind)


def _check_point_inputs(pos: Tensor, vectors: Tensor | None, point_features: Mapping[str, Tensor] | None) -> None:
    """Raise unless ``vectors`` is laid out like ``pos`` ((..., N, D) or (..., N, K, D)) and every
    point feature like ``pos`` without its last dim ((..., N) or (..., N, F...))."""
    points = tuple(pos.shape[:-1])
    if vectors is not None:
        check_tensor(vectors, "vectors")
        if (
            tuple(vectors.shape[: len(points)]) != points
            or vectors.dim() not in (pos.dim(), pos.dim() + 1)
            or vectors.shape[-1] != pos.shape[-1]
        ):
            raise ValueError(
                f"vectors: expected shape {points + (pos.shape[-1],)} or {points + ('K', pos.shape[-1])} "
                f"(laid out like pos), got {tuple(vectors.shape)}"
            )
        check_finite(vectors, "vectors")
    if point_features is None:
        return
    if not isinstance(point_features, Mapping):
        raise ValueError(f"point_features: expected a mapping of names to tensors, got {type(point_features).__name__}")
    for key, value in point_features.items():
        name = f"point_features[{key!r}]"
        if not isinstance(key, str) or not isinstance(value, Tensor):
            raise ValueError(f"{name}: expected a tensor under a string name, got {type(value).__name__}")
        if tuple(value.shape[: len(points)]) != points:
            raise ValueError(
                f"{name}: expected shape {points} + (...) (one row per point of pos), got {tuple(value.shape)}"
            )


@dataclass(frozen=True)
class _Action:
    """A similarity per sample acting on points or vectors; per point (via ``sample``) for flat layouts."""

    g: Similarity
    sample: Tensor | None

    def points(self, x: Tensor) -> Tensor:
        return self._apply(x, lambda g, y: g.points(y))

    def vectors(self, x: Tensor, *, scale: bool) -> Tensor:
        return self._apply(x, lambda g, y: g.vectors(y, scale=scale))

    def _apply(self, x: Tensor, act: Callable[[Similarity, Tensor], Tensor]) -> Tensor:
        if self.sample is None:
            return act(self.g, x)
        g = self.g
        per_point = Similarity(g.Q[self.sample], g.s[self.sample], g.t[self.sample])
        return act(per_point, x.unsqueeze(1)).squeeze(1)  # each flat row is a one-point sample


def _radius(pos: Tensor, layout: Layout) -> float:
    """Largest distance of a point to its own sample's centroid (float64)."""
    dense = layout.to_dense(pos.to(torch.float64))
    return float(layout.from_dense(dense - layout.mean(dense)[:, None]).norm(dim=-1).amax())


def _permutation(n: int, sample: Tensor | None, gen: torch.Generator) -> Tensor:
    """A random permutation of n points; with ``sample``, one that keeps every point in its sample's slots."""
    if sample is None:
        return torch.randperm(n, generator=gen)
    sample = sample.cpu()
    slots = torch.argsort(sample, stable=True)  # each sample's slots, samples in order
    shuffled = torch.argsort(sample.to(torch.float64) + torch.rand(n, generator=gen, dtype=torch.float64))
    perm = torch.empty_like(slots)
    perm[slots] = shuffled
    return perm


def _expected(reference: Tensor, act: _Action, output: str, scale_output: bool, *, scale: bool) -> Tensor:
    if output == "point":
        return act.points(reference)
    return act.vectors(reference, scale=scale and scale_output)


def _call(fn: Callable[..., Tensor], pos: Tensor, vectors: Tensor | None, features: dict[str, Tensor]) -> Tensor:
    out = fn(pos, **features) if vectors is None else fn(pos, vectors, **features)
    if not isinstance(out, Tensor):
        raise ValueError(f"fn must return a tensor, got {type(out).__name__}")
    return out
