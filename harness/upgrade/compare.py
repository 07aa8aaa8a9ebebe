"""Two runs of one matrix on two vLLM versions, cell by cell: what broke, what was fixed, whose failure changed, and
which figures moved beyond noise.

The verdict groups and the noise rule are history's (``harness.history``): working (PASS, XPASS) against broken
(FAIL, ERROR, XFAIL); a figure is flagged only beyond both the relative threshold and the cell's own run-to-run spread,
and stays "unconfirmed" while fewer than three results on the old version say what that spread is. The old version's
earlier results of the same cell on this machine (from the history file, when given) widen that baseline.

A required cell that worked on the old version blocks when the new version breaks it, and also when the new run
never judged it (NOT RUN after an interrupt, SKIP, or no record at all): an upgrade is not allowed on what was not
tried. A cell a live endpoint answered (harness.live_cells) is neither engine's: it is shown, labelled, and takes no
part in the comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from harness.history import BROKEN, MIN_POINTS, WINDOW, WORKING, Entry, PerfDelta, entries_of, perf_deltas
from harness.live_cells import LIVE_LABEL, is_live
from harness.results import CellRecord, RunResults


class Change(StrEnum):
    BROKE = "broke"  # working on the old version, broken on the new
    FIXED = "fixed"  # broken on the old version, working on the new
    CODE_CHANGED = "code changed"  # broken on both, for a different reason
    STILL_WORKING = "still working"
    STILL_BROKEN = "still broken"
    NOT_JUDGED = "not judged"  # SKIP / NOT RUN on either side
    ONLY_BEFORE = "only on the old version"
    ONLY_AFTER = "only on the new version"
    LIVE = f"{LIVE_LABEL}: neither engine served it, not compared"


# The report's order: what needs attention first.
CHANGED = (Change.BROKE, Change.FIXED, Change.CODE_CHANGED, Change.ONLY_BEFORE, Change.ONLY_AFTER)


@dataclass(frozen=True)
class CellSides:
    """One cell on both versions, with its records' evidence and its figures' deltas."""

    cell_id: str
    change: Change
    required: bool
    before: CellRecord | None
    after: CellRecord | None
    perf: tuple[PerfDelta, ...] = ()

    @property
    def changed(self) -> bool:
        return self.change in CHANGED

    def blocks(self) -> bool:
        """A required cell that worked on the old version and that the new version breaks or never judged: the
        upgrade must not go ahead."""
        return self.required and self.change is not Change.LIVE and self.why() is not None

    def why(self) -> str | None:
        """What the new version did to a cell that worked on the old one, in words; None when nothing bad."""
        if self.before is None or self.before.verdict not in WORKING:
            return None
        if self.change is Change.BROKE:
            return "breaks"
        if self.after is None:
            return "was not run (no record: MISSING)"
        if self.after.verdict not in WORKING | BROKEN:
            return f"was not judged ({self.after.verdict})"
        return None


def _change(before: Entry | None, after: Entry | None) -> Change:
    if before is None:
        return Change.ONLY_AFTER
    if after is None:
        return Change.ONLY_BEFORE
    judged = WORKING | BROKEN
    if before.verdict not in judged or after.verdict not in judged:
        return Change.NOT_JUDGED
    was, now = before.verdict in WORKING, after.verdict in WORKING
    if was and now:
        return Change.STILL_WORKING
    if was:
        return Change.BROKE
    if now:
        return Change.FIXED
    return Change.CODE_CHANGED if before.code != after.code else Change.STILL_BROKEN


def compare_runs(
    before: RunResults,
    after: RunResults,
    *,
    earlier_before: Mapping[str, list[Entry]] | None = None,
    thresholds: Mapping[str, Mapping[str, float]] | None = None,
) -> tuple[CellSides, ...]:
    """Every cell of either run, side by side, changed cells first (broke, fixed, code changed, one-sided).

    ``earlier_before``: cell id -> earlier working results of the old version on this machine (oldest first), which
    join the old run's result as the baseline of the noise rule."""
    old = {e.key.cell_id: e for e in entries_of(before)}
    new = {e.key.cell_id: e for e in entries_of(after)}
    old_records = {c.cell_id: c for c in before.cells}
    new_records = {c.cell_id: c for c in after.cells}
    out: list[CellSides] = []
    for cell_id in sorted(set(old) | set(new)):
        a, b = old.get(cell_id), new.get(cell_id)
        records = (old_records.get(cell_id), new_records.get(cell_id))
        live = any(r is not None and is_live(r) for r in records)
        change = Change.LIVE if live else _change(a, b)
        perf: tuple[PerfDelta, ...] = ()
        if not live and a is not None and b is not None and a.verdict in WORKING and b.verdict in WORKING:
            # the old run itself may already be in history (a report made again from the same runs): count it once
            earlier = [e for e in (earlier_before or {}).get(cell_id, []) if e.run_id != a.run_id]
            baseline = [*earlier, a][-WINDOW:]
            limits = (thresholds or {}).get(b.model, {})
            perf = perf_deltas(b, [e for e in baseline if e.verdict in WORKING], limits, MIN_POINTS)
        required = any(r is not None and r.required for r in records)
        out.append(CellSides(cell_id, change, required, *records, perf))
    order = {change: index for index, change in enumerate(CHANGED)}
    return tuple(sorted(out, key=lambda c: (order.get(c.change, len(order)), c.cell_id)))


__all__ = ["CHANGED", "CellSides", "Change", "compare_runs"]
