"""tinvnn.pyg in a real PyTorch Geometric pipeline: dataset transform, DataLoader, Batch, MessagePassing."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

pytest.importorskip("torch_geometric")

import torch_geometric.transforms as T  # noqa: E402
from torch_geometric.data import Batch, Data, InMemoryDataset  # noqa: E402
from torch_geometric.loader import DataLoader  # noqa: E402
from torch_geometric.nn import MessagePassing, global_mean_pool  # noqa: E402

from tests._clouds import skewed_cloud  # noqa: E402
from tinvnn import check_equivariance, check_invariance, random_orthogonal  # noqa: E402
from tinvnn.nn import TinvWrapper  # noqa: E402
from tinvnn.pyg import CanonicalizePose, DataBackbone, from_canonical  # noqa: E402


def _knn_edges(pos: Tensor, k: int) -> Tensor:
    """(2, N k) edges from each point's k nearest neighbours (distance-based: rotation-invariant)."""
    nbr = torch.cdist(pos, pos).topk(k + 1, largest=False).indices[:, 1:]
    return torch.stack([nbr.reshape(-1), torch.arange(len(pos)).repeat_interleave(k)])


class EdgeNet(MessagePassing):
    """A small EdgeConv-style network on relative positions: translation-invariant, not rotation-invariant.

    Shape: Batch with pos (N_total, 3), edge_index (2, E), batch (N_total,) -> logits (B, 4),
    or with ``per_node`` vectors (N_total, 3).
    """

    def __init__(self, *, per_node: bool = False) -> None:
        super().__init__(aggr="max")
        self.mlp = nn.Sequential(nn.Linear(3, 32), nn.Tanh(), nn.Linear(32, 32))
        self.head = nn.Linear(32, 3 if per_node else 4)
        self.per_node = per_node

    def forward(self, data: Data) -> Tensor:
        h = self.propagate(data.edge_index, pos=data.pos)
        return self.head(h) if self.per_node else self.head(global_mean_pool(h, data.batch))

    def message(self, pos_i: Tensor, pos_j: Tensor) -> Tensor:
        return self.mlp(pos_j - pos_i)


class ShapeDataset(InMemoryDataset):
    """Clouds with knn edges, held in memory; ``transform`` runs on every access."""

    def __init__(self, clouds: list[Tensor], transform: T.BaseTransform | None = None) -> None:
        super().__init__(None, transform)
        self.data, self.slices = self.collate([Data(pos=c, edge_index=_knn_edges(c, 6)) for c in clouds])


def _rotated_copies(cloud: Tensor, count: int, generator: torch.Generator) -> list[Tensor]:
    rot = random_orthogonal(3, (count,), det=1, generator=generator, dtype=cloud.dtype)
    return [cloud] + [cloud @ r.T for r in rot]


def test_pyg_normalize_rotation_is_not_invariant_and_canonicalize_is(generator: torch.Generator) -> None:
    """Side by side on a generated shape: 50 rotated copies, PyG's usual normalisation vs ours."""
    cloud = skewed_cloud(512, 3, generator=generator, dtype=torch.float32)
    pyg = T.Compose([T.Center(), T.NormalizeScale(), T.NormalizeRotation()])
    ours = T.Compose([T.Center(), T.NormalizeScale(), CanonicalizePose()])
    audit = dict(group="SO", scale=False, translate=False, permute=False, per_point=True, trials=50)
    pyg_report = check_invariance(lambda p: pyg(Data(pos=p)).pos, cloud, **audit)
    ours_report = check_invariance(lambda p: ours(Data(pos=p)).pos, cloud, **audit)
    assert pyg_report.max_abs > 0.5, pyg_report  # a rotated copy comes out flipped along some axis
    assert ours_report.max_abs < 1e-4, ours_report


