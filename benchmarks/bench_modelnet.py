"""ModelNet40 benchmark: none, aug, pca, fa and tinv PointNets under z/z, z/SO3, SO3/SO3, SO3+scale.

Every method gets the same budget (same data, points, width, epochs, batch, optimiser, seed).
Runs (train protocol in brackets):

* none [z], aug [z, plus a random O(3) map per training cloud], pca [z] and pca [SO3],
  fa [z], tinv [z] and, if ``--tinv-so3``, tinv [SO3];
* ``none`` trained under SO3 *is* rotation augmentation, so its SO3/SO3 and SO3+scale cells
  are the ``aug`` run's; exactly invariant methods (fa, tinv) see the same canonical inputs
  whatever the training rotation, so their SO3 columns reuse the z-trained model unless
  ``--tinv-so3`` trains tinv under SO3 as well.

Also: inference time per batch relative to ``none`` (eval mode, one thread, median of repeats),
per-class accuracy, and for tinv the frame-ambiguity statistics of misclassified clouds.

Usage (the CPU budget of docs/benchmarks/modelnet.md):
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

from tinvnn import canonicalize
from tinvnn.tasks.classification.datasets import load_dataset
from tinvnn.tasks.classification.evaluate import evaluate, load_model
from tinvnn.tasks.classification.protocols import parse_protocol
from tinvnn.tasks.classification.train import TrainConfig, train

TESTS = ("z", "SO3", "SO3+scale")  # every model is tested under each


def runs(tinv_so3: bool) -> list[tuple[str, str, str]]:
    """(name, method, train protocol) in the order they are trained (cheap, informative first)."""
    out = [("tinv_z", "tinv", "z"), ("none_z", "none", "z"), ("aug", "aug", "z"),
           ("pca_z", "pca", "z"), ("pca_SO3", "pca", "SO3"), ("fa_z", "fa", "z")]  # fmt: skip
    if tinv_so3:
        out.append(("tinv_SO3", "tinv", "SO3"))
    return out


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    parser.add_argument("--timing-repeats", type=int, default=10)
    parser.add_argument("--out", default="runs/bench_modelnet")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results["settings"] = vars(args)
    test_set = load_dataset("modelnet40", "test", points=args.points, seed=args.seed)
    timing_batch = test_set.points[: args.batch_size]

    for name, method, protocol in runs(args.tinv_so3):
        if args.only is not None and name not in args.only:
            continue
        config = TrainConfig(
            method=method, backbone="pointnet", group="O", dataset="modelnet40", points=args.points,
            per_class=args.per_class, train_protocol=protocol, test_protocol=protocol, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, width=args.width, seed=args.seed, eval_every=args.epochs,
            out=str(out / name),
        )  # fmt: skip
        began = time.perf_counter()
        metrics = train(config, resume=True, progress=False)
        train_seconds = sum(h["seconds"] for h in metrics["history"])
        model, _, _ = load_model(out / name / "checkpoint.pt")
        entry = {"method": method, "train_protocol": protocol, "train_seconds": train_seconds,
                 "history": metrics["history"], "accuracy": {}, "per_class": {}}  # fmt: skip
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

    return {"wrong": summary(wrong), "right": summary(~wrong),
            "accuracy_ambiguous": float((~wrong)[frame.ambiguous].float().mean()) if frame.ambiguous.any() else None,
            "accuracy_unambiguous": float((~wrong)[~frame.ambiguous].float().mean())}  # fmt: skip


if __name__ == "__main__":
    main()
