"""Time tinvnn.canonicalize (O(N D^2) covariance path) against naive classical MDS (N x N Gram
matrix and full eigen-decomposition, a literal reading of the paper), in one run.

    python benchmarks/bench_canonicalize.py [--batch 32] [--sizes 256 1024 4096] [--threads 1] [--json out.json]

Each configuration runs in a fresh subprocess so that its peak resident memory (above the
interpreter's baseline after the inputs are built) can be reported. The naive path is timed on
at most ``--naive-clouds`` clouds per size (it is O(N^3)); times are per cloud.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch


def naive_mds(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Classical MDS the literal way: distances, double-centred Gram matrix, full eigh. (N, dim)."""
    d2 = torch.cdist(x, x).square()
    n = x.shape[0]
    j = torch.eye(n, dtype=x.dtype) - 1.0 / n
    gram = -0.5 * j @ d2 @ j
    evals, evecs = torch.linalg.eigh(gram)
    return evecs[:, -dim:].flip(-1) * evals[-dim:].flip(-1).clamp_min(0).sqrt()


def _measure(method: str, batch: int, n: int, repeats: int, threads: int) -> dict[str, float]:
    import tinvnn

    torch.set_num_threads(threads)
    x = torch.randn(batch, n, 3, generator=torch.Generator().manual_seed(0)) * torch.tensor([3.0, 2.0, 1.0])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if method == "tinvnn":
        fn = lambda: tinvnn.canonicalize(x)  # noqa: E731
    else:
        fn = lambda: [naive_mds(c.double(), 3) for c in x]  # noqa: E731
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base  # KiB on Linux
    return {"seconds_per_cloud": statistics.median(times) / batch, "peak_mib": max(peak, 0) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--naive-clouds", type=int, default=4, help="clouds timed for naive MDS per size")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: stable on a shared machine)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, batch, n, repeats, threads = args.child
        print(json.dumps(_measure(method, int(batch), int(n), int(repeats), int(threads))))
        return

    rows = []
    for n in args.sizes:
        result = {"N": n}
        for method, batch, repeats in (("tinvnn", args.batch, args.repeats), ("naive", min(args.batch, args.naive_clouds), 1)):
            out = subprocess.run(
                [sys.executable, __file__, "--child", method, str(batch), str(n), str(repeats), str(args.threads)],
                check=True, capture_output=True, text=True,
            )
            result[method] = json.loads(out.stdout)
        result["speedup"] = result["naive"]["seconds_per_cloud"] / result["tinvnn"]["seconds_per_cloud"]
        rows.append(result)
        print(
            f"N={n:5d}  tinvnn {result['tinvnn']['seconds_per_cloud'] * 1e3:8.4f} ms/cloud "
            f"(peak {result['tinvnn']['peak_mib']:7.1f} MiB)  naive MDS {result['naive']['seconds_per_cloud'] * 1e3:10.2f} ms/cloud "
            f"(peak {result['naive']['peak_mib']:7.1f} MiB)  speed-up x{result['speedup']:,.0f}",
            flush=True,
        )
    meta = {
        "batch": args.batch,
        "torch": torch.__version__,
        "threads": args.threads,
        "machine": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"meta": meta, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
