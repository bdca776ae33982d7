"""CLI sub-commands of the TSP task: ``tinvnn tsp train|eval|solve``.

Parsing only; the work is done by ``tinvnn.tasks.tsp``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import time
from dataclasses import asdict
from pathlib import Path

from tinvnn._io import json_safe
from tinvnn.cli._run import add_run_arguments, run_options
from tinvnn.training import BEST, LAST, add_arguments, from_args, is_main_process

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``tsp`` and its sub-commands ``train``, ``eval``, ``solve`` to the tinvnn parser."""
    from tinvnn.tasks.tsp.imitation import ImitationConfig
    from tinvnn.tasks.tsp.local_reinforce import LocalReinforceConfig
    from tinvnn.tasks.tsp.policy import DECODINGS
    from tinvnn.tasks.tsp.reinforce import TrainConfig
    from tinvnn.tasks.tsp.transforms import TRANSFORMS
    from tinvnn.tasks.tsp.variants import VARIANTS

    tsp = sub.add_parser("tsp", help="neural TSP solver (attention model, REINFORCE with POMO baseline)")
    tsp_sub = tsp.add_subparsers(dest="tsp_command", metavar="TSP_COMMAND", required=True)

    train = tsp_sub.add_parser(
        "train", help="train a policy on random uniform TSP instances (REINFORCE, POMO baseline)"
    )
    add_arguments(train, TrainConfig)
    add_run_arguments(train, out="runs/tsp")
    train.set_defaults(func=_train)

    imitate = tsp_sub.add_parser(
        "imitate",
        help="train the local-view policy by imitation of LKH-3 tours (generates the tours first); "
        "with --init and --dagger-instances, fine-tune it on LKH-3 labels of its own rollouts (DAgger)",
    )
    add_arguments(imitate, ImitationConfig)
    add_run_arguments(imitate, out="runs/tsp_local")
    imitate.set_defaults(func=_imitate)

    finetune = tsp_sub.add_parser(
        "finetune",
        help="fine-tune the local-view policy by REINFORCE on its sampled multi-start rollouts (POMO baseline); "
        "then export the run with --export",
    )
    add_arguments(finetune, LocalReinforceConfig)
    add_run_arguments(finetune, out="runs/tsp_finetune")
    finetune.add_argument("--export", type=Path, default=None, help="after training, write the last epoch's policy here (the shipped form)")
    finetune.set_defaults(func=_finetune)

    def policy_options(p: argparse.ArgumentParser, default_decode: str) -> None:
        p.add_argument(
            "--checkpoint", type=Path, default=None, help="policy checkpoint (default: the shipped tsp20_tinv.pt)"
        )
        p.add_argument(
            "--variant",
            choices=VARIANTS,
            default=None,
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

    solve = tsp_sub.add_parser(
        "solve",
        help="solve one TSPLIB file (local-view policy + 2-opt/Or-opt), print the tour and save a plot",
        description="Solve one TSPLIB file. The default policy is the shipped local-view policy "
        "(tinvnn/checkpoints/tsp_local.pt): each decision sees the current city, the start city and the k nearest "
        "unvisited cities, canonicalized, so tours are exactly invariant to rotation, reflection, scale, "
        "translation and city order. --checkpoint also takes a TSP-20 attention checkpoint of `tsp train`.",
    )
    solve.add_argument("file", type=Path, help="a TSPLIB .tsp file (EUC_2D, CEIL_2D, ATT, GEO or EXPLICIT)")
    solve.add_argument(
        "--checkpoint", type=Path, default=None, help="policy checkpoint (default: the shipped tsp_local.pt)"
    )
    solve.add_argument(
        "--decode",
        choices=("auto", *DECODINGS),
        default="auto",
        help="auto: multistart x16 up to 200 cities, x4 up to 500, greedy beyond (attention checkpoints: multistart)",
    )
    solve.add_argument(
        "--starts", type=int, default=8, help="invariant start cities of --decode multistart (local policy; default 8)"
    )
    solve.add_argument(
        "--samples", type=int, default=None, help="sampled rollouts (--decode sample; default 16, attention 1)"
    )
    solve.add_argument(
        "--improve",
        "--two-opt",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="improvement step after construction: 2-opt + Or-opt with neighbour lists (local policy, default on) "
        "or 2-opt (attention checkpoints, default off)",
    )
    solve.add_argument(
        "--kicks",
        type=int,
        default=None,
        help="perturbations after 2-opt/Or-opt (iterated local search, local policy; default clip(N, 1000, 10000); 0: none)",
    )
    solve.add_argument(
        "--k",
        type=int,
        default=None,
        help="candidate slots per decision of the local policy (default: the checkpoint's inference k, 24 for the shipped one)",
    )
    solve.add_argument("--variant", choices=VARIANTS, default=None, help="input variant of an attention checkpoint")
    solve.add_argument("--seed", type=int, default=0, help="seed of sampling and of the kicks")
    solve.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    solve.add_argument("--tour", type=Path, default=None, help="also write the tour as a TSPLIB .tour file")
    solve.add_argument(
        "--optimum", type=float, default=None, help="known optimal length (default: solutions.txt beside FILE)"
    )
    solve.add_argument("--plot", type=Path, default=None, help="PNG to write (default: ./<name>_tour.png)")
    solve.add_argument("--no-plot", action="store_true", help="do not write a plot")
    solve.set_defaults(func=_solve)


def _train(args: argparse.Namespace) -> int:
    from tinvnn.tasks.tsp.reinforce import TrainConfig, train

    options = run_options(args)
    _, history = train(from_args(TrainConfig, args), options)
    log.info("run directory %s: %s (last), %s (best validation length)", options.out, LAST, BEST)
    if is_main_process():
        print(json.dumps(json_safe(history[-1] if history else {}), allow_nan=False))
    return 0


def _imitate(args: argparse.Namespace) -> int:
    from tinvnn.tasks.tsp.dagger import generate_dagger
    from tinvnn.tasks.tsp.imitation import ImitationConfig, dagger_label_sets, generate_tours, train_imitation

    config, options = from_args(ImitationConfig, args), run_options(args)
    # every process generates (atomic chunks, the same content), so none reads a missing chunk
    generate_tours(config.rounds, seed=config.seed, progress=options.progress and is_main_process())
    for policy, instances in dagger_label_sets(config):
        generate_dagger(policy, instances, seed=config.seed, progress=options.progress and is_main_process())
    train_imitation(config, options)
    log.info("run directory %s: %s (last), %s (best held-out accuracy)", options.out, LAST, BEST)
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from tinvnn.tasks.tsp.local_reinforce import LocalReinforceConfig, export_finetuned, train_local_reinforce

    config, options = from_args(LocalReinforceConfig, args), run_options(args)
    train_local_reinforce(config, options)
    log.info("run directory %s: %s (last), %s (best validation greedy gap)", options.out, LAST, BEST)
    if args.export is not None and is_main_process():
        log.info("exported %s", export_finetuned(Path(options.out), args.export))
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
            records = evaluate_tsplib(
                model, variant, instances, optima, transform=name, decoding=decoding, seed=args.seed
            )
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
    n = config.num_cities if args.num_cities is None else args.num_cities
    if n < 3:
        raise ValueError(f"--num-cities: expected at least 3 cities, got {n}")
    if args.num is not None and args.num < 1:
        raise ValueError(f"--num: expected a positive number of instances, got {args.num}")
    coords = fixed_test_set(n, args.num)
    reference = reference_lengths(coords)
    out["num_cities"], out["num_instances"] = n, len(coords)
    out["results"] = evaluate_test_set(
        model, variant, coords, reference, transforms=args.transform, decoding=decoding, seed=args.seed
    )
    if args.json:
        print(json.dumps(out))
        return 0
    print(
        f"TSP-{n}, {len(coords)} instances, {variant.name}, {decoding.decode}{' + 2-opt' if decoding.two_opt else ''}"
    )
    print(f"  {'transformation':<14} {'gap %':>8} {'max gap %':>10}")
    for name, r in out["results"].items():
        print(f"  {name:<14} {r['gap']:>8.3f} {r['gap_max']:>10.2f}")
    return 0


def _solve(args: argparse.Namespace) -> int:
    import numpy as np

    from tinvnn.tasks.tsp.tsplib import planar_coordinates, read_solutions, read_tsplib, tour_length_tsplib, write_tour

    start = time.perf_counter()
    if args.optimum is not None and not (math.isfinite(args.optimum) and args.optimum > 0):
        raise ValueError(f"--optimum: expected a finite positive length, got {args.optimum}")
    local = _is_local(args)
    policy = _local_policy(args) if local else _load(args)  # bad options fail before reading
    instance = read_tsplib(args.file)
    optimum, source = args.optimum, "--optimum"
    solutions = args.file.parent / "solutions.txt"
    if optimum is None and solutions.is_file():
        optimum, source = read_solutions(solutions).get(instance.name), str(solutions)
    coords = planar_coordinates(instance)
    if local:
        record = _solve_local(args, instance, coords, policy)
    else:
        record = _solve_attention(args, instance, policy)
    tour = np.asarray(record["tour"])
    record.update(
        name=instance.name,
        n=instance.num_cities,
        edge_weight_type=instance.edge_weight_type,
        length=tour_length_tsplib(instance, tour),
        optimum=optimum,
        seconds=time.perf_counter() - start,
    )
    if optimum is not None and record["length"] < optimum * (1 - 1e-9):
        # shorter than the optimum: that optimum belongs to another instance (same name), or is wrong
        log.warning(
            "the optimum %s from %s is longer than the tour found (%s): it cannot be this instance's; no gap reported",
            f"{optimum:g}", source, f"{record['length']:g}",
        )  # fmt: skip
        record["optimum"] = optimum = None
    record["gap"] = None if optimum is None else 100.0 * (record["length"] / optimum - 1.0)
    if args.tour is not None:
        write_tour(instance.name, tour, args.tour, comment=f"length {record['length']:.0f}, {record['method']}")
        record["tour_file"] = str(args.tour)
    if not args.no_plot:
        plot = args.plot or Path(f"{instance.name}_tour.png")
        _plot_tour(coords, record["tour"], _tour_title(record), plot)
        record["plot"] = str(plot)
    if args.json:
        print(json.dumps(record))
        return 0
    print(f"{instance.name}: {instance.num_cities} cities, {instance.edge_weight_type}; {record['method']}")
    print("tour (0-based): " + " ".join(map(str, record["tour"])))
    print(f"length: {record['length']:.0f}  ({record['seconds']:.2f} s)")
    if record["gap"] is not None:
        print(f"optimum: {record['optimum']:.0f}  gap: {record['gap']:.2f} %")
    for key in ("tour_file", "plot"):
        if key in record:
            print(f"{key.replace('_', ' ')}: {record[key]}")
    return 0


def _is_local(args: argparse.Namespace) -> bool:
    from tinvnn.tasks.tsp.solver import is_local_checkpoint

    if args.checkpoint is not None and not is_local_checkpoint(args.checkpoint):
        if args.k is not None:
            raise ValueError("--k applies to the local policy; an attention checkpoint sees every city")
        return False
    if args.variant is not None:
        raise ValueError("--variant applies to attention checkpoints (tsp train); the local policy has no variants")
    if args.k is not None and args.k < 1:
        raise ValueError(f"--k: expected a positive number of candidate slots, got {args.k}")
    return True


def _local_policy(args: argparse.Namespace) -> tuple:
    from tinvnn.tasks.tsp.solver import DEFAULT_LOCAL_CHECKPOINT, load_local_policy

    path = args.checkpoint or DEFAULT_LOCAL_CHECKPOINT
    return (*load_local_policy(path), path)


def _solve_local(args: argparse.Namespace, instance, coords, policy: tuple) -> dict:
    from tinvnn.tasks.tsp.solver import LocalDecoding, auto_decoding, inference_k, solve_local
    from tinvnn.tasks.tsp.tsplib import improvement_matrix

    model, _, path = policy
    improve = True if args.improve is None else args.improve
    decoding = auto_decoding(instance.num_cities, improve=improve)
    if args.decode != "auto":
        decoding = LocalDecoding(
            args.decode, starts=args.starts, samples=args.samples or 16, improve=improve, kicks=decoding.kicks
        )
    if args.kicks is not None:
        decoding = dataclasses.replace(decoding, kicks=args.kicks if improve else 0)
    dist = improvement_matrix(instance)
    k = args.k or inference_k(path)
    solution = solve_local(model, coords, k=k, decoding=decoding, dist=dist, seed=args.seed)
    return {"tour": solution.tour.tolist(), "method": solution.method, "checkpoint": str(path), "k": k}


def _solve_attention(args: argparse.Namespace, instance, policy: tuple) -> dict:
    from tinvnn.tasks.tsp.evaluate import Decoding, evaluate_tsplib

    if instance.weights is not None or instance.num_cities < 4:
        raise ValueError("attention checkpoints solve coordinate instances of at least 4 cities; use the local policy")
    model, _, variant, path = policy
    decode = "multistart" if args.decode == "auto" else args.decode
    decoding = Decoding(decode, args.samples or 1, bool(args.improve))
    # the caller measures the length and gap of the tour
    (record,) = evaluate_tsplib(model, variant, [instance], {}, decoding=decoding, seed=args.seed)
    method = f"attention policy ({variant.name}), {decode}" + (" + 2-opt" if decoding.two_opt else "")
    return {"tour": record["tour"], "method": method, "checkpoint": str(path), "variant": variant.name}


def _tour_title(record: dict) -> str:
    """Plot title: instance, method, length and (when the optimum is known) gap."""
    title = f"{record['name']} ({record['n']} cities): {record['method']}\nlength {record['length']:.0f}"
    if record["gap"] is not None:
        title += f", gap {record['gap']:.2f} % to optimum {record['optimum']:.0f}"
    if record["edge_weight_type"] == "EXPLICIT":
        title += "\n(cities drawn at their MDS coordinates)"
    return title


def _plot_tour(coords, tour: list[int], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    closed = list(tour) + [tour[0]]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot(coords[closed, 0], coords[closed, 1], "-", lw=1, color="tab:blue")
    ax.plot(coords[:, 0], coords[:, 1], "o", ms=3 if len(coords) <= 1000 else 1, color="tab:red")
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
