"""The upgrade report: one Markdown page, the old vLLM version beside the new, changed cells first.

Sections: the decision (exit 1 when a required cell that worked on the old version breaks, or is not judged, on the
new one); pre-flight (what the new engine refuses of this matrix, before any boot); the cells that changed, each with
its evidence from both runs; figures beyond noise; every cell side by side (a live endpoint's cells labelled, not
compared); and what else changed in the engine (options removed, renamed, added, defaults, architectures and
parsers), whether or not this matrix uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.history import PerfStatus
from harness.live_cells import LIVE_LABEL
from harness.results import CellRecord
from harness.upgrade.compare import CellSides, Change
from harness.upgrade.preflight import CellPrediction, EngineDiff

EVIDENCE_CHARS = 400  # per side: enough for the engine's own error line, short enough to read side by side
LISTED = 40  # at most this many names per engine-change line; the rest are counted


@dataclass(frozen=True)
class UpgradeReport:
    before_version: str
    after_version: str
    before_run: Path
    after_run: Path
    diff: EngineDiff
    predictions: tuple[CellPrediction, ...]
    cells: tuple[CellSides, ...]
    after_run_id: str = ""  # the new version's run id (its page among the status pages)

    @property
    def blockers(self) -> tuple[CellSides, ...]:
        return tuple(c for c in self.cells if c.blocks())

    def exit_code(self) -> int:
        return 1 if self.blockers else 0


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _verdict(record: CellRecord | None) -> str:
    if record is None:
        return "-"
    return f"{record.verdict}" + (f" {record.code}" if record.code else "")


def _evidence(record: CellRecord | None) -> str:
    if record is None:
        return "(not in this run)"
    parts = [record.message] if record.message else []
    if record.evidence and record.evidence not in record.message:  # a boot failure's message quotes its evidence
        parts.append(record.evidence)
    if not parts and record.log_tail:
        parts.append(record.log_tail.strip().splitlines()[-1])
    text = " -- ".join(parts) or "(no message)"
    return text if len(text) <= EVIDENCE_CHARS else text[: EVIDENCE_CHARS - 3] + "..."


def _boot(record: CellRecord | None) -> str:
    boot = record.timings.get("boot_s") if record is not None else None
    return f"{boot:.1f} s" if isinstance(boot, int | float) else "-"


def _names(values: Sequence[str]) -> str:
    shown = ", ".join(f"`{v}`" for v in values[:LISTED])
    return shown + (f" and {len(values) - LISTED} more" if len(values) > LISTED else "")


def engine_changes(diff: EngineDiff) -> str:
    """The engine's own changes as a Markdown section (what ``--preflight-only`` prints)."""
    return "\n".join(_engine_changes(diff)).rstrip() + "\n"


def _engine_changes(diff: EngineDiff) -> list[str]:
    out = [f"## What changed in the engine ({diff.before} -> {diff.after})", ""]
    if diff.unchanged:
        return [*out, "Nothing: the same options, defaults, architectures and parsers.", ""]
    rows = [
        ("Options the new version refuses (removed)", _names(diff.removed_options)),
        ("Options renamed", ", ".join(f"`{a}` -> `{b}`" for a, b in diff.renamed_options)),
        ("Options added", _names(diff.added_options)),
        ("Defaults changed", "; ".join(f"`{o}` {a!r} -> {b!r}" for o, a, b in diff.default_changes)),
        ("Options newly deprecated", _names(diff.newly_deprecated)),
        ("Architectures removed", _names(diff.removed_architectures)),
        ("Architectures added", _names(diff.added_architectures)),
        (
            "Architectures whose implementation moved",
            "; ".join(f"`{arch}` {a} -> {b}" for arch, a, b in diff.moved_architectures),
        ),
        ("Parsers removed", _names(diff.removed_parsers)),
        ("Parsers added", _names(diff.added_parsers)),
    ]
    return [*out, *(f"- **{name}**: {value or 'none'}" for name, value in rows), ""]


def render(report: UpgradeReport) -> str:
    old, new = report.before_version, report.after_version
    lines = [f"# Upgrade check: vLLM {old} -> {new}", ""]
    changed = [c for c in report.cells if c.changed]
    if report.blockers and all(c.change is Change.BROKE for c in report.blockers):
        lines.append(
            f"**BLOCKED**: {len(report.blockers)} required cell(s) break on {new}: "
            + ", ".join(f"`{c.cell_id}`" for c in report.blockers)
        )
    elif report.blockers:
        lines.append(
            f"**BLOCKED**: {len(report.blockers)} required cell(s) that worked on {old} break or were not judged on "
            f"{new}: " + ", ".join(f"`{c.cell_id}` ({c.why()})" for c in report.blockers)
        )
    else:
        lines.append(f"**No required cell breaks on {new}**.")
    live = [c for c in report.cells if c.change is Change.LIVE]
    lines += [
        "",
        f"{len(report.cells)} cell(s): {len(changed)} changed. Runs: `{report.before_run}` ({old}), "
        f"`{report.after_run}` ({new}).",
        "",
    ]
    if live:
        lines += [
            f"{len(live)} cell(s) answered by a {LIVE_LABEL} (not started by either run), not compared: "
            + ", ".join(f"`{c.cell_id}`" for c in live),
            "",
        ]
    lines += [
        "## Pre-flight (before any boot)",
        "",
    ]
    refused = [p for p in report.predictions if p.problems or p.notes]
    if not refused:
        lines.append("Every cell's flags, parsers and architecture are accepted by both versions.")
    for prediction in refused:
        for label, problems in prediction.problems.items():
            lines += [f"- `{prediction.cell_id}` on {label}: {_md(p)}" for p in problems]
        lines += [f"- `{prediction.cell_id}`: {_md(n)}" for n in prediction.notes]
    lines += ["", "## Cells that changed", ""]
    if not changed:
        lines.append("None: every cell has the same outcome on both versions.")
    for cell in changed:
        required = " (required)" if cell.required else ""
        lines += [
            f"### `{cell.cell_id}`{required}: {cell.change} ({_verdict(cell.before)} -> {_verdict(cell.after)})",
            "",
            f"- {old}: {_md(_evidence(cell.before))}",
            f"- {new}: {_md(_evidence(cell.after))}",
            "",
        ]
    lines += ["## Figures beyond noise", ""]
    flagged = [(c, d) for c in report.cells for d in c.perf]
    if not flagged:
        lines.append("None beyond the threshold.")
    for cell, delta in flagged:
        marker = "**" if delta.status in (PerfStatus.REGRESSION, PerfStatus.IMPROVEMENT) else ""
        lines.append(f"- `{cell.cell_id}`: {marker}{delta.text()}{marker}")
    lines += [
        "",
        "## Every cell",
        "",
        f"| cell | required | {old} | {new} | change | boot {old} | boot {new} |",
        "|---|---|---|---|---|---|---|",
    ]
    for cell in report.cells:
        lines.append(
            f"| `{cell.cell_id}` | {'yes' if cell.required else ''} | {_verdict(cell.before)} | "
            f"{_verdict(cell.after)} | {cell.change} | {_boot(cell.before)} | {_boot(cell.after)} |"
        )
    lines += ["", *_engine_changes(report.diff)]
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["UpgradeReport", "engine_changes", "render"]
