"""`make bench-fleet` (``python -m harness.fleet.bench``): a SIMULATED 8-GPU node running a 40-server matrix through the
real node scheduler (flock leases, boot locks) on real worker processes, with a stand-in engine that sleeps each
server's boot and probe seconds scaled down; no GPU and no vLLM are involved.

It prints the makespan against the lower bound max(total GPU-seconds / GPUs, longest server) and against today's even
split of the GPUs over xdist workers (computed from the same durations), and checks from the workers' records that
no GPU was held by two servers at once and that no two boots overlapped on a GPU (exit status 1 if either did).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

from harness.fleet.simulate import (
    BENCH_MIX,
    FIGURES,
    bench_matrix,
    best_even_split,
    gpus_of,
    lower_bound,
    simulate,
    violations,
)

TARGET = 1.15


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.fleet.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", default="8xH100-80GB", help="the simulated node (a VLLM_COMPAT_GPUS description)")
    parser.add_argument("--scale", type=float, default=1 / 200, help="real seconds per simulated second")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (default: one per GPU)")
    args = parser.parse_args(argv)
    gpus = gpus_of(args.gpus)
    workers = args.workers or gpus
    servers = bench_matrix()
    mix = Counter(s.tensor_parallel for s in servers)
    print(
        f"simulated: a node of {args.gpus} (described, no GPU asked); {len(servers)} servers, tensor-parallel "
        + ", ".join(f"{tp}: {mix[tp]}" for tp in sorted(BENCH_MIX))
    )
    print(
        "simulated: stand-in engine sleeping each server's boot + probe seconds x "
        f"{args.scale:g}; figures (seconds, drawn with a fixed seed):"
    )
    for tp, ((b_lo, b_hi), (p_lo, p_hi), source) in sorted(FIGURES.items()):
        print(f"  tp {tp}: boot {b_lo:.0f}-{b_hi:.0f}, probes {p_lo:.0f}-{p_hi:.0f}  <- {source}")
    print(f"real: the node scheduler and its flock leases + boot locks, {workers} worker processes, biggest first")
    with tempfile.TemporaryDirectory(prefix="vllm-compat-bench-fleet-") as lease_dir:
        run = simulate(servers, args.gpus, Path(lease_dir), workers=workers, scale=args.scale)
    bound = lower_bound(servers, gpus)
    even, even_workers = best_even_split(servers, gpus)
    problems = violations(run.records)
    waited = sum(r.waited_s for r in run.records)
    print(
        f"ran in {run.wall_s:.1f} s real; simulated makespan {run.makespan_s:.0f} s; lower bound {bound:.0f} s "
        f"(max of {sum(s.gpu_seconds for s in servers) / gpus:.0f} GPU-s per GPU, longest server "
        f"{max(s.seconds for s in servers):.0f} s); servers waited {waited:.0f} s for leases in all"
    )
    print(
        "even split (computed: each xdist worker its own slice of the GPUs, the rule this scheduler replaces): "
        f"best is -n {even_workers}"
        + (" then -n 1 for the servers too big for a slice" if even_workers > 1 else "")
        + f": {even:.0f} s"
    )
    print(
        "invariant: no GPU held by two servers at once, no two boots overlapping on a GPU: "
        + ("held" if not problems else "BROKEN")
    )
    for problem in problems:
        print(f"  {problem}")
    ratio = run.makespan_s / bound
    print(f"target: <= {TARGET}x lower bound: " + ("met" if ratio <= TARGET else "MISSED"))
    print(f"makespan: {ratio:.2f}x lower bound (scheduler)")
    print(f"makespan: {even / bound:.2f}x lower bound (even split)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
