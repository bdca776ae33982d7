"""Time tinvnn.canonicalize: against naive MDS, against the memory-traffic floor, and inside a forward pass.

Three studies, each measured in one run (so that its ratios are comparable on a shared machine):

    python benchmarks/bench_canonicalize.py [--batch 32] [--sizes 256 1024 4096] [--json out.json]
        naive: the O(N D^2) engine against naive classical MDS (N x N Gram matrix, full
        eigen-decomposition), per cloud, each configuration in a fresh subprocess so that its
        peak resident memory (above the interpreter's baseline) can be reported. Naive MDS is
        timed on at most ``--naive-clouds`` clouds per size (it is O(N^3)).
    python benchmarks/bench_canonicalize.py --study engine [--batch 32] [--points 1024]
        engine: per cloud, interleaved repeats, medians: one clone of the batch (the memory
        traffic floor); the fused kernel alone ("kernel"); canonicalize with it ("fast", "fast
        flat"; where numba is installed) and by tensor operations ("padded", "flat": ``FAST_KERNELS`` off), each on the
        padded (B, N, 3) batch and on the same clouds as a flat (N_total, 3) batch with
        ``batch=``; and ``torch.compile(canonicalize, fullgraph=True)`` (tensor operations).
    python benchmarks/bench_canonicalize.py --device cuda [--batches 32 256] [--points 1024]
        forward: eager and compiled canonicalize, and PointNet / DGCNN (the papers' sizes, eval
        mode) forward with and without TinvWrapper, at each batch size; reports
        canonicalization's share of the wrapped forward pass. ``--device cpu`` runs the same.

Times are wall clock around each call, with ``torch.cuda.synchronize()`` before and after on a
GPU. ``--threads`` sets torch's CPU threads (default 1: stable on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

import tinvnn
from tinvnn import _fast, canonical
from tinvnn.models import DGCNN, PointNet
from tinvnn.nn import TinvWrapper


def naive_mds(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Classical MDS the literal way: distances, double-centred Gram matrix, full eigh. (N, dim)."""
    d2 = torch.cdist(x, x).square()
    n = x.shape[0]
    j = torch.eye(n, dtype=x.dtype) - 1.0 / n
    gram = -0.5 * j @ d2 @ j
    evals, evecs = torch.linalg.eigh(gram)
    return evecs[:, -dim:].flip(-1) * evals[-dim:].flip(-1).clamp_min(0).sqrt()


def clouds(batch: int, n: int, device: str = "cpu") -> torch.Tensor:
    """(batch, n, 3) anisotropic Gaussian clouds, seeded."""
    x = torch.randn(batch, n, 3, generator=torch.Generator().manual_seed(0)) * torch.tensor([3.0, 2.0, 1.0])
    return x.to(device)


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, device: str) -> dict[str, float]:
    """Median seconds per call of each function, timed round-robin (one call of each per round)
    after one warm-up call each, synchronising a GPU around every call."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


# ------------------------------------------------------------------------------ naive
def _measure(method: str, batch: int, n: int, repeats: int) -> dict[str, float]:
    x = clouds(batch, n)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if method == "tinvnn":
        fn = lambda: tinvnn.canonicalize(x)  # noqa: E731
    else:
        fn = lambda: [naive_mds(c.double(), 3) for c in x]  # noqa: E731
    seconds = interleaved({method: fn}, repeats, "cpu")[method]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base  # KiB on Linux
    return {"seconds_per_cloud": seconds / batch, "peak_mib": max(peak, 0) / 1024}


def naive_study(args: argparse.Namespace) -> list[dict]:
    rows = []
    for n in args.sizes:
        result: dict = {"N": n}
        for method, batch, repeats in (
            ("tinvnn", args.batch, args.repeats),
            ("naive", min(args.batch, args.naive_clouds), 1),
        ):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--threads",
                    str(args.threads),
                    "--child",
                    method,
                    str(batch),
                    str(n),
                    str(repeats),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            result[method] = json.loads(out.stdout)
        result["speedup"] = result["naive"]["seconds_per_cloud"] / result["tinvnn"]["seconds_per_cloud"]
        rows.append(result)
        print(
            f"N={n:5d}  tinvnn {result['tinvnn']['seconds_per_cloud'] * 1e3:8.4f} ms/cloud "
            f"(peak {result['tinvnn']['peak_mib']:7.1f} MiB)  "
            f"naive MDS {result['naive']['seconds_per_cloud'] * 1e3:10.2f} ms/cloud "
            f"(peak {result['naive']['peak_mib']:7.1f} MiB)  speed-up x{result['speedup']:,.0f}",
            flush=True,
        )
    return rows


# ------------------------------------------------------------------------------ engine
def engine_study(args: argparse.Namespace) -> list[dict]:
    x = clouds(args.batch, args.points)
    flat = x.reshape(-1, 3)
    batch = torch.arange(args.batch).repeat_interleave(args.points)
    compiled = torch.compile(tinvnn.canonicalize, fullgraph=True)
    start = time.perf_counter()
    compiled(x)
    compile_s = time.perf_counter() - start
    fast = _fast.load_kernels() is not None and _fast.FAST_KERNELS
    fns: dict[str, Callable[[], object]] = {"clone": lambda: x.clone()}
    if fast:
        fns["kernel"] = _kernel_call(x)
        fns["fast"] = lambda: tinvnn.canonicalize(x)
        fns["fast flat"] = lambda: tinvnn.canonicalize(flat, batch=batch)
    else:
        print("fused kernel unavailable (numba not installed, or TINVNN_FAST=0): no fast rows")
    fns["padded"] = lambda: _torch_path(tinvnn.canonicalize, x)
    fns["flat"] = lambda: _torch_path(tinvnn.canonicalize, flat, batch=batch)
    fns["compiled"] = lambda: compiled(x)
    seconds = interleaved(fns, args.repeats, "cpu")
    per_cloud = {name: s / args.batch * 1e6 for name, s in seconds.items()}
    for name, us in per_cloud.items():
        print(f"{name:9s} {us:8.2f} us per cloud   x{us / per_cloud['clone']:6.1f} the clone")
    print(f"torch path: flat / padded {per_cloud['flat'] / per_cloud['padded']:.2f}; compiling took {compile_s:.1f} s")
    if fast:
        print(
            f"fast path: flat / padded {per_cloud['fast flat'] / per_cloud['fast']:.2f}; "
            f"torch path / fast path (padded) {per_cloud['padded'] / per_cloud['fast']:.1f}"
        )
    return [{"us_per_cloud": per_cloud, "compile_s": compile_s, "B": args.batch, "N": args.points}]


def _kernel_call(x: torch.Tensor) -> Callable[[], object]:
    """The fused kernel alone on the batch ``x`` (B, N, 3), output buffer included, at the default
    tolerances: what the fast path costs without the Python around it (checks, layout, Frame)."""
    kernels = _fast.load_kernels()
    assert kernels is not None
    kernel, points, bounds = kernels.frames, x.numpy(), canonical._kernel_bounds(1e-3, 1e-3)
    return lambda: kernel(points, torch.empty(x.shape).numpy(), True, False, *bounds)


def _torch_path(fn: Callable[..., object], *args: object, **kwargs: object) -> object:
    """``fn(*args, **kwargs)`` with the engine's fused kernel off (its tensor-operation path)."""
    _fast.FAST_KERNELS = False
    try:
        return fn(*args, **kwargs)
    finally:
        _fast.FAST_KERNELS = True


