"""Landmark MDS: equals full MDS at m = N, exact on Euclidean data, invariant, and its errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import tinvnn
from tinvnn.geometry import (
    DisconnectedGraphError,
    euclidean_distances,
    farthest_point_landmarks,
    geodesic_distances,
    geodesic_landmark_mds,
    graph_landmark_mds,
    knn_graph,
    landmark_mds,
    shortest_path_distances,
)


def _cloud(n: int = 150, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, dtype=torch.float64, generator=g) * torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64)


def _full_mds(dist: torch.Tensor, dim: int) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tinvnn.NonEuclideanWarning)  # graph distances are not Euclidean
        return tinvnn.mds(dist, dim)


def test_all_landmarks_equals_full_mds_on_graph_distances():
    x = _cloud()
    edge_index, weight = knn_graph(x, 6)
    full = _full_mds(shortest_path_distances(edge_index, 150, weight=weight), 3)
    ours = graph_landmark_mds(edge_index, 150, 3, 150, weight=weight)
    torch.testing.assert_close(ours, full, rtol=0, atol=1e-10)
    torch.testing.assert_close(geodesic_landmark_mds(x, 6, 3, 150), full, rtol=0, atol=1e-10)


@pytest.mark.parametrize("dim", [2, 3])
def test_all_landmarks_equals_full_mds_any_order(dim):
    x = _cloud()
    dist = euclidean_distances(x)
    perm = torch.randperm(150)
    torch.testing.assert_close(landmark_mds(dist[perm], perm, dim), tinvnn.mds(dist, dim), rtol=0, atol=1e-10)


def test_few_landmarks_exact_on_euclidean_distances():
    x = _cloud()
    dist = euclidean_distances(x)
    idx = torch.tensor([3, 17, 40, 41, 99, 120])
    torch.testing.assert_close(landmark_mds(dist[idx], idx, 3), tinvnn.canonicalize(x), rtol=0, atol=1e-9)
    torch.testing.assert_close(
        landmark_mds(dist[idx], idx, 3, scale=False), tinvnn.canonicalize(x, scale=False), rtol=0, atol=1e-9
    )


def test_invariant_to_rigid_motion_and_relabelling():
    x = _cloud(200, seed=1)
    base = geodesic_landmark_mds(x, 8, 3, 20, first=5)
    q = tinvnn.random_orthogonal(3, generator=torch.Generator().manual_seed(3))
    moved = 2.5 * x @ q.T + torch.tensor([10.0, -4.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(geodesic_landmark_mds(moved, 8, 3, 20, first=5), base, rtol=0, atol=1e-8)
    perm = torch.randperm(200)
    relabelled = geodesic_landmark_mds(x[perm], 8, 3, 20, first=int(torch.argsort(perm)[5]))
    torch.testing.assert_close(relabelled, base[perm], rtol=0, atol=1e-8)


def test_landmarks_are_farthest_points():
    x = _cloud(80, seed=2)
    edge_index, weight = knn_graph(x, 6)
    landmarks, dist = farthest_point_landmarks(edge_index, 80, 6, weight=weight, first=0)
    full = shortest_path_distances(edge_index, 80, weight=weight)
    torch.testing.assert_close(dist, full[landmarks])
    assert landmarks[0] == 0 and len(set(landmarks.tolist())) == 6
    for k in range(1, 6):
        nearest = full[landmarks[:k]].min(dim=0).values
        assert nearest[landmarks[k]] == nearest.max()


def test_approximates_full_mds_with_few_landmarks():
    # a bent sheet: geodesic distances are close to Euclidean in the unrolled plane
    rng = np.random.default_rng(0)
    u, v = rng.uniform(0, 3 * np.pi, 600), rng.uniform(0, 4, 600)
    pts = np.stack([u * np.cos(u) / 3, v, u * np.sin(u) / 3], axis=1)
    full = _full_mds(geodesic_distances(pts, 10), 2)
    approx = geodesic_landmark_mds(pts, 10, 2, 30)
    d_full, d_approx = euclidean_distances(full), euclidean_distances(approx)
    assert float((d_full - d_approx).norm() / d_full.norm()) < 0.05


def test_disconnected_and_negative_weights():
    edges = np.array([[0, 1, 3, 4], [1, 2, 4, 5]])
    with pytest.raises(DisconnectedGraphError, match="2 connected components"):
        graph_landmark_mds(edges, 6, 2, 3)
    with pytest.raises(ValueError, match="non-negative weights"):
        graph_landmark_mds(np.array([[0, 1, 2], [1, 2, 3]]), 4, 2, 3, weight=np.array([1.0, -1.0, 1.0]))


def test_bad_landmark_counts():
    ring = np.stack([np.arange(10), (np.arange(10) + 1) % 10])
    with pytest.raises(ValueError, match="too few landmarks, expected at least dim \\+ 1 = 3"):
        graph_landmark_mds(ring, 10, 2, 2)
    with pytest.raises(ValueError, match="at most the number of nodes N = 10, got 11"):
        graph_landmark_mds(ring, 10, 2, 11)
    x = _cloud(20)
    with pytest.raises(ValueError, match="too few landmarks"):
        landmark_mds(euclidean_distances(x)[:3], torch.arange(3), 3)


def test_degenerate_and_bad_landmark_inputs():
    line = torch.zeros(30, 3, dtype=torch.float64)
    line[:, 0] = torch.arange(30, dtype=torch.float64)
    dist = euclidean_distances(line)
    with pytest.raises(ValueError, match="spanning 2 dimensions, got 1 positive"):
        landmark_mds(dist[:5], torch.arange(5), 2)
    with pytest.raises(ValueError, match="distinct"):
        landmark_mds(dist[[0, 0, 1, 2]], torch.tensor([0, 0, 1, 2]), 2)
    with pytest.raises(ValueError, match="finite"):
        landmark_mds(torch.full((4, 30), float("inf")), torch.arange(4), 2)
    with pytest.raises(ValueError, match=r"landmarks: expected \(4,\)"):
        landmark_mds(dist[:4], torch.arange(3), 2)
