"""Weighted frames on ModelNet40: frames per shape, and resampling stability of trained classifiers.

    python benchmarks/bench_weighted_frames.py frames [--points 256 1024] [--json out.json]
    python benchmarks/bench_weighted_frames.py stability runs/a/checkpoint.pt ... [--json out.json]
    python benchmarks/bench_weighted_frames.py timing [--points 256] [--width 256] [--batches 24]
    python benchmarks/bench_weighted_frames.py gap runs/none/checkpoint.pt runs/a/checkpoint.pt ... [--classes 8]

``frames``: for every shape of both splits (at each ``--points``, the training subset of
``load_modelnet40``), the number of weighted frames (``tinvnn.weighted_frames``) at the default
threshold and cap and at a few others: mean, distribution, backbone calls relative to Frame
Averaging's 8, and the time to compute them.

``stability``: each test shape's 1,024 points are split into two disjoint halves of 512 (one
seeded permutation); a checkpoint is stable on a shape when it predicts the same class for both
halves. Prints per checkpoint the fraction of stable shapes and the accuracy on each half
(untransformed test data: upright, as stored), and the accuracy on the training's test set
(its points per cloud, SO3 protocol, seed 0), also split by the cloud's number of weighted
frames at the default threshold. ``--wrap weighted`` evaluates the trained backbone
inside another method's wrapper (test-time weighted frames for a tinv-trained backbone).

``gap``: where the invariant models lose to the first checkpoint (normally ``none``, which
keeps gravity as its frame): accuracy on the upright test clouds (protocol z, the training's
test set) split by the cloud's number of weighted frames, and the ``--classes`` classes with
the most shapes lost against the first checkpoint.

``timing``: eval-mode forward time of untrained PointNets (tinv, weighted, fa) on the first
``--batches`` batches of 32 ModelNet40 test clouds (real clouds: the weighted frames' count
depends on the data), timed round-robin per batch, one thread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from tinvnn import weighted_frames
from tinvnn.tasks.classification.datasets import load_modelnet40
from tinvnn.tasks.classification.evaluate import evaluate, predict
from tinvnn.tasks.classification.methods import METHODS, build_backbone, wrap_backbone
from tinvnn.tasks.classification.protocols import parse_protocol
from tinvnn.tasks.classification.recipe import load_classifier
from tinvnn.weighted_frames import DEFAULT_MAX_FRAMES, DEFAULT_THRESHOLD

FA_FRAMES = 8  # Frame Averaging's frames per 3-D shape (group O)


def frame_counts(points: torch.Tensor, threshold: float, max_frames: int | None) -> tuple[torch.Tensor, float]:
    """Frames per shape (S,) for clouds (S, N, 3), and the seconds it took (batches of 512)."""
    start = time.perf_counter()
    counts = [
        weighted_frames(chunk.double(), threshold=threshold, max_frames=max_frames).counts()
        for chunk in points.split(512)
    ]
    return torch.cat(counts), time.perf_counter() - start


def frames_report(points_list: list[int], root: str | None) -> dict:
    settings = [
        (DEFAULT_THRESHOLD, DEFAULT_MAX_FRAMES),
        (DEFAULT_THRESHOLD, None),
        (0.5, DEFAULT_MAX_FRAMES),
        (2.0, DEFAULT_MAX_FRAMES),
        (2.0, None),
    ]
    out: dict = {}
    for n in points_list:
        for split in ("train", "test"):
            data = load_modelnet40(split, points=n, root=root)
            for threshold, cap in settings:
                counts, seconds = frame_counts(data.points, threshold, cap)
                key = f"{split}/{n}/threshold={threshold}/max_frames={cap}"
                hist = torch.bincount(counts).tolist()
                out[key] = {
                    "shapes": len(counts),
                    "mean": float(counts.float().mean()),
                    "calls_vs_fa": float(counts.float().mean()) / FA_FRAMES,
                    "distribution": {k: v / len(counts) for k, v in enumerate(hist) if v},
                    "seconds": seconds,
                }
                print(
                    f"{key:45s} mean {out[key]['mean']:.2f} ({out[key]['calls_vs_fa']:.2f} of fa) "
                    f"dist {{{', '.join(f'{k}: {100 * v:.1f}%' for k, v in out[key]['distribution'].items())}}} "
                    f"{seconds:.1f} s"
                )
    return out


def stability_report(
    checkpoints: list[str], root: str | None, seed: int, wrap: str | None, frames: dict | None = None
) -> dict:
    data = load_modelnet40("test", points=1024, root=root)
    order = torch.randperm(1024, generator=torch.Generator().manual_seed(seed))
    halves = [data.points[:, order[:512]], data.points[:, order[512:]]]
    out: dict = {}
    for path in checkpoints:
        model, config, _ = load_classifier(path)
        method = config["method"]
        if wrap is not None:  # the trained backbone inside another wrapper
            model = wrap_backbone(wrap, model.backbone, group=config["group"], **(frames or {})).eval()
            method = f"{method}->{wrap}" + ("" if not frames else f"({frames['threshold']:g}, {frames['max_frames']})")
        start = time.perf_counter()
        preds = [predict(model, h, batch_size=64).argmax(1) for h in halves]
        test = load_modelnet40("test", points=config["points"], root=root, seed=config["seed"])
        result = evaluate(model, test, parse_protocol("SO3"), seed=0)
        correct = result.predictions == test.labels
        counts = torch.cat([weighted_frames(c.double()).counts() for c in test.points.split(512)])
        by_frames = {int(k): float(correct[counts == k].float().mean()) for k in counts.unique()}
        out[f"{path} {method}"] = r = {
            "method": method,
            "stable": float((preds[0] == preds[1]).float().mean()),
            "accuracy_halves": [float((p == data.labels).float().mean()) for p in preds],
            "accuracy_SO3": result.accuracy,
            "accuracy_by_weighted_frame_count": by_frames,
            "seconds": time.perf_counter() - start,
        }
        print(
            f"{path}: {method:<20} stable {100 * r['stable']:.1f}%  accuracy on the halves "
            f"{100 * r['accuracy_halves'][0]:.1f} / {100 * r['accuracy_halves'][1]:.1f}, "
            f"SO3 test at {config['points']} points {100 * result.accuracy:.1f} (clouds with 1 / 2 / 4 weighted "
            f"frames: {' / '.join(f'{100 * v:.1f}' for v in by_frames.values())})  ({r['seconds']:.0f} s)"
        )
    return out


def gap_report(checkpoints: list[str], root: str | None, classes: int) -> dict:
    out: dict = {}
    reference: torch.Tensor | None = None
    for path in checkpoints:
        model, config, meta = load_classifier(path)
        test = load_modelnet40("test", points=config["points"], root=root, seed=config["seed"])
        correct = evaluate(model, test, parse_protocol("z"), seed=0).predictions == test.labels
        counts = torch.cat([weighted_frames(c.double()).counts() for c in test.points.split(512)])
        by_frames = {int(k): float(correct[counts == k].float().mean()) for k in counts.unique()}
        lost = {}
        if reference is not None:
            per_class = [
                (int((reference & (test.labels == c)).sum() - (correct & (test.labels == c)).sum()), name)
                for c, name in enumerate(meta["classes"])
            ]
            lost = {name: n for n, name in sorted(per_class, reverse=True)[:classes]}
        out[path] = {
            "method": config["method"],
            "accuracy_z": float(correct.float().mean()),
            "accuracy_by_weighted_frame_count": by_frames,
            "shapes_lost_by_class": lost,
        }
        print(
            f"{path}: {config['method']:<14} z {100 * float(correct.float().mean()):.1f} (clouds with "
            + " / ".join(f"{k}" for k in by_frames)
            + " weighted frames: "
            + " / ".join(f"{100 * v:.1f}" for v in by_frames.values())
            + ")"
            + (
                f"; shapes lost against {checkpoints[0]}: " + ", ".join(f"{k} {v}" for k, v in lost.items())
                if lost
                else ""
            )
        )
        reference = correct if reference is None else reference
    return out


def timing_report(points: int, width: int, batches: int, root: str | None) -> dict:
    clouds = load_modelnet40("test", points=points, root=root).points[: 32 * batches]
    torch.manual_seed(0)
    models = {
        m: wrap_backbone(m, build_backbone("pointnet", 40, width=width)).eval() for m in ("tinv", "weighted", "fa")
    }
    seconds: dict[str, list[float]] = {m: [] for m in models}
    with torch.no_grad():
        for batch in clouds.split(32):
            for name, model in models.items():
                began = time.perf_counter()
                model(batch)
                seconds[name].append(time.perf_counter() - began)
    out = {name: {"median_ms": 1e3 * statistics.median(t), "total_s": sum(t)} for name, t in seconds.items()}
    out["frames_mean"] = float(weighted_frames(clouds.double()).counts().float().mean())
    print(
        f"{points} points, width {width}, {len(clouds)} test clouds in batches of 32 (weighted: "
        f"{out['frames_mean']:.2f} frames per cloud): "
        + ", ".join(
            f"{m} {out[m]['median_ms']:.1f} ms ({out[m]['total_s'] / out['tinv']['total_s']:.2f}x tinv in total)"
            for m in models
        )
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("frames", help="frames per shape at several thresholds")
    p.add_argument("--points", type=int, nargs="+", default=[256, 1024])
    p = sub.add_parser("stability", help="same prediction on two disjoint 512-point halves")
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--seed", type=int, default=0, help="seed of the split into halves")
    p.add_argument(
        "--wrap", choices=METHODS, default=None, help="evaluate the trained backbone inside this method's wrapper"
    )
    p.add_argument(
        "--threshold", type=float, default=None, help="with --wrap weighted: the frames' threshold (default 1)"
    )
    p.add_argument(
        "--max-frames", type=int, default=None, help="with --wrap weighted: at most this many frames (default 4)"
    )
    p = sub.add_parser("gap", help="where invariant models lose to the first checkpoint: by frame count and class")
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--classes", type=int, default=8, help="classes to list, most shapes lost first")
    p = sub.add_parser("timing", help="forward time per batch of real test clouds: tinv, weighted, fa")
    p.add_argument("--points", type=int, default=256)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--batches", type=int, default=24)
    for p in sub.choices.values():
        p.add_argument("--data-dir", default=None, help="data directory (default: $TINVNN_DATA)")
        p.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.command == "frames":
        result = frames_report(args.points, args.data_dir)
    elif args.command == "gap":
        result = gap_report(args.checkpoints, args.data_dir, args.classes)
    elif args.command == "stability":
        frames = None
        if args.threshold is not None or args.max_frames is not None:
            frames = {
                "threshold": args.threshold or DEFAULT_THRESHOLD,
                "max_frames": args.max_frames or DEFAULT_MAX_FRAMES,
            }
        result = stability_report(args.checkpoints, args.data_dir, args.seed, args.wrap, frames)
    else:
        result = timing_report(args.points, args.width, args.batches, args.data_dir)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
