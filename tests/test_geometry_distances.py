"""Distance helpers against NetworkX / SciPy / brute force, and their input errors."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from tinvnn.geometry import (
    DisconnectedGraphError,
    connected_components,
    euclidean_distances,
    geodesic_distances,
    knn_graph,
    shortest_path_distances,
)


def _random_graph(n: int, p: float, seed: int):
    graph = nx.gnp_random_graph(n, p, seed=seed)
    graph = nx.compose(graph, nx.path_graph(n))  # connected
    rng = np.random.default_rng(seed)
    for u, v in graph.edges:
        graph[u][v]["weight"] = float(rng.uniform(0.1, 2.0))
    edges = np.array(list(graph.edges)).T
    weight = np.array([graph[u][v]["weight"] for u, v in graph.edges])
    return graph, edges, weight


def test_euclidean_matches_scipy(dtype):
    x = torch.randn(30, 4, dtype=dtype)
    y = torch.randn(20, 4, dtype=dtype)
    d = euclidean_distances(x, y)
    assert d.dtype == dtype and d.shape == (30, 20)
    np.testing.assert_allclose(
        d.numpy(), cdist(x.double().numpy(), y.double().numpy()), rtol=1e-5 if dtype == torch.float32 else 1e-12
    )
    self_d = euclidean_distances(x)
    assert torch.all(torch.diagonal(self_d) == 0) and torch.equal(self_d, self_d.T)
    batched = euclidean_distances(torch.stack([x, 2 * x]))
    torch.testing.assert_close(batched[1], 2 * self_d)


def test_shortest_paths_match_networkx():
    graph, edges, weight = _random_graph(40, 0.08, seed=1)
    ours = shortest_path_distances(torch.from_numpy(edges), 40, weight=torch.from_numpy(weight))
    expected = np.zeros((40, 40))
    for src, lengths in nx.all_pairs_dijkstra_path_length(graph):
        for dst, value in lengths.items():
            expected[src, dst] = value
    assert ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12)
    some = shortest_path_distances(edges, 40, weight=weight, sources=np.array([3, 7]))
    np.testing.assert_allclose(some.numpy(), expected[[3, 7]], rtol=1e-12)


def test_edge_conventions():
    # duplicate pair (both directions) keeps the smaller weight; self-loops ignored; zero weights allowed
    edges = np.array([[0, 1, 1, 2, 2], [1, 0, 2, 2, 3]])
    weight = np.array([5.0, 2.0, 0.0, 9.0, 1.0])
    d = shortest_path_distances(edges, 4, weight=weight)
    np.testing.assert_array_equal(d[0].numpy(), [0.0, 2.0, 2.0, 3.0])
    hops = shortest_path_distances(np.array([[0, 1], [1, 2]]), 3)
    np.testing.assert_array_equal(hops.numpy(), [[0, 1, 2], [1, 0, 1], [2, 1, 0]])


def test_knn_graph_matches_brute_force():
    pts = np.random.default_rng(0).standard_normal((60, 3))
    edge_index, weight = knn_graph(pts, 4)
    assert edge_index.shape == (2, 240) and weight.shape == (240,)
    full = cdist(pts, pts)
    np.fill_diagonal(full, np.inf)
    expected = np.sort(np.argsort(full, axis=1)[:, :4], axis=1)
    got = np.sort(edge_index[1].numpy().reshape(60, 4), axis=1)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(weight.numpy(), full[edge_index[0].numpy(), edge_index[1].numpy()])


def test_knn_graph_with_duplicate_points_never_links_a_point_to_itself():
    pts = np.repeat(np.random.default_rng(1).standard_normal((10, 2)), 3, axis=0)
    edge_index, weight = knn_graph(pts, 3)
    assert torch.all(edge_index[0] != edge_index[1])


def test_geodesic_matches_networkx_on_knn_graph():
    # points on a circle: geodesic (arc) distances, not chords
    theta = np.sort(np.random.default_rng(2).uniform(0, 2 * np.pi, 80))
    pts = np.stack([np.cos(theta), np.sin(theta), np.zeros_like(theta)], axis=1)
    d = geodesic_distances(torch.from_numpy(pts), 4)
    edge_index, weight = knn_graph(pts, 4)
    graph = nx.Graph()
    for (u, v), w in zip(edge_index.T.tolist(), weight.tolist()):
        if not graph.has_edge(u, v) or graph[u][v]["weight"] > w:
            graph.add_edge(u, v, weight=w)
    lengths = nx.single_source_dijkstra_path_length(graph, 0)
    np.testing.assert_allclose(d[0].numpy(), [lengths[i] for i in range(80)], rtol=1e-12)
    arc = np.abs(theta - theta[0])
    arc = np.minimum(arc, 2 * np.pi - arc)
    np.testing.assert_allclose(d[0].numpy(), arc, atol=0.02)  # dense sampling: close to the arc length
    assert d[0, 40] > cdist(pts[:1], pts[40:41])[0, 0]  # longer than the chord


def test_disconnected_graph_names_components():
    edges = np.array([[0, 1, 3, 4], [1, 2, 4, 5]])
    with pytest.raises(
        DisconnectedGraphError, match=r"3 connected components: 3 nodes \[0, 1, 2\]; 3 nodes \[3, 4, 5\]; 1 nodes \[6\]"
    ):
        shortest_path_distances(edges, 7)
    np.testing.assert_array_equal(connected_components(edges, 7).numpy(), [0, 0, 0, 1, 1, 1, 2])
    two_clusters = np.concatenate([np.zeros((10, 2)) + np.arange(10)[:, None] * 0.01, np.ones((10, 2)) * 100])
    with pytest.raises(DisconnectedGraphError, match="increase k"):
        geodesic_distances(two_clusters, 3)
    assert issubclass(DisconnectedGraphError, ValueError)


@pytest.mark.parametrize(
    "edges, weight, n, match",
    [
        (np.array([[0, 1], [1, 2]]), np.array([1.0, -0.5]), 3, "non-negative weights"),
        (np.array([[0, 1], [1, 2]]), np.array([1.0, np.nan]), 3, "finite weights"),
        (np.array([[0, 1], [1, 3]]), None, 3, r"node indices in \[0, 2\]"),
        (np.array([[0, 1, 2]]), None, 3, r"shape \(2, E\)"),
        (np.array([[0, 1], [1, 2]]), np.array([1.0]), 3, r"weight: expected shape \(2,\)"),
        (np.array([[0.0, 1.0], [1.0, 2.0]]), None, 3, "integer node indices"),
        (np.array([[0, 1], [1, 2]]), None, 0, "num_nodes"),
    ],
)
def test_bad_graph_inputs(edges, weight, n, match):
    with pytest.raises(ValueError, match=match):
        shortest_path_distances(edges, n, weight=weight)


def test_bad_knn_inputs():
    pts = np.random.default_rng(0).standard_normal((5, 3))
    with pytest.raises(ValueError, match=r"k: expected an integer in \[1, 4\]"):
        knn_graph(pts, 5)
    with pytest.raises(ValueError, match="finite"):
        knn_graph(np.full((5, 3), np.nan), 2)
    with pytest.raises(ValueError, match=r"y: expected"):
        euclidean_distances(torch.randn(4, 3), torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"sources: expected node indices"):
        shortest_path_distances(np.array([[0], [1]]), 2, sources=np.array([2]))
