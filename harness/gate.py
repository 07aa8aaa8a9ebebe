"""The pre-deployment gate: a rollout is blocked when a required cell does not PASS or is absent from the run, a cell
that worked in the baseline is broken, NOT RUN or absent now, the run judged nothing at all, or a figure the matrix
bounds (``gate: {ttft_p50: 10%}``) regressed beyond its tolerance and beyond the cell's own run-to-run spread.

The baseline is one earlier run directory (``--baseline``), or the history file (``--history``): then each cell is
judged against its own previous comparable result and its performance against the median and spread of its last
working results (harness.history.compare's noise rule). Absent cells are found through the run's scope
(harness.scope: the matrix's cells, which the records alone cannot show) and the baseline's cells; they are judged
NOT RUN and named MISSING. Pure over typed records, so the decision can be re-made from the files; ``markdown`` and
``junit`` render it for a CI step summary and a test report.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from harness.history import (
    BROKEN,
    MIN_POINTS,
    WORKING,
    CellChange,
    Entry,
    HistoryStore,
    PerfStatus,
    Transition,
    classify,
    entries_of,
    gpu_label,
    run_at,
    run_id_of,
    short_revision,
)
from harness.live_cells import LIVE_LABEL, is_live, live_reason
from harness.results import RunResults
from harness.scope import RunScope
from harness.verdicts import Verdict

RUN_CASE = "(the run)"  # the Blocker/testcase name of what blocks the run as a whole (it judged nothing)


@dataclass(frozen=True)
class Blocker:
    cell_id: str
    reason: str  # one line: what the cell did, what the gate needed


@dataclass(frozen=True)
class CellGate:
    """One cell's part in the decision: a testcase of the JUnit report."""

    cell_id: str
    model: str
    verdict: Verdict
    code: str | None
    required: bool
    vllm_version: str | None
    revision: str | None
    message: str
    baseline: str | None = None  # the baseline's verdict (and code), None when the cell is new
    transition: str | None = None
    reasons: tuple[str, ...] = ()  # why it blocks; empty: it does not
    notes: tuple[str, ...] = ()  # what changed in its key, perf deltas that did not block
    flaky: bool = False  # failed, then passed when re-run with --confirm: reported, not blocking
    regressed: bool = False  # worked in the baseline, broken now (what --confirm re-runs)
    live: bool = False  # answered by a live endpoint (not started by this run)
    missing: bool = False  # no record in the run: expected by the matrix or the baseline, never judged

    @property
    def blocks(self) -> bool:
        return bool(self.reasons)


@dataclass(frozen=True)
class GateDecision:
    cells: tuple[CellGate, ...]
    required: int  # required cells seen in the run
    compared: int  # cells with a baseline result
    baseline: str = "none"  # what the run was compared with, in words
    blockers: tuple[Blocker, ...] = field(default=())
    scope: str = "no matrix given"  # what said which cells the run should have (harness.scope.RunScope.source)
    scope_known: bool = False  # False: no matrix, so absent required cells could not be named (said in the summary)
    missing: int = 0  # cells expected by the matrix or the baseline and absent from the run

    @property
    def passed(self) -> bool:
        return not self.blockers


def _describe(entry: Entry | None) -> str | None:
    if entry is None:
        return None
    return f"{entry.verdict}" + (f" {entry.code}" if entry.code else "")


