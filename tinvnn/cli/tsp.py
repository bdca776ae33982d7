"""CLI sub-commands of the TSP task: ``tinvnn tsp solve|imitate|finetune|train|eval``.

``solve`` calls :func:`tinvnn.tsp.solve` (the local-view policy, or the TSP-20 attention model)
and prints a summary, and writes the tour and a plot only where asked (never over an existing
file without ``--overwrite``); ``imitate`` and ``finetune`` train the local-view policy,
``train`` and ``eval`` the TSP-20 attention model. Only the configurations the flags need are
imported here; each command imports its work when it runs.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tinvnn._io import json_safe
from tinvnn.checkpoint import BEST, LAST
from tinvnn.cli._run import add_run_arguments, run_options
from tinvnn.config import add_arguments, from_args
from tinvnn.runtime import is_main_process, set_threads
from tinvnn.tasks.tsp.attention.recipe import (
    DECODINGS,
    DEFAULT_ATTENTION_CHECKPOINT,
    AttentionConfig,
    checkpoint_file,
    checkpoint_variant,
    load_attention_model,
)
from tinvnn.tasks.tsp.attention.variants import VARIANTS
from tinvnn.tasks.tsp.local.recipe import ImitationConfig, LocalReinforceConfig, dagger_label_sets, training_families
from tinvnn.tasks.tsp.transforms import TRANSFORMS

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tsp`` and its sub-commands ``solve``, ``imitate``, ``finetune``, ``train``, ``eval`` to the
    tinvnn parser."""
    what = (
        "neural TSP solvers: the local-view policy (solve, imitate, finetune) and the TSP-20 attention model "
        "(train, eval; solve --model attention)"
    )
    tsp = sub.add_parser("tsp", help=what, description=what[0].upper() + what[1:] + ".")
    tsp_sub = tsp.add_subparsers(dest="tsp_command", metavar="TSP_COMMAND", required=True)

    train = tsp_sub.add_parser(
        "train", help="train the TSP-20 attention model on random uniform instances (REINFORCE, POMO baseline)"
    )
    add_arguments(train, AttentionConfig)
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
    finetune.add_argument(
        "--export",
        type=Path,
        default=None,
        help="after training, write the last epoch's policy here (the shipped form)",
    )
    finetune.set_defaults(func=_finetune)

    def policy_options(p: argparse.ArgumentParser, default_decode: str) -> None:
        p.add_argument(
            "--checkpoint", type=Path, default=None, help="attention checkpoint (default: the shipped tsp20_tinv.pt)"
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

    evaluate = tsp_sub.add_parser(
        "eval", help="optimality gaps of the attention model on a random test set or TSPLIB files"
    )
    policy_options(evaluate, "greedy")
    evaluate.add_argument("--tsplib", type=Path, default=None, help="directory of .tsp files (+ solutions.txt)")
    evaluate.add_argument("--num-cities", type=int, default=None, help="test-set size (default: the checkpoint's)")
    evaluate.add_argument("--num", type=int, default=None, help="test instances (default: the fixed set's size)")
    evaluate.add_argument(
        "--transform", choices=list(TRANSFORMS), nargs="+", default=["identity"], help="transformed copies to evaluate"
    )
    evaluate.add_argument(
        "--threads", type=int, default=None, metavar="N", help="torch CPU threads (default: torch's choice)"
    )
    evaluate.set_defaults(func=_eval)

    solve = tsp_sub.add_parser(
        "solve",
        help="solve one TSPLIB file (local-view policy + 2-opt/Or-opt/3-opt, or --model attention), print the tour's "
        "length (and write the tour and a plot where asked)",
        description="Solve one TSPLIB file (the command line of tinvnn.tsp.solve). The default policy is the "
        "shipped local-view policy (tinvnn/checkpoints/tsp_local.pt): each decision sees the current city, the start "
        "city and the k nearest unvisited cities, canonicalized, so tours are exactly invariant to rotation, "
        "reflection, scale, translation and city order. --model attention (or --variant, or --checkpoint of "
        "`tsp train`) uses the TSP-20 attention model instead (default: the shipped tsp20_tinv.pt). Files are "
        "written only where --tour and --plot say, and never over an existing file without --overwrite. Cities "
        "at one point (legal TSPLIB) are solved as one and visited one after the other.",
    )
    solve.add_argument(
        "file", type=Path, help="a TSPLIB .tsp file (EUC_2D, CEIL_2D, ATT, GEO, MAN_2D, MAX_2D or EXPLICIT)"
    )
    solve.add_argument(
        "--model",
        choices=("local", "attention"),
        default=None,
        help="local: the local-view policy; attention: the TSP-20 attention model (default: the kind of "
        "--checkpoint; without one, attention when --variant is given, else local)",
    )
    solve.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="policy checkpoint (default: the shipped tsp_local.pt, or tsp20_tinv.pt with --model attention)",
    )
    solve.add_argument(
        "--decode",
        choices=("auto", *DECODINGS),
        default="auto",
        help="auto: multistart x16 up to 200 cities, x4 up to 500, greedy beyond (attention checkpoints: multistart)",
    )
    solve.add_argument(
        "--starts",
        type=int,
        default=None,
        metavar="N",
        help="invariant start cities of --decode multistart (local policy; default: 16 up to 200 cities, else 4); "
        "with --decode auto it means multistart",
    )
    solve.add_argument(
        "--samples",
        type=int,
        default=None,
        metavar="N",
        help="sampled rollouts of --decode sample (default 16, attention 1); with --decode auto it means sample",
    )
    solve.add_argument(
        "--improve",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="improvement step after construction: 2-opt + Or-opt with neighbour lists (local policy, default on) "
        "or 2-opt (attention checkpoints, default off)",
    )
    solve.add_argument(
        "--kicks",
        type=int,
        default=None,
        metavar="N",
        help="perturbations after 2-opt/Or-opt/3-opt (iterated local search, local policy; default "
        "clip(N, 1000, 10000) from 8 cities, below which the improvement is exact, and with --time-limit until "
        "the limit; 0: none)",
    )
    solve.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop the search (2-opt/Or-opt/3-opt, then kicks until the limit) after SECONDS from the start and "
        "return the best tour so far; the construction always completes (local policy; default: no limit)",
    )
    solve.add_argument(
        "--k",
        type=int,
        default=None,
        help="candidate slots per decision of the local policy "
        "(default: the checkpoint's inference k, 24 for the shipped one)",
    )
    solve.add_argument(
        "--variant",
        choices=VARIANTS,
        default=None,
        help="input variant of the attention model (default: its checkpoint's; implies --model attention)",
    )
    solve.add_argument("--seed", type=int, default=0, help="seed of sampling and of the kicks")
    solve.add_argument(
        "--candidates",
        choices=["delaunay", "nearest"],
        default=None,
        help="the search's candidate cities: the 10 nearest and up to 6 Delaunay neighbours beyond them, which "
        "link rows of closely spaced cities (drilling, circuit boards), or the 10 nearest alone (local policy; "
        "default: delaunay)",
    )
    solve.add_argument(
        "--json", action="store_true", help="print one JSON object (with the whole tour) instead of a summary"
    )
    solve.add_argument("--tour", type=Path, default=None, help="also write the tour as a TSPLIB .tour file")
    solve.add_argument(
        "--optimum", type=float, default=None, help="known optimal length (default: solutions.txt beside FILE)"
    )
    solve.add_argument("--plot", type=Path, default=None, help="also draw the tour into this PNG file")
    solve.add_argument(
        "--no-plot", action="store_true", help="write no plot (the default without --plot; kept for old commands)"
    )
    solve.add_argument(
        "--overwrite", action="store_true", help="replace an existing --tour or --plot file (default: refuse)"
    )
    solve.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads of the tour construction (default: 1 for the local policy's small per-step batches)",
    )
    solve.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar over the construction (default: from 2,000 cities)",
    )
    solve.set_defaults(func=_solve)


