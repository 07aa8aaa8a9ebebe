"""`vllm-compat plan --shards N|auto [--matrix F | --demo] [--history DB] [--json]`: how the matrix splits over N nodes.

``--shards auto`` takes N from the CI job running it (harness.shards.auto), as ``run --shard auto`` takes K/N.

Each shard's servers and expected cost, and what the costs came from (history's seconds, weight bytes or a
constant); ``--json`` prints a GitHub Actions ``strategy.matrix`` (``{"include": [...]}``) for the shard jobs, which
then run ``vllm-compat run --shard K/N`` with the same matrix; ``--out FILE`` also writes that JSON to FILE, which
each shard runs as it is (``run --plan FILE --shard K/N``) instead of splitting again from the costs it sees.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from harness.cli import UsageError

HELP = "split the matrix into N shards balanced by expected cost (for a CI matrix: --json)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--matrix", help="matrix file (default: matrix.yaml in the current directory)")
    source.add_argument("--demo", action="store_true", help="the built-in demo matrix")
    parser.add_argument(
        "--shards",
        required=True,
        metavar="N|auto",
        help="how many shards (nodes); auto: the count of the CI job running this (Buildkite parallelism, a "
        "Kubernetes Indexed Job's VLLM_COMPAT_SHARDS, a Slurm array's task count)",
    )
    parser.add_argument("--history", help="history file for the costs (default: reports/history.sqlite when it exists)")
    parser.add_argument("--offline", action="store_true", help="never ask the hub for file sizes")
    parser.add_argument("--json", action="store_true", help="a GitHub Actions strategy.matrix include list")
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="also write the JSON plan to FILE: what each shard then runs (vllm-compat run --plan FILE --shard K/N)",
    )


def run(args: argparse.Namespace) -> int:
    from harness.matrix import MatrixError, demo_matrix_path, load_matrix
    from harness.shards import ShardError, estimate_costs, history_path, make_plan, plan_json, plan_lines, shard_from_ci

    if str(args.shards).strip().lower() == "auto":
        try:
            shards = shard_from_ci(os.environ, option="--shards").total
        except ShardError as error:
            raise UsageError(str(error)) from None
    elif str(args.shards).strip().isdigit() and int(args.shards) >= 1:
        shards = int(args.shards)
    else:
        raise UsageError(f"--shards {args.shards}: need a whole number of shards, at least 1 (or auto)")
    path = demo_matrix_path() if args.demo else Path(args.matrix or "matrix.yaml")
    try:
        matrix = load_matrix(path)
    except MatrixError as error:
        raise UsageError(str(error)) from None
    except FileNotFoundError:
        raise UsageError(f"{path}: matrix file not found; pass --matrix PATH or --demo") from None
    history = history_path(Path(args.history) if args.history else None, Path.cwd())
    if history is not None and not history.is_file():
        raise UsageError(f"--history {history}: no such file; leave it out to balance on weight bytes")
    plan = make_plan(matrix, shards, estimate_costs(matrix, history=history, offline=bool(args.offline)))
    planned = json.dumps(plan_json(plan, matrix))
    if args.out:
        # the same bytes feed the CI matrix and every shard's --plan: the split is computed once, here
        out = Path(args.out)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(planned + "\n", encoding="utf-8")
        except OSError as error:
            reason = error.strerror or error
            raise UsageError(f"--out {out}: cannot write the plan ({reason}); pick a writable path") from None
    print(planned if args.json else "\n".join(plan_lines(plan, matrix)))
    return 0
