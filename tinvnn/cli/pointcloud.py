"""CLI sub-commands for point-cloud classification: train, eval, sweep-angle, audit, classify, demo.

Top-level imports are what inference needs (the recipe, whose configuration also gives the
``train`` flags, evaluation, ``classify``); the ``train`` and ``demo`` handlers import the
training code when they run, so ``tinvnn classify`` and ``tinvnn --help`` never load it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from pathlib import Path
from typing import Any

from tinvnn._checks import check_number
from tinvnn._io import json_safe
from tinvnn.cli._run import add_run_arguments, add_runtime_arguments, run_options, runtime_device
from tinvnn.config import add_arguments, from_args
from tinvnn.runtime import is_main_process
from tinvnn.tasks.classification.classify import DEFAULT_SUBSETS, UPRIGHT_CLASSIFIER, classify_files
from tinvnn.tasks.classification.datasets import PointCloudDataset, load_dataset
from tinvnn.tasks.classification.evaluate import audit, evaluate
from tinvnn.tasks.classification.protocols import parse_protocol
from tinvnn.tasks.classification.recipe import ClassifierTrainConfig, load_classifier
from tinvnn.tasks.classification.sweep import angle_sweep, chance_level, save_sweep, sweep_outputs

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``train``, ``eval``, ``sweep-angle``, ``audit``, ``classify`` and ``demo`` to the tinvnn parser."""
    p = sub.add_parser("train", help="train a point-cloud classifier")
    add_arguments(p, ClassifierTrainConfig)
    add_run_arguments(p, out="runs/pointcloud")
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="accuracy of a checkpoint under test protocols")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a classifier checkpoint (.pt) written by tinvnn train")
    p.add_argument(
        "--protocol",
        nargs="+",
        metavar="PROTOCOL",
        default=["I", "z", "SO3", "SO3+scale"],
        help="test protocols, ROTATION[+scale][+translate] (default: I z SO3 SO3+scale)",
    )
    _data_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _common(p)
    p.set_defaults(func=_eval)

    p = sub.add_parser("sweep-angle", help="accuracy vs test rotation angle (PNG + JSON)")
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help="classifier checkpoints, one curve each")
    p.add_argument(
        "--step",
        type=float,
        default=15.0,
        metavar="DEGREES",
        help="angle step, in (0, 180] (default: %(default)s)",
    )
    p.add_argument(
        "--out",
        default="runs/angle_sweep.png",
        metavar="FILE",
        help="PNG path; the JSON goes next to it (default: %(default)s)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing PNG and JSON")
    _data_args(p)
    _common(p)
    p.set_defaults(func=_sweep)

    p = sub.add_parser("audit", help="measured invariance error of a checkpoint (check_invariance)")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a classifier checkpoint (.pt) written by tinvnn train")
    p.add_argument("--clouds", type=int, default=8, metavar="N", help="test clouds to check (default: %(default)s)")
    p.add_argument(
        "--trials",
        type=int,
        default=4,
        metavar="N",
        help="random transformations per check (default: %(default)s)",
    )
    p.add_argument(
        "--rtol",
        type=float,
        default=None,
        metavar="X",
        help="exit with status 1 if max_rel exceeds X (default: no limit)",
    )
    _data_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _common(p)
    p.set_defaults(func=_audit)

    p = sub.add_parser(
        "classify", help="top-5 ModelNet40 classes of point files (.npy .npz .xyz .txt .csv .off .ply .obj .stl)"
    )
    p.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="shape files; any pose, units, offset and point order",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--checkpoint",
        default=None,
        metavar="FILE",
        help="a classifier checkpoint (default: the shipped PointNet with Frame Averaging)",
    )
    which.add_argument(
        "--upright",
        action="store_true",
        help="the shipped gravity-aware classifier: the files' z axis is up; any heading, units and offset",
    )
    p.add_argument("--top", type=int, default=5, metavar="N", help="classes to list per file (default: %(default)s)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of subsampling and mesh sampling (default: %(default)s)",
    )
    p.add_argument(
        "--subsets",
        type=int,
        default=DEFAULT_SUBSETS,
        metavar="K",
        help="average the probabilities over K invariant draws of the model's points per file (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _common(p)
    p.set_defaults(func=_classify)

    p = sub.add_parser("demo", help="train plain, tinv and weighted PointNets briefly and compare them (few minutes)")
    p.add_argument("--out", default="runs/demo", metavar="DIR", help="output directory (default: %(default)s)")
    p.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="data directory (default: $TINVNN_DATA, else ./data)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        metavar="N",
        help="training epochs per model (default: 10 on ModelNet40, 8 synthetic)",
    )
    _common(p)
    p.set_defaults(func=_demo)


def _common(p: argparse.ArgumentParser) -> None:
    add_runtime_arguments(p)


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="data directory (default: the checkpoint's, else $TINVNN_DATA)",
    )
    p.add_argument(
        "--test-per-class",
        type=int,
        default=None,
        metavar="N",
        help="test clouds per class (default: the checkpoint's)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of the random test transformations (default: %(default)s)",
    )


