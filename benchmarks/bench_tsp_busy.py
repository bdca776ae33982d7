"""`tinvnn tsp solve` on a quiet and on a busy machine: wall and CPU time, paired.

Runs the command as a user does (a fresh process, start-up included, default settings), in
turn alone ("quiet") and beside one CPU-bound process ("busy": `python -c 'while True: pass'`,
stopped by its pid after each run), and prints the median wall and CPU seconds of each and the
median of the busy / quiet ratios pair by pair. A sequential decoder that spins extra threads
shows up as CPU time growing when busy.

    python benchmarks/bench_tsp_busy.py instance --num-cities 657 --out runs/tsp/rand657.tsp
    python benchmarks/bench_tsp_busy.py run $TINVNN_DATA/tsplib/ch150.tsp runs/tsp/rand657.tsp --runs 3
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def write_instance(num_cities: int, out: Path, seed: int) -> Path:
    """A random EUC_2D instance: ``num_cities`` uniform in [0, 10000)^2, one decimal."""
    coords = np.random.default_rng(seed).uniform(0, 10_000, (num_cities, 2)).round(1)
    lines = [f"NAME : rand{num_cities}", "TYPE : TSP", f"DIMENSION : {num_cities}", "EDGE_WEIGHT_TYPE : EUC_2D"]
    lines += ["NODE_COORD_SECTION", *(f"{i + 1} {x} {y}" for i, (x, y) in enumerate(coords.tolist())), "EOF"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return out


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_solve(instance: Path, *, busy: bool, extra: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one `tinvnn tsp solve` process; CPU excludes the spinning process."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        cpu, start = _children_cpu(), time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "tinvnn", "tsp", "solve", str(instance), *extra],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - start, _children_cpu() - cpu
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("instance", help="write a random EUC_2D instance")
    inst.add_argument("--num-cities", type=int, default=657)
    inst.add_argument("--seed", type=int, default=657)
    inst.add_argument("--out", type=Path, required=True)
    run = sub.add_parser("run", help="time tsp solve quiet and busy, in turn")
    run.add_argument("instances", type=Path, nargs="+")
    run.add_argument("--runs", type=int, default=3, help="pairs per instance (after one warm-up pair)")
    run.add_argument("--solve-args", default="", help="extra flags for tsp solve, one string")
    args = parser.parse_args()
    if args.command == "instance":
        print(write_instance(args.num_cities, args.out, args.seed))
        return
    extra = args.solve_args.split()
    print("| instance | quiet: wall / CPU | busy: wall / CPU | busy / quiet (paired): wall, CPU |")
    print("| --- | --- | --- | --- |")
    for instance in args.instances:
        time_solve(instance, busy=True, extra=extra)
        time_solve(instance, busy=False, extra=extra)
        pairs = [
            (time_solve(instance, busy=True, extra=extra), time_solve(instance, busy=False, extra=extra))
            for _ in range(args.runs)
        ]
        med = statistics.median
        quiet_wall, quiet_cpu = med(q[0] for _, q in pairs), med(q[1] for _, q in pairs)
        busy_wall, busy_cpu = med(b[0] for b, _ in pairs), med(b[1] for b, _ in pairs)
        ratio_wall, ratio_cpu = med(b[0] / q[0] for b, q in pairs), med(b[1] / q[1] for b, q in pairs)
        print(
            f"| {instance.name} | {quiet_wall:.1f} s / {quiet_cpu:.2f} s | {busy_wall:.1f} s / {busy_cpu:.2f} s "
            f"| {ratio_wall:.2f}x, {ratio_cpu:.2f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
