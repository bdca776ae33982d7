"""Distance-only geometry: distance matrices for MDS (Euclidean, graph, geodesic) and landmark MDS.

Conventions (graphs, units, errors) are stated once in :mod:`tinvnn.geometry.distances`;
the landmark algorithm and its invariance in :mod:`tinvnn.geometry.landmark_mds`.
"""

from tinvnn.geometry.distances import (
    DisconnectedGraphError,
    connected_components,
    euclidean_distances,
    geodesic_distances,
    knn_graph,
    shortest_path_distances,
)
from tinvnn.geometry.landmark_mds import (
    farthest_point_landmarks,
    geodesic_landmark_mds,
    graph_landmark_mds,
    landmark_mds,
)

__all__ = [
    "DisconnectedGraphError",
    "connected_components",
    "euclidean_distances",
    "farthest_point_landmarks",
    "geodesic_distances",
    "geodesic_landmark_mds",
    "graph_landmark_mds",
    "knn_graph",
    "landmark_mds",
    "shortest_path_distances",
]
