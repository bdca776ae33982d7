"""CLI sub-commands of the TSP task: ``tinvnn tsp train|eval|solve``.

Parsing only; the work is done by ``tinvnn.tasks.tsp``.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path

from tinvnn.cli._run import add_run_arguments, run_options
from tinvnn.training import BEST, LAST, add_arguments, from_args

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``tsp`` and its sub-commands ``train``, ``eval``, ``solve`` to the tinvnn parser."""
    from tinvnn.tasks.tsp.policy import DECODINGS
    from tinvnn.tasks.tsp.reinforce import TrainConfig
    from tinvnn.tasks.tsp.transforms import TRANSFORMS
    from tinvnn.tasks.tsp.variants import VARIANTS

    tsp = sub.add_parser("tsp", help="neural TSP solver (attention model, REINFORCE with POMO baseline)")
    tsp_sub = tsp.add_subparsers(dest="tsp_command", metavar="TSP_COMMAND", required=True)

    train = tsp_sub.add_parser("train", help="train a policy on random uniform TSP instances (REINFORCE, POMO baseline)")
    add_arguments(train, TrainConfig)
    add_run_arguments(train, out="runs/tsp")
    train.set_defaults(func=_train)

    def policy_options(p: argparse.ArgumentParser, default_decode: str) -> None:
        p.add_argument("--checkpoint", type=Path, default=None, help="policy checkpoint (default: the shipped tsp20_tinv.pt)")
        p.add_argument(
            "--variant", choices=VARIANTS, default=None,
            help="input variant (default: the checkpoint's; pomo8 needs a unit checkpoint, tinv8 a tinv one)",
        )
        p.add_argument("--decode", choices=DECODINGS, default=default_decode)
        p.add_argument("--samples", type=int, default=1, help="sampled rollouts per start city (--decode sample)")
        p.add_argument("--two-opt", action="store_true", help="refine each tour with 2-opt")
        p.add_argument("--seed", type=int, default=0, help="seed of transformations and sampling")
        p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")

    evaluate = tsp_sub.add_parser("eval", help="optimality gaps on a random test set or TSPLIB files")
    policy_options(evaluate, "greedy")
    evaluate.add_argument("--tsplib", type=Path, default=None, help="directory of .tsp files (+ solutions.txt)")
    evaluate.add_argument("--num-cities", type=int, default=None, help="test-set size (default: the checkpoint's)")
    evaluate.add_argument("--num", type=int, default=None, help="test instances (default: the fixed set's size)")
    evaluate.add_argument(
        "--transform", choices=list(TRANSFORMS), nargs="+", default=["identity"], help="transformed copies to evaluate"
    )
    evaluate.set_defaults(func=_eval)

    solve = tsp_sub.add_parser("solve", help="solve one TSPLIB file, print the tour and save a plot")
    solve.add_argument("file", type=Path, help="a TSPLIB .tsp file")
    policy_options(solve, "multistart")
    solve.add_argument("--optimum", type=float, default=None, help="known optimal length (default: solutions.txt beside FILE)")
    solve.add_argument("--plot", type=Path, default=None, help="PNG to write (default: ./<name>_tour.png)")
    solve.add_argument("--no-plot", action="store_true", help="do not write a plot")
    solve.set_defaults(func=_solve)


def _train(args: argparse.Namespace) -> int:
    from tinvnn.tasks.tsp.reinforce import TrainConfig, train

    options = run_options(args)
    _, history = train(from_args(TrainConfig, args), options)
    log.info("run directory %s: %s (last), %s (best validation length)", options.out, LAST, BEST)
    print(json.dumps(history[-1] if history else {}))
    return 0


def _load(args: argparse.Namespace):
    from tinvnn.tasks.tsp.reinforce import DEFAULT_CHECKPOINT, load_policy
    from tinvnn.tasks.tsp.variants import get_variant

    path = args.checkpoint or DEFAULT_CHECKPOINT
    model, config = load_policy(path)
    variant = get_variant(args.variant or config.variant)
    if variant.trains_as != config.variant:
        raise ValueError(
            f"variant {variant.name!r} needs a checkpoint trained as {variant.trains_as!r}, "
            f"but {path} was trained as {config.variant!r}"
        )
    return model, config, variant, path


def _decoding(args: argparse.Namespace):
    from tinvnn.tasks.tsp.evaluate import Decoding

    if args.samples < 1:
        raise ValueError(f"expected --samples >= 1, got {args.samples}")
    return Decoding(args.decode, args.samples, args.two_opt)