def _judge(
    now: Entry, earlier: list[Entry], tolerances: Mapping[str, float], flaky: frozenset[str], min_points: int
) -> CellGate:
    """One cell against its earlier comparable results (oldest first; empty when there is no baseline)."""
    reasons: list[str] = []
    notes: list[str] = []
    regressed = False
    code = f" {now.code}" if now.code else ""
    if now.required and now.verdict is not Verdict.PASS and now.key.cell_id not in flaky:
        reasons.append(f"required, but {now.verdict}{code}: {now.message}")
    change: CellChange | None = classify([*earlier, now], tolerances, min_points) if earlier else None
    if change is not None:
        notes.extend(change.changes)
        broke = change.transition is Transition.NEW_FAILURE or (
            change.transition is Transition.FLAKY and change.was is Transition.NEW_FAILURE
        )
        if broke and now.key.cell_id not in flaky and not reasons:
            what = f"; changed: {'; '.join(change.changes)}" if change.changes else "; nothing in its key changed"
            reasons.append(f"regressed: {_describe(change.before)} before, now {now.verdict}{code}{what}")
        worked = change.before is not None and change.before.verdict in WORKING
        if now.verdict is Verdict.NOT_RUN and worked and not reasons and now.key.cell_id not in flaky:
            reasons.append(f"worked before ({_describe(change.before)}), NOT RUN now: {now.message or 'never reached'}")
        regressed = broke
        for delta in change.perf:
            if delta.status is PerfStatus.REGRESSION and delta.metric in tolerances:
                reasons.append(f"{delta.text()} (tolerance {tolerances[delta.metric]:.0%})")
            else:
                notes.append(delta.text())
    return CellGate(
        cell_id=now.key.cell_id,
        model=now.model,
        verdict=now.verdict,
        code=now.code,
        required=now.required,
        vllm_version=now.key.vllm_version,
        revision=now.key.revision,
        message=now.message,
        baseline=_describe(change.before) if change is not None else None,
        transition=change.transition.value if change is not None else None,
        reasons=tuple(reasons),
        notes=tuple(notes),
        flaky=now.key.cell_id in flaky,
        regressed=regressed,
    )


def _live(run: RunResults, cells: list[CellGate], require_boot: bool) -> list[CellGate]:
    """Mark the cells a live endpoint answered; with ``require_boot`` each of them blocks: only a boot of ours
    verifies a cell then."""
    live_cells = {cell.cell_id: cell for cell in run.cells if is_live(cell)}
    out = []
    for gate in cells:
        record = live_cells.get(gate.cell_id)
        if record is None:
            out.append(gate)
            continue
        reasons = (*gate.reasons, live_reason(record)) if require_boot else gate.reasons
        out.append(replace(gate, live=True, reasons=reasons))
    return out


def _absent(run: RunResults, present: set[str], scope: RunScope | None, earlier: Mapping[str, Entry]) -> list[CellGate]:
    """The cells the run should have judged and did not record: NOT RUN, named MISSING. ``earlier``: each candidate
    cell's last result in the baseline (the baseline run's, or its last judged result on this machine).

    A required cell of the scope blocks; so does a cell that worked in the baseline, unless the matrix no longer
    has it (a cell deliberately removed is reported, not blocking)."""
    candidates = set(earlier) | {c.cell_id for c in (scope.required() if scope is not None else ())}
    environment = run.environment
    shard = (
        f"; this run is shard {environment.shard} of a split: gate the merged run (vllm-compat merge)"
        if environment is not None and environment.shard
        else ""
    )
    out = []
    for cell_id in sorted(candidates - present):
        entry = earlier.get(cell_id)
        spec = (scope.cells or {}).get(cell_id) if scope is not None else None
        in_scope = scope.includes(cell_id) if scope is not None else None
        # the matrix says what is required; without one, the baseline's record of the cell does
        required = spec.required if spec is not None else (in_scope is None and entry is not None and entry.required)
        reasons: list[str] = []
        notes: list[str] = []
        was = f" ({_describe(entry)} in run {entry.run_id})" if entry is not None else ""
        if required:
            reasons.append(f"required, but NOT RUN: absent from this run (MISSING){was}{shard}")
        elif entry is not None and entry.verdict in WORKING and in_scope is not False:
            reasons.append(f"worked in the baseline{was}, absent from this run (MISSING){shard}")
        elif in_scope is False:
            notes.append("no longer in the matrix: not expected in this run")
        model = spec.model if spec is not None else (entry.model if entry is not None else "?")
        out.append(
            CellGate(
                cell_id=cell_id,
                model=model,
                verdict=Verdict.NOT_RUN,
                code=None,
                required=required,
                vllm_version=None,
                revision=None,
                message="absent from this run: no record of it (MISSING)",
                baseline=_describe(entry),
                transition=Transition.MISSING.value,
                reasons=tuple(reasons),
                notes=tuple(notes),
                live=spec.live if spec is not None else False,
                missing=True,
            )
        )
    return out


