"""What every frame-based wrapper shares: map inputs into per-sample frames, run the
unchanged backbone, map outputs back, and average over frames.

A subclass only says which frames to use (:meth:`_FramedWrapper.frames`): one canonical frame
(:class:`~tinvnn.nn.TinvWrapper`), the LAPACK-signed PCA frame (:class:`~tinvnn.nn.PCAAlign`),
or all sign-flipped PCA frames (:class:`~tinvnn.nn.FrameAveraging`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from tinvnn._checks import check_choice
from tinvnn._layout import Layout
from tinvnn.frame import Frame

__all__ = ["OUTPUTS", "plain_frame"]

OUTPUTS = ("invariant", "vector", "point")


def plain_frame(t: Tensor, R: Tensor, s: Tensor, eigenvalues: Tensor, layout: Layout) -> Frame:
    """A :class:`Frame` for given axes (no canonical sign or tie rule, so no diagnostics: NaN)."""
    nan = torch.full_like(s, float("nan"))
    return Frame(t, R, s, eigenvalues, nan, nan, nan, torch.zeros_like(s, dtype=torch.bool), torch.zeros_like(s, dtype=torch.bool), layout)


class _FramedWrapper(nn.Module):
    """Base class: ``forward`` runs ``backbone`` in each sample's frame(s) and averages."""

    def __init__(
        self,
        backbone: nn.Module,
        *,
        group: str = "O",
        scale: bool = True,
        output: str = "invariant",
        scale_vectors: bool = True,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.group = check_choice(group, "group", ("O", "SO"))
        self.scale = scale
        self.output = check_choice(output, "output", OUTPUTS)
        self.scale_vectors = scale_vectors

    def frames(self, pos: Tensor, mask: Tensor | None, batch: Tensor | None) -> tuple[Frame, int]:
        """Frames for ``pos`` and their number F per sample.

        The frame's layout holds B * F samples, sample-major (sample b, frame f is row
        ``b * F + f``); for F = 1 it is the layout of ``pos`` itself.
        """
        raise NotImplementedError

    def canonical_points(self, pos: Tensor, mask: Tensor | None, batch: Tensor | None) -> tuple[Frame, int, Tensor]:
        """The frames, their number F, and ``pos`` in every frame (repeated F times, sample-major).

        Subclasses whose frame computation already yields the canonical points override this to
        avoid mapping the points a second time.
        """
        frame, count = self.frames(pos, mask, batch)
        return frame, count, frame.to_canonical(_repeat(pos, count) if count > 1 else pos, scale=self.scale)

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
                ``batch`` (flat layouts only for single-frame wrappers).
            vectors: optional per-point vectors laid out like ``pos`` with optional extra dims,
                (..., N, [K,] D); mapped into the frame (scaled when ``scale`` and
                ``scale_vectors``) and passed as the backbone's second argument.
            mask, batch: passed on to the backbone when given.
            **backbone_kwargs: invariant extras (per-point features such as charges), passed
                on unchanged (repeated per frame when there are several).

        Returns:
            ``output="invariant"``: the backbone's output (averaged over frames).
            ``"vector"``: per-point vectors (..., N, D) rotated back (and scaled).
            ``"point"``: per-point positions (..., N, D) mapped back with the full frame.
        """
        frame, count, z = self.canonical_points(pos, mask, batch)
        if count > 1:
            vectors, mask = _repeat(vectors, count), _repeat(mask, count)
            backbone_kwargs = {k: _repeat(v, count) for k, v in backbone_kwargs.items()}
        args = [z]
        if vectors is not None:
            args.append(frame.to_canonical(vectors, vector=True, scale=self.scale and self.scale_vectors))
        for name, value in (("mask", mask), ("batch", batch)):
            if value is not None:
                _check_accepts(self.backbone, name)
                backbone_kwargs[name] = value
        out = self.backbone(*args, **backbone_kwargs)
        if self.output == "vector":
            out = frame.from_canonical(out, vector=True, scale=self.scale and self.scale_vectors)
        elif self.output == "point":
            out = frame.from_canonical(out, scale=self.scale)
        if count > 1:
            out = out.reshape(-1, count, *out.shape[1:]).mean(1)
        return out

    def extra_repr(self) -> str:
        return f"group={self.group!r}, scale={self.scale}, output={self.output!r}, scale_vectors={self.scale_vectors}"


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


def _repeat(x: Any, count: int) -> Any:
    """Repeat a per-sample tensor for each frame: (B, ...) -> (B * count, ...), sample-major."""
    if not isinstance(x, Tensor):
        return x
    return x.repeat_interleave(count, dim=0)
