"""`vllm-compat report RUN_DIR`: re-render STATUS.md from a run's results.jsonl."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli import UsageError
from harness.results import RESULTS_FILE, ResultsError

if TYPE_CHECKING:
    from harness.report import Since

HELP = "re-render STATUS.md from a run directory's results.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory (reports/runs/<run-id>)")
    parser.add_argument("--out", help="also write the report here (e.g. reports/STATUS.md)")
    parser.add_argument("--history", help="list the new failures since the run before this one in this history file")


def _since(history: Path, run_dir: Path) -> Since | None:
    from harness.history import HistoryError, HistoryStore, new_failures
    from harness.report import Since
    from harness.results import read_results

    try:
        with HistoryStore.open(history, create=False) as store:
            found = new_failures(store, read_results(run_dir))
    except HistoryError as error:
        raise UsageError(str(error)) from None
    return Since(found[0].run_id, found[1]) if found is not None else None


def run(args: argparse.Namespace) -> int:
    from harness.report import write_reports

    run_dir = Path(args.run_dir)
    if not (run_dir / RESULTS_FILE).is_file():
        raise UsageError(f"{run_dir / RESULTS_FILE}: no results here; pass a directory under reports/runs/")
    try:
        since = _since(Path(args.history), run_dir) if args.history else None
        written = write_reports(run_dir, status_path=Path(args.out) if args.out else None, since=since)
    except ResultsError as error:  # e.g. a newer schema_version: one line and exit 2, no traceback
        raise UsageError(str(error)) from None
    print(written)
    return 0
