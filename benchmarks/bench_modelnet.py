"""ModelNet40 benchmark: none, aug, pca, fa and tinv PointNets under z/z, z/SO3, SO3/SO3, SO3+scale.

Every method gets the same budget (same data, points, width, epochs, batch, optimiser, seed).
Runs (train protocol in brackets):

* none [z], aug [z, plus a random O(3) map per training cloud], pca [z] and pca [SO3],
  fa [z], tinv [z], tinv_signs [z] (``TinvWrapper(sign_augment=True)``), weighted [z] and
  weighted_draw [z] (``WeightedFrames``, trained on the average or one drawn frame) and, if
  ``--tinv-so3``, tinv [SO3];
* ``none`` trained under SO3 *is* rotation augmentation, so its SO3/SO3 and SO3+scale cells
  are the ``aug`` run's; exactly invariant methods (fa, tinv) see the same canonical inputs
  whatever the training rotation, so their SO3 columns reuse the z-trained model unless
  ``--tinv-so3`` trains tinv under SO3 as well.

Also: inference time per batch relative to ``none`` (eval mode, one thread, median of repeats),
per-class accuracy, and for tinv the frame-ambiguity statistics of misclassified clouds.

Usage (the CPU budget of docs/results.md#2-point-cloud-classification-modelnet40):
    TINVNN_DATA=../shared/data python benchmarks/bench_modelnet.py --points 128 --width 256 \
        --epochs 3 --out runs/bench_modelnet
Results go to ``<out>/results.json``, updated after every run (a killed benchmark keeps the
finished runs; rerunning skips runs whose checkpoint is complete).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

import torch
from bench_peers import interleaved_ms

from tinvnn import canonicalize
from tinvnn.tasks.classification.datasets import load_dataset
from tinvnn.tasks.classification.evaluate import evaluate
from tinvnn.tasks.classification.methods import build_backbone, wrap_backbone
from tinvnn.tasks.classification.protocols import parse_protocol
from tinvnn.tasks.classification.recipe import ClassifierTrainConfig, load_classifier
from tinvnn.tasks.classification.train import train
from tinvnn.training import LAST, RunOptions, load_checkpoint

TESTS = ("z", "SO3", "SO3+scale")  # every model is tested under each


def runs(tinv_so3: bool) -> list[tuple[str, str, str]]:
    """(name, method, train protocol) in the order they are trained (cheap, informative first)."""
    out = [
        ("tinv_z", "tinv", "z"),
        ("none_z", "none", "z"),
        ("aug", "aug", "z"),
        ("pca_z", "pca", "z"),
        ("pca_SO3", "pca", "SO3"),
        ("fa_z", "fa", "z"),
        ("tinv_signs_z", "tinv", "z"),
        ("weighted_z", "weighted", "z"),
        ("weighted_draw_z", "weighted_draw", "z"),
    ]  # tinv_signs: TinvWrapper(sign_augment=True)
    if tinv_so3:
        out.append(("tinv_SO3", "tinv", "SO3"))
    return out


def train_until(config: ClassifierTrainConfig, out: Path, epoch: int | None) -> list[dict]:
    """Train (resuming) until the checkpoint of ``epoch`` (None: the last) of the config's schedule exists; its history.

    The run is the same as the full one up to that epoch (same schedule, data order, seeds).
    """
    path = out / LAST
    done = load_checkpoint(path)["state"]["epoch"] if path.is_file() else 0
    target = config.epochs if epoch is None else epoch
    if done >= target:
        return load_checkpoint(path)["meta"]["history"]
    return train(config, RunOptions(out=str(out), resume=True, progress=False, stop_after=target - done))["history"]


def time_inference(model: torch.nn.Module, points: torch.Tensor, repeats: int) -> float:
    """Median seconds of one eval-mode forward pass on ``points`` (B, N, 3)."""
    model.eval()
    times = []
    with torch.no_grad():
        model(points)
        for _ in range(repeats):
            began = time.perf_counter()
            model(points)
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def interleaved_timing(points: int, width: int, batch: int, repeats: int, seed: int = 0) -> dict[str, float]:
    """Median eval-mode forward seconds per batch of fresh (untrained) models, timed round-robin.

    Weights do not change the cost, and timing the methods in turn spreads any drift in the
    machine's load over all of them.
    """
    torch.manual_seed(seed)
    models = {
        m: wrap_backbone(m, build_backbone("pointnet", 40, width=width), group="O").eval()
        for m in ("none", "pca", "fa", "tinv")
    }
    x = torch.randn(batch, points, 3, generator=torch.Generator().manual_seed(seed))
    return {name: ms / 1e3 for name, ms in interleaved_ms(models, x, repeats).items()}


def report(paths: list[Path]) -> str:
    """Markdown tables from one or more results.json files (later files add runs)."""
    runs_: dict = {}
    settings = None
    for path in paths:
        data = json.loads(path.read_text())
        settings = settings or data.get("settings")
        runs_.update(data.get("runs", {}))
    pct = lambda name, test: f"{100 * runs_[name]['accuracy'][test]:.1f}" if name in runs_ else "n/a"  # noqa: E731
    rows = [
        (
            "none",
            pct("none_z", "z"),
            pct("none_z", "SO3"),
            pct("aug", "SO3") + " (= aug)",
            pct("aug", "SO3+scale") + " (= aug)",
        ),
        ("aug", pct("aug", "z"), pct("aug", "SO3"), pct("aug", "SO3"), pct("aug", "SO3+scale")),
        ("pca", pct("pca_z", "z"), pct("pca_z", "SO3"), pct("pca_SO3", "SO3"), pct("pca_SO3", "SO3+scale")),
        ("fa", pct("fa_z", "z"), pct("fa_z", "SO3"), pct("fa_z", "SO3") + " *", pct("fa_z", "SO3+scale") + " *"),
    ]
    so3 = "tinv_SO3" if "tinv_SO3" in runs_ else "tinv_z"
    star = "" if so3 == "tinv_SO3" else " *"
    rows.append(
        ("tinv", pct("tinv_z", "z"), pct("tinv_z", "SO3"), pct(so3, "SO3") + star, pct(so3, "SO3+scale") + star)
    )
    for name in ("tinv_signs", "weighted", "weighted_draw"):
        if f"{name}_z" in runs_:
            rows.append(
                (
                    name,
                    *(pct(f"{name}_z", t) for t in ("z", "SO3")),
                    *(pct(f"{name}_z", t) + " *" for t in ("SO3", "SO3+scale")),
                )
            )
    lines = ["| method | z/z | z/SO3 | SO3/SO3 | SO3/SO3+scale | train s |", "|---|---|---|---|---|---|"]
    train_s = {
        "none": "none_z",
        "aug": "aug",
        "pca": "pca_z",
        "fa": "fa_z",
        "tinv": "tinv_z",
        "tinv_signs": "tinv_signs_z",
        "weighted": "weighted_z",
        "weighted_draw": "weighted_draw_z",
    }
    for row in rows:
        run = runs_.get(train_s[row[0]])
        lines.append(
            "| " + " | ".join(row) + f" | {run['train_seconds']:.0f} |" if run else "| " + " | ".join(row) + " | n/a |"
        )
    lines += ["", class_report(runs_, settings)]
    return "\n".join(lines)


def class_report(runs_: dict, settings: dict | None) -> str:
    """Which classes tinv gets wrong, against none's z/z, with their PCA eigen-gaps and sign margins."""
    if "tinv_z" not in runs_ or "none_z" not in runs_ or settings is None:
        return "(per-class report needs the tinv_z and none_z runs)"
    tinv, none = runs_["tinv_z"]["per_class"]["SO3"], runs_["none_z"]["per_class"]["z"]
    data = load_dataset("modelnet40", "test", points=settings["points"], seed=settings["seed"])
    _, frame = canonicalize(data.points.double(), return_frame=True)
    ev = frame.eigenvalues
    gap = torch.minimum(ev[:, 0] - ev[:, 1], ev[:, 1] - ev[:, 2]) / ev[:, 0]
    margin = frame.sign_margin.clamp(max=1.0)
    stats = {
        name: (float(gap[data.labels == c].median()), float(margin[data.labels == c].median()))
        for c, name in enumerate(data.classes)
    }
    names = sorted(tinv, key=lambda n: tinv[n] - none[n])
    lines = ["| class | tinv SO3 % | none z/z % | median min eigen-gap | median sign margin |", "|---|---|---|---|---|"]
    for n in names[:10]:
        lines.append(f"| {n} | {100 * tinv[n]:.0f} | {100 * none[n]:.0f} | {stats[n][0]:.3f} | {stats[n][1]:.3f} |")
    deficit = torch.tensor([none[n] - tinv[n] for n in data.classes])
    gaps = torch.tensor([stats[n][0] for n in data.classes])
    rank = lambda v: v.argsort().argsort().double()  # noqa: E731
    margins = torch.tensor([stats[n][1] for n in data.classes])
    rho = lambda v: float(torch.corrcoef(torch.stack([rank(deficit), rank(v)]))[0, 1])  # noqa: E731
    lines.append(
        f"\nSpearman correlation over the 40 classes between tinv's deficit (none z/z - tinv) and the "
        f"class's median eigen-gap: {rho(gaps):.2f}; and its median sign margin: {rho(margins):.2f}. "
        f"Median sign margin over all test clouds: {float(margin.median()):.4f}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", nargs="+", type=Path, default=None, help="print tables from results.json files")
    parser.add_argument("--timing", action="store_true", help="only the interleaved inference timing")
    parser.add_argument("--points", type=int, default=128)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--per-class", type=int, default=None, help="cap on training clouds per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tinv-so3", action="store_true", help="also train tinv under SO3")
    parser.add_argument("--only", nargs="*", default=None, help="run names to train (default all)")
    parser.add_argument(
        "--stop-after-epoch",
        type=int,
        default=None,
        help="stop each run after this epoch of its --epochs schedule (or evaluate an existing "
        "checkpoint that is at least that far)",
    )
    parser.add_argument("--results-file", default="results.json")
    parser.add_argument("--timing-repeats", type=int, default=10)
    parser.add_argument("--out", default="runs/bench_modelnet")
    args = parser.parse_args()
    if args.report:
        print(report(args.report))
        return
    if args.timing:
        torch.set_num_threads(args.threads)
        for pts, width in ((args.points, args.width), (1024, 1024)):
            t = interleaved_timing(pts, width, args.batch_size, args.timing_repeats)
            rel = ", ".join(f"{m} {t[m] / t['none']:.2f}x" for m in t)
            print(
                f"points {pts}, width {width}, batch {args.batch_size}: "
                + ", ".join(f"{m} {1e3 * v:.1f} ms" for m, v in t.items())
                + f" | relative to none: {rel}"
            )
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / args.results_file
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results["settings"] = vars(args)
    test_set = load_dataset("modelnet40", "test", points=args.points, seed=args.seed)
    timing_batch = test_set.points[: args.batch_size]

    for name, method, protocol in runs(args.tinv_so3):
        if args.only is not None and name not in args.only:
            continue
        config = ClassifierTrainConfig(
            method=method,
            backbone="pointnet",
            group="O",
            dataset="modelnet40",
            points=args.points,
            per_class=args.per_class,
            train_protocol=protocol,
            test_protocol=protocol,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            width=args.width,
            seed=args.seed,
            eval_every=args.epochs,
            sign_augment=name.startswith("tinv_signs"),
        )
        began = time.perf_counter()
        history = train_until(config, out / name, args.stop_after_epoch)
        train_seconds = sum(h["seconds"] for h in history)
        model, _, _ = load_classifier(out / name / "checkpoint.pt")
        entry = {
            "method": method,
            "train_protocol": protocol,
            "train_seconds": train_seconds,
            "epochs_trained": len(history),
            "history": history,
            "accuracy": {},
            "per_class": {},
        }
        for test in TESTS:
            result = evaluate(model, test_set, parse_protocol(test), seed=args.seed + 1)
            entry["accuracy"][test] = result.accuracy
            entry["per_class"][test] = result.per_class_accuracy
            if method == "tinv" and test == "SO3":
                entry["ambiguity"] = ambiguity_stats(test_set, result.predictions)
        entry["inference_seconds_per_batch"] = time_inference(model, timing_batch, args.timing_repeats)
        entry["wall_seconds"] = time.perf_counter() - began
        results.setdefault("runs", {})[name] = entry
        results_path.write_text(json.dumps(results, indent=2))
        logging.info("%s: %s (train %.0f s)", name, entry["accuracy"], train_seconds)


def ambiguity_stats(data, predictions: torch.Tensor) -> dict:
    """Frame margins of correctly and wrongly classified test clouds (upright pose)."""
    _, frame = canonicalize(data.points.double(), return_frame=True)
    wrong = predictions != data.labels
    ev = frame.eigenvalues
    rel_gap = torch.minimum((ev[:, 0] - ev[:, 1]) / ev[:, 0], (ev[:, 1] - ev[:, 2]) / ev[:, 0])

    def summary(sel: torch.Tensor) -> dict:
        return {
            "count": int(sel.sum()),
            "ambiguous_fraction": float(frame.ambiguous[sel].float().mean()),
            "median_eigen_gap": float(rel_gap[sel].median()),
            "median_sign_margin": float(frame.sign_margin[sel].clamp(max=1e3).median()),
            "tie_used_fraction": float(frame.tie_used[sel].float().mean()),
        }

    return {
        "wrong": summary(wrong),
        "right": summary(~wrong),
        "accuracy_ambiguous": float((~wrong)[frame.ambiguous].float().mean()) if frame.ambiguous.any() else None,
        "accuracy_unambiguous": float((~wrong)[~frame.ambiguous].float().mean()),
    }


if __name__ == "__main__":
    main()
