"""Landmark MDS benchmark: speed on a 100,000-node graph, accuracy against full MDS at 2,000 nodes.

Graphs: the symmetrised k-NN graph (k = 8, Euclidean edge lengths) of points sampled uniformly
on a Swiss roll (``u`` in [1.5 pi, 4.5 pi], height in [0, 20]); its shortest paths approximate
the geodesic distances of the rolled-up sheet, which MDS unrolls.

* speed: wall time of landmark selection + Dijkstra (``farthest_point_landmarks``) and of the
  triangulation + canonicalization (``landmark_mds``) on ``--n-large`` nodes, for each ``m``.
* accuracy: on ``--n-small`` nodes, full classical MDS (``tinvnn.mds``) against landmark MDS,
  both in the graph's units (``scale=False``): Kruskal stress-1
  ``sqrt(sum (|z_i - z_j| - d_ij)^2 / sum d_ij^2)`` against the graph distances, the relative
  distance error ``|D_landmark - D_full|_F / |D_full|_F`` between the two embeddings, and the
  largest coordinate difference relative to the RMS radius (as returned, and after matching
  each axis's sign to the full MDS, which separates sign-rule flips from shape error); the
  full MDS frame's ``sign_margin`` and ``eigen_gap`` say how close the canonical frame is to
  an ambiguity.

Usage::

    python benchmarks/bench_landmark_mds.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch

import tinvnn
from tinvnn.geometry import (
    euclidean_distances,
    farthest_point_landmarks,
    knn_graph,
    landmark_mds,
    shortest_path_distances,
)


def swiss_roll(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u = rng.uniform(1.5 * np.pi, 4.5 * np.pi, n)
    h = rng.uniform(0.0, 20.0, n)
    return np.stack([u * np.cos(u), h, u * np.sin(u)], axis=1)


def stress(coords: torch.Tensor, dist: torch.Tensor) -> float:
    emb = euclidean_distances(coords)
    return float(((emb - dist) ** 2).sum().sqrt() / (dist**2).sum().sqrt())


def speed(n: int, k: int, landmarks: list[int], dim: int) -> list[dict]:
    pts = swiss_roll(n, seed=0)
    tick = time.perf_counter()
    edge_index, weight = knn_graph(pts, k)
    knn_s = time.perf_counter() - tick
    rows = []
    for m in landmarks:
        tick = time.perf_counter()
        idx, dist = farthest_point_landmarks(edge_index, n, m, weight=weight)
        fps_s = time.perf_counter() - tick
        tick = time.perf_counter()
        coords = landmark_mds(dist, idx, dim)
        mds_s = time.perf_counter() - tick
        rows.append(
            {
                "n": n,
                "k": k,
                "m": m,
                "knn_graph_s": knn_s,
                "landmarks_dijkstra_s": fps_s,
                "triangulate_canonicalize_s": mds_s,
                "embed_s": fps_s + mds_s,
                "finite": bool(torch.isfinite(coords).all()),
            }
        )
        print(json.dumps(rows[-1]))
    return rows


def accuracy(n: int, k: int, landmarks: list[int], dim: int) -> list[dict]:
    pts = swiss_roll(n, seed=1)
    edge_index, weight = knn_graph(pts, k)
    dist = shortest_path_distances(edge_index, n, weight=weight)
    tick = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tinvnn.NonEuclideanWarning)
        full = tinvnn.mds(dist, dim, scale=False)
    full_s = time.perf_counter() - tick
    d_full = euclidean_distances(full)
    radius = float(full.pow(2).sum(-1).mean().sqrt())
    _, frame = tinvnn.canonicalize(full, scale=False, return_frame=True)
    rows = [
        {
            "n": n,
            "m": "full",
            "seconds": full_s,
            "stress": stress(full, dist),
            "sign_margin": float(frame.sign_margin[0]),
            "eigen_gap": float(frame.eigen_gap[0]),
        }
    ]
    print(json.dumps(rows[-1]))
    for m in landmarks:
        tick = time.perf_counter()
        idx, ldist = farthest_point_landmarks(edge_index, n, m, weight=weight)
        coords = landmark_mds(ldist, idx, dim, scale=False)
        seconds = time.perf_counter() - tick
        d_l = euclidean_distances(coords)
        signs = torch.sign((coords * full).sum(0))  # per-axis agreement, to separate sign flips from shape error
        rows.append(
            {
                "n": n,
                "m": m,
                "seconds": seconds,
                "stress": stress(coords, dist),
                "distance_error_vs_full": float((d_l - d_full).norm() / d_full.norm()),
                "max_coord_diff_over_radius": float((coords - full).abs().max()) / radius,
                "max_coord_diff_up_to_axis_signs": float((coords * signs - full).abs().max()) / radius,
            }
        )
        print(json.dumps(rows[-1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-large", type=int, default=100_000)
    parser.add_argument("--n-small", type=int, default=2_000)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--landmarks", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    accuracy(args.n_small, args.k, args.landmarks, args.dim)
    speed(args.n_large, args.k, args.landmarks, args.dim)


if __name__ == "__main__":
    main()