def test_canonicalize_transform_rotates_named_vectors_and_keeps_the_frame(generator: torch.Generator) -> None:
    pos = skewed_cloud(40, 3, generator=generator)
    normal = nn.functional.normalize(torch.randn(40, 3, generator=generator, dtype=torch.float64), dim=1)
    vel = torch.randn(40, 3, generator=generator, dtype=torch.float64)
    data = Data(pos=pos, normal=normal, vel=vel)
    out = CanonicalizePose(vectors=["vel"])(data)
    assert data.pos is pos and "frame_R" not in data  # BaseTransform works on a shallow copy
    assert out.frame_t.shape == (1, 3) and out.frame_R.shape == (1, 3, 3) and out.frame_s.shape == (1,)
    torch.testing.assert_close(from_canonical(out, out.pos), pos)
    torch.testing.assert_close(from_canonical(out, out.vel, vector=True), vel)
    torch.testing.assert_close(from_canonical(out, out.normal, vector=True, scale=False), normal)
    torch.testing.assert_close(out.normal.norm(dim=1), torch.ones(40, dtype=torch.float64))  # normals stay unit

    def canonical(p: Tensor, v: Tensor) -> Tensor:
        moved = CanonicalizePose(unit_vectors=["normal"])(Data(pos=p, normal=v))
        return torch.cat([moved.pos, moved.normal], dim=1)

    assert check_invariance(canonical, pos, vectors=normal, unit_vectors=True, per_point=True).ok(1e-9)


def test_canonicalize_transform_repr_and_errors() -> None:
    assert repr(CanonicalizePose(vectors=["vel"], group="SO")) == (
        "CanonicalizePose(vectors=('vel',), unit_vectors=None, scale=True, group=Rotations(), on_ambiguity='ignore')"
    )
    with pytest.raises(ValueError, match="CanonicalizePose needs data.pos, a \\(N, D\\) tensor; got NoneType"):
        CanonicalizePose()(Data(x=torch.randn(5, 2)))
    with pytest.raises(ValueError, match="data has no tensor attribute 'normal' to rotate"):
        CanonicalizePose(unit_vectors=["normal"])(Data(pos=torch.randn(5, 3)))
    with pytest.raises(ValueError, match="group must be one of"):
        CanonicalizePose(group="SE")
    with pytest.raises(ValueError, match="apply tinvnn.pyg.CanonicalizePose first"):
        from_canonical(Data(pos=torch.randn(5, 3)), torch.randn(5, 3))


def test_dataset_transform_dataloader_and_message_passing(generator: torch.Generator) -> None:
    """Rotated copies of a shape give the same logits through the whole PyG pipeline with our transform."""
    copies = _rotated_copies(skewed_cloud(48, 3, generator=generator, dtype=torch.float32), 7, generator)
    net = EdgeNet().eval()
    logits = {}
    for name, transform in (("none", None), ("ours", T.Compose([T.NormalizeScale(), CanonicalizePose()]))):
        loader = DataLoader(ShapeDataset(copies, transform), batch_size=4)
        with torch.no_grad():
            logits[name] = torch.cat([net(batch) for batch in loader])
        assert logits[name].shape == (8, 4)
    spread = {name: float((out - out[0]).abs().max()) for name, out in logits.items()}
    assert spread["none"] > 1e-2 and spread["ours"] < 1e-4, spread


def test_canonicalize_on_a_collated_batch_gives_each_graph_its_own_frame(generator: torch.Generator) -> None:
    """Issue 22: on a DataLoader's Batch, the transform equals the per-graph transform (not one frame for all)."""
    sizes = (30, 24, 36, 18)
    clouds = [skewed_cloud(n, 3, generator=generator, dtype=torch.float32) + 4.0 * i for i, n in enumerate(sizes)]
    normals = [nn.functional.normalize(torch.randn(len(c), 3, generator=generator), dim=1) for c in clouds]
    graphs = [Data(pos=c, normal=v, edge_index=_knn_edges(c, 5)) for c, v in zip(clouds, normals)]
    transform = CanonicalizePose()
    per_graph = list(DataLoader([transform(g) for g in graphs], batch_size=4))
    on_batch = [transform(batch) for batch in DataLoader(graphs, batch_size=4)]
    assert len(per_graph) == len(on_batch) == 1
    ours, ref = on_batch[0], per_graph[0]
    assert ours.frame_R.shape == (4, 3, 3) and ours.frame_t.shape == (4, 3) and ours.frame_s.shape == (4,)
    for name in ("pos", "normal", "frame_t", "frame_R", "frame_s"):
        torch.testing.assert_close(ours[name], ref[name])  # float summation order differs, ~1e-15
    centroids = global_mean_pool(ours.pos, ours.batch)
    assert float(centroids.abs().max()) < 1e-5, centroids  # every graph centred, not only the whole batch
    torch.testing.assert_close(from_canonical(ours, ours.pos), torch.cat(clouds), rtol=1e-5, atol=1e-5)


