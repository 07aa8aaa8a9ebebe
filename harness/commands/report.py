"""`vllm-compat report RUN_DIR`: re-render STATUS.md from a run's results.jsonl."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli import UsageError
from harness.results import RESULTS_FILE, ResultsError

HELP = "re-render STATUS.md from a run directory's results.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory (reports/runs/<run-id>)")
    parser.add_argument("--out", help="also write the report here (e.g. reports/STATUS.md)")


def run(args: argparse.Namespace) -> int:
    from harness.report import write_reports

    run_dir = Path(args.run_dir)
    if not (run_dir / RESULTS_FILE).is_file():
        raise UsageError(f"{run_dir / RESULTS_FILE}: no results here; pass a directory under reports/runs/")
    try:
        written = write_reports(run_dir, status_path=Path(args.out) if args.out else None)
    except ResultsError as error:  # e.g. a newer schema_version: one line and exit 2, no traceback
        raise UsageError(str(error)) from None
    print(written)
    return 0
