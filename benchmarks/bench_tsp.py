"""TSP-20 benchmark of the input variants: gaps on the canonical test set, on each transformed
copy, and on the TSPLIB subset; classical heuristics as baselines.

Training (one command per variant, same budget, single thread each; see docs/results.md#4-tsp):

    tinvnn tsp train --variant {raw,unit,symnco,tinv} --steps S --threads 1 --out runs/tsp/tsp20_V.pt

Evaluation (one process per variant, then the report):

    python benchmarks/bench_tsp.py eval --variant tinv --checkpoint runs/tsp/tsp20_tinv.pt --out runs/tsp/eval_tinv.json
    python benchmarks/bench_tsp.py heuristics --out runs/tsp/eval_heuristics.json
    python benchmarks/bench_tsp.py report runs/tsp/eval_*.json

``pomo8`` is evaluated from the ``unit`` checkpoint (x8 dihedral views at inference), ``tinv8``
from the ``tinv`` checkpoint (x8 signed axis views of the canonical coordinates).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch

from tinvnn.paths import data_dir
from tinvnn.tasks.tsp.attention.evaluate import HEURISTICS, Decoding, evaluate_test_set, evaluate_tsplib, heuristic_gaps
from tinvnn.tasks.tsp.attention.recipe import load_attention_model
from tinvnn.tasks.tsp.attention.variants import VARIANTS, get_variant
from tinvnn.tasks.tsp.instances import fixed_test_set
from tinvnn.tasks.tsp.reference import reference_lengths
from tinvnn.tasks.tsp.transforms import TRANSFORMS
from tinvnn.tasks.tsp.tsplib import load_tsplib_dir

DECODES = {
    "greedy": Decoding("greedy"),
    "multistart": Decoding("multistart"),
    "multistart+2opt": Decoding("multistart", two_opt=True),
}


def _eval(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    model, config = load_attention_model(args.checkpoint)
    variant = get_variant(args.variant)
    if variant.trains_as != config.variant:
        raise ValueError(f"{args.variant} needs a {variant.trains_as} checkpoint, got {config.variant}")
    coords = fixed_test_set(args.num_cities, args.num)
    reference = reference_lengths(coords)
    instances, optima = load_tsplib_dir(data_dir() / "tsplib")
    out = {"variant": variant.name, "checkpoint": str(args.checkpoint), "config": asdict(config)}
    out["num_instances"], out["test"], out["tsplib"], out["seconds"] = len(coords), {}, {}, {}
    for decode in DECODES:
        start = time.perf_counter()
        out["test"][decode] = evaluate_test_set(
            model, variant, coords, reference, transforms=list(TRANSFORMS), decoding=DECODES[decode], seed=args.seed
        )
        out["seconds"][f"test_{decode}"] = time.perf_counter() - start
        for name in args.tsplib_transforms:
            start = time.perf_counter()
            records = evaluate_tsplib(
                model, variant, instances, optima, transform=name, decoding=DECODES[decode], seed=args.seed
            )
            out["tsplib"].setdefault(decode, {})[name] = {
                "mean_gap": sum(r["gap"] for r in records) / len(records),
                "gaps": {r["name"]: r["gap"] for r in records},
            }
            out["seconds"][f"tsplib_{decode}_{name}"] = time.perf_counter() - start
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in ("variant", "seconds")}))


def _heuristics(args: argparse.Namespace) -> None:
    coords = fixed_test_set(args.num_cities, args.num)
    reference = reference_lengths(coords)
    instances, optima = load_tsplib_dir(data_dir() / "tsplib")
    out = {"variant": "heuristics", "test": {}, "tsplib": {}}
    for name in HEURISTICS:
        out["test"][name] = heuristic_gaps(coords, reference, name).mean().item()
        records = evaluate_tsplib(None, None, instances, optima, heuristic=name)
        out["tsplib"][name] = sum(r["gap"] for r in records) / len(records)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(json.dumps(out))


def _report(args: argparse.Namespace) -> None:
    runs = [json.loads(Path(p).read_text()) for p in args.files]
    order = list(VARIANTS)
    policies = sorted((r for r in runs if r["variant"] in order), key=lambda r: order.index(r["variant"]))
    names = list(TRANSFORMS)
    for decode in DECODES:
        print(f"\n#### TSP-20 test set, {decode} decoding: mean gap (%) vs LKH-3\n")
        print("| variant | " + " | ".join(names) + " | spread | TSPLIB mean gap |")
        print("|---" * (len(names) + 3) + "|")
        for r in policies:
            gaps = [r["test"][decode][n]["gap"] for n in names]
            tsplib = r["tsplib"].get(decode, {}).get("identity", {}).get("mean_gap")
            cells = " | ".join(f"{g:.3f}" if g < 100 else f"{g:.3g}" for g in gaps)
            print(f"| {r['variant']} | {cells} | {max(gaps) - min(gaps):.3g} | {tsplib:.2f} |")
        extra = [
            (r["variant"], n, r["tsplib"][decode][n]["mean_gap"])
            for r in policies
            for n in r["tsplib"].get(decode, {})
            if n != "identity"
        ]
        if extra:
            print("\nTSPLIB mean gap (%) under transformations: " + "; ".join(f"{v} {n} {g:.2f}" for v, n, g in extra))
    for r in runs:
        if r["variant"] == "heuristics":
            print("\n#### Classical heuristics: mean gap (%)\n")
            print("| heuristic | TSP-20 test set | TSPLIB |\n|---|---|---|")
            for name in r["test"]:
                print(f"| {name} | {r['test'][name]:.2f} | {r['tsplib'][name]:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    ev = sub.add_parser("eval")
    ev.add_argument("--variant", required=True, choices=list(VARIANTS))
    ev.add_argument("--checkpoint", type=Path, required=True)
    ev.add_argument("--tsplib-transforms", nargs="+", default=["identity"], choices=list(TRANSFORMS))
    for p in (ev, heur := sub.add_parser("heuristics")):
        p.add_argument("--num-cities", type=int, default=20)
        p.add_argument("--num", type=int, default=None)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--threads", type=int, default=1)
    ev.set_defaults(func=_eval)
    heur.set_defaults(func=_heuristics)
    rep = sub.add_parser("report")
    rep.add_argument("files", nargs="+", type=Path)
    rep.set_defaults(func=_report)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
