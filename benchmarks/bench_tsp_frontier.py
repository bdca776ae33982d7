"""TSP at the frontier: gap, seconds and peak memory per method on TSPLIB and on 10K-100K cities.

Bands: TSPLIB 51-150 cities (``$TINVNN_DATA/tsplib``), TSPLIB 1,060-5,934 (``$TINVNN_DATA/tsplib-large``)
and generated instances of 10,000 / 30,000 / 100,000 cities, uniform and clustered
(``tinvnn.tasks.tsp.instances``, seeded, written as TSPLIB EUC_2D files of coordinates x 1e6 by
``instances``). Rows (``ROWS``):

* the classical constructions of ``bench_tsp_local.py`` (nearest neighbour, greedy edge, random
  insertion; random insertion is O(N^2) time and runs up to ``--insertion-max`` cities);
* the local-view policy, greedy (one invariant start, no search);
* the policy + search at budgets of N/1000, N/200 and N/100 CPU seconds (and at N/100 with the
  nearest-neighbour candidate lists alone, ``tsp solve --candidates nearest``): the search of
  ``tinvnn.tsp.solve(time_limit=...)`` (2-opt/Or-opt/3-opt, then kicks until the deadline) from the
  greedy construction, with the deadline on the CPU clock (``improve_tour(clock=time.process_time)``;
  on a shared machine a wall-clock budget would measure the other processes); the budget counts
  from the start of the construction, which always completes, and includes the search's neighbour
  lists (a budget shorter than both gives the construction's tour, marked ``exceeded``); one
  construction and one set of neighbour lists serve every budget and the default search;
* the default of ``tinvnn tsp solve`` (``auto_decoding(N)``: multistart up to 500 cities, then
  greedy; 2-opt/Or-opt/3-opt + ``clip(N, 1000, 10000)`` kicks);
* elkai (LKH-3.0.8) at elkai's default (``Coordinates2D(...).solve_tsp()``: RUNS = 10, LKH's
  defaults otherwise; up to ``--elkai-default-max`` cities) and at the matched budget N/100 s
  (RUNS = 1, TIME_LIMIT = TOTAL_TIME_LIMIT = N/100, CPU seconds for LKH; POPMUSIC candidates
  from ``--popmusic-from`` cities, since LKH's default alpha candidates need an O(N^2)-time
  ascent that no time limit stops). LKH reads the coordinates in the instance's own metric (EUC_2D, CEIL_2D, ...): no
  N x N matrix.

Every (instance, method) runs in a forked child process: its peak resident memory
(``ru_maxrss``, which includes the parent's ~0.3 GiB of Python, torch, the model and the
compiled search loop, loaded before the children fork, shared copy-on-write), its CPU seconds
(the load of a shared machine shows in wall seconds, not in CPU seconds) and its wall seconds
are recorded. The policy rows of one instance share one child
(one construction): their peak memory is the child's peak up to that row. Gaps: TSPLIB against
the published optimum in the file's metric; generated instances against the best length any
row found (stated as such in the report; no optimum is known).

    python benchmarks/bench_tsp_frontier.py instances --out-dir runs/tsp_frontier/instances
    OMP_NUM_THREADS=1 python benchmarks/bench_tsp_frontier.py run --bands tsplib --out runs/tsp_frontier/a.json
    OMP_NUM_THREADS=1 python benchmarks/bench_tsp_frontier.py run --bands generated \\
        --generated runs/tsp_frontier/instances --sizes 10000 --out runs/tsp_frontier/c.json
    python benchmarks/bench_tsp_frontier.py report runs/tsp_frontier/*.json

``run`` appends to ``--out`` after every method and skips what it holds already (resume).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import resource
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_tsp_local import HEURISTICS, Case, _cases  # noqa: E402

from tinvnn._io import atomic_write  # noqa: E402
from tinvnn.tasks.tsp.improve import DEFAULT_NEIGHBOURS, improve_tour, load_compiled_search  # noqa: E402
from tinvnn.tasks.tsp.instances import TEST_SEED, clustered_instances, uniform_instances  # noqa: E402
from tinvnn.tasks.tsp.local.recipe import inference_k, load_local_policy  # noqa: E402
from tinvnn.tasks.tsp.local.solver import CANDIDATES, LocalDecoding, auto_decoding, solve_local  # noqa: E402
from tinvnn.tasks.tsp.tsplib import (  # noqa: E402
    TSPLIBInstance,
    improvement_matrix,
    read_tsplib,
    tour_length_tsplib,
    write_tsplib,
)

BANDS = ("tsplib", "tsplib-large", "generated")
SIZES = (10_000, 30_000, 100_000)
FAMILIES = {"uniform": uniform_instances, "clustered": clustered_instances}
#: Search budgets in seconds per city: N/1000, N/200, N/100 s.
BUDGETS = {"N/1000 s": 1e-3, "N/200 s": 5e-3, "N/100 s": 1e-2}
ELKAI_MATCHED = "N/100 s"
#: The search rows: (CPU seconds per city, candidate lists of ``tinvnn.tasks.tsp.local.solver.CANDIDATES``).
SEARCHES = {f"policy + search, {b}": (per_city, "delaunay") for b, per_city in BUDGETS.items()}
SEARCHES[f"policy + search, {ELKAI_MATCHED}, nearest candidates"] = (BUDGETS[ELKAI_MATCHED], "nearest")
ROWS = (
    "nearest neighbour",
    "greedy edge",
    "random insertion",
    "policy greedy",
    *SEARCHES,
    "policy default (tsp solve)",
    "elkai (LKH-3) default",
    f"elkai (LKH-3), {ELKAI_MATCHED}",
)
#: Published figures (issue 23's anchors; not measured here), mean gap % on comparable bands.
ANCHORS = (
    "Published, not measured here (issue 23's sources): on 228 real instances <1K / 1K-10K / 10K-100K cities, "
    "greedy neural solvers L2R 5.89 / 9.22 / 8.52 %, INViT 7.93 / 12.08 / 11.52 %, SIL 8.64 / 9.83 / 11.11 %; "
    "nearest neighbour 25.3 %, random insertion 10.6 / 15.3 / 16.4 %; with search DRHG 0.10 / 1.46 / 4.46 % "
    "(770-3,000 s per instance), SIL + parallel reconstruction 0.80 / 2.58 / 4.55 %, LKH-3 0.00 / 0.01 / 0.08 % "
    "at n/3 s. TTPL (NeurIPS 2025) on the 33 TSPLIB instances above 1,000 cities: 3.81 % (1K-5K) / 4.05 % (>5K) "
    "greedy, 1.04 / 2.12 % with 1,000 rounds of reconstruction; uniform greedy 1K / 5K / 10K / 100K: TTPL "
    "2.26 / 2.86 / 2.39 / 2.56 %, INViT 6.66 / 6.90 / 7.07 / 7.20 %."
)


def _peak_mib() -> float:
    """This process's peak resident memory in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _in_child(work: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Run ``work`` in a forked child (its own peak memory) and return its records; one
    ``{"error": ...}`` record when ``work`` raised or the child died without a result."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def target() -> None:
        torch.set_num_threads(1)
        try:
            send.send(work())
        except BaseException as err:  # noqa: BLE001 - reported to the parent, which records it
            send.send([{"error": f"{type(err).__name__}: {err}"}])

    child = context.Process(target=target)
    child.start()
    send.close()  # no copy of the child's end here: recv raises EOFError if the child dies without sending
    try:
        records: list[dict[str, Any]] | None = receive.recv()
    except EOFError:  # killed (the OOM killer) or crashed (in LKH's C code)
        records = None
    child.join()
    receive.close()
    return records if records is not None else [{"error": f"the child exited with code {child.exitcode}, no result"}]


