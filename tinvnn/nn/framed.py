"""What every frame-based wrapper shares: map inputs into per-sample frames, run the
unchanged backbone, map outputs back, and average over frames with their weights.

A subclass of :class:`FramedWrapper` only says which frames to use (:meth:`FramedWrapper.frame_set`,
a :class:`~tinvnn.FrameSet`): one canonical
frame (:class:`~tinvnn.nn.TinvWrapper`), the LAPACK-signed PCA frame
(:class:`~tinvnn.nn.PCAAlign`), all sign-flipped PCA frames (:class:`~tinvnn.nn.FrameAveraging`)
or the weighted canonical frames (:class:`~tinvnn.nn.WeightedFrames`). Samples may have
different numbers of frames: all frames of a batch go through the backbone in one call.
"""

from __future__ import annotations

import abc
import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from tinvnn._checks import check_choice, check_finite, check_tensor
from tinvnn.frame_set import FrameSet
from tinvnn.group import Group, as_group

__all__ = ["OUTPUTS", "FramedWrapper", "check_backbone"]

OUTPUTS = ("invariant", "vector", "point")


class FramedWrapper(nn.Module, abc.ABC):
    """Base class of the frame-based wrappers: ``forward`` runs ``backbone`` once on the points
    of all frames of the batch, maps outputs back and averages them over each sample's frames
    with the frames' weights. A subclass implements :meth:`frame_set`.

    Args:
        backbone: the network, called as ``backbone(z)`` or ``backbone(z, vectors)``.
        group: a :class:`~tinvnn.group.Group` or its alias ``"O"``, ``"SO"``, ``"SO2z"``, ``"O2z"``.
        scale, output, scale_vectors: as in :class:`~tinvnn.nn.TinvWrapper`.

    Example (:func:`tinvnn.canonical.canonical_frame`, :func:`tinvnn.frame_set.single_frames`):
        >>> class Canonical(FramedWrapper):
        ...     def frame_set(self, pos, mask, batch):
        ...         dense, frame = canonical_frame(pos, mask=mask, batch=batch, group=self.group)
        ...         return single_frames(frame, frame.layout.from_dense(dense))
        >>> Canonical(nn.Linear(3, 8))(torch.randn(2, 100, 3)).shape
        torch.Size([2, 100, 8])
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        group: Group | str = "O",
        scale: bool = True,
        output: str = "invariant",
        scale_vectors: bool = True,
    ) -> None:
        super().__init__()
        check_backbone(backbone)
        self.backbone = backbone
        self.group = as_group(group)
        self.scale = scale
        self.output = check_choice(output, "output", OUTPUTS)
        self.scale_vectors = scale_vectors

    @abc.abstractmethod
    def frame_set(self, pos: Tensor, mask: Tensor | None, batch: Tensor | None) -> FrameSet:
        """The frames of ``pos`` (laid out as in :meth:`forward`), their weights and the points
        in each (see :class:`~tinvnn.FrameSet`)."""

    def forward(
        self,
        pos: Tensor,
        vectors: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        batch: Tensor | None = None,
        **backbone_kwargs: Any,
    ) -> Tensor:
        """Run the backbone on canonical inputs.

        Args:
            pos: (N, D), (B, N, D) with optional ``mask`` (B, N), or flat (N_total, D) with
                ``batch`` (N_total,).
            vectors: optional finite per-point vectors laid out like ``pos`` with optional extra
                dims, (..., N, [K,] D); mapped into the frame (scaled when ``scale`` and
                ``scale_vectors``) and passed as the backbone's second argument.
            mask, batch: passed on to the backbone when given (for several frames per sample:
                the mask repeated per frame, the batch vector numbering the frames).
            **backbone_kwargs: invariant extras (per-point features such as charges), passed
                on unchanged (repeated per frame when there are several).

        Returns:
            ``output="invariant"``: the backbone's output (weighted average over frames).
            ``"vector"``: per-point vectors (..., N, D) rotated back (and scaled).
            ``"point"``: per-point positions (..., N, D) mapped back with the full frame.
        """
        if vectors is not None:
            _check_vectors(vectors, pos, mask)
        frames = self.frame_set(pos, mask, batch)
        args = [frames.points]
        if vectors is not None:
            args.append(
                frames.frame.to_canonical(frames.repeat(vectors), vector=True, scale=self.scale and self.scale_vectors)
            )
        backbone_kwargs = {k: frames.repeat(v) if isinstance(v, Tensor) else v for k, v in backbone_kwargs.items()}
        if mask is not None:
            _check_accepts(self.backbone, "mask")
            backbone_kwargs["mask"] = frames.repeat(mask)
        if batch is not None:
            _check_accepts(self.backbone, "batch")
            backbone_kwargs["batch"] = batch if frames.identity else frames.frame.layout.flat_index()[0]
        out = self.backbone(*args, **backbone_kwargs)
        if self.output != "invariant":
            _check_per_point(out, frames.points, self.output)
        if self.output == "vector":
            out = frames.frame.from_canonical(out, vector=True, scale=self.scale and self.scale_vectors)
        elif self.output == "point":
            out = frames.frame.from_canonical(out, scale=self.scale)
        return frames.average(out)

    def extra_repr(self) -> str:
        return f"group={self.group!r}, scale={self.scale}, output={self.output!r}, scale_vectors={self.scale_vectors}"


def _check_per_point(out: object, points: Tensor, output: str) -> None:
    """Raise unless the backbone's ``out`` is laid out like its input ``points`` (..., N, D), with
    optional extra dims before D, as a ``"vector"`` or ``"point"`` output must be."""
    shape = tuple(points.shape)
    if (
        not isinstance(out, Tensor)
        or tuple(out.shape[: len(shape) - 1]) != shape[:-1]
        or out.dim() not in (len(shape), len(shape) + 1)
        or out.shape[-1] != shape[-1]
    ):
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(
            f"backbone: output={output!r} needs per-point outputs laid out like its input {shape} "
            f"(..., N, [K,] D), got {got}"
        )


def check_backbone(backbone: object) -> None:
    """Raise unless ``backbone`` is an ``nn.Module`` or a plain callable without hidden parameters.

    A function or lambda that calls a module with parameters (``lambda z: net(z)``) would hide
    them from the wrapper: ``parameters()`` would miss them and training would not update them.
    """
    if isinstance(backbone, nn.Module):
        return
    if not callable(backbone):
        raise ValueError(f"backbone must be an nn.Module or a callable, got {type(backbone).__name__}")
    hidden = [name for name, value in _reachable(backbone) if _has_parameters(value)]
    if hidden:
        raise ValueError(
            f"backbone: the plain callable {getattr(backbone, '__name__', type(backbone).__name__)!r} uses "
            f"parameters the wrapper cannot see ({', '.join(sorted(set(hidden)))}), so they would not be "
            "trained or saved; pass an nn.Module that owns them (a subclass whose forward calls them)"
        )


def _reachable(fn: object) -> list[tuple[str, object]]:
    """(name, value) pairs a callable reaches directly: its bound object, partial arguments,
    closure cells, defaults, the globals its code names, or an object's attributes."""
    if isinstance(fn, functools.partial):
        return [("partial", fn.func), *((f"partial arg {i}", a) for i, a in enumerate(fn.args)), *fn.keywords.items()]
    found: list[tuple[str, object]] = []
    if getattr(fn, "__self__", None) is not None:
        found.append(("self", fn.__self__))  # type: ignore[attr-defined]
    code = getattr(fn, "__code__", None)
    if code is None:
        return found + list(getattr(fn, "__dict__", {}).items())
    for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ()):
        try:
            found.append((name, cell.cell_contents))
        except ValueError:  # an empty cell
            continue
    found += [(f"default {i}", v) for i, v in enumerate(getattr(fn, "__defaults__", None) or ())]
    scope = getattr(fn, "__globals__", {})
    return found + [(name, scope[name]) for name in code.co_names if name in scope]


