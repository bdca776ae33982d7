"""PyTorch Geometric integration: a ``BaseTransform`` that canonicalizes ``data.pos``, and an
adapter that lets :class:`tinvnn.nn.TinvWrapper` wrap a model that takes a ``Data``/``Batch``.

Needs the optional dependency ``torch_geometric`` (``pip install 'tinvnn[pyg]'``). PyG's
``KNNGraph`` / ``RadiusGraph`` also need ``pyg-lib``, which the extra leaves out; build a cloud's
neighbour graph with :func:`tinvnn.geometry.knn_graph` instead (``docs/install.md``).

PyG's ``Center`` + ``NormalizeScale`` + ``NormalizeRotation`` align each cloud with its principal
axes but keep the signs the eigen-solver happens to return, so a rotated copy of a shape can come
out mirrored along any axis; :class:`CanonicalizePose` fixes signs, ties and handedness by invariant
rules (``docs/conventions.md``), so every rotated, reflected, scaled, translated or permuted copy
comes out the same up to float error.

Two ways to use it:

* as a dataset transform: ``transform=T.Compose([..., CanonicalizePose()])``; the model sees
  canonical ``pos`` (and rotated normals), and the frame stays on the ``Data`` object
  (``frame_t`` (1, D), ``frame_R`` (1, D, D), ``frame_s`` (1,); batched: (B, D), (B, D, D), (B,)),
  so :func:`from_canonical` maps per-node outputs back to input coordinates;
* inside the model: ``TinvWrapper(DataBackbone(net))(batch.pos, batch=batch.batch, data=batch)``
  canonicalizes each graph of a flat batch on the fly, which also makes vector outputs
  equivariant (``output="vector"``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from tinvnn._checks import check_choice
from tinvnn._layout import Layout
from tinvnn._optional import missing_dependency
from tinvnn.canonical import AMBIGUITY_ACTIONS, canonicalize
from tinvnn.frame_set import plain_frame
from tinvnn.group import Group, as_group
from tinvnn.nn.framed import check_backbone

try:
    from torch_geometric.data import Data
    from torch_geometric.transforms import BaseTransform
except ModuleNotFoundError as err:  # one line naming the extra rather than a traceback into PyG
    raise (missing_dependency(err, "tinvnn.pyg") or err) from None

__all__ = ["FRAME_ATTRS", "CanonicalizePose", "DataBackbone", "from_canonical"]

# Attributes that CanonicalizePose stores on each Data object: z = (pos - t) @ R / s.
FRAME_ATTRS = ("frame_t", "frame_R", "frame_s")


class CanonicalizePose(BaseTransform):  # type: ignore[misc, unused-ignore]  # PyG ships no type information (strict: subclassing Any)
    """PyG transform: replace ``data.pos`` by its canonical coordinates (:func:`tinvnn.canonicalize`).

    Args:
        vectors: names of per-node vector attributes with length units (velocities,
            displacements): rotated and, with ``scale``, divided by the scale.
        unit_vectors: names of per-node unit vectors (normals): rotated only. ``None`` (default)
            rotates ``normal`` when the data has it, as PyG's ``NormalizeRotation`` does.
        scale: divide by the RMS radius (scale invariance).
        group: a :class:`~tinvnn.group.Group`, or ``"O"`` (rotations and reflections), ``"SO"``
            (rotations only), ``"SO2z"`` (rotations about z, "up" kept) or ``"O2z"``.
        on_ambiguity: ``"ignore"``, ``"warn"`` or ``"raise"`` (see :func:`tinvnn.canonicalize`).

    Shape:
        ``data.pos`` (N, D) -> (N, D); named vectors (N, [K,] D) -> same; adds ``frame_t``
        (1, D), ``frame_R`` (1, D, D) and ``frame_s`` (1,) (float64, concatenated by ``Batch``).
        On a collated ``Batch`` of B graphs, each graph gets its own frame (``data.batch`` tells
        them apart): the same result as the transform on each graph before collation, with
        ``frame_t`` (B, D), ``frame_R`` (B, D, D) and ``frame_s`` (B,).

    Raises:
        ValueError: no ``data.pos``; a named vector attribute missing, not shaped like ``pos``
            per node, or holding NaN or inf.

    Example:
        >>> import torch_geometric.transforms as T
        >>> transform = T.Compose([T.SamplePoints(1024, include_normals=True), CanonicalizePose()])  # doctest: +SKIP
        >>> CanonicalizePose()(Data(pos=torch.randn(50, 3))).pos.shape
        torch.Size([50, 3])
    """

    def __init__(
        self,
        *,
        vectors: Sequence[str] = (),
        unit_vectors: Sequence[str] | None = None,
        scale: bool = True,
        group: Group | str = "O",
        on_ambiguity: str = "ignore",
    ) -> None:
        self.vectors = tuple(vectors)
        self.unit_vectors = None if unit_vectors is None else tuple(unit_vectors)
        self.scale = scale
        self.group = as_group(group)
        self.on_ambiguity = check_choice(on_ambiguity, "on_ambiguity", AMBIGUITY_ACTIONS)

    def forward(self, data: Data) -> Data:
        """Canonicalize ``data`` in place (``BaseTransform.__call__`` passes a shallow copy)."""
        pos = getattr(data, "pos", None)
        if not isinstance(pos, Tensor):
            raise ValueError(f"CanonicalizePose needs data.pos, a (N, D) tensor; got {type(pos).__name__}")
        unit_vectors = self.unit_vectors
        if unit_vectors is None:
            unit_vectors = ("normal",) if isinstance(getattr(data, "normal", None), Tensor) else ()
        for name in self.vectors + unit_vectors:
            _check_vectors(data, name, pos)
        # A collated Batch: one frame per graph (its flat ``batch`` vector), as the transform gives
        # each graph before collation; a single Data: one frame.
        batch = getattr(data, "batch", None) if isinstance(getattr(data, "batch", None), Tensor) else None
        z, frame = canonicalize(
            pos, batch=batch, scale=self.scale, group=self.group, return_frame=True, on_ambiguity=self.on_ambiguity
        )
        data.pos = z
        for name in self.vectors:
            data[name] = frame.to_canonical(data[name], vector=True, scale=self.scale)
        for name in unit_vectors:
            data[name] = frame.to_canonical(data[name], vector=True, scale=False)
        data.frame_t, data.frame_R, data.frame_s = frame.t, frame.R, frame.s
        return data

    def __repr__(self) -> str:
        unit = "None" if self.unit_vectors is None else repr(self.unit_vectors)
        return (
            f"{type(self).__name__}(vectors={self.vectors!r}, unit_vectors={unit}, scale={self.scale}, "
            f"group={self.group!r}, on_ambiguity={self.on_ambiguity!r})"
        )


def _check_vectors(data: Data, name: str, pos: Tensor) -> None:
    """Refuse a per-node vector attribute that the frame cannot rotate: wrong shape, or not finite."""
    value = getattr(data, name, None)
    if not isinstance(value, Tensor):
        raise ValueError(f"CanonicalizePose: data has no tensor attribute {name!r} to rotate")
    n, d = pos.shape[0], pos.shape[-1]
    if value.dim() not in (2, 3) or value.shape[0] != n or value.shape[-1] != d:
        raise ValueError(
            f"CanonicalizePose: data.{name} must be per-node vectors like data.pos, ({n}, {d}) or ({n}, K, {d}); "
            f"got {tuple(value.shape)}"
        )
    bad = ~torch.isfinite(value).all(dim=-1).reshape(n, -1).all(dim=1)
    if bool(bad.any()):
        nodes = torch.nonzero(bad).flatten()
        raise ValueError(
            f"CanonicalizePose: data.{name} has non-finite values (NaN or inf) at {len(nodes)} node(s), "
            f"first node {int(nodes[0])}"
        )


def from_canonical(data: Data, z: Tensor, *, vector: bool = False, scale: bool = True) -> Tensor:
    """Map per-node outputs from the canonical frame that :class:`CanonicalizePose` stored back to input coordinates.

    ``x = s * z @ R.T + t`` per graph (``vector=True``: no ``t``; ``scale=False``: no ``s``, for
    unit vectors); graphs are told apart by ``data.batch`` when present.

    Shape:
        z (N, D) or (N, K, D), one row per node of ``data`` -> same shape and dtype.
    """
    missing = [name for name in FRAME_ATTRS if not isinstance(getattr(data, name, None), Tensor)]
    if missing:
        raise ValueError(f"from_canonical: data lacks {missing}; apply tinvnn.pyg.CanonicalizePose first")
    batch = getattr(data, "batch", None)
    if batch is None:
        batch = torch.zeros(z.shape[0], dtype=torch.long, device=z.device)
    if batch.shape != z.shape[:1]:
        raise ValueError(f"z must have one row per node, ({batch.shape[0]}, ..., D), got {tuple(z.shape)}")
    # The nodes' flat layout (N, D); z's extra dims (N, K, D) are per-node rows of the same layout.
    layout = Layout.from_input(z.flatten(1), None, batch, name="z", min_points=1, check_values=False)
    t, R, s = (getattr(data, name) for name in FRAME_ATTRS)
    frame = plain_frame(t, R, s, torch.full_like(t, float("nan")), layout)
    return frame.from_canonical(z, vector=vector, scale=scale)


class DataBackbone(nn.Module):
    """Adapter: a PyG model that takes a ``Data``/``Batch`` as a backbone of :class:`~tinvnn.nn.TinvWrapper`.

    The wrapper calls ``adapter(z, [vectors,] batch=..., data=...)``; the adapter hands ``model`` a
    shallow copy of ``data`` whose ``pos`` is the canonical ``z`` and whose ``vectors`` attributes
    are the canonical vectors, and returns what the model returns. Every other attribute (``x``,
    ``edge_index``, ``batch``) is passed unchanged, so features must not hold raw coordinates.

    Args:
        model: ``model(data) -> Tensor``, e.g. a ``MessagePassing`` network with global pooling
            (invariant output) or per-node vector outputs (``output="vector"`` in the wrapper);
            a module, or a plain function without parameters of its own.
        vectors: names of the ``data`` attributes that receive the wrapper's ``vectors``
            argument: one name for (N, D), K names for (N, K, D) in that order.

    Shape:
        z (N_total, D) with the flat ``batch`` (N_total,) of the wrapper's call, ``data`` the
        ``Batch`` it came from. One frame per graph: use with :class:`~tinvnn.nn.TinvWrapper`.

    Example:
        >>> from tinvnn.nn import TinvWrapper
        >>> model = TinvWrapper(DataBackbone(net))  # doctest: +SKIP
        >>> logits = model(batch.pos, batch=batch.batch, data=batch)  # doctest: +SKIP
    """

    def __init__(self, model: nn.Module | Callable[[Data], Tensor], *, vectors: Sequence[str] = ()) -> None:
        super().__init__()
        check_backbone(model)
        self.model = model
        self.vectors = tuple(vectors)

    def forward(self, z: Tensor, vectors: Tensor | None = None, *, batch: Tensor | None = None, data: Data) -> Tensor:
        """Run ``model`` on ``data`` with ``pos = z`` (and the named vectors replaced).

        ``batch`` is the wrapper's flat batch vector, the same as ``data.batch``; the model
        reads it from ``data``.
        """
        if z.shape[0] != data.num_nodes:
            raise ValueError(
                "DataBackbone needs one frame per graph (TinvWrapper): "
                f"got {z.shape[0]} points for {data.num_nodes} nodes"
            )
        if (vectors is None) != (not self.vectors):
            given = "no vectors" if vectors is None else "vectors"
            raise ValueError(f"DataBackbone(vectors={self.vectors!r}) was called with {given}")
        moved = copy.copy(data)
        moved.pos = z
        if vectors is not None:
            columns = [vectors] if vectors.dim() == 2 else vectors.unbind(1)
            if len(columns) != len(self.vectors):
                raise ValueError(
                    f"DataBackbone: {len(self.vectors)} vector names {self.vectors} for {len(columns)} vectors"
                )
            for name, value in zip(self.vectors, columns, strict=True):
                moved[name] = value
        return self.model(moved)

    def extra_repr(self) -> str:
        return f"vectors={self.vectors!r}"
