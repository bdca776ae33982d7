"""The shipped classifier as `tinvnn classify` uses it: accuracy on the ModelNet40 test split and
the fraction of shapes whose answer is unchanged when the file is moved, scaled, offset and
its points shuffled, and the median time to classify one shape (``ms_per_shape``: one thread,
after a warm-up call, file reading and start-up not included).

Usage::

    TINVNN_DATA=../shared/data python benchmarks/bench_classify.py [--shapes 2468] [--checkpoint FILE]

Each test shape (1,024 points) goes through ``invariant_subsample`` and the model exactly as a
file would; the moved copy gets a random orthogonal map (reflections included), a log-uniform
scale in [1e-3, 1e3], an offset of up to 1e3 radii and a random point order.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from tinvnn import random_orthogonal
from tinvnn.tasks.classification.classify import DEFAULT_CLASSIFIER, classify_points
from tinvnn.tasks.classification.datasets import load_modelnet40
from tinvnn.tasks.classification.recipe import load_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", type=int, default=2468, help="test shapes to use (the first ones)")
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument(
        "--checkpoint", default=str(DEFAULT_CLASSIFIER), help="a classifier checkpoint (default: the shipped one)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_modelnet40("test", points=1024)
    model, config, meta = load_classifier(args.checkpoint)
    rng = np.random.default_rng(0)
    correct = same = 0
    n = min(args.shapes, len(data))
    for start in range(0, n, args.chunk):
        clouds = [data.points[i].double().numpy() for i in range(start, min(n, start + args.chunk))]
        moved = []
        for c in clouds:
            q = random_orthogonal(3, generator=torch.Generator().manual_seed(int(rng.integers(2**31)))).numpy()
            scale = 10 ** rng.uniform(-3, 3)
            moved.append((scale * c @ q.T + scale * rng.uniform(-1e3, 1e3, 3))[rng.permutation(len(c))])
        top = classify_points(model, list(meta["classes"]), clouds, points=config["points"], top=1)
        top_moved = classify_points(model, list(meta["classes"]), moved, points=config["points"], top=1)
        labels = data.labels[start : start + len(clouds)].tolist()
        correct += sum(t[0]["class"] == data.classes[y] for t, y in zip(top, labels))
        same += sum(a[0]["class"] == b[0]["class"] for a, b in zip(top, top_moved))
    one = [data.points[0].double().numpy()]
    seconds = []
    for _ in range(21):  # one file's cost: median of 20 calls after a warm-up
        tic = time.perf_counter()
        classify_points(model, list(meta["classes"]), one, points=config["points"], top=5)
        seconds.append(time.perf_counter() - tic)
    print(
        json.dumps(
            {
                "checkpoint": args.checkpoint,
                "ms_per_shape": round(1000 * statistics.median(seconds[1:]), 2),
                "config": {k: config[k] for k in ("method", "points", "width", "epochs")},
                "shapes": n,
                "accuracy": correct / n,
                "unchanged_when_moved": same / n,
            }
        )
    )


if __name__ == "__main__":
    main()
