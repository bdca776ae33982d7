"""Benchmark of the local-view TSP policy against classical heuristics and LKH-3 (elkai).

Rows: the classical constructions; greedy edge followed by the improvement step (2-opt +
Or-opt with neighbour lists, then ``auto_decoding(N).kicks`` local double-bridge kicks); the
local-view policy with its checkpoint's ``inference_k`` candidate slots, greedy (one invariant
start) and multistart (``auto_decoding`` starts, up to ``--multistart-max`` cities), after each
stage of ``solve_local``; elkai.

Suites: TSPLIB 51-150 cities (``$TINVNN_DATA/tsplib``), TSPLIB 1,060-5,934 cities
(``$TINVNN_DATA/tsplib-large``), random uniform and clustered instances of 100 / 200 / 500 /
1,000 cities (seeded, disjoint from the training seeds) with elkai (LKH-3, one run) as the
reference. Gaps are ``100 * (length / reference - 1)``: TSPLIB lengths in the file's metric
against the published optimum, random lengths Euclidean against elkai's tour. Times are per
instance, one thread; a row with improvement includes the time of the stages before it.

    OMP_NUM_THREADS=1 python benchmarks/bench_tsp_local.py run --out runs/tsp_local/bench.json
    python benchmarks/bench_tsp_local.py report runs/tsp_local/bench.json

    python benchmarks/bench_tsp_local.py instance --num-cities 1000 --out runs/tsp_local/uniform1000.tsp

``run --suites`` picks suites; ``--large-names`` restricts the large TSPLIB suite to a subset;
``--checkpoint`` a policy other than the shipped one. ``report`` prints the markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tinvnn.paths import data_dir
from tinvnn.tasks.tsp.heuristics import euclidean_matrix, greedy_edge_tour, insertion_tour, nearest_neighbour_tour
from tinvnn.tasks.tsp.improve import improve_tour
from tinvnn.tasks.tsp.instances import TEST_SEED, clustered_instances, uniform_instances
from tinvnn.tasks.tsp.local.recipe import DEFAULT_LOCAL_CHECKPOINT, inference_k, load_local_policy
from tinvnn.tasks.tsp.local.solver import LocalDecoding, auto_decoding, solve_local
from tinvnn.tasks.tsp.objective import tour_length
from tinvnn.tasks.tsp.reference import lkh_tour
from tinvnn.tasks.tsp.tsplib import (
    TSPLIBInstance,
    improvement_matrix,
    instance_matrix,
    load_tsplib_dir,
    planar_coordinates,
    tour_length_tsplib,
    write_tsplib,
)

RANDOM_SIZES = {100: 16, 200: 8, 500: 4, 1000: 2}
SUITES = ("tsplib", "tsplib-large", "uniform", "clustered")
HEURISTICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "nearest neighbour": nearest_neighbour_tour,
    "greedy edge": greedy_edge_tour,
    "farthest insertion": lambda c: insertion_tour(c, "farthest"),
    "random insertion": lambda c: insertion_tour(c, "random"),
}
STAGES = {"construct": "", "2-opt/Or-opt/3-opt": " + 2-opt/Or-opt/3-opt", "kicks": " + 2-opt/Or-opt/3-opt + kicks"}
ROWS = (
    *HEURISTICS,
    "greedy edge + 2-opt/Or-opt/3-opt",
    "greedy edge + 2-opt/Or-opt/3-opt + kicks",
    *(f"local {decode}{suffix}" for decode in ("greedy", "multistart") for suffix in STAGES.values()),
    "elkai (LKH-3)",
)


@dataclass(frozen=True)
class Case:
    """One benchmark instance: planar coordinates, how to measure a tour, its reference, and the
    matrix the improvement step measures in (None: Euclidean on the coordinates), as `tsp solve`."""

    label: str
    coords: np.ndarray
    measure: Callable[[np.ndarray], float]
    optimum: float | None  # None: elkai's tour is the reference
    elkai: Callable[[], np.ndarray]
    dist: np.ndarray | None = None


def _cases(suite: str, large_names: list[str] | None) -> list[Case]:
    """The instances of a suite; TSPLIB in the file's integer metric, random ones Euclidean."""
    if suite in ("tsplib", "tsplib-large"):
        instances, optima = load_tsplib_dir(data_dir() / suite)
        if suite == "tsplib-large" and large_names:
            instances = [i for i in instances if i.name in large_names]
        return [
            Case(
                i.name,
                planar_coordinates(i),
                lambda t, i=i: tour_length_tsplib(i, t),
                optima[i.name],
                lambda i=i: lkh_tour(instance_matrix(i), precision=1.0),
                improvement_matrix(i),
            )
            for i in instances
        ]
    make = uniform_instances if suite == "uniform" else clustered_instances
    out = []
    for n, count in RANDOM_SIZES.items():
        coords = make(count, n, generator=torch.Generator().manual_seed(TEST_SEED + 7 * n), dtype=torch.float64).numpy()
        out += [
            Case(
                f"{suite}{n}-{j}",
                c,
                lambda t, c=c: float(tour_length(torch.from_numpy(c)[None], torch.from_numpy(t)[None])),
                None,
                lambda c=c: lkh_tour(euclidean_matrix(c)),
            )
            for j, c in enumerate(coords)
        ]
    return out