def _decision(cells: list[CellGate], baseline: str, run: RunResults, scope: RunScope | None) -> GateDecision:
    blockers = [Blocker(c.cell_id, reason) for c in cells for reason in c.reasons]
    if not run.cells:
        # nothing was judged: an empty run is never an allowed rollout, whatever the matrix says
        blockers.insert(0, Blocker(RUN_CASE, "the run recorded no cells: nothing was judged, so nothing is allowed"))
    return GateDecision(
        cells=tuple(cells),
        required=sum(1 for c in cells if c.required),
        compared=sum(1 for c in cells if c.baseline is not None and not c.missing),
        baseline=baseline,
        blockers=tuple(blockers),
        scope=scope.source if scope is not None else "no matrix given",
        scope_known=scope is not None and scope.known,
        missing=sum(1 for c in cells if c.missing),
    )


def decide(
    run: RunResults,
    baseline: RunResults | None = None,
    *,
    tolerances: Mapping[str, Mapping[str, float]] | None = None,
    flaky: frozenset[str] = frozenset(),
    require_boot: bool = False,
    scope: RunScope | None = None,
) -> GateDecision:
    """Required cells must PASS (an XFAIL is still a failure to a rollout); with a baseline run, a cell that worked
    there and is broken, NOT RUN or absent now blocks, required or not, and a bounded figure may not regress beyond
    its tolerance. ``scope``: the cells the matrix says the run should have; a required one absent blocks.
    ``require_boot``: a cell answered by a live endpoint (not started by this run) blocks."""
    before = {e.key.cell_id: e for e in entries_of(baseline)} if baseline is not None else {}
    cells = []
    for now in entries_of(run):
        earlier = [before[now.key.cell_id]] if now.key.cell_id in before else []
        # one baseline run: the threshold alone decides (the user named the run to compare with)
        cells.append(_judge(now, earlier, (tolerances or {}).get(now.model, {}), flaky, 1))
    cells = _live(run, cells, require_boot)
    cells += _absent(run, {c.cell_id for c in run.cells}, scope, before)
    described = f"run {baseline.run_dir}" if baseline is not None else "none"
    return _decision(cells, described, run, scope)


def _last_results(store: HistoryStore, run: RunResults, present: set[str], scope: RunScope | None) -> dict[str, Entry]:
    """Each absent candidate's last result on this machine before the run: the cells of the previous run here and
    of the scope, by their last judged result (a NOT RUN night neither breaks nor fixes a streak)."""
    gpu, at = gpu_label(run.environment), run_at(run)
    run_id = run_id_of(run) if run.environment is not None or run.cells else ""
    previous = store.run_before(gpu, at, run_id)
    candidates = {e.key.cell_id for e in store.cells(previous.run_id)} if previous is not None else set()
    candidates |= set(scope.cells or {}) if scope is not None else set()
    out: dict[str, Entry] = {}
    for cell_id in sorted(candidates - present):
        history = [e for e in store.cell_history(cell_id, gpu) if (e.run_at, e.run_id) < (at, run_id)]
        judged = [e for e in history if e.verdict in WORKING | BROKEN]
        if judged or history:
            out[cell_id] = (judged or history)[-1]
    return out


def decide_with_history(
    run: RunResults,
    store: HistoryStore,
    *,
    tolerances: Mapping[str, Mapping[str, float]] | None = None,
    flaky: frozenset[str] = frozenset(),
    require_boot: bool = False,
    scope: RunScope | None = None,
) -> GateDecision:
    """As ``decide``, with each cell's comparable history (same machine, earlier runs) as its baseline."""
    cells = []
    for now in entries_of(run):
        history = [
            e
            for e in store.cell_history(now.key.cell_id, now.key.gpu)
            if e.run_id != now.run_id and (e.run_at, e.run_id) < (now.run_at, now.run_id)
        ]
        cells.append(_judge(now, history, (tolerances or {}).get(now.model, {}), flaky, MIN_POINTS))
    cells = _live(run, cells, require_boot)
    present = {c.cell_id for c in run.cells}
    cells += _absent(run, present, scope, _last_results(store, run, present, scope))
    return _decision(cells, f"history {store.path}", run, scope)