class _Clock:
    """Wall and CPU seconds since creation."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def elapsed(self) -> tuple[float, float]:
        """(wall, CPU) seconds so far."""
        return time.perf_counter() - self.wall, time.process_time() - self.cpu

    def row(self, method: str, tour: np.ndarray, **extra: Any) -> dict[str, Any]:
        wall, cpu = self.elapsed()
        return {"method": method, "tour": tour, "seconds": wall, "cpu_seconds": cpu, "peak_mib": _peak_mib(), **extra}


def _heuristic(name: str, case: Case) -> Callable[[], list[dict[str, Any]]]:
    def work() -> list[dict[str, Any]]:
        clock = _Clock()
        return [clock.row(name, HEURISTICS[name](case.coords))]

    return work


def _policy(
    case: Case, checkpoint: Path | None, methods: tuple[str, ...], *, default_separately: bool
) -> Callable[[], list[dict[str, Any]]]:
    """One construction, then a search per budget (CPU seconds) from it, and the default search
    when it starts from the same greedy construction (above 500 cities); only rows in ``methods``."""

    def work() -> list[dict[str, Any]]:
        model, _ = load_local_policy(checkpoint)
        k, n = inference_k(checkpoint), len(case.coords)
        clock = _Clock()
        built = solve_local(model, case.coords, k=k, decoding=LocalDecoding("greedy", improve=False), dist=case.dist)
        rows = [clock.row("policy greedy", built.tour)]
        lists: dict[str, tuple[np.ndarray, float, float]] = {}  # kind: (lists, wall, CPU seconds)
        for name, (per_city, kind) in SEARCHES.items():
            if kind not in lists and (kind == "delaunay" or name in methods):
                timer = _Clock()
                near = CANDIDATES[kind](case.coords, DEFAULT_NEIGHBOURS, case.dist)
                lists[kind] = (near, *timer.elapsed())
            if name not in methods:
                continue
            near, lists_wall, lists_cpu = lists[kind]
            # before the search: the construction and the search's candidate lists
            wall, spent = rows[0]["seconds"] + lists_wall, rows[0]["cpu_seconds"] + lists_cpu
            limit = per_city * n
            search = _Clock()
            if spent >= limit:
                tour = built.tour
            else:
                deadline = search.cpu + limit - spent
                tour = improve_tour(
                    case.coords,
                    built.tour,
                    dist=case.dist,
                    near=near,
                    kicks=None,
                    deadline=deadline,
                    clock=time.process_time,
                )
            row = search.row(name, tour, budget_cpu_seconds=limit, exceeded=spent >= limit)
            row["seconds"] += wall
            row["cpu_seconds"] += spent
            rows.append(row)
        near, lists_wall, lists_cpu = lists["delaunay"]
        wall, spent = rows[0]["seconds"] + lists_wall, rows[0]["cpu_seconds"] + lists_cpu
        if not default_separately and "policy default (tsp solve)" in methods:
            search = _Clock()
            kicks = auto_decoding(n).kicks
            better = improve_tour(case.coords, built.tour, dist=case.dist, near=near)
            tour = improve_tour(case.coords, better, dist=case.dist, near=near, kicks=kicks)
            row = search.row("policy default (tsp solve)", tour, kicks=kicks)
            row["seconds"] += wall
            row["cpu_seconds"] += spent
            rows.append(row)
        return rows

    return work


def _policy_default(case: Case, checkpoint: Path | None) -> Callable[[], list[dict[str, Any]]]:
    def work() -> list[dict[str, Any]]:
        model, _ = load_local_policy(checkpoint)
        clock = _Clock()
        solution = solve_local(model, case.coords, k=inference_k(checkpoint), dist=case.dist)
        return [clock.row("policy default (tsp solve)", solution.tour, decoding=solution.method)]

    return work


def _lkh_problem(instance: TSPLIBInstance) -> str:
    """The instance as LKH's TSPLIB text (coordinates in the file's own metric)."""
    lines = [
        "TYPE : TSP",
        f"DIMENSION : {instance.num_cities}",
        f"EDGE_WEIGHT_TYPE : {instance.edge_weight_type}",
        "NODE_COORD_SECTION",
    ]
    lines += [f"{i + 1} {x!r} {y!r}" for i, (x, y) in enumerate(instance.xy().tolist())]
    return "\n".join(lines) + "\nEOF\n"


def _elkai(
    instance: TSPLIBInstance, method: str, parameters: dict[str, Any] | None
) -> Callable[[], list[dict[str, Any]]]:
    """elkai's public default (``Coordinates2D(...).solve_tsp()``: RUNS = 10), or LKH through
    elkai's entry point ``_elkai.solve_problem`` with ``parameters`` (elkai's API has no time limit)."""

    def work() -> list[dict[str, Any]]:
        from elkai import _elkai

        clock = _Clock()
        settings = {"RUNS": 10} if parameters is None else parameters
        text = "PROBLEM_FILE = :stdin:\n" + "".join(f"{key} = {value}\n" for key, value in settings.items())
        tour = np.asarray(_elkai.solve_problem(text, _lkh_problem(instance)), dtype=np.int64) - 1
        return [clock.row(method, tour, parameters=settings)]

    return work


def generated_instance(family: str, n: int) -> TSPLIBInstance:
    """The generated test instance of ``family`` and size n: coordinates in [0, 1e6]^2 (EUC_2D)."""
    generator = torch.Generator().manual_seed(TEST_SEED + 7 * n + (1 if family == "clustered" else 0))
    coords = FAMILIES[family](1, n, generator=generator, dtype=torch.float64)[0].numpy()
    return TSPLIBInstance(f"{family}{n}", np.round(coords * 1e6, 3), "EUC_2D", "bench_tsp_frontier instance")


def _instances(args: argparse.Namespace) -> None:
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for family in FAMILIES:
        for n in args.sizes:
            path = write_tsplib(generated_instance(family, n), args.out_dir / f"{family}{n}.tsp")
            print(path)


def _band_cases(band: str, args: argparse.Namespace) -> list[tuple[Case, TSPLIBInstance]]:
    """(case, instance) pairs of a band; the instance is what LKH reads."""
    if band in ("tsplib", "tsplib-large"):
        cases = _cases(band, args.names)
        from tinvnn.paths import data_dir

        files = {read_tsplib(f).name: read_tsplib(f) for f in sorted((data_dir() / band).glob("*.tsp"))}
        return [(c, files[c.label]) for c in cases]
    out = []
    for family in args.families:
        for n in args.sizes:
            instance = read_tsplib(args.generated / f"{family}{n}.tsp")
            coords = instance.xy()
            case = Case(
                instance.name,
                coords,
                lambda t, i=instance: tour_length_tsplib(i, t),
                None,
                lambda: np.zeros(0, dtype=np.int64),
                improvement_matrix(instance),
            )
            out.append((case, instance))
    return out


def _jobs(
    case: Case, instance: TSPLIBInstance, args: argparse.Namespace
) -> list[tuple[tuple[str, ...], Callable[[], list[dict[str, Any]]]]]:
    """(methods it records, work) for one instance."""
    n = len(case.coords)
    jobs: list[tuple[tuple[str, ...], Callable[[], list[dict[str, Any]]]]] = [
        ((name,), _heuristic(name, case))
        for name in ("nearest neighbour", "greedy edge", "random insertion")
        if name != "random insertion" or n <= args.insertion_max
    ]
    separately = auto_decoding(n).decode != "greedy"
    policy_rows = ("policy greedy", *SEARCHES)
    policy_rows += () if separately else ("policy default (tsp solve)",)
    chosen = tuple(m for m in policy_rows if m in args.methods)
    jobs.append((chosen, _policy(case, args.checkpoint, chosen, default_separately=separately)))
    if separately:
        jobs.append((("policy default (tsp solve)",), _policy_default(case, args.checkpoint)))
    if n <= args.elkai_default_max:
        jobs.append((("elkai (LKH-3) default",), _elkai(instance, "elkai (LKH-3) default", None)))
    limit = BUDGETS[ELKAI_MATCHED] * n
    matched: dict[str, Any] = {"RUNS": 1, "TIME_LIMIT": limit, "TOTAL_TIME_LIMIT": limit}
    if n >= args.popmusic_from:
        matched["CANDIDATE_SET_TYPE"] = "POPMUSIC"
    method = f"elkai (LKH-3), {ELKAI_MATCHED}"
    jobs.append(((method,), _elkai(instance, method, matched)))
    return jobs


def _save(path: Path, out: dict[str, Any]) -> None:
    text = json.dumps(out).encode()
    atomic_write(path, lambda handle: handle.write(text))


def _run(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    load_compiled_search()  # in the parent, like torch: the children's budgets time the search, not its loading
    out: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {"records": []}
    out.setdefault("runs", []).append(
        {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, torch {torch.__version__}, 1 thread per process",
            "parent_peak_mib": _peak_mib(),
            "argv": sys.argv[1:],
        }
    )
    done = {(r["instance"], r["method"]) for r in out["records"]}
    for band in args.bands:
        for case, instance in _band_cases(band, args):
            for methods, work in _jobs(case, instance, args):
                if not set(methods) & set(args.methods) or all((case.label, m) in done for m in methods):
                    continue
                for row in _in_child(work):
                    if "error" in row:
                        print(f"{case.label} {methods}: {row['error']}", flush=True)
                        continue
                    if (case.label, row["method"]) in done or row["method"] not in args.methods:
                        continue  # a row the job makes anyway (the policy's construction): recorded or not asked for
                    done.add((case.label, row["method"]))
                    tour = row.pop("tour")
                    length = case.measure(tour)
                    record = {"band": band, "instance": case.label, "n": len(case.coords), "length": length}
                    record |= {"optimum": case.optimum, **row}
                    out["records"].append(record)
                    print(
                        f"{band:<12} {case.label:<16} {row['method']:<32} {length:>14.0f} {row['seconds']:8.1f} s "
                        f"{row['cpu_seconds']:8.1f} cpu s {row['peak_mib']:7.0f} MiB",
                        flush=True,
                    )
                _save(args.out, out)


def _gaps(records: list[dict[str, Any]]) -> None:
    """Set ``gap`` and ``reference``: the optimum, else the best length of any row on the instance."""
    best: dict[str, float] = {}
    for r in records:
        best[r["instance"]] = min(best.get(r["instance"], np.inf), r["length"])
    for r in records:
        r["reference"] = r["optimum"] if r["optimum"] is not None else best[r["instance"]]
        r["gap"] = 100.0 * (r["length"] / r["reference"] - 1.0)


def _band(r: dict[str, Any]) -> str:
    if r["band"] == "tsplib":
        return "TSPLIB 51-150"
    if r["band"] == "tsplib-large":
        return "TSPLIB 1,060-5,934"
    return f"{r['instance'].rstrip('0123456789')} {r['n']:,}"


def _latest(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last record of each (band, instance, method), in the order of their first records
    (files written before resuming skipped done rows may hold a row twice)."""
    return list({(r["band"], r["instance"], r["method"]): r for r in records}.values())


