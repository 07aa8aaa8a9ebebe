"""`vllm-compat merge RUN_DIR... --out RUN_DIR [--history DB] [--status-file F]`: join shard runs into one run.

The shards' run directories (from `vllm-compat run --shard K/N`, one per K) become one run directory: one
results.jsonl, the engine logs, and STATUS.md, as if one node had run the whole matrix. ``--history DB`` also adds
the merged run to the history file; the pages are then written as for any run (`vllm-compat pages`). Runs of
different matrices or harness versions, a shard given twice or missing, or cells in two shards are refused with the
run directories and the values, and nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli import UsageError

HELP = "join the run directories of a sharded run (--shard K/N) into one run with one report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="each shard's run directory")
    parser.add_argument("--out", required=True, help="the merged run directory (new)")
    parser.add_argument("--history", help="also add the merged run to this history file")
    parser.add_argument("--status-file", help="also write STATUS.md here (e.g. reports/STATUS.md)")


def run(args: argparse.Namespace) -> int:
    from harness.history import HistoryError, HistoryStore
    from harness.report import write_reports
    from harness.results import read_results
    from harness.shards import MergeError, merge_runs

    try:
        merged = merge_runs([Path(d) for d in args.run_dirs], Path(args.out))
    except MergeError as error:
        raise UsageError(str(error)) from None
    status = write_reports(merged.run_dir, status_path=Path(args.status_file) if args.status_file else None)
    shards = ", ".join(f"{s.environment.shard} ({s.run_dir})" for s in merged.shards)
    print(f"merged {shards} into {merged.run_dir}: run {merged.run_id}, {merged.cells} cells, {merged.servers} servers")
    print(f"report: {status}")
    if args.history:
        try:
            with HistoryStore.open(Path(args.history)) as store:
                added = store.add(read_results(merged.run_dir))
        except HistoryError as error:
            raise UsageError(str(error)) from None
        print(f"history: {'added to' if added else 'already in'} {args.history}")
    return 0
