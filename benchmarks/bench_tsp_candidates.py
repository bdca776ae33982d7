"""Candidate sets and policies of the greedy local-view TSP policy on the own validation suites (issue 23).

The suites are those of ``bench_tsp_multiview.py`` (seeded ``VALIDATION_FAMILIES`` instances,
never TSPLIB; duplicate cities merged first, as the solver does).

``misses``: along each instance's LKH-3 tour (elkai, one run), walked from its first city in both
directions, the share of decision states whose next city is not among the k nearest unvisited
cities, i.e. where a policy with k candidate slots cannot follow LKH-3
(:func:`tinvnn.tasks.tsp.local.imitation.candidate_misses`), per suite and k.

``greedy``: per instance and k, the greedy tour of a policy (``--checkpoint``, default the shipped
one) from one invariant start with k candidate slots, and 2-opt/Or-opt/3-opt on it, with CPU seconds
(one thread; the same measurement as ``bench_tsp_multiview.py run --modes canonical``).
Records are labelled ``<sha256 prefix> k=<k>``.

``report``: the tables of one or more result files; for ``greedy`` files, the verdict of each
variant against the first one (or ``--baseline``) under a rule given by ``--gain``, ``--worst``
and ``--time`` (mean greedy gain over the suites in points, largest loss of one suite in points,
ratio of mean construction CPU time).

    OMP_NUM_THREADS=1 python benchmarks/bench_tsp_candidates.py misses --ks 16 24 32 48 --out runs/tspdata/misses.json
    OMP_NUM_THREADS=1 python benchmarks/bench_tsp_candidates.py greedy --ks 24 32 48 --out runs/tspdata/k.json
    python benchmarks/bench_tsp_candidates.py report runs/tspdata/misses.json
    python benchmarks/bench_tsp_candidates.py report runs/tspdata/k.json --gain 0.3 --worst 0.3 --time 1.5
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_tsp_local import run_metadata
from bench_tsp_multiview import SUITES, greedy_records, print_table, suite_instances, summarize, verdict

from tinvnn.tasks.tsp.duplicates import merge_duplicates
from tinvnn.tasks.tsp.heuristics import euclidean_matrix
from tinvnn.tasks.tsp.local.imitation import candidate_misses
from tinvnn.tasks.tsp.local.recipe import DEFAULT_LOCAL_CHECKPOINT, inference_k, load_local_policy
from tinvnn.tasks.tsp.reference import lkh_tour


def _run_misses(args: argparse.Namespace) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for suite in args.suites:
        for index, coords in enumerate(suite_instances(suite, args.instances)):
            keep, _ = merge_duplicates(coords)
            points = coords[keep]
            tour = lkh_tour(euclidean_matrix(points))
            misses = {str(k): candidate_misses(points, tour, k) for k in args.ks}
            records.append({"suite": suite, "instance": index, "states": 2 * (len(points) - 2), "misses": misses})
            print(f"{suite:<19} {index:>3}  " + "  ".join(f"k={k} {m}" for k, m in misses.items()), flush=True)
    return records


def _run_greedy(args: argparse.Namespace) -> list[dict[str, Any]]:
    model, _ = load_local_policy(args.checkpoint)
    digest = hashlib.sha256(Path(args.checkpoint or DEFAULT_LOCAL_CHECKPOINT).read_bytes()).hexdigest()[:8]
    variants = {f"k={k}": (k, "canonical", {"variant": f"{digest} k={k}", "k": k}) for k in args.ks}
    return greedy_records(model, args.suites, args.instances, variants)


def _run(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    _, config = load_local_policy(args.checkpoint)
    records = (_run_misses if args.command == "misses" else _run_greedy)(args)
    out = {**run_metadata(args.checkpoint, config.to_dict(), inference_k(args.checkpoint)), "records": records}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out))


def _report_misses(records: list[dict[str, Any]]) -> None:
    ks = list(records[0]["misses"])
    print("| suite | instances | states | " + " | ".join(f"outside k = {k}" for k in ks) + " |")
    print("|---|---|---|" + "---|" * len(ks))
    shares: dict[str, list[float]] = {k: [] for k in ks}
    for suite in dict.fromkeys(r["suite"] for r in records):
        rows = [r for r in records if r["suite"] == suite]
        states = sum(r["states"] for r in rows)
        for k in ks:
            shares[k].append(100 * sum(r["misses"][k] for r in rows) / states)
        print(f"| {suite} | {len(rows)} | {states} | " + " | ".join(f"{shares[k][-1]:.2f} %" for k in ks) + " |")
    print("| mean of suites | | | " + " | ".join(f"{np.mean(v):.2f} %" for v in shares.values()) + " |")


def _report(args: argparse.Namespace) -> None:
    files = [json.loads(path.read_text()) for path in args.paths]
    for data in files:
        print(f"checkpoint {data['checkpoint_sha256']}, {data['date']}, {data['machine']}")
    print()
    records = [r for data in files for r in data["records"]]
    if "misses" in records[0]:
        _report_misses(records)
        return
    table = summarize(records, key="variant")
    variants = list(dict.fromkeys(r["variant"] for r in records))
    print_table(table, variants)
    baseline = args.baseline or variants[0]
    rule = {"mean_gain": args.gain, "worst_suite_loss": args.worst, "max_time_ratio": args.time}
    for variant in variants:
        if variant != baseline:
            print(verdict(table, variant, baseline=baseline, rule=rule))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, what in (("misses", "LKH-3 next cities outside the k candidates"), ("greedy", "greedy gaps per k")):
        run = sub.add_parser(name, help=what)
        run.add_argument("--out", type=Path, required=True)
        run.add_argument("--ks", type=int, nargs="+", default=[24, 32, 48], help="candidate slots")
        run.add_argument("--suites", nargs="+", choices=list(SUITES), default=list(SUITES))
        run.add_argument("--instances", type=int, default=None, help="at most this many instances per suite")
        run.add_argument("--checkpoint", default=None, help="policy file (default: the shipped one)")
    report = sub.add_parser("report", help="print the tables (and the rule's verdicts)")
    report.add_argument("paths", type=Path, nargs="+")
    report.add_argument("--baseline", default=None, help="variant label to compare against (default: the first)")
    report.add_argument("--gain", type=float, default=0.3, help="least mean greedy gain in points")
    report.add_argument("--worst", type=float, default=0.3, help="largest loss of one suite in points")
    report.add_argument("--time", type=float, default=1.5, help="largest ratio of construction CPU time")
    args = parser.parse_args(argv)
    if args.command != "report" and (min(args.ks) < 1 or (args.instances is not None and args.instances < 1)):
        parser.error("expected positive --ks and --instances")
    _report(args) if args.command == "report" else _run(args)


if __name__ == "__main__":
    main()