def _report(args: argparse.Namespace) -> None:
    records = _latest([r for f in args.files for r in json.loads(Path(f).read_text())["records"]])
    _gaps(records)
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(_band(r), []).append(r)
    for key, rs in groups.items():
        count = len({r["instance"] for r in rs})
        reference = "optimum" if rs[0]["optimum"] is not None else "best length of any row (no optimum known)"
        print(f"\n**{key}** ({count} instance{'s' if count > 1 else ''}; gap against the {reference})\n")
        print("| method | gap % | CPU s | wall s | peak MiB | notes |")
        print("| --- | ---: | ---: | ---: | ---: | --- |")
        for method in ROWS:
            mine = [r for r in rs if r["method"] == method]
            if not mine:
                continue
            notes = []
            exceeded = sum(bool(r.get("exceeded")) for r in mine)
            if exceeded:
                notes.append(f"construction and neighbour lists exceed the budget on {exceeded} of {len(mine)}")
            if len(mine) < count:
                notes.append(f"{len(mine)} of {count} instances")
            gap, cpu = np.mean([r["gap"] for r in mine]), np.mean([r["cpu_seconds"] for r in mine])
            wall, peak = np.mean([r["seconds"] for r in mine]), max(r["peak_mib"] for r in mine)
            print(f"| {method} | {gap:.2f} | {cpu:.1f} | {wall:.1f} | {peak:.0f} | {'; '.join(notes)} |")
    _scale(records)
    print(f"\n{ANCHORS}")


