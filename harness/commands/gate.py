"""`vllm-compat gate RUN_DIR [--baseline RUN_DIR]`: exit 0 to allow a rollout, 1 to block it."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli import UsageError
from harness.results import RESULTS_FILE, ResultsError, RunResults, read_results

HELP = "decide a rollout from a run: required cells must PASS, and nothing that passed in the baseline may regress"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="the run to judge (reports/runs/<run-id>)")
    parser.add_argument("--baseline", help="an earlier run: a cell that passed there must still pass")


def _load(path: str) -> RunResults:
    run_dir = Path(path)
    if not (run_dir / RESULTS_FILE).is_file():
        raise UsageError(f"{run_dir / RESULTS_FILE}: no results here; pass a directory under reports/runs/")
    try:
        return read_results(run_dir)
    except ResultsError as error:  # e.g. a newer schema_version: one line and exit 2, no traceback
        raise UsageError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    from harness.gate import decide

    decision = decide(_load(args.run_dir), _load(args.baseline) if args.baseline else None)
    for blocker in decision.blockers:
        print(f"BLOCK {blocker.cell_id}: {blocker.reason}")
    compared = f", {decision.compared} compared with the baseline" if args.baseline else ""
    verdict = "ALLOW" if decision.passed else f"BLOCK ({len(decision.blockers)} blocker(s))"
    print(f"gate: {verdict}: {decision.required} required cell(s){compared}")
    return 0 if decision.passed else 1