# ------------------------------------------------------------------------------ forward
def forward_study(args: argparse.Namespace) -> list[dict]:
    device = args.device
    backbones = {
        "pointnet": PointNet(40),
        "dgcnn": DGCNN(40, k=min(20, args.points)),
    }
    compiled = torch.compile(tinvnn.canonicalize, fullgraph=True) if args.compile else None
    rows = []
    for b in args.batches:
        fns = _forward_calls(
            clouds(b, args.points, device), {name: backbones[name].to(device).eval() for name in args.models}, compiled
        )
        seconds = interleaved(fns, args.repeats, device)
        row = {"B": b, "N": args.points, "seconds": seconds}
        for name in args.models:
            row[f"share {name}"] = seconds["canonicalize"] / seconds[f"tinv {name}"]
        rows.append(row)
        print(f"B={b}, N={args.points}, {device}: milliseconds per batch (median of {args.repeats})")
        for name, s in seconds.items():
            print(f"  {name:24s} {s * 1e3:10.3f}")
        for name in args.models:
            print(f"  canonicalize / tinv {name} forward: {row[f'share {name}']:.2%}")
    return rows


def _forward_calls(
    x: torch.Tensor, backbones: dict[str, torch.nn.Module], compiled: Callable[[torch.Tensor], torch.Tensor] | None
) -> dict[str, Callable[[], object]]:
    """The timed calls of the forward study on clouds ``x`` (B, N, 3); no compiled call if ``compiled`` is None."""
    fns: dict[str, Callable[[], object]] = {"canonicalize": lambda: tinvnn.canonicalize(x)}
    if compiled is not None:
        fns["canonicalize (compiled)"] = lambda: compiled(x)
    for name, net in backbones.items():
        wrapped = TinvWrapper(net).eval()
        fns[name] = lambda net=net: _no_grad(net, x)
        fns[f"tinv {name}"] = lambda wrapped=wrapped: _no_grad(wrapped, x)
    return fns


def _no_grad(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--study", choices=["naive", "engine", "forward"], help="default: forward with --device, else naive"
    )
    parser.add_argument("--device", help="forward study on this device (cpu or cuda)")
    parser.add_argument("--batch", type=int, default=32, help="clouds per batch (naive, engine)")
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256], help="batch sizes (forward)")
    parser.add_argument("--points", type=int, default=1024, help="points per cloud (engine, forward)")
    parser.add_argument("--models", nargs="+", choices=["pointnet", "dgcnn"], default=["pointnet", "dgcnn"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096], help="points per cloud (naive)")
    parser.add_argument("--naive-clouds", type=int, default=4, help="clouds timed for naive MDS per size")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="forward: also time torch.compile(canonicalize) (minutes of compiling on a CPU)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: stable on a shared machine)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        method, batch, n, repeats = args.child
        print(json.dumps(_measure(method, int(batch), int(n), int(repeats))))
        return
    study = args.study or ("forward" if args.device else "naive")
    if study == "forward" and not args.device:
        parser.error("the forward study needs --device (cpu or cuda)")
    if args.device and torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no GPU is visible to torch")
    rows = {"naive": naive_study, "engine": engine_study, "forward": forward_study}[study](args)
    meta = {
        "study": study,
        "torch": torch.__version__,
        "threads": args.threads,
        "device": args.device or "cpu",
        "gpu": torch.cuda.get_device_name() if args.device and torch.device(args.device).type == "cuda" else None,
        "machine": platform.processor() or platform.machine(),
        "load_average": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(json.dumps(meta))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"meta": meta, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