def _timed(fn: Callable[..., np.ndarray], *args: Any, **kwargs: Any) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def _run(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    model, config = load_local_policy(args.checkpoint)
    k = inference_k(args.checkpoint)
    records = []
    for suite in args.suites:
        for case in _cases(suite, args.large_names):
            label, coords, optimum = case.label, case.coords, case.optimum
            n = len(coords)
            rows: dict[str, tuple[np.ndarray, float]] = {}
            if optimum is None or n <= args.elkai_max:
                rows["elkai (LKH-3)"] = _timed(case.elkai)
            for name, heuristic in HEURISTICS.items():
                rows[name] = _timed(heuristic, coords)
            auto = auto_decoding(n)
            tour, seconds = rows["greedy edge"]
            better, more = _timed(improve_tour, coords, tour, dist=case.dist)
            rows["greedy edge + 2-opt/Or-opt/3-opt"] = (better, seconds + more)
            best, most = _timed(improve_tour, coords, better, kicks=auto.kicks, dist=case.dist)
            rows["greedy edge + 2-opt/Or-opt/3-opt + kicks"] = (best, seconds + more + most)
            decodings = {"greedy": LocalDecoding("greedy", kicks=auto.kicks)}
            if n <= args.multistart_max:
                decodings["multistart"] = LocalDecoding("multistart", starts=16 if n <= 200 else 4, kicks=auto.kicks)
            for name, decoding in decodings.items():
                solution = solve_local(model, coords, k=k, decoding=decoding, dist=case.dist, progress=False)
                elapsed = 0.0
                for stage, tour in solution.stages.items():
                    elapsed += solution.seconds[stage]
                    rows[f"local {name}{STAGES[stage]}"] = (tour, elapsed)
            reference = optimum if optimum is not None else case.measure(rows["elkai (LKH-3)"][0])
            for name, (tour, seconds) in rows.items():
                length = case.measure(tour)
                records.append(
                    {
                        "suite": suite,
                        "instance": label,
                        "n": n,
                        "method": name,
                        "length": length,
                        "reference": reference,
                        "gap": 100.0 * (length / reference - 1.0),
                        "seconds": seconds,
                    }
                )
            mine = {r["method"]: r for r in records if r["instance"] == label}
            print(
                f"{suite:<13} {label:<16} n={n:<5} local greedy {mine['local greedy']['gap']:6.2f} % "
                f"{mine['local greedy']['seconds']:6.1f} s, + 2-opt/Or-opt/3-opt + kicks "
                f"{mine['local greedy + 2-opt/Or-opt/3-opt + kicks']['gap']:6.2f} %",
                flush=True,
            )
    out = {
        **run_metadata(args.checkpoint, config.to_dict(), k),
        "auto_decoding": {n: str(auto_decoding(n)) for n in (100, 200, 500, 1000, 5934)},
        "records": records,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out))


def run_metadata(checkpoint: str | Path | None, config: dict[str, Any], k: int) -> dict[str, Any]:
    """What a results file records of its run: the policy (path, sha256 prefix, config, k), date and machine."""
    path = Path(checkpoint or DEFAULT_LOCAL_CHECKPOINT)
    return {
        "checkpoint": str(path),
        "checkpoint_sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16],
        "config": config,
        "inference_k": k,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread",
    }


def _write_instance(args: argparse.Namespace) -> None:
    case = next(c for c in _cases(args.family, None) if c.label == f"{args.family}{args.num_cities}-0")
    write_tsplib(TSPLIBInstance(case.label, case.coords * 1e6, "EUC_2D", "bench_tsp_local test instance"), args.out)


def _report(args: argparse.Namespace) -> None:
    records = [r for f in args.files for r in json.loads(Path(f).read_text())["records"]]
    groups: dict[str, list[dict]] = {}
    for r in records:
        if r["suite"].startswith("tsplib"):
            key = "TSPLIB 51-150" if r["suite"] == "tsplib" else "TSPLIB 1,060-5,934"
        else:
            key = f"{r['suite']} {r['n']}"
        groups.setdefault(key, []).append(r)
    keys = list(groups)
    print("| method | " + " | ".join(f"{k} ({len({r['instance'] for r in groups[k]})})" for k in keys) + " |")
    print("| --- |" + " --- |" * len(keys))
    for method in ROWS:
        cells = []
        for k in keys:
            rs = [r for r in groups[k] if r["method"] == method]
            cells.append(
                "-"
                if not rs
                else f"{np.mean([r['gap'] for r in rs]):.2f} % / {np.mean([r['seconds'] for r in rs]):.2f} s"
            )
        print(f"| {method} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="solve every suite, write the records as JSON")
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--checkpoint", type=Path, default=None)
    run.add_argument("--suites", nargs="+", choices=SUITES, default=list(SUITES))
    run.add_argument("--large-names", nargs="*", default=None, help="subset of tsplib-large instance names")
    run.add_argument("--multistart-max", type=int, default=1000, help="largest N with a multistart run")
    run.add_argument("--elkai-max", type=int, default=1000, help="largest TSPLIB N that elkai also solves")
    run.set_defaults(func=_run)
    write = sub.add_parser("instance", help="write a random test instance as a TSPLIB EUC_2D file (coordinates x 1e6)")
    write.add_argument("--family", choices=("uniform", "clustered"), default="uniform")
    write.add_argument("--num-cities", type=int, default=1000, choices=sorted(RANDOM_SIZES))
    write.add_argument("--out", type=Path, required=True)
    write.set_defaults(func=_write_instance)
    report = sub.add_parser("report", help="markdown table: mean gap / mean seconds per suite and method")
    report.add_argument("files", nargs="+", type=Path)
    report.set_defaults(func=_report)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