# -- rendering ----------------------------------------------------------------------------------------------------
def markdown(decision: GateDecision, run_id: str) -> str:
    """The step summary: the decision, the blockers, then every cell."""
    verdict = "✅ ALLOW" if decision.passed else f"❌ BLOCK ({len(decision.blockers)} blocker(s))"
    lines = [
        f"## vllm-compat gate: {verdict}",
        "",
        f"Run `{run_id}` against {decision.baseline}: {decision.required} required cell(s), "
        f"{decision.compared} with a baseline result, {decision.missing} NOT RUN / MISSING (no record in the run).",
        "",
        f"Cells expected from: {_md(decision.scope)}." if decision.scope_known else f"⚠️ **{_md(decision.scope)}**.",
        "",
    ]
    if decision.blockers:
        lines += ["| blocked cell | why |", "|---|---|"]
        lines += [f"| `{b.cell_id}` | {_md(b.reason)} |" for b in decision.blockers]
        lines.append("")
    lines += ["| cell | verdict | baseline | transition | vLLM | revision | notes |", "|---|---|---|---|---|---|---|"]
    for cell in decision.cells:
        verdict_text = f"{cell.verdict}" + (f" {cell.code}" if cell.code else "") + (" (FLAKY)" if cell.flaky else "")
        verdict_text += " (MISSING)" if cell.missing else ""
        verdict_text += f" ({LIVE_LABEL})" if cell.live else ""
        mark = "❌ " if cell.blocks else ""
        lines.append(
            f"| {mark}`{cell.cell_id}` | {verdict_text} | {cell.baseline or '-'} | {cell.transition or '-'} | "
            f"{cell.vllm_version or '?'} | {short_revision(cell.revision)} | {_md('; '.join(cell.notes)) or '-'} |"
        )
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def junit(decision: GateDecision, run_id: str) -> str:
    """JUnit XML: one testcase per cell, failing when it blocks; properties for verdict, code, vLLM, revision."""
    run_reasons = [b.reason for b in decision.blockers if b.cell_id == RUN_CASE]
    suite = ET.Element(
        "testsuite",
        name="vllm-compat gate",
        tests=str(len(decision.cells) + bool(run_reasons)),
        failures=str(sum(1 for c in decision.cells if c.blocks) + bool(run_reasons)),
        errors="0",
        skipped=str(sum(1 for c in decision.cells if (c.verdict is Verdict.SKIP or c.missing) and not c.blocks)),
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="run_id", value=run_id)
    ET.SubElement(properties, "property", name="baseline", value=decision.baseline)
    ET.SubElement(properties, "property", name="scope", value=decision.scope)
    if run_reasons:  # the run as a whole blocks (it judged nothing): a failing testcase of its own says so
        case = ET.SubElement(suite, "testcase", classname="run", name=RUN_CASE)
        ET.SubElement(case, "failure", message=run_reasons[0], type="gate").text = "\n".join(run_reasons)
    for cell in decision.cells:
        case = ET.SubElement(suite, "testcase", classname=cell.model, name=cell.cell_id)
        props = ET.SubElement(case, "properties")
        for name, value in (
            ("verdict", cell.verdict.value),
            ("code", cell.code or ""),
            ("required", str(cell.required).lower()),
            ("vllm_version", cell.vllm_version or ""),
            ("revision", cell.revision or ""),
            ("baseline", cell.baseline or ""),
            ("transition", cell.transition or ""),
            ("flaky", str(cell.flaky).lower()),
            ("live_endpoint", str(cell.live).lower()),
            ("missing", str(cell.missing).lower()),
        ):
            ET.SubElement(props, "property", name=name, value=value)
        if cell.blocks:
            failure = ET.SubElement(case, "failure", message=cell.reasons[0], type="gate")
            failure.text = "\n".join(cell.reasons)
        elif cell.verdict is Verdict.SKIP or cell.missing:
            ET.SubElement(case, "skipped", message=cell.message)
        if cell.notes:
            ET.SubElement(case, "system-out").text = "\n".join(cell.notes)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


__all__ = [
    "RUN_CASE",
    "Blocker",
    "CellGate",
    "GateDecision",
    "decide",
    "decide_with_history",
    "junit",
    "markdown",
]
