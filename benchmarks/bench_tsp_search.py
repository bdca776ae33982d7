"""The improvement step's moves at a fixed CPU budget, on the own validation families (issue 23).

Instances: ``--per-family`` seeded instances of ``--cities`` cities of each structured
validation family (``tinvnn.tasks.tsp.instances.VALIDATION_FAMILIES`` but ``duplicates``; seeds
far from the training and multi-view seeds; never TSPLIB). Each starts from its greedy-edge tour
and runs ``improve_tour(kicks=None)`` until a deadline of ``--budget`` x N CPU seconds
(``time.process_time``: a shared machine's load does not shrink the budget) with each variant:

* ``2-opt + Or-opt``: ``three_opt=False``, the 10 nearest cities as candidates (the search
  before issue 23's search work);
* ``2-opt + Or-opt + 3-opt``: ``three_opt=True``, the same candidates;
* ``2-opt + Or-opt + 3-opt, Delaunay``: ``three_opt=True``, candidates from
  ``candidate_lists`` (the 10 nearest and up to 6 Delaunay neighbours);

both through the compiled loop when numba is installed (``--python``: the Python loop, about 30
times slower). Gaps: against LKH-3 (elkai, one run, integer distances at 1e6 precision) or the
best length any variant found, whichever is shorter.

The rule, written before the runs: each variant replaces the one before it as the default when
it lowers the mean gap over all instances by at least 0.1 points and no family's mean gap rises
by more than 0.1 points. (The Delaunay variant was added after the first two had run, when the
drilling family's tours came out identical under both: none of their candidates joins two rows.)
It failed that rule (clustered +0.19, mixed +0.24 points) by margins the default's own spread
over kick seeds reaches (up to 0.17 points per instance). A second test, written before it ran:
``--draw 1 --per-family 4 --no-lkh --variants`` the two 3-opt variants, on instances never used
before, the same rule (gaps to the better of the two rows); Delaunay candidates become the
default only if they pass it.

    OMP_NUM_THREADS=1 python benchmarks/bench_tsp_search.py run --out runs/tsp_search/validation.json
    python benchmarks/bench_tsp_search.py report runs/tsp_search/validation.json
    OMP_NUM_THREADS=1 python benchmarks/bench_tsp_search.py speed

``speed`` times the two loops in one process, in turn, on uniform instances from their
greedy-edge tours with a fixed number of kicks (CPU seconds), and checks that they return the
same tour.

``run`` appends to ``--out`` after every row and skips what it holds already (resume).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tinvnn import _fast
from tinvnn.tasks.tsp.heuristics import euclidean_matrix, greedy_edge_tour
from tinvnn.tasks.tsp.improve import DEFAULT_NEIGHBOURS, candidate_lists, improve_tour, neighbour_lists
from tinvnn.tasks.tsp.instances import VALIDATION_FAMILIES
from tinvnn.tasks.tsp.reference import lkh_tour

FAMILIES = tuple(name for name in VALIDATION_FAMILIES if name != "duplicates")
#: variant: (three_opt, Delaunay candidates)
VARIANTS = {
    "2-opt + Or-opt": (False, False),
    "2-opt + Or-opt + 3-opt": (True, False),
    "2-opt + Or-opt + 3-opt, Delaunay": (True, True),
}
SEARCH_SEED = 20_261_208  # instance seeds: this + 1000 * family index + cities
RULE = {"mean_gain": 0.1, "worst_family_loss": 0.1}


def family_instances(family: str, cities: int, count: int, draw: int = 0) -> np.ndarray:
    """(count, cities, 2) float64 instances of a validation family, seeded by family, size and
    ``draw`` (another draw: other instances of the same family)."""
    generator = torch.Generator().manual_seed(SEARCH_SEED + 100_000 * draw + 1000 * FAMILIES.index(family) + cities)
    return VALIDATION_FAMILIES[family](count, cities, generator=generator, dtype=torch.float64).numpy()


def _length(coords: np.ndarray, tour: np.ndarray) -> float:
    return float(np.hypot(*(coords[tour] - coords[np.roll(tour, -1)]).T).sum())


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    data: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {"rows": []}
    data["settings"] = {
        "cities": args.cities,
        "per_family": args.per_family,
        "budget_per_city": args.budget,
        "loop": "python" if args.python else "compiled",
        "draw": args.draw,
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
    }
    done = {(r["family"], r["instance"], r["variant"]) for r in data["rows"]}
    _fast.FAST_KERNELS = not args.python
    for family in args.families:
        for index, coords in enumerate(family_instances(family, args.cities, args.per_family, args.draw)):
            start = greedy_edge_tour(coords)
            key = (family, index)
            if args.lkh and (*key, "LKH-3 (one run)") not in done:
                began = time.process_time()
                tour = lkh_tour(euclidean_matrix(coords))
                _append(data, out, family, index, "LKH-3 (one run)", _length(coords, tour), time.process_time() - began)
            for variant, (three_opt, delaunay) in VARIANTS.items():
                if (*key, variant) in done or variant not in args.variants:
                    continue
                began = time.process_time()
                lists = candidate_lists if delaunay else neighbour_lists
                tour = improve_tour(
                    coords,
                    start,
                    near=lists(coords, DEFAULT_NEIGHBOURS),
                    kicks=None,
                    deadline=began + args.budget * len(coords),
                    clock=time.process_time,
                    three_opt=three_opt,
                )
                _append(data, out, family, index, variant, _length(coords, tour), time.process_time() - began)


def _append(data: dict[str, Any], out: Path, family: str, index: int, variant: str, length: float, cpu: float) -> None:
    row = {"family": family, "instance": index, "variant": variant, "length": length, "cpu_seconds": cpu}
    row["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    data["rows"].append(row)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(out)
    print(f"{family:<15} {index} {variant:<24} {length:.6f} {cpu:.1f} s", flush=True)


def report(args: argparse.Namespace) -> None:
    data = json.loads(Path(args.path).read_text())
    best: dict[tuple[str, int], float] = {}
    for r in data["rows"]:
        key = (r["family"], r["instance"])
        best[key] = min(best.get(key, np.inf), r["length"])
    gaps: dict[str, dict[str, list[float]]] = {}
    for r in data["rows"]:
        gap = 100 * (r["length"] / best[(r["family"], r["instance"])] - 1)
        gaps.setdefault(r["variant"], {}).setdefault(r["family"], []).append(gap)
    families = sorted({r["family"] for r in data["rows"]}, key=FAMILIES.index)
    print(f"settings: {data['settings']}")
    print("| variant | " + " | ".join(families) + " | mean |")
    print("|---" * (len(families) + 2) + "|")
    means: dict[str, dict[str, float]] = {}
    for variant, per_family in gaps.items():
        means[variant] = {f: float(np.mean(per_family[f])) for f in families if f in per_family}
        overall = float(np.mean([g for f in families for g in per_family.get(f, [])]))
        means[variant]["all"] = overall
        cells = " | ".join(f"{means[variant].get(f, float('nan')):.2f}" for f in families)
        print(f"| {variant} | {cells} | {overall:.2f} |")
    names = [v for v in VARIANTS if v in means]
    for before, after in zip(names, names[1:]):
        old, new = means[before], means[after]
        gain = old["all"] - new["all"]
        worst = max(new[f] - old[f] for f in families if f in old and f in new)
        passed = gain >= RULE["mean_gain"] and worst <= RULE["worst_family_loss"]
        verdict = "passes" if passed else "fails"
        print(f"{after} vs {before}: mean gain {gain:+.2f} points, worst family loss {worst:+.2f}: {verdict} {RULE}")


def speed(args: argparse.Namespace) -> None:
    print("| cities | kicks | Python loop CPU s | compiled loop CPU s | ratio | same tour |")
    print("|---|---|---|---|---|---|")
    for cities in args.cities:
        coords = np.random.default_rng(cities).random((cities, 2))
        start = greedy_edge_tour(coords)
        tours, seconds = [], []
        for fast in (False, True, False, True):  # in turn; the second pair counts (the first compiles)
            _fast.FAST_KERNELS = fast
            began = time.process_time()
            tours.append(improve_tour(coords, start, kicks=args.kicks, seed=1))
            seconds.append(time.process_time() - began)
        same = all(np.array_equal(tours[0], t) for t in tours)
        ratio = seconds[2] / seconds[3]
        print(f"| {cities} | {args.kicks} | {seconds[2]:.2f} | {seconds[3]:.3f} | {ratio:.0f}x | {same} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="measure the variants (resumes)")
    p.add_argument("--out", required=True)
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument("--cities", type=int, default=2000)
    p.add_argument("--per-family", type=int, default=2)
    p.add_argument("--budget", type=float, default=0.01, help="CPU seconds per city (default N/100 s)")
    p.add_argument("--python", action="store_true", help="the Python loop instead of the compiled one")
    p.add_argument("--draw", type=int, default=0, help="another draw of instances (1, 2, ...: other seeds)")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), metavar="VARIANT")
    p.add_argument("--no-lkh", dest="lkh", action="store_false", help="no LKH-3 reference (gaps to the best row)")
    p.set_defaults(func=run)
    p = sub.add_parser("speed", help="time the Python and the compiled loop on the same search")
    p.add_argument("--cities", type=int, nargs="+", default=[1000, 5000])
    p.add_argument("--kicks", type=int, default=5000)
    p.set_defaults(func=speed)
    p = sub.add_parser("report", help="print the table and the rule's verdict")
    p.add_argument("path")
    p.set_defaults(func=report)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
