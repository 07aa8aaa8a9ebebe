"""`vllm-compat gate RUN_DIR [--baseline RUN_DIR | --history DB]`: exit 0 to allow a rollout, 1 to block it, 2 on a
usage error. ``--confirm`` re-runs a cell that worked in the baseline and fails now once, on a fresh boot of the
same profile: if it passes it is FLAKY (reported, recorded in the summary and the JUnit XML, not blocking). Writes a
Markdown summary (RUN_DIR/gate.md, and appended to $GITHUB_STEP_SUMMARY when set) and JUnit XML
(RUN_DIR/gate.junit.xml, or --junit PATH) with one testcase per cell."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli import UsageError
from harness.results import RESULTS_FILE, ResultsError, RunResults, read_results
from harness.verdicts import Verdict

if TYPE_CHECKING:  # loaded on use: `vllm-compat --help` imports every command
    from harness.scope import RunScope

HELP = (
    "decide a rollout from a run: required cells must PASS, nothing that worked in the baseline (a run or the "
    "history) may break, and figures the matrix bounds may not regress beyond tolerance and noise"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="the run to judge (reports/runs/<run-id>)")
    baseline = parser.add_mutually_exclusive_group()
    baseline.add_argument("--baseline", help="an earlier run: a cell that worked there must still work")
    baseline.add_argument("--history", help="the history file: each cell against its own previous results")
    parser.add_argument(
        "--matrix", help="the matrix whose per-model `gate:` tolerances apply (default: the one the run used)"
    )
    parser.add_argument(
        "--confirm",
        action="store_true",
        help="re-run each cell that worked in the baseline and fails now, once, on a fresh boot of the same profile "
        "(RUN_DIR/confirm-<time>): one that passes is reported FLAKY and does not block",
    )
    parser.add_argument("--engine-python", help="python of the engine environment, for --confirm")
    parser.add_argument(
        "--require-boot",
        action="store_true",
        help="block every cell answered by a live endpoint (not started by this run): only a boot of ours verifies",
    )
    parser.add_argument("--junit", help="where to write the JUnit XML (default: RUN_DIR/gate.junit.xml)")
    parser.add_argument("--summary", help="where to write the Markdown summary (default: RUN_DIR/gate.md)")


def _load(path: str) -> RunResults:
    run_dir = Path(path)
    if not (run_dir / RESULTS_FILE).is_file():
        raise UsageError(f"{run_dir / RESULTS_FILE}: no results here; pass a directory under reports/runs/")
    try:
        return read_results(run_dir)
    except ResultsError as error:  # e.g. a newer schema_version: one line and exit 2, no traceback
        raise UsageError(str(error)) from None


def _scope(args: argparse.Namespace, run: RunResults) -> RunScope:
    """The cells the run should have and the `gate:` tolerances, from --matrix or the matrix the run recorded; when
    neither is here, a scope that says so (the gate then prints it, instead of judging as if nothing were bounded)."""
    from harness.matrix import MatrixError, load_matrix
    from harness.scope import scope_of, unknown_scope

    recorded = run.environment.matrix if run.environment is not None else None
    named = args.matrix or recorded
    if named is None:
        return unknown_scope(
            "no matrix (the run recorded none): no `gate:` tolerances apply and required cells absent from the run "
            "cannot be named; fix: pass --matrix FILE"
        )
    if not args.matrix and not Path(named).is_file():
        return unknown_scope(
            f"no matrix: {named} (recorded by the run) is not here, so no `gate:` tolerances apply and required "
            "cells absent from the run cannot be named; fix: pass --matrix FILE"
        )
    try:
        matrix = load_matrix(Path(named))
    except (MatrixError, OSError) as error:
        raise UsageError(str(error)) from None
    scope = scope_of(matrix, run)
    recorded_sha = run.environment.matrix_sha256 if run.environment is not None else None
    if recorded_sha and recorded_sha != matrix.sha256:
        note = f"; it changed since the run (sha256 {recorded_sha[:12]} then, {matrix.sha256[:12]} now)"
        scope = replace(scope, source=scope.source + note)
    return scope


def run(args: argparse.Namespace) -> int:
    from harness.gate import GateDecision, decide, decide_with_history, junit, markdown
    from harness.history import HistoryError, HistoryStore

    results = _load(args.run_dir)
    scope = _scope(args, results)
    if not scope.known:
        print(f"gate: {scope.source}")

    def decided(flaky: frozenset[str]) -> GateDecision:
        tolerances, require_boot = scope.tolerances, args.require_boot
        if args.history:
            try:
                with HistoryStore.open(Path(args.history), create=False) as store:
                    return decide_with_history(
                        results, store, tolerances=tolerances, flaky=flaky, require_boot=require_boot, scope=scope
                    )
            except HistoryError as error:
                raise UsageError(str(error)) from None
        baseline = _load(args.baseline) if args.baseline else None
        return decide(results, baseline, tolerances=tolerances, flaky=flaky, require_boot=require_boot, scope=scope)

    decision = decided(frozenset())
    if args.confirm:
        flaky = _confirm(args, results, [c.cell_id for c in decision.cells if c.regressed and c.blocks])
        if flaky:
            decision = decided(flaky)
    run_id = results.environment.run_id if results.environment else (results.cells[0].run_id if results.cells else "?")
    summary = markdown(decision, run_id)
    summary_path = Path(args.summary) if args.summary else results.run_dir / "gate.md"
    junit_path = Path(args.junit) if args.junit else results.run_dir / "gate.junit.xml"
    summary_path.write_text(summary, encoding="utf-8")
    junit_path.write_text(junit(decision, run_id), encoding="utf-8")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(summary)
    for cell in decision.cells:
        if cell.flaky:
            print(f"FLAKY {cell.cell_id}: {cell.verdict} in the run, PASS when re-run on a fresh boot; not blocking")
    for blocker in decision.blockers:
        print(f"BLOCK {blocker.cell_id}: {blocker.reason}")
    missing = f", {decision.missing} NOT RUN / MISSING" if decision.missing else ""
    compared = f", {decision.compared} compared with {decision.baseline}" if decision.baseline != "none" else ""
    verdict = "ALLOW" if decision.passed else f"BLOCK ({len(decision.blockers)} blocker(s))"
    print(f"gate: {verdict}: {decision.required} required cell(s){missing}{compared}")
    print(f"gate: summary {summary_path}, JUnit {junit_path}")
    return 0 if decision.passed else 1


def _confirm(args: argparse.Namespace, results: RunResults, cell_ids: list[str]) -> frozenset[str]:
    """Re-run these cells once through `vllm-compat run` (same matrix, so the same server profile; a fresh boot) into
    RUN_DIR/confirm-<time>; the ids of those that PASS there."""
    if not cell_ids:
        return frozenset()
    matrix = args.matrix or (results.environment.matrix if results.environment is not None else None)
    if matrix is None or not Path(matrix).is_file():
        raise UsageError(
            f"--confirm re-runs cells from their matrix, and {matrix or 'none'} is not a file; pass --matrix"
        )
    confirm_dir = results.run_dir / f"confirm-{time.strftime('%Y%m%d-%H%M%S')}"
    command = [sys.executable, "-m", "harness.cli", "run", "--matrix", str(matrix), "--run-dir", str(confirm_dir)]
    if args.engine_python:
        command += ["--engine-python", args.engine_python]
    command += ["-k", " or ".join(cell_ids), "--", "--status-file", str(confirm_dir / "STATUS.md")]
    print(f"gate: confirming {len(cell_ids)} cell(s) on a fresh boot: {', '.join(cell_ids)} -> {confirm_dir}")
    subprocess.run(command, check=False)
    rerun = read_results(confirm_dir) if (confirm_dir / RESULTS_FILE).is_file() else None
    if rerun is None:
        print(f"gate: the confirmation run wrote no results ({confirm_dir}); the cells stay blocking")
        return frozenset()
    return frozenset(c.cell_id for c in rerun.cells if c.cell_id in cell_ids and c.verdict is Verdict.PASS)
