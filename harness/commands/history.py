"""`vllm-compat history add RUN_DIR...` / `history show [CELL_ID] [--json]`: the runs kept in reports/history.sqlite.

``show`` without a cell: the runs held, and the latest run against the previous comparable results (transitions and
performance flags). With a cell: its results, oldest first, with the key of each.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.cli import UsageError
from harness.history import HistoryError, HistoryStore, PerfStatus, compare, run_id_of
from harness.matrix import LIVE_LABEL
from harness.results import RESULTS_FILE, ResultsError, read_results

HELP = "keep runs in the history file (add) and show a cell's history or the latest run's transitions (show)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--history", default="reports/history.sqlite", help="the history file (default: %(default)s)")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="add run directories (a run already held is skipped)")
    add.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    show = sub.add_parser("show", help="the latest run's transitions, or one cell's results")
    show.add_argument("cell_id", nargs="?", metavar="CELL_ID")
    show.add_argument("--run", help="compare this run id instead of the latest")
    show.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    path = Path(args.history)
    try:
        with HistoryStore.open(path, create=args.action == "add") as store:
            if args.action == "add":
                return _add(store, args.run_dirs)
            return _show(store, args)
    except HistoryError as error:
        raise UsageError(str(error)) from None


def _add(store: HistoryStore, run_dirs: list[str]) -> int:
    """Each run directory in turn; one that cannot be read is skipped with its reason (`make demo` passes every
    directory under reports/runs, an interrupted one among them), and it is an error only when none could be read."""
    problems: list[str] = []
    for name in run_dirs:
        run_dir = Path(name)
        if not (run_dir / RESULTS_FILE).is_file():
            problems.append(f"{run_dir / RESULTS_FILE}: no results here; pass a directory under reports/runs/")
            continue
        try:
            results = read_results(run_dir)
            run_id = run_id_of(results)
        except (ResultsError, HistoryError) as error:
            problems.append(str(error))
            continue
        added = store.add(results)
        state = "added" if added else "already in history, skipped"
        print(f"{run_id}: {len(results.cells)} cell(s) {state} ({store.path})")
    if len(problems) == len(run_dirs):
        raise UsageError("; ".join(problems))
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    return 0


def _show(store: HistoryStore, args: argparse.Namespace) -> int:
    if args.cell_id:
        entries = store.cell_history(args.cell_id)
        if not entries:
            raise UsageError(f"{args.cell_id}: no such cell in {store.path}; `history show` lists the latest run's")
        if args.json:
            print(json.dumps([e.to_json() for e in entries], indent=2))
            return 0
        for entry in entries:
            key = entry.key
            code = f" {entry.code}" if entry.code else ""
            live = f"  ({LIVE_LABEL})" if entry.live else ""
            print(
                f"{entry.run_id}  {entry.verdict}{code}{live}  revision {key.revision or '-'}  vLLM "
                f"{key.vllm_version or '?'}  flags {key.flags_hash or '-'}  {key.gpu}  "
                f"harness {key.harness_version or '?'}"
            )
        return 0
    run = store.run(args.run) if args.run else store.latest()
    if run is None:
        raise UsageError(f"{args.run or 'latest run'}: not in {store.path}; add one with `history add RUN_DIR`")
    comparison = compare(store, run)
    runs = store.runs()
    if args.json:
        print(
            json.dumps(
                {
                    "runs": [r.run_id for r in runs],
                    "run": run.run_id,
                    "previous": comparison.previous.run_id if comparison.previous else None,
                    "transitions": [
                        {
                            "cell_id": c.cell_id,
                            "transition": c.transition.value,
                            "summary": c.summary(),
                            "changes": list(c.changes),
                            "perf": [d.text() for d in c.perf],
                        }
                        for c in comparison.cells
                    ],
                },
                indent=2,
            )
        )
        return 0
    previous = comparison.previous.run_id if comparison.previous else "none"
    print(f"{len(runs)} run(s) in {store.path}; run {run.run_id} ({run.gpu}) against previous {previous}")
    panel = comparison.panel()
    for change in panel:
        print("  " + change.summary())
    if not panel:
        print("  no transitions")
    quiet = 0
    for change in comparison.cells:
        for delta in change.perf:
            if delta.status in (PerfStatus.REGRESSION, PerfStatus.IMPROVEMENT):
                print(f"  {change.cell_id}: {delta.text()}")
            else:
                quiet += 1
    if quiet:
        print(f"  {quiet} figure(s) beyond the threshold but noisy or unconfirmed (--json or the cell pages)")
    return 0
