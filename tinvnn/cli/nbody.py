"""CLI sub-commands of the n-body task: ``tinvnn nbody train`` and ``tinvnn nbody eval``.

``train`` generates (first use) and caches the dataset under the cache directory and trains one
model in a run directory (``best.pt``: the best validation epoch; ``checkpoint.pt``: the last);
``eval`` reloads a checkpoint, recomputes the validation and test MSE and measures the
equivariance errors; ``--json`` prints one JSON object.
Top-level imports are what inference needs (the recipe, whose configuration also gives the
``train`` flags); the ``train`` handler imports the training code when it runs.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path

from tinvnn.checkpoint import BEST
from tinvnn.cli._run import add_run_arguments, add_runtime_arguments, run_options, runtime_device
from tinvnn.config import add_arguments, from_args
from tinvnn.runtime import is_main_process
from tinvnn.tasks.nbody.dataset import load_nbody
from tinvnn.tasks.nbody.evaluate import equivariance_errors, evaluate_mse
from tinvnn.tasks.nbody.recipe import NBodyTrainConfig, load_nbody_model

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``nbody train`` and ``nbody eval`` to the tinvnn parser."""
    nbody = sub.add_parser("nbody", help="charged 5-body dynamics (EGNN benchmark)")
    tasks = nbody.add_subparsers(dest="nbody_command", metavar="ACTION", required=True)

    train = tasks.add_parser("train", help="train one model; <out>/best.pt holds the best validation epoch")
    add_arguments(train, NBodyTrainConfig)
    train.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="dataset cache (default: $TINVNN_CACHE)",
    )
    add_run_arguments(train, out="runs/nbody/MODEL")
    train.add_argument("--json", action="store_true", help="print the result as JSON")
    train.set_defaults(func=_train)

    evaluate = tasks.add_parser("eval", help="test MSE and equivariance errors of a checkpoint")
    evaluate.add_argument(
        "checkpoint",
        type=Path,
        metavar="CHECKPOINT",
        help="a checkpoint, or a run directory (its best.pt)",
    )
    evaluate.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="dataset cache (default: $TINVNN_CACHE)",
    )
    evaluate.add_argument(
        "--trials",
        type=int,
        default=4,
        metavar="N",
        help="random transforms for the equivariance check (default: %(default)s)",
    )
    add_runtime_arguments(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate.set_defaults(func=_eval)


def _train(args: argparse.Namespace) -> int:
    from tinvnn.tasks.nbody.train import train_nbody

    config = from_args(NBodyTrainConfig, args)
    if args.out == "runs/nbody/MODEL":
        args.out = str(Path("runs") / "nbody" / config.model)
    options = run_options(args)
    data = load_nbody(config.data, root=args.cache_dir)
    _, result = train_nbody(config, data, options)
    best = Path(options.out) / BEST
    summary = {
        "model": config.model,
        "checkpoint": str(best),
        "epochs": config.epochs,
        "best_epoch": result.best_epoch,
        "val_mse": result.best_val_mse,
        "test_mse": result.test_mse,
        "seconds_per_step": result.seconds_per_step,
        "train_seconds": result.train_seconds,
    }
    if not is_main_process():
        return 0
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{config.model}: test MSE {result.test_mse:.5f} at best validation epoch {result.best_epoch} "
            f"(val {result.best_val_mse:.5f}); {1000 * result.seconds_per_step:.1f} ms/step; saved {best}"
        )
    return 0


def _eval(args: argparse.Namespace) -> int:
    device = runtime_device(args)
    model, config, _ = load_nbody_model(args.checkpoint)  # measured on the CPU in float64, then moved
    data = load_nbody(config.data, root=args.cache_dir)
    errors = {g: asdict(equivariance_errors(model, data["test"], group=g, trials=args.trials)) for g in ("O", "SO")}
    model.to(device)
    summary = {
        "model": config.model,
        "checkpoint": str(args.checkpoint),
        "val_mse": evaluate_mse(model, data["val"]),
        "test_mse": evaluate_mse(model, data["test"]),
        "equivariance": errors,
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"model      {config.model}")
    print(f"val MSE    {summary['val_mse']:.6f}")
    print(f"test MSE   {summary['test_mse']:.6f}")
    for group, err in errors.items():
        print(
            f"{group:2s}(3) equivariance error (rel)  orthogonal+translation {err['orthogonal']:.2e}  "
            f"permutation {err['permutation']:.2e}"
        )
    return 0
