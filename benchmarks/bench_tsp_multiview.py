"""Multi-view decisions of the local-view TSP policy on structured validation instances.

Each decision of the greedy policy is scored in the frames of its local view
(``tinvnn.tasks.tsp.local.views.multi_view_features``): ``canonical`` (one canonical frame, the
default), ``weighted`` (``tinvnn.weighted_frames``: several frames with continuous weights where
the canonical frame's decisions are unsure) and ``fa`` (Frame Averaging over the 4 sign flips of
the canonical axes). Suites are seeded instances of ``VALIDATION_FAMILIES``
(``tinvnn.tasks.tsp.instances``; never TSPLIB): uniform, clustered, exact and jittered lattices,
drilling-like rows, clustered mixed with uniform, and clustered with duplicate cities (merged
before construction, put back after: ``tinvnn.tasks.tsp.duplicates``). The reference is elkai
(LKH-3, one run, ``reference_lengths``; cached under ``$TINVNN_CACHE``). Per instance and
mode: the greedy tour from one invariant start, then 2-opt/Or-opt/3-opt on it, with the CPU seconds
of each (one thread).

    OMP_NUM_THREADS=1 python benchmarks/bench_tsp_multiview.py run --out runs/tspview/multiview.json
    python benchmarks/bench_tsp_multiview.py report runs/tspview/multiview.json

``run --suites`` / ``--modes`` pick suites and frame modes, ``--instances`` caps the instances
per suite (a quick look), ``--checkpoint`` picks a policy other than the shipped one. ``report``
prints the markdown table and the verdict of the decision rule (:data:`RULE`).

``search`` compares improvement methods at equal CPU time from the same start (the canonical
greedy tour after 2-opt/Or-opt/3-opt), each given ``--budget`` CPU seconds per 100 cities: ``kicks``
(``improve_tour`` with double-bridge kicks, in calls of 200 kicks with new seeds until the
budget is spent), ``reconstruct`` (rounds of neural reconstruction,
``tinvnn.tasks.tsp.local.reconstruct``, each followed by 2-opt/Or-opt/3-opt) and ``both`` (one
reconstruction round, then 200 kicks, alternating)::

    OMP_NUM_THREADS=1 python benchmarks/bench_tsp_multiview.py search --out runs/tspview/search.json
    python benchmarks/bench_tsp_multiview.py report runs/tspview/search.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_tsp_local import run_metadata

from tinvnn.models.local_tsp import LocalScorer
from tinvnn.tasks.tsp.duplicates import expand_tour, merge_duplicates
from tinvnn.tasks.tsp.improve import improve_tour
from tinvnn.tasks.tsp.instances import VALIDATION_FAMILIES
from tinvnn.tasks.tsp.local.construction import construct_tours, invariant_starts
from tinvnn.tasks.tsp.local.recipe import inference_k, load_local_policy
from tinvnn.tasks.tsp.local.reconstruct import reconstruct
from tinvnn.tasks.tsp.local.views import FRAME_MODES
from tinvnn.tasks.tsp.objective import tour_length
from tinvnn.tasks.tsp.reference import reference_lengths

#: Suites: name -> (family in VALIDATION_FAMILIES, cities, instances).
SUITES: dict[str, tuple[str, int, int]] = {
    "uniform-200": ("uniform", 200, 16),
    "uniform-1000": ("uniform", 1000, 4),
    "clustered-200": ("clustered", 200, 16),
    "lattice-exact-200": ("lattice-exact", 200, 16),
    "lattice-jitter-200": ("lattice-jitter", 200, 16),
    "drilling-200": ("drilling", 200, 16),
    "mixed-200": ("mixed", 200, 16),
    "duplicates-200": ("duplicates", 200, 16),
}
#: Seeds of the validation suites (far from the training runs' seeds 0..2^16).
VALIDATION_SEED = 20_261_207
#: The rule a multi-view mode must pass to become the default (written before measuring).
RULE = {"mean_gain": 0.3, "worst_suite_loss": 0.3, "max_time_ratio": 4.0}


def suite_instances(name: str, limit: int | None = None) -> np.ndarray:
    """The instances (B, N, 2) float64 of a suite, seeded by its family and size."""
    family, cities, count = SUITES[name]
    seed = VALIDATION_SEED + 1000 * list(VALIDATION_FAMILIES).index(family) + cities
    count = count if limit is None else min(count, limit)
    generator = torch.Generator().manual_seed(seed)
    return VALIDATION_FAMILIES[family](count, cities, generator=generator, dtype=torch.float64).numpy()


def _length(coords: np.ndarray, tour: np.ndarray) -> float:
    return float(tour_length(torch.from_numpy(coords)[None], torch.from_numpy(tour)[None])[0])


def _solve(model: LocalScorer, coords: np.ndarray, k: int, frames: str) -> dict[str, float]:
    """Greedy tour (one invariant start) in ``frames``, then 2-opt/Or-opt/3-opt: lengths and CPU seconds."""
    keep, groups = merge_duplicates(coords)
    points = coords[keep]
    start = time.process_time()
    tour = construct_tours(model, points, invariant_starts(points, 1), k=k, frames=frames, threads=1)[0]
    construct = time.process_time() - start
    start = time.process_time()
    better = improve_tour(points, tour)
    improve = time.process_time() - start
    return {
        "greedy": _length(coords, expand_tour(tour, groups)),
        "improved": _length(coords, expand_tour(better, groups)),
        "construct_s": construct,
        "improve_s": improve,
    }


SEARCHES = ("kicks", "reconstruct", "both")
_KICKS_PER_CALL = 200


def _search(model: LocalScorer, points: np.ndarray, tour: np.ndarray, k: int, how: str, budget: float) -> np.ndarray:
    """Improve ``tour`` by ``how`` until ``budget`` CPU seconds have passed (each step completes)."""
    start, call = time.process_time(), 0
    while time.process_time() - start < budget:
        if how in ("reconstruct", "both"):
            tour = reconstruct(model, points, tour, k=k, rounds=1, seed=call)
        kicks = _KICKS_PER_CALL if how in ("kicks", "both") else 0
        tour = improve_tour(points, tour, kicks=kicks, seed=call)
        call += 1
    return tour


def _run_search(args: argparse.Namespace, model: LocalScorer, k: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for suite, index, coords, reference in _labelled(args.suites, args.instances):
        keep, groups = merge_duplicates(coords)
        points = coords[keep]
        tour = construct_tours(model, points, invariant_starts(points, 1), k=k, threads=1)[0]
        tour = improve_tour(points, tour)
        budget = args.budget * len(points) / 100
        gaps = []
        for how in SEARCHES:
            length = _length(coords, expand_tour(_search(model, points, tour, k, how, budget), groups))
            records.append(
                {
                    "suite": suite,
                    "instance": index,
                    "search": how,
                    "budget_s": budget,
                    "reference": reference,
                    "length": length,
                }
            )
            gaps.append(f"{how} {100 * (length / reference - 1):6.2f} %")
        print(f"{suite:<19} {index:>3}  {budget:5.1f} s  " + "  ".join(gaps), flush=True)
    return records


def _labelled(suites: list[str], count: int | None) -> Iterator[tuple[str, int, np.ndarray, float]]:
    """(suite, index, coords (N, 2), elkai's length) for the first ``count`` instances of each suite."""
    for suite in suites:
        instances = suite_instances(suite, count)
        references = reference_lengths(torch.from_numpy(instances)).numpy()
        for index, (coords, reference) in enumerate(zip(instances, references)):
            yield suite, index, coords, float(reference)


def greedy_records(
    model: LocalScorer, suites: list[str], instances: int | None, variants: dict[str, tuple[int, str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Greedy (and 2-opt/Or-opt/3-opt) tours of every labelled validation instance, one record per
    instance and variant; ``variants`` maps the label printed per line to (k, frames mode, the
    fields that name the variant in its records). Prints one line per instance."""
    records: list[dict[str, Any]] = []
    for suite, index, coords, reference in _labelled(suites, instances):
        gaps = []
        for label, (k, mode, fields) in variants.items():
            out = _solve(model, coords, k, mode)
            records.append({"suite": suite, "instance": index, **fields, "reference": reference, **out})
            gaps.append(f"{label} {100 * (out['greedy'] / reference - 1):6.2f} % {out['construct_s']:5.1f} s")
        print(f"{suite:<19} {index:>3}  " + "  ".join(gaps), flush=True)
    return records


def _run_greedy(args: argparse.Namespace, model: LocalScorer, k: int) -> list[dict[str, Any]]:
    return greedy_records(model, args.suites, args.instances, {m: (k, m, {"mode": m}) for m in args.modes})


def _run(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    model, config = load_local_policy(args.checkpoint)
    k = inference_k(args.checkpoint)
    records = (_run_greedy if args.command == "run" else _run_search)(args, model, k)
    out = {**run_metadata(args.checkpoint, config.to_dict(), k), "records": records}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out))


def summarize(records: list[dict[str, Any]], key: str = "mode") -> dict[str, dict[str, dict[str, float]]]:
    """Per suite and mode (or another field ``key`` of the records): mean greedy and 2-opt/Or-opt/3-opt
    gaps (%) and mean CPU seconds."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for suite in dict.fromkeys(r["suite"] for r in records):
        for mode in dict.fromkeys(r[key] for r in records):
            rows = [r for r in records if r["suite"] == suite and r[key] == mode]
            if rows:
                table.setdefault(suite, {})[mode] = {
                    "greedy": float(np.mean([100 * (r["greedy"] / r["reference"] - 1) for r in rows])),
                    "improved": float(np.mean([100 * (r["improved"] / r["reference"] - 1) for r in rows])),
                    "construct_s": float(np.mean([r["construct_s"] for r in rows])),
                    "count": len(rows),
                }
    return table


def verdict(
    table: dict[str, dict[str, dict[str, float]]],
    mode: str,
    *,
    baseline: str = "canonical",
    rule: dict[str, float] = RULE,
) -> str:
    """Whether ``mode`` passes ``rule`` (default :data:`RULE`) against ``baseline`` (equal weight per suite)."""
    suites = [s for s in table if mode in table[s] and baseline in table[s]]
    losses = [table[s][mode]["greedy"] - table[s][baseline]["greedy"] for s in suites]
    gain = -float(np.mean(losses))
    ratio = float(np.mean([table[s][mode]["construct_s"] / table[s][baseline]["construct_s"] for s in suites]))
    passed = gain >= rule["mean_gain"] and max(losses) <= rule["worst_suite_loss"] and ratio <= rule["max_time_ratio"]
    return (
        f"{mode}: mean greedy gain {gain:+.2f} points (rule >= {rule['mean_gain']}), worst suite "
        f"{max(losses):+.2f} (rule <= {rule['worst_suite_loss']}), time x{ratio:.2f} (rule <= "
        f"{rule['max_time_ratio']}): {'PASSES' if passed else 'fails'}"
    )


def _report_search(records: list[dict[str, Any]]) -> None:
    print("| suite | instances | CPU s per instance | " + " | ".join(SEARCHES) + " |")
    print("|---|---|---|" + "---|" * len(SEARCHES))
    means: dict[str, list[float]] = {how: [] for how in SEARCHES}
    for suite in dict.fromkeys(r["suite"] for r in records):
        cells = []
        for how in SEARCHES:
            rows = [r for r in records if r["suite"] == suite and r["search"] == how]
            means[how].append(float(np.mean([100 * (r["length"] / r["reference"] - 1) for r in rows])))
            cells.append(f"{means[how][-1]:.2f} %")
        budget = np.mean([r["budget_s"] for r in rows])
        print(f"| {suite} | {len(rows)} | {budget:.1f} | " + " | ".join(cells) + " |")
    print("| mean of suites | | | " + " | ".join(f"{np.mean(v):.2f} %" for v in means.values()) + " |")


def _report(args: argparse.Namespace) -> None:
    data = json.loads(args.path.read_text())
    if data["records"] and "search" in data["records"][0]:
        print(f"checkpoint {data['checkpoint_sha256']}, k = {data['inference_k']}, {data['date']}, {data['machine']}\n")
        _report_search(data["records"])
        return
    table = summarize(data["records"])
    modes = list(dict.fromkeys(r["mode"] for r in data["records"]))
    print(f"checkpoint {data['checkpoint_sha256']}, k = {data['inference_k']}, {data['date']}, {data['machine']}\n")
    print_table(table, modes)
    for mode in modes:
        if mode != "canonical":
            print(verdict(table, mode))


def print_table(table: dict[str, dict[str, dict[str, float]]], modes: list[str]) -> None:
    """Print a :func:`summarize` table as markdown: per suite and mode the greedy and improved gaps
    and the construction CPU seconds, then the mean of the suites."""
    head = " | ".join(f"{m} greedy | {m} +2-opt/Or-opt/3-opt | {m} s" for m in modes)
    print(f"| suite | n | instances | {head} |")
    print("|---|---|---|" + "---|" * (3 * len(modes)))
    for suite, by_mode in table.items():
        _, cities, _ = SUITES[suite]
        cells = " | ".join(
            f"{by_mode[m]['greedy']:.2f} % | {by_mode[m]['improved']:.2f} % | {by_mode[m]['construct_s']:.2f}"
            for m in modes
            if m in by_mode
        )
        print(f"| {suite} | {cities} | {int(next(iter(by_mode.values()))['count'])} | {cells} |")
    means = " | ".join(
        f"{np.mean([t[m]['greedy'] for t in table.values()]):.2f} % | "
        f"{np.mean([t[m]['improved'] for t in table.values()]):.2f} % | "
        f"{np.mean([t[m]['construct_s'] for t in table.values()]):.2f}"
        for m in modes
    )
    print(f"| mean of suites | | | {means} |\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, what in (("run", "greedy gaps per frame mode"), ("search", "improvement methods at equal CPU time")):
        run = sub.add_parser(name, help=what)
        run.add_argument("--out", type=Path, required=True)
        run.add_argument("--suites", nargs="+", choices=list(SUITES), default=list(SUITES))
        run.add_argument("--instances", type=int, default=None, help="at most this many instances per suite")
        run.add_argument("--checkpoint", default=None)
        if name == "run":
            run.add_argument("--modes", nargs="+", choices=FRAME_MODES, default=list(FRAME_MODES))
        else:
            run.add_argument("--budget", type=float, default=1.0, help="CPU seconds per 100 cities")
    report = sub.add_parser("report", help="print the table")
    report.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    _report(args) if args.command == "report" else _run(args)


if __name__ == "__main__":
    main()