def _train(args: argparse.Namespace) -> int:
    from tinvnn.tasks.tsp.attention.reinforce import train_attention

    options = run_options(args)
    _, history = train_attention(from_args(AttentionConfig, args), options)
    log.info("run directory %s: %s (last), %s (best validation length)", options.out, LAST, BEST)
    if is_main_process():
        print(json.dumps(json_safe(history[-1] if history else {}), allow_nan=False))
    return 0


def _imitate(args: argparse.Namespace) -> int:
    from tinvnn.tasks.tsp.local.dagger import generate_dagger
    from tinvnn.tasks.tsp.local.imitation import generate_tours, train_imitation

    config, options = from_args(ImitationConfig, args), run_options(args)
    # every process generates (atomic chunks, the same content), so none reads a missing chunk
    families, progress = training_families(config.families), options.progress and is_main_process()
    generate_tours(config.rounds, seed=config.seed, families=families, progress=progress)
    for policy, instances in dagger_label_sets(config):
        generate_dagger(policy, instances, seed=config.seed, families=families, progress=progress)
    train_imitation(config, options)
    log.info("run directory %s: %s (last), %s (best held-out accuracy)", options.out, LAST, BEST)
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from tinvnn.tasks.tsp.local.finetune import export_finetuned, train_local_reinforce

    config, options = from_args(LocalReinforceConfig, args), run_options(args)
    train_local_reinforce(config, options)
    log.info("run directory %s: %s (last), %s (best validation greedy gap)", options.out, LAST, BEST)
    if args.export is not None and is_main_process():
        log.info("exported %s", export_finetuned(Path(options.out), args.export))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from tinvnn.tasks.tsp.attention.evaluate import Decoding, evaluate_test_set, evaluate_tsplib
    from tinvnn.tasks.tsp.instances import fixed_test_set
    from tinvnn.tasks.tsp.reference import reference_lengths
    from tinvnn.tasks.tsp.tsplib import load_tsplib_dir

    set_threads(args.threads)
    path = checkpoint_file(args.checkpoint or DEFAULT_ATTENTION_CHECKPOINT)
    model, config = load_attention_model(path)
    variant = checkpoint_variant(config, args.variant, path)
    if args.samples < 1:
        raise ValueError(f"--samples: expected a positive number of rollouts, got {args.samples}")
    decoding = Decoding(args.decode, args.samples, args.two_opt)
    out: dict[str, Any] = {"checkpoint": str(path), "variant": variant.name, "decoding": asdict(decoding)}
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


