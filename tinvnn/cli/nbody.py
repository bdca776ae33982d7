"""CLI sub-commands of the n-body task: ``tinvnn nbody train`` and ``tinvnn nbody eval``.

``train`` generates (first use) and caches the dataset under the cache directory, trains one
model and writes its best checkpoint; ``eval`` reloads a checkpoint, recomputes the
validation and test MSE and measures the equivariance errors; ``--json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path

import torch

from tinvnn.tasks.nbody.dataset import NBodyConfig, load_nbody
from tinvnn.tasks.nbody.evaluate import equivariance_errors, load_trained
from tinvnn.tasks.nbody.train import MODELS, TrainConfig, evaluate_mse, train_nbody

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``nbody train`` and ``nbody eval`` to the tinvnn parser."""
    nbody = sub.add_parser("nbody", help="charged 5-body dynamics (EGNN benchmark)")
    tasks = nbody.add_subparsers(dest="nbody_command", metavar="ACTION", required=True)

    train = tasks.add_parser("train", help="train one model and save its best checkpoint")
    train.add_argument("--model", choices=MODELS, default="tinv_gnn", help="which network (default: tinv_gnn)")
    train.add_argument("--epochs", type=int, default=100)
    train.add_argument("--batch-size", type=int, default=100)
    train.add_argument("--lr", type=float, default=None, help="default: 1e-3, or 5e-4 for egnn")
    train.add_argument("--hidden", type=int, default=64)
    train.add_argument("--layers", type=int, default=4)
    train.add_argument("--group", choices=("O", "SO"), default="O", help="symmetry group of the wrapped models")
    train.add_argument("--relative", action="store_true", help="GNN edge input with relative positions")
    train.add_argument("--residual", action="store_true", help="GNN predicts a displacement")
    train.add_argument("--sign-augment", action="store_true", help="tinv_gnn: random axis signs in training")
    train.add_argument("--eval-every", type=int, default=5)
    train.add_argument("--seed", type=int, default=0)
    _data_arguments(train)
    train.add_argument("--out", type=Path, default=None, help="checkpoint path (default: runs/nbody/<model>.pt)")
    train.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    train.add_argument("--json", action="store_true", help="print the result as JSON")
    train.set_defaults(func=_train)

    evaluate = tasks.add_parser("eval", help="test MSE and equivariance errors of a checkpoint")
    evaluate.add_argument("checkpoint", type=Path)
    evaluate.add_argument("--cache-dir", type=Path, default=None, help="dataset cache (default: $TINVNN_CACHE)")
    evaluate.add_argument("--trials", type=int, default=4, help="random transforms for the equivariance check")
    evaluate.add_argument("--threads", type=int, default=None)
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate.set_defaults(func=_eval)


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = NBodyConfig()
    parser.add_argument("--n-train", type=int, default=defaults.n_train)
    parser.add_argument("--n-val", type=int, default=defaults.n_val)
    parser.add_argument("--n-test", type=int, default=defaults.n_test)
    parser.add_argument("--data-seed", type=int, default=defaults.seed)
    parser.add_argument("--cache-dir", type=Path, default=None, help="dataset cache (default: $TINVNN_CACHE)")


def _threads(value: int | None) -> None:
    if value is not None:
        if value < 1:
            raise ValueError(f"--threads: expected a positive integer, got {value}")
        torch.set_num_threads(value)


def _train(args: argparse.Namespace) -> int:
    _threads(args.threads)
    data_config = NBodyConfig(n_train=args.n_train, n_val=args.n_val, n_test=args.n_test, seed=args.data_seed)
    config = TrainConfig(
        model=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, hidden=args.hidden,
        layers=args.layers, group=args.group, relative=args.relative, residual=args.residual,
        sign_augment=args.sign_augment, eval_every=args.eval_every, seed=args.seed, data=data_config,
    )
    out = args.out or Path("runs") / "nbody" / f"{args.model}.pt"
    data = load_nbody(data_config, root=args.cache_dir)
    _, result = train_nbody(config, data, checkpoint=out)
    summary = {
        "model": args.model, "checkpoint": str(out), "epochs": args.epochs, "best_epoch": result.best_epoch,
        "val_mse": result.best_val_mse, "test_mse": result.test_mse,
        "seconds_per_step": result.seconds_per_step, "train_seconds": result.train_seconds,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{args.model}: test MSE {result.test_mse:.5f} at best validation epoch {result.best_epoch} "
            f"(val {result.best_val_mse:.5f}); {1000 * result.seconds_per_step:.1f} ms/step; saved {out}"
        )
    return 0


def _eval(args: argparse.Namespace) -> int:
    _threads(args.threads)
    model, config, _ = load_trained(args.checkpoint)
    data = load_nbody(config.data, root=args.cache_dir)
    errors = {g: asdict(equivariance_errors(model, data["test"], group=g, trials=args.trials)) for g in ("O", "SO")}
    summary = {
        "model": config.model, "checkpoint": str(args.checkpoint),
        "val_mse": evaluate_mse(model, data["val"]), "test_mse": evaluate_mse(model, data["test"]),
        "equivariance": errors,
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"model      {config.model}")
    print(f"val MSE    {summary['val_mse']:.6f}")
    print(f"test MSE   {summary['test_mse']:.6f}")
    for group, err in errors.items():
        print(f"{group:2s}(3) equivariance error (rel)  orthogonal+translation {err['orthogonal']:.2e}  permutation {err['permutation']:.2e}")
    return 0
