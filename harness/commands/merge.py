"""`vllm-compat merge RUN_DIR... --out RUN_DIR [--matrix F] [--history DB] [--status-file F]`: join shard runs.

The shards' run directories (from `vllm-compat run --shard K/N`, one per K) become one run directory: one
results.jsonl, the engine logs, and STATUS.md, as if one node had run the whole matrix. ``--history DB`` also adds
the merged run to the history file; the pages are then written as for any run (`vllm-compat pages`). Runs of
different matrices, harness or vLLM versions or machines, a shard given twice, or cells in two shards are refused
with the run directories and the values, and nothing is written. A shard that left no results is merged as NOT RUN
cells (its servers from the split the shards recorded, its cells from ``--matrix``, else the matrix path they
recorded), said on stderr and in STATUS.md; the exit status stays 0 so the report, history and gate still run, and
the gate blocks on the required cells.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli import UsageError

HELP = "join the run directories of a sharded run (--shard K/N) into one run with one report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="each shard's run directory")
    parser.add_argument("--out", required=True, help="the merged run directory (new)")
    parser.add_argument(
        "--matrix",
        help="the matrix file the shards ran: names a missing shard's cells (default: the path they recorded)",
    )
    parser.add_argument("--history", help="also add the merged run to this history file")
    parser.add_argument("--status-file", help="also write STATUS.md here (e.g. reports/STATUS.md)")


def run(args: argparse.Namespace) -> int:
    from harness.history import HistoryError, HistoryStore
    from harness.report import write_reports
    from harness.results import read_results
    from harness.shards import MergeError, merge_runs

    try:
        merged = merge_runs(
            [Path(d) for d in args.run_dirs], Path(args.out), matrix=Path(args.matrix) if args.matrix else None
        )
    except MergeError as error:
        raise UsageError(str(error)) from None
    for reason in merged.skipped:
        print(f"vllm-compat merge: skipped {reason}", file=sys.stderr)
    for gone in merged.missing:
        print(
            f"vllm-compat merge: SHARD {gone.id} MISSING (no results): its {len(gone.cells)} cells "
            f"({', '.join(gone.servers) or 'no servers'}) recorded NOT RUN; the gate blocks on the required ones; "
            f"run it again with --shard {gone.id}",
            file=sys.stderr,
        )
    status = write_reports(merged.run_dir, status_path=Path(args.status_file) if args.status_file else None)
    shards = ", ".join(f"{s.environment.shard} ({s.run_dir})" for s in merged.shards)
    absent = "".join(f"; shard {g.id} MISSING: {len(g.cells)} cells NOT RUN" for g in merged.missing)
    print(
        f"merged {shards} into {merged.run_dir}: run {merged.run_id}, {merged.cells} cells, {merged.servers} servers"
        + absent
    )
    print(f"report: {status}")
    if args.history:
        try:
            with HistoryStore.open(Path(args.history)) as store:
                added = store.add(read_results(merged.run_dir))
        except HistoryError as error:
            raise UsageError(str(error)) from None
        print(f"history: {'added to' if added else 'already in'} {args.history}")
    return 0