#: Tours up to this many cities are printed in full; longer ones only with --json or --tour.
_PRINT_TOUR_MAX = 100


def _output(flag: str, path: Path | None, overwrite: bool, others: dict[str, Path | None] | None = None) -> None:
    """Refuse an output path before any work: an existing directory, a folder that does not
    exist (a typo is not turned into new folders), an existing file without ``--overwrite``, a
    path that is also one of ``others`` (the input, the other output)."""
    if path is None:
        return
    if path.is_dir():
        raise ValueError(f"{flag}: {path} is a directory; expected a file name")
    for parent in path.absolute().parents:
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"{flag}: cannot write {path}: {parent} is not a directory")
    if not path.absolute().parent.is_dir():
        raise ValueError(f"{flag}: cannot write {path}: no folder {path.parent}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{flag}: {path} exists; pass --overwrite to replace it")
    for what, other in (others or {}).items():
        if other is not None and path.resolve() == other.resolve():
            raise ValueError(f"{flag}: {path} is also the {what}")


def _write(flag: str, path: Path, write: Any) -> str:
    """``write(path)`` with a failed write as one line naming the flag (read-only directory, disk
    full, a directory in the way); the file is written atomically, so nothing is half-written."""
    try:
        return str(write(path))
    except OSError as err:
        reason = err.strerror or os.strerror(err.errno or errno.EIO)
        raise ValueError(f"{flag}: cannot write {path}: {reason}") from None


def _number(length: float) -> str:
    """A length as an integer, or in 6 significant digits from 1e15 on (not 300 digits)."""
    return f"{length:.0f}" if abs(length) < 1e15 else f"{length:.6g}"


def _solve(args: argparse.Namespace) -> int:
    from tinvnn.tsp import solve

    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads: expected a positive integer, got {args.threads}")
    if args.samples is not None and args.samples < 1:
        raise ValueError(f"--samples: expected a positive number of rollouts, got {args.samples}")
    if args.k is not None and args.k < 1:
        raise ValueError(f"--k: expected a positive number of candidate slots, got {args.k}")
    if args.time_limit is not None and not (math.isfinite(args.time_limit) and args.time_limit > 0):
        raise ValueError(f"--time-limit: expected a finite positive number of seconds, got {args.time_limit:g}")
    _output("--tour", args.tour, args.overwrite, {"input file": args.file})
    _output("--plot", args.plot, args.overwrite, {"input file": args.file, "--tour file": args.tour})
    result = solve(
        args.file,
        model=args.model,
        checkpoint=args.checkpoint,
        decode=args.decode,
        starts=args.starts,
        samples=args.samples,
        improve=args.improve,
        kicks=args.kicks,
        k=args.k,
        variant=args.variant,
        seed=args.seed,
        optimum=args.optimum,
        threads=args.threads,
        progress=args.progress,
        time_limit=args.time_limit,
        candidates=args.candidates,
    )
    record = result.record()
    if args.tour is not None:
        _output("--tour", args.tour, args.overwrite)  # again: solving took a while
        record["tour_file"] = _write("--tour", args.tour, result.write_tour)
    if args.plot is not None and not args.no_plot:
        _output("--plot", args.plot, args.overwrite)
        record["plot"] = _write("--plot", args.plot, result.plot)
    if args.json:
        print(json.dumps(record))
        return 0
    cities = f"{result.num_cities} {'city' if result.num_cities == 1 else 'cities'}"
    print(f"{result.name}: {cities}, {result.edge_weight_type}; {result.method}")
    if result.duplicates:
        print(f"duplicate cities: {result.duplicates} merged into the city at their point (zero-length edges)")
    if result.num_cities <= _PRINT_TOUR_MAX:
        print("tour (0-based): " + " ".join(map(str, record["tour"])))
    else:
        shown = " ".join(map(str, record["tour"][:10]))
        print(f"tour (0-based): {shown} ... ({result.num_cities} cities; the whole tour with --json or --tour FILE)")
    print(f"length: {_number(result.length)}  ({result.seconds:.2f} s)")
    if result.gap is not None and result.optimum is not None:
        print(f"optimum: {_number(result.optimum)}  gap: {result.gap:.2f} %")
    if result.time_limit_exceeded:
        print(f"time limit: {result.time_limit:g} s, exceeded before the search began (the constructed tour)")
    for key in ("tour_file", "plot"):
        if key in record:
            print(f"{key.replace('_', ' ')}: {record[key]}")
    return 0