def _has_parameters(value: object) -> bool:
    if isinstance(value, nn.Module):
        return any(True for _ in value.parameters())
    return isinstance(value, Tensor) and value.requires_grad


def _check_vectors(vectors: Tensor, pos: Tensor, mask: Tensor | None) -> None:
    """Raise unless ``vectors`` is a floating tensor, finite on the real points."""
    check_tensor(vectors, "vectors")
    if mask is not None and vectors.shape[:2] == mask.shape:
        vectors = torch.where(mask.reshape(*mask.shape, *([1] * (vectors.dim() - 2))), vectors, 0.0)
    check_finite(vectors, "vectors")


@functools.lru_cache(maxsize=256)
def _takes_keyword(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` accepts the keyword argument ``name`` (or has ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # no introspectable signature: let the call decide
        return True
    return any(p.kind is p.VAR_KEYWORD or (p.name == name and p.kind is not p.POSITIONAL_ONLY) for p in params)


def _check_accepts(backbone: nn.Module, name: str) -> None:
    """Raise unless the backbone's forward (or the backbone, if a plain callable) takes ``name``.

    Dropping ``mask`` or ``batch`` silently would let a backbone treat padded points as real
    ones or a flat batch as one sample, so a backbone without the argument is refused.
    """
    forward = getattr(backbone, "forward", backbone)
    if _takes_keyword(getattr(forward, "__func__", forward), name):
        return
    raise ValueError(
        f"{name}: the backbone {type(backbone).__name__} does not take a {name!r} argument, so it cannot "
        f"tell samples or padding apart; pass unpadded (B, N, D) samples without {name} or use a backbone "
        f"whose forward takes {name}"
    )