def _train(args: argparse.Namespace) -> int:
    from tinvnn.tasks.classification.train import train

    metrics = train(from_args(ClassifierTrainConfig, args), run_options(args))
    if is_main_process():
        print(json.dumps(json_safe(metrics["final"]), allow_nan=False))
    return 0


def _test_set(config: dict[str, Any], args: argparse.Namespace) -> PointCloudDataset:
    per_class = args.test_per_class if args.test_per_class is not None else config["test_per_class"]
    root = args.data_dir if args.data_dir is not None else config["data_dir"]
    return load_dataset(
        config["dataset"], "test", points=config["points"], root=root, seed=config["seed"], per_class=per_class
    )


def _eval(args: argparse.Namespace) -> int:
    device = runtime_device(args)
    protocols = [parse_protocol(p) for p in args.protocol]
    model, config, _ = load_classifier(args.checkpoint, device)
    data = _test_set(config, args)
    results = {str(p): evaluate(model, data, p, seed=args.seed).summary() for p in protocols}
    if args.json:
        print(
            json.dumps(
                {
                    "checkpoint": args.checkpoint,
                    "method": config["method"],
                    "backbone": config["backbone"],
                    "group": config["group"],
                    "clouds": len(data),
                    "results": results,
                }
            )
        )
    else:
        print(
            f"{args.checkpoint}: {config['method']} {config['backbone']} (group {config['group']}) "
            f"on {len(data)} {config['dataset']} test clouds"
        )
        for name, res in results.items():
            print(f"  {name:<20} {100 * res['accuracy']:6.2f}%")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    device = runtime_device(args)
    if not 0 < args.step <= 180:
        raise ValueError(f"--step: expected degrees in (0, 180], got {args.step:g}")
    sweep_outputs(args.out, overwrite=args.overwrite)  # refused before any work, as is a missing matplotlib
    importlib.import_module("matplotlib")
    count = int(180 // args.step)
    angles = [i * args.step for i in range(count + 1)]
    curves, budgets, chance = {}, [], None
    for path in args.checkpoints:
        model, config, meta = load_classifier(path, device)
        label = f"{config['method']} ({Path(path).parent.name})"
        data = _test_set(config, args)
        curves[label] = angle_sweep(model, data, angles, seed=args.seed)
        budgets.append(
            f"{config['backbone']}, {config['points']} points, width {config['width']}, "
            f"{len(meta.get('history', []))} epochs, trained under {config['train_protocol']}"
        )
        chance = chance_level(data.labels)
    title = f"{config['dataset']}, {len(data)} test clouds rotated about random axes; " + "; ".join(
        sorted(set(budgets))
    )
    png, js = save_sweep(curves, angles, args.out, title=title, chance=chance, overwrite=args.overwrite)
    print(f"wrote {png} and {js}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    if args.rtol is not None:
        check_number(args.rtol, "--rtol")  # NaN or Inf would pass any model
    device = runtime_device(args)
    model, config, _ = load_classifier(args.checkpoint, device)
    data = _test_set(config, args)
    report = audit(model, data.points[: args.clouds], group=config["group"], trials=args.trials, seed=args.seed)
    report.update(
        checkpoint=args.checkpoint, method=config["method"], group=config["group"], clouds=min(args.clouds, len(data))
    )
    if args.json:
        print(json.dumps(json_safe(report), allow_nan=False))  # a non-finite error prints as null
    else:
        print(
            f"{args.checkpoint} ({config['method']}, group {config['group']}): worst invariance error "
            f"max_abs={report['max_abs']:.3e} max_rel={report['max_rel']:.3e} over {report['trials']} trials"
        )
    failed = not math.isfinite(report["max_rel"]) or (args.rtol is not None and report["max_rel"] > args.rtol)
    return 1 if failed else 0


def _classify(args: argparse.Namespace) -> int:
    """Classify every readable file; a bad file gets its one error line and exit status 2."""
    device = runtime_device(args)
    checkpoint = UPRIGHT_CLASSIFIER if args.upright else args.checkpoint
    results = classify_files(
        args.files,
        checkpoint=checkpoint,
        subsets=args.subsets,
        top=args.top,
        seed=args.seed,
        device=device,
        skip_bad_files=True,
    )
    for result in results:
        if "error" in result:
            print(f"tinvnn: error: {result['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps({"results": results}))
    else:
        for result in results:
            if "top" in result:
                ranked = ", ".join(f"{t['class']} {100 * t['probability']:.1f}%" for t in result["top"])
                print(f"{result['file']}: {ranked}")
    return 2 if any("error" in r for r in results) else 0


def _demo(args: argparse.Namespace) -> int:
    from tinvnn.tasks.classification.demo import run_demo

    runtime_device(args)  # applies --threads; refuses a bad --device before training starts
    run_demo(args.out, root=args.data_dir, epochs=args.epochs, progress=args.progress, device=args.device)
    return 0