def _scale(records: list[dict[str, Any]]) -> None:
    """Per generated instance: the policy's construction alone and the default solve (CPU s, peak MiB)."""
    mine = {(r["instance"], r["method"]): r for r in records if r["band"] == "generated"}
    names = sorted({i for i, _ in mine}, key=lambda i: (next(r["n"] for (j, _), r in mine.items() if j == i), i))
    rows = [i for i in names if (i, "policy greedy") in mine]
    if not rows:
        return
    print("\n**Scale: the local policy on one thread** (CPU s; peak resident MiB of the process)\n")
    print("| instance | construction CPU s | ms per city | peak MiB | default solve CPU s | peak MiB | search gain % |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for i in rows:
        built, solved = mine[(i, "policy greedy")], mine.get((i, "policy default (tsp solve)"))
        cells = ["-", "-", "-"]
        if solved is not None:
            gain = 100.0 * (1.0 - solved["length"] / built["length"])
            cells = [f"{solved['cpu_seconds']:.1f}", f"{solved['peak_mib']:.0f}", f"{gain:.2f}"]
        per_city = 1e3 * built["cpu_seconds"] / built["n"]
        print(
            f"| {i} | {built['cpu_seconds']:.1f} | {per_city:.2f} | {built['peak_mib']:.0f} | "
            + " | ".join(cells)
            + " |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("instances", help="write the generated instances as TSPLIB EUC_2D files")
    make.add_argument("--out-dir", type=Path, required=True)
    make.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    make.set_defaults(func=_instances)
    run = sub.add_parser("run", help="solve the bands' instances; append the records to --out (resumes)")
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--bands", nargs="+", choices=BANDS, default=list(BANDS))
    run.add_argument("--names", nargs="*", default=None, help="subset of the tsplib-large instances")
    run.add_argument("--generated", type=Path, default=None, help="directory of the `instances` files")
    run.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="generated sizes to run")
    run.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES), help="generated families")
    run.add_argument("--checkpoint", type=Path, default=None)
    run.add_argument("--methods", nargs="+", choices=ROWS, default=list(ROWS), metavar="METHOD", help="rows to run")
    run.add_argument("--insertion-max", type=int, default=10_000, help="largest N with random insertion")
    run.add_argument("--elkai-default-max", type=int, default=200, help="largest N with elkai's default")
    run.add_argument("--popmusic-from", type=int, default=5_000, help="smallest N with POPMUSIC candidates")
    run.set_defaults(func=_run)
    report = sub.add_parser("report", help="markdown tables: mean gap, CPU and wall seconds, peak memory per band")
    report.add_argument("files", nargs="+", type=Path)
    report.set_defaults(func=_report)
    args = parser.parse_args()
    if args.command == "run" and "generated" in args.bands and args.generated is None:
        parser.error("--bands generated needs --generated DIR (written by the instances command)")
    args.func(args)


if __name__ == "__main__":
    main()
