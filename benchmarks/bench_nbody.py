"""n-body benchmark: GNN, tinv-GNN, FA-GNN and EGNN under one harness.

Two phases, each appending JSON lines to ``--out``:

* ``train``: train each model for ``--epochs`` (EGNN protocol: Adam, batch 100, weight decay
  1e-12, lr 1e-3 / 5e-4 for EGNN, test MSE at the best validation epoch), then measure its
  equivariance errors in float64 (O(3) and SO(3) maps + translations, and permutations).
* ``timing``: time training steps (forward, backward, Adam) of freshly initialised models on
  the same batches, interleaved round by round so that load changes on a shared machine hit
  every model alike; median per model. ``tinv_gnn_precomputed`` is the GNN trained on inputs
  canonicalized once beforehand (targets mapped into the same frames), the cost of tinv-GNN
  when the frames are a preprocessing step.
* ``bins``: per-system test MSE of the trained models (``<out dir>/<model>/best.pt``) binned by
  the canonical frame's ``sign_margin`` and ``eigen_gap`` quantiles: does tinv-GNN lose where
  its frame is close to a sign or axis decision?

Usage (single thread, as in docs/results.md#5-n-body)::

    python benchmarks/bench_nbody.py train --models gnn tinv_gnn egnn --epochs 60 --out runs/nbody/bench.jsonl
    python benchmarks/bench_nbody.py train --models fa_gnn --epochs 60 --out runs/nbody/bench.jsonl
    python benchmarks/bench_nbody.py timing --out runs/nbody/bench.jsonl
    python benchmarks/bench_nbody.py bins --out runs/nbody/bench.jsonl

``--relative --residual`` give every GNN (plain, tinv, FA) relative-position edge input and a
displacement output, ``--sign-augment`` trains tinv-GNN with random axis signs of its frames
(see docs/results.md#5-n-body for the runs with these options).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import torch

import tinvnn
from tinvnn.models.nbody import GNN
from tinvnn.tasks.nbody.dataset import NBodyConfig, NBodySplit, load_nbody
from tinvnn.tasks.nbody.evaluate import equivariance_errors
from tinvnn.tasks.nbody.recipe import MODELS, NBodyModelConfig, NBodyTrainConfig, build_nbody_model, load_nbody_model
from tinvnn.tasks.nbody.train import train_nbody
from tinvnn.training import RunOptions


def _append(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(record) + "\n")


def _options(name: str, args: argparse.Namespace) -> dict[str, bool | int]:
    """The backbone options that apply to model ``name`` (EGNN takes none, only tinv_gnn signs)."""
    if name == "egnn":
        return {}
    return {
        "layers": args.gnn_layers,
        "relative": args.relative,
        "residual": args.residual,
        "sign_augment": name == "tinv_gnn" and args.sign_augment,
    }


def _run_dir(name: str, args: argparse.Namespace) -> Path:
    """The run directory of model ``name`` with the options of ``args`` (``bins`` reads its best.pt)."""
    options = _options(name, args)
    tag = "".join(f"_{key}" for key, on in options.items() if on is True)
    tag += f"_layers{args.gnn_layers}" if options and args.gnn_layers != 4 else ""
    return args.out.parent / f"{name}{tag}"


def run_train(args: argparse.Namespace) -> None:
    data = load_nbody(NBodyConfig())
    for name in args.models:
        options = _options(name, args)
        config = NBodyTrainConfig(model=name, epochs=args.epochs, eval_every=args.eval_every, seed=args.seed, **options)
        run = RunOptions(out=str(_run_dir(name, args)), resume=True, progress=False)  # reruns continue
        model, result = train_nbody(config, data, run)
        errors = {g: asdict(equivariance_errors(model, data["test"], group=g)) for g in ("O", "SO")}
        _append(
            args.out,
            {
                "phase": "train",
                "model": name,
                "options": options,
                "epochs": args.epochs,
                "result": asdict(result),
                "equivariance": errors,
            },
        )


def _precomputed_canonical(split: NBodySplit) -> tuple[NBodySplit, float]:
    """The split in each system's canonical frame (scale=False), and the seconds it took.

    Since ``R`` is orthogonal, the MSE of canonical predictions against canonical targets is
    the MSE of the back-mapped predictions: training on this split is training tinv-GNN with
    its frames computed once, as a data preprocessing step, instead of at every step.
    """
    tick = time.perf_counter()
    z, frame = tinvnn.canonicalize(split.loc, scale=False, return_frame=True)
    canon = NBodySplit(
        z,
        frame.to_canonical(split.vel, vector=True, scale=False),
        split.charges,
        frame.to_canonical(split.target, scale=False),
    )
    return canon, time.perf_counter() - tick


def run_timing(args: argparse.Namespace) -> None:
    data = load_nbody(NBodyConfig())["train"]
    canon, canon_seconds = _precomputed_canonical(data)
    gen = torch.Generator().manual_seed(args.seed)
    models = {name: build_nbody_model(NBodyModelConfig(model=name, **_options(name, args))) for name in args.models}
    models["tinv_gnn_precomputed"] = GNN(layers=args.gnn_layers, relative=args.relative, residual=args.residual)
    opts = {name: torch.optim.Adam(m.parameters(), lr=1e-3) for name, m in models.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    for round_ in range(args.rounds):
        for name, model in models.items():
            source = canon if name == "tinv_gnn_precomputed" else data
            for k in range(args.steps):
                batch = source.subset(torch.randperm(len(source), generator=gen)[:100])
                tick = time.perf_counter()
                loss = torch.nn.functional.mse_loss(model(batch.loc, batch.vel, charges=batch.charges), batch.target)
                opts[name].zero_grad(set_to_none=True)
                loss.backward()
                opts[name].step()
                if round_ > 0 or k >= 3:  # skip warm-up steps
                    times[name].append(time.perf_counter() - tick)
    medians = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    _append(
        args.out,
        {
            "phase": "timing",
            "gnn_options": _options("tinv_gnn", args),
            "seconds_per_step": medians,
            "steps_per_model": {n: len(t) for n, t in times.items()},
            "canonicalize_train_set_seconds": canon_seconds,
        },
    )
    for name, value in medians.items():
        print(f"{name:22s} {1000 * value:8.1f} ms/step")
    print(f"canonicalizing the {len(data)} training systems once: {canon_seconds:.3f} s")


def run_bins(args: argparse.Namespace) -> None:
    """Per-system test MSE of the trained checkpoints, binned by the canonical frame's margins."""
    data = load_nbody(NBodyConfig())["test"]
    _, frame = tinvnn.canonicalize(data.loc, scale=False, return_frame=True)
    errors = {}
    with torch.no_grad():
        for name in args.models:
            model, _, _ = load_nbody_model(_run_dir(name, args))
            errors[name] = ((model(data.loc, data.vel, charges=data.charges) - data.target) ** 2).mean((1, 2))
    record = {"phase": "bins", "options": {name: _options(name, args) for name in args.models}, "bins": {}}
    for label in ("sign_margin", "eigen_gap"):
        key = getattr(frame, label).to(torch.float64)
        edges = torch.quantile(key, torch.tensor([0.0, 0.1, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64))
        rows = []
        for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist()):
            sel = (key >= lo) & (key <= hi)
            rows.append(
                {"range": [lo, hi], "count": int(sel.sum()), **{n: float(e[sel].mean()) for n, e in errors.items()}}
            )
            print(
                f"{label} [{lo:.4f}, {hi:.4f}] n={int(sel.sum()):4d} "
                + " ".join(f"{n}={r:.4f}" for n, r in rows[-1].items() if n in errors)
            )
        record["bins"][label] = rows
    _append(args.out, record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=("train", "timing", "bins"))
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gnn-layers", type=int, default=4, help="GNN family depth (EGNN keeps 4)")
    parser.add_argument("--relative", action="store_true", help="GNN family: relative-position edge input")
    parser.add_argument("--residual", action="store_true", help="GNN family: predict a displacement")
    parser.add_argument("--sign-augment", action="store_true", help="tinv_gnn: random axis signs in training")
    parser.add_argument("--rounds", type=int, default=5, help="timing: interleaved rounds")
    parser.add_argument("--steps", type=int, default=10, help="timing: steps per model per round")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("runs/nbody/bench.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    {"train": run_train, "timing": run_timing, "bins": run_bins}[args.phase](args)


if __name__ == "__main__":
    main()