def test_canonicalize_refuses_normals_it_cannot_rotate() -> None:
    """Issue 24 section 5: (N, 2) normals crashed in a matmul, NaN normals passed silently."""
    pos = torch.randn(6, 3)
    with pytest.raises(ValueError) as info:
        CanonicalizePose()(Data(pos=pos, normal=torch.randn(6, 2)))
    assert str(info.value) == (
        "CanonicalizePose: data.normal must be per-node vectors like data.pos, (6, 3) or (6, K, 3); got (6, 2)"
    )
    with pytest.raises(ValueError) as info:
        CanonicalizePose(vectors=["vel"])(Data(pos=pos, vel=torch.randn(5, 3)))
    assert str(info.value).endswith("(6, 3) or (6, K, 3); got (5, 3)")
    normal = torch.randn(6, 3)
    normal[2, 1] = float("nan")
    normal[4, 0] = float("inf")
    with pytest.raises(ValueError) as info:
        CanonicalizePose()(Data(pos=pos, normal=normal))
    assert str(info.value) == (
        "CanonicalizePose: data.normal has non-finite values (NaN or inf) at 2 node(s), first node 2"
    )


def test_tinv_wrapper_runs_a_model_on_a_batch(generator: torch.Generator) -> None:
    """DataBackbone: TinvWrapper canonicalizes each graph of a flat Batch for a model that takes the Batch."""
    clouds = [skewed_cloud(n, 3, generator=generator) for n in (30, 24, 36)]
    batch = Batch.from_data_list([Data(pos=c, edge_index=_knn_edges(c, 5)) for c in clouds])
    model = TinvWrapper(DataBackbone(EdgeNet())).double().eval()
    assert repr(model.backbone).startswith("DataBackbone(\n  vectors=()\n  (model): EdgeNet(")
    assert model(batch.pos, batch=batch.batch, data=batch).shape == (3, 4)
    # the audit must not permute nodes here: edge_index refers to node positions
    audit = dict(batch=batch.batch, permute=False)
    invariant = check_invariance(lambda p: model(p, batch=batch.batch, data=batch), batch.pos, **audit)
    assert invariant.ok(1e-9), invariant
    vector_model = TinvWrapper(DataBackbone(EdgeNet(per_node=True)), output="vector").double().eval()
    equivariant = check_equivariance(lambda p: vector_model(p, batch=batch.batch, data=batch), batch.pos, **audit)
    assert equivariant.ok(1e-9), equivariant


def test_data_backbone_passes_named_vectors(generator: torch.Generator) -> None:
    pos = skewed_cloud(20, 3, generator=generator)
    normal = nn.functional.normalize(torch.randn(20, 3, generator=generator, dtype=torch.float64), dim=1)
    data = Batch.from_data_list([Data(pos=pos, normal=normal)])

    def reads_normals(d: Data) -> Tensor:
        return global_mean_pool(torch.cat([d.pos, d.normal], dim=1) ** 2, d.batch)

    model = TinvWrapper(DataBackbone(reads_normals, vectors=["normal"]), scale_vectors=False)
    fn = lambda p, v: model(p, v, batch=data.batch, data=data)  # noqa: E731
    assert check_invariance(fn, pos, vectors=normal, unit_vectors=True, batch=data.batch, permute=False).ok(1e-9)
    with pytest.raises(ValueError, match=r"DataBackbone\(vectors=\('normal',\)\) was called with no vectors"):
        model(pos, batch=data.batch, data=data)