def _eval(args: argparse.Namespace) -> int:
    from tinvnn.tasks.tsp.evaluate import evaluate_test_set, evaluate_tsplib, load_tsplib_dir
    from tinvnn.tasks.tsp.instances import fixed_test_set
    from tinvnn.tasks.tsp.reference import reference_lengths

    model, config, variant, path = _load(args)
    decoding = _decoding(args)
    out = {"checkpoint": str(path), "variant": variant.name, "decoding": asdict(decoding)}
    if args.tsplib is not None:
        instances, optima = load_tsplib_dir(args.tsplib)
        out["tsplib"] = {}
        for name in args.transform:
            records = evaluate_tsplib(model, variant, instances, optima, transform=name, decoding=decoding, seed=args.seed)
            gaps = [r["gap"] for r in records if r["gap"] is not None]
            out["tsplib"][name] = {
                "mean_gap": sum(gaps) / len(gaps) if gaps else None,
                "instances": [{k: r[k] for k in ("name", "n", "length", "optimum", "gap")} for r in records],
            }
        if args.json:
            print(json.dumps(out))
            return 0
        for name, result in out["tsplib"].items():
            print(f"TSPLIB, transformation {name} ({variant.name}, {decoding.decode}):")
            print(f"  {'instance':<10} {'n':>4} {'length':>10} {'optimum':>10} {'gap %':>8}")
            for r in result["instances"]:
                gap = "-" if r["gap"] is None else f"{r['gap']:.2f}"
                opt = "-" if r["optimum"] is None else f"{r['optimum']:.0f}"
                print(f"  {r['name']:<10} {r['n']:>4} {r['length']:>10.0f} {opt:>10} {gap:>8}")
            if result["mean_gap"] is not None:
                print(f"  mean gap {result['mean_gap']:.2f} %")
        return 0
    n = args.num_cities or config.num_cities
    coords = fixed_test_set(n, args.num)
    reference = reference_lengths(coords)
    out["num_cities"], out["num_instances"] = n, len(coords)
    out["results"] = evaluate_test_set(
        model, variant, coords, reference, transforms=args.transform, decoding=decoding, seed=args.seed
    )
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"TSP-{n}, {len(coords)} instances, {variant.name}, {decoding.decode}{' + 2-opt' if decoding.two_opt else ''}")
    print(f"  {'transformation':<14} {'gap %':>8} {'max gap %':>10}")
    for name, r in out["results"].items():
        print(f"  {name:<14} {r['gap']:>8.3f} {r['gap_max']:>10.2f}")
    return 0


def _solve(args: argparse.Namespace) -> int:
    from tinvnn.tasks.tsp.evaluate import evaluate_tsplib
    from tinvnn.tasks.tsp.tsplib import read_solutions, read_tsplib

    model, _, variant, path = _load(args)
    instance = read_tsplib(args.file)
    optimum = args.optimum
    solutions = args.file.parent / "solutions.txt"
    if optimum is None and solutions.is_file():
        optimum = read_solutions(solutions).get(instance.name)
    optima = {} if optimum is None else {instance.name: optimum}
    (record,) = evaluate_tsplib(model, variant, [instance], optima, decoding=_decoding(args), seed=args.seed)
    record.update(checkpoint=str(path), variant=variant.name, edge_weight_type=instance.edge_weight_type)
    if not args.no_plot:
        plot = args.plot or Path(f"{instance.name}_tour.png")
        _plot_tour(instance.coords, record["tour"], f"{instance.name}: length {record['length']:.0f}", plot)
        record["plot"] = str(plot)
    if args.json:
        print(json.dumps(record))
        return 0
    print(f"{instance.name}: {instance.num_cities} cities, {instance.edge_weight_type}")
    print("tour (0-based): " + " ".join(map(str, record["tour"])))
    print(f"length: {record['length']:.0f}")
    if record["gap"] is not None:
        print(f"optimum: {record['optimum']:.0f}  gap: {record['gap']:.2f} %")
    if "plot" in record:
        print(f"plot: {record['plot']}")
    return 0


def _plot_tour(coords, tour: list[int], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    closed = list(tour) + [tour[0]]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot(coords[closed, 0], coords[closed, 1], "-", lw=1, color="tab:blue")
    ax.plot(coords[:, 0], coords[:, 1], "o", ms=3, color="tab:red")
    ax.set_title(title)
    ax.set_aspect("equal")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
