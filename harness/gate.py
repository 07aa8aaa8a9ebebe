"""The pre-deployment gate: a rollout is blocked when a required cell does not PASS, a cell that worked in the
baseline is broken now, or a figure the matrix bounds (``gate: {ttft_p50: 10%}``) regressed beyond its tolerance and
beyond the cell's own run-to-run spread.

The baseline is one earlier run directory (``--baseline``), or the history file (``--history``): then each cell is
judged against its own previous comparable result and its performance against the median and spread of its last
working results (harness.history.compare's noise rule). Pure over typed records, so the decision can be re-made
from the files; ``markdown`` and ``junit`` render it for a CI step summary and a test report.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from harness.history import (
    MIN_POINTS,
    CellChange,
    Entry,
    HistoryStore,
    PerfStatus,
    Transition,
    classify,
    entries_of,
    short_revision,
)
from harness.live_cells import LIVE_LABEL, is_live, live_reason
from harness.results import RunResults
from harness.verdicts import Verdict


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


def _decision(cells: list[CellGate], baseline: str) -> GateDecision:
    blockers = tuple(Blocker(c.cell_id, reason) for c in cells for reason in c.reasons)
    return GateDecision(
        cells=tuple(cells),
        required=sum(1 for c in cells if c.required),
        compared=sum(1 for c in cells if c.baseline is not None),
        baseline=baseline,
        blockers=blockers,
    )


def decide(
    run: RunResults,
    baseline: RunResults | None = None,
    *,
    tolerances: Mapping[str, Mapping[str, float]] | None = None,
    flaky: frozenset[str] = frozenset(),
    require_boot: bool = False,
) -> GateDecision:
    """Required cells must PASS (an XFAIL is still a failure to a rollout); with a baseline run, a cell that worked
    there and is broken now blocks, required or not, and a bounded figure may not regress beyond its tolerance.
    ``require_boot``: a cell answered by a live endpoint (not started by this run) blocks."""
    before = {e.key.cell_id: e for e in entries_of(baseline)} if baseline is not None else {}
    cells = []
    for now in entries_of(run):
        earlier = [before[now.key.cell_id]] if now.key.cell_id in before else []
        # one baseline run: the threshold alone decides (the user named the run to compare with)
        cells.append(_judge(now, earlier, (tolerances or {}).get(now.model, {}), flaky, 1))
    described = f"run {baseline.run_dir}" if baseline is not None else "none"
    return _decision(_live(run, cells, require_boot), described)


def decide_with_history(
    run: RunResults,
    store: HistoryStore,
    *,
    tolerances: Mapping[str, Mapping[str, float]] | None = None,
    flaky: frozenset[str] = frozenset(),
    require_boot: bool = False,
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
    return _decision(_live(run, cells, require_boot), f"history {store.path}")


# -- rendering ----------------------------------------------------------------------------------------------------
def markdown(decision: GateDecision, run_id: str) -> str:
    """The step summary: the decision, the blockers, then every cell."""
    verdict = "✅ ALLOW" if decision.passed else f"❌ BLOCK ({len(decision.blockers)} blocker(s))"
    lines = [
        f"## vllm-compat gate: {verdict}",
        "",
        f"Run `{run_id}` against {decision.baseline}: {decision.required} required cell(s), "
        f"{decision.compared} with a baseline result.",
        "",
    ]
    if decision.blockers:
        lines += ["| blocked cell | why |", "|---|---|"]
        lines += [f"| `{b.cell_id}` | {_md(b.reason)} |" for b in decision.blockers]
        lines.append("")
    lines += ["| cell | verdict | baseline | transition | vLLM | revision | notes |", "|---|---|---|---|---|---|---|"]
    for cell in decision.cells:
        verdict_text = f"{cell.verdict}" + (f" {cell.code}" if cell.code else "") + (" (FLAKY)" if cell.flaky else "")
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
    suite = ET.Element(
        "testsuite",
        name="vllm-compat gate",
        tests=str(len(decision.cells)),
        failures=str(sum(1 for c in decision.cells if c.blocks)),
        errors="0",
        skipped=str(sum(1 for c in decision.cells if c.verdict is Verdict.SKIP and not c.blocks)),
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="run_id", value=run_id)
    ET.SubElement(properties, "property", name="baseline", value=decision.baseline)
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
        ):
            ET.SubElement(props, "property", name=name, value=value)
        if cell.blocks:
            failure = ET.SubElement(case, "failure", message=cell.reasons[0], type="gate")
            failure.text = "\n".join(cell.reasons)
        elif cell.verdict is Verdict.SKIP:
            ET.SubElement(case, "skipped", message=cell.message)
        if cell.notes:
            ET.SubElement(case, "system-out").text = "\n".join(cell.notes)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


__all__ = [
    "Blocker",
    "CellGate",
    "GateDecision",
    "decide",
    "decide_with_history",
    "junit",
    "markdown",
]
