"""``CanonicalCoordinates``: the module form of :func:`tinvnn.canonicalize` (a transform for pipelines)."""

from __future__ import annotations

from torch import Tensor, nn

from tinvnn._checks import check_choice
from tinvnn.canonical import AMBIGUITY_ACTIONS, canonicalize
from tinvnn.group import Group, as_group

__all__ = ["CanonicalCoordinates"]


class CanonicalCoordinates(nn.Module):
    """Replace points by their canonical coordinates; see :func:`tinvnn.canonicalize`.

    Args:
        group: a :class:`~tinvnn.group.Group` or its alias ``"O"``, ``"SO"``, ``"SO2z"``, ``"O2z"``.
        scale, on_ambiguity: as in :func:`tinvnn.canonicalize`.

    Shape:
        pos (N, D), (B, N, D) [+ mask (B, N)] or (N_total, D) + batch -> the same shape.

    Example:
        >>> CanonicalCoordinates(group="SO")
        CanonicalCoordinates(group=Rotations(), scale=True, on_ambiguity='ignore')
    """

    def __init__(self, *, group: Group | str = "O", scale: bool = True, on_ambiguity: str = "ignore") -> None:
        super().__init__()
        self.group = as_group(group)
        self.scale = scale
        self.on_ambiguity = check_choice(on_ambiguity, "on_ambiguity", AMBIGUITY_ACTIONS)

    def forward(self, pos: Tensor, mask: Tensor | None = None, batch: Tensor | None = None) -> Tensor:
        """(N, D) | (B, N, D) [+ mask] | (N_total, D) + batch -> the same shape."""
        return canonicalize(
            pos, mask=mask, batch=batch, scale=self.scale, group=self.group, on_ambiguity=self.on_ambiguity
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(group={self.group!r}, scale={self.scale}, on_ambiguity={self.on_ambiguity!r})"
