"""The shipped classifier as `tinvnn classify` uses it: accuracy on the ModelNet40 test split and
the fraction of shapes whose answer is unchanged when the file is moved, scaled, offset and
its points shuffled, and the median time to classify one shape (``ms_per_shape``: one thread,
after a warm-up call, file reading and start-up not included), for each way of choosing the
points the model sees.

Usage::

    TINVNN_DATA=../shared/data python benchmarks/bench_classify.py [--shapes 2468] [--checkpoint FILE] \\
        [--subsets 1 2 4 8] [--all-points]

Each test shape (1,024 points) goes through ``classify_points`` exactly as a file would: with
``--subsets K`` the probabilities are averaged over K invariant draws of the checkpoint's points
(``invariant_subsets``; K = 1 is one draw); ``--all-points`` gives the model every point of the
shape instead. The moved copy gets a random orthogonal map (reflections included), a
log-uniform scale in [1e-3, 1e3], an offset of up to 1e3 radii and a random point order. One
JSON line per variant. ``benchmarks/bench_heldout.py`` measures the same variants on shapes
resampled and stored in raw units.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from torch import nn

from tinvnn.group import Group, as_group
from tinvnn.tasks.classification.classify import DEFAULT_CLASSIFIER, DEFAULT_SUBSETS, classify_points
from tinvnn.tasks.classification.datasets import load_modelnet40
from tinvnn.tasks.classification.recipe import load_classifier

ALL_POINTS = 0  # the variant "every point of the shape" among the subset counts


def pose(rng: np.random.Generator, group: Group | str = "O") -> np.ndarray:
    """A random element of ``group`` (the classifier's own: any orthogonal map for ``"O"``, any
    heading for ``"SO2z"``), (3, 3), seeded from ``rng``."""
    return (
        as_group(group).random_orthogonal(3, generator=torch.Generator().manual_seed(int(rng.integers(2**31)))).numpy()
    )


def add_variant_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared with ``bench_heldout.py``: which checkpoint, and the variants measured."""
    parser.add_argument(
        "--checkpoint", default=str(DEFAULT_CLASSIFIER), help="a classifier checkpoint (default: the shipped one)"
    )
    parser.add_argument(
        "--subsets",
        type=int,
        nargs="+",
        default=[DEFAULT_SUBSETS],
        metavar="K",
        help="invariant draws averaged (default: as shipped)",
    )
    parser.add_argument("--all-points", action="store_true", help="also give the model every point of each shape")


def move(cloud: np.ndarray, rng: np.random.Generator, group: Group | str = "O") -> np.ndarray:
    """``cloud`` under a random element of ``group`` (:func:`pose`), a log-uniform scale in [1e-3, 1e3],
    an offset of up to 1e3 radii (times the scale) and a random point order. Shape: (N, 3) -> (N, 3)."""
    q = pose(rng, group)
    scale = 10 ** rng.uniform(-3, 3)
    return (scale * cloud @ q.T + scale * rng.uniform(-1e3, 1e3, 3))[rng.permutation(len(cloud))]


def top1(
    model: nn.Module, classes: list[str], clouds: list[np.ndarray], *, points: int, subsets: int, chunk: int = 64
) -> list[str]:
    """The top class of each cloud through ``classify_points`` (``subsets=ALL_POINTS``: every point,
    one cloud at a time, since clouds may differ in size)."""
    if subsets == ALL_POINTS:
        return [classify_points(model, classes, [c], points=len(c), subsets=1, top=1)[0][0]["class"] for c in clouds]
    answers = []
    for start in range(0, len(clouds), chunk):
        ranked = classify_points(model, classes, clouds[start : start + chunk], points=points, subsets=subsets, top=1)
        answers += [r[0]["class"] for r in ranked]
    return answers


def ms_per_shape(model: nn.Module, classes: list[str], cloud: np.ndarray, *, points: int, subsets: int) -> float:
    """Median milliseconds of 20 calls classifying one cloud, after a warm-up call."""
    seconds = []
    for _ in range(21):
        tic = time.perf_counter()
        top1(model, classes, [cloud], points=points, subsets=subsets)
        seconds.append(time.perf_counter() - tic)
    return round(1000 * statistics.median(seconds[1:]), 2)


def variant_name(subsets: int) -> str:
    """How a variant is reported."""
    return "all points" if subsets == ALL_POINTS else f"{subsets} subset{'s' * (subsets > 1)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", type=int, default=2468, help="test shapes to use (the first ones)")
    parser.add_argument("--every", type=int, default=1, help="only every k-th of those shapes (classes stay mixed)")
    add_variant_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_modelnet40("test", points=1024)
    model, config, meta = load_classifier(args.checkpoint)
    classes = list(meta["classes"])
    n = min(args.shapes, len(data))
    rng = np.random.default_rng(0)
    clouds = [data.points[i].double().numpy() for i in range(n)]
    moved = [move(c, rng, config["group"]) for c in clouds][
        :: args.every
    ]  # every shape's move drawn: the same moves for any --every
    clouds = clouds[:: args.every]
    truth = [data.classes[int(y)] for y in data.labels[: n : args.every]]
    for subsets in args.subsets + [ALL_POINTS] * args.all_points:
        answers = top1(model, classes, clouds, points=config["points"], subsets=subsets)
        answers_moved = top1(model, classes, moved, points=config["points"], subsets=subsets)
        row = {
            "checkpoint": args.checkpoint,
            "variant": variant_name(subsets),
            "ms_per_shape": ms_per_shape(model, classes, clouds[0], points=config["points"], subsets=subsets),
            "config": {k: config[k] for k in ("method", "points", "width", "epochs")},
            "shapes": len(clouds),
            "accuracy": float(np.mean([a == t for a, t in zip(answers, truth)])),
            "unchanged_when_moved": float(np.mean([a == b for a, b in zip(answers, answers_moved)])),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
