"""Candidate slots per decision at inference: the local policy's greedy gap on validation instances
for several k, and (``--write``) a copy of the checkpoint that records the chosen k.

A policy trained with k candidates is permutation-equivariant over them and can be asked about
more or fewer. Which k decides best is measured on the imitation runs' validation instances
(``validation_instances``: random 200-city instances, families in turn, the validation seed;
never TSPLIB or the test sets), greedy from one invariant start, against LKH-3 (cached). The
choice: the smallest k whose mean gap is within ``--tolerance`` points of the lowest.

    OMP_NUM_THREADS=1 python benchmarks/bench_tsp_inference_k.py --ks 12 16 24 32 48 64 --instances 96 \\
        --out runs/tsp_local/inference_k.json [--write tinvnn/checkpoints/tsp_local.pt]

``--write FILE`` writes the checkpoint (``--checkpoint``, default the shipped one) to FILE with
``meta["inference_k"]`` set to the choice (:func:`tinvnn.tasks.tsp.local.recipe.inference_k` reads it)
and the sweep in ``meta["inference_k_sweep"]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from tinvnn.checkpoint import load_checkpoint, save_checkpoint
from tinvnn.tasks.tsp.local.construction import construct_tours, invariant_starts
from tinvnn.tasks.tsp.local.imitation import validation_instances
from tinvnn.tasks.tsp.local.recipe import DEFAULT_LOCAL_CHECKPOINT, INFERENCE_K_KEY, load_local_policy
from tinvnn.tasks.tsp.objective import tour_length
from tinvnn.tasks.tsp.reference import reference_lengths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_LOCAL_CHECKPOINT)
    parser.add_argument("--ks", type=int, nargs="+", default=[12, 16, 24, 32, 48, 64])
    parser.add_argument("--instances", type=int, default=96, help="validation instances (200 cities each)")
    parser.add_argument("--tolerance", type=float, default=0.1, help="points of gap a smaller k may give up")
    parser.add_argument("--out", type=Path, required=True, help="JSON with the sweep")
    parser.add_argument("--write", type=Path, default=None, help="write the checkpoint with the chosen k here")
    args = parser.parse_args()
    if min(args.ks) < 1 or args.instances < 1 or args.tolerance < 0:
        parser.error("expected positive --ks and --instances and a non-negative --tolerance")
    torch.set_num_threads(1)
    model, config = load_local_policy(args.checkpoint)
    coords = validation_instances(args.instances)
    reference = reference_lengths(coords)
    sweep: dict[int, dict[str, float]] = {}
    for k in sorted(set(args.ks)):
        began = time.perf_counter()
        tours = torch.stack(
            [
                torch.from_numpy(construct_tours(model, c.numpy(), invariant_starts(c.numpy(), 1), k=k)[0])
                for c in coords
            ]
        )
        gaps = 100.0 * (tour_length(coords, tours) / reference - 1.0)
        sweep[k] = {"mean_gap": float(gaps.mean()), "seconds": time.perf_counter() - began}
        print(f"k={k:<3} mean greedy gap {sweep[k]['mean_gap']:.2f} % ({sweep[k]['seconds']:.0f} s)", flush=True)
    lowest = min(r["mean_gap"] for r in sweep.values())
    chosen = min(k for k, r in sweep.items() if r["mean_gap"] <= lowest + args.tolerance)
    record = {
        "checkpoint": str(args.checkpoint),
        "trained_k": config.k,
        "instances": args.instances,
        "tolerance": args.tolerance,
        "sweep": sweep,
        "chosen_k": chosen,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread",
    }
    print(f"chosen k = {chosen} (trained with {config.k})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))
    if args.write is not None:
        payload = load_checkpoint(args.checkpoint)
        meta = {**payload["meta"], INFERENCE_K_KEY: chosen, f"{INFERENCE_K_KEY}_sweep": record}
        save_checkpoint(args.write, payload["state"], payload["config"], meta)
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
