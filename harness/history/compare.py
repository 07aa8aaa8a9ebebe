"""A run against history: each cell's transition since its previous comparable run, and its performance deltas.

Comparable means the same cell id on the same machine label (GPU names and driver, or "cpu"): a result from an H100
box says nothing about an L4 box. Everything else in the key (revision, vLLM version, flags, harness) may change
between two comparable results -- that change is what a transition names.

Verdicts fall in three groups: working (PASS, XPASS), broken (FAIL, ERROR, XFAIL) and not judged (SKIP, NOT RUN),
which neither break nor fix a streak. Transitions:

- NEW FAILURE: working in the previous comparable result, broken now.   FIXED: the reverse.
- RECURRING: broken then and now; with the run its streak started in, the last working run and the number of flips.
  STILL EXPECTED: an XFAIL with the same code as before (the matrix's known failure; not listed as news).
- FLAKY: a NEW FAILURE, FIXED or RECURRING cell with at least two flips in its last five comparable results.
- MISSING: in the previous run on this machine, absent from this one.   NEW CELL: no earlier comparable result.

The noise rule for performance (TTFT/TPOT/E2E p50, boot seconds, peak VRAM/RSS; lower is better): the baseline is
the median of the cell's last five working results (for boot seconds, those whose torch.compile cache was in the same
state, warm or cold, when it is known: a cold boot compiles what a warm one loads); a change is flagged only when it
is beyond BOTH the relative threshold (10% unless the matrix sets a tolerance) AND the cell's own run-to-run spread,
the range (max - min) of those same results. Beyond the threshold but within the spread it is "noisy"; with fewer
than three earlier results the spread is not known and the change is "unconfirmed", never a regression. The range
rather than a standard deviation because three to five points give an unstable deviation, and the range is what the
runs really showed. The gate against a single baseline run (``--baseline``) has one point by construction: there the
threshold alone decides, and the delta's text says so.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from harness.history.keys import METRIC_LABELS, METRICS
from harness.history.store import Entry, HistoryStore, RunRow, entries_of
from harness.matrix import LIVE_LABEL
from harness.results import RunResults
from harness.verdicts import Verdict

WORKING = frozenset({Verdict.PASS, Verdict.XPASS})
BROKEN = frozenset({Verdict.FAIL, Verdict.ERROR, Verdict.XFAIL})
DEFAULT_THRESHOLD = 0.10
WINDOW = 5  # results looked at for flakiness and for the performance baseline
# Earlier working results needed before a change can be called a regression: with fewer the spread is unknown (on
# the 2-core CPU box, TTFT moved +400% between two demo runs with nothing changed). A gate against one baseline run
# passes 1: there the threshold alone decides, as the user chose by naming one run.
MIN_POINTS = 3


class Transition(StrEnum):
    NEW_FAILURE = "NEW FAILURE"
    FIXED = "FIXED"
    FLAKY = "FLAKY"
    RECURRING = "RECURRING"
    MISSING = "MISSING"
    NEW_CELL = "NEW CELL"
    STILL_WORKING = "STILL WORKING"
    STILL_EXPECTED = "STILL EXPECTED"  # XFAIL with the same code as before: the known failure, as the matrix says
    NOT_JUDGED = "NOT JUDGED"  # SKIP / NOT RUN now, or only such results before


# The "since the previous run" panel's order: what needs attention first.
PANEL_ORDER: tuple[Transition, ...] = (
    Transition.NEW_FAILURE,
    Transition.FIXED,
    Transition.FLAKY,
    Transition.MISSING,
    Transition.RECURRING,
    Transition.NEW_CELL,
)


class PerfStatus(StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    NOISY = "noisy"  # beyond the threshold, within the cell's own spread
    UNCONFIRMED = "unconfirmed"  # beyond the threshold, too few earlier results to know the cell's spread


@dataclass(frozen=True)
class PerfDelta:
    metric: str
    now: float
    baseline: float  # median of the last working results
    relative: float  # (now - baseline) / baseline
    spread: float  # max - min of those results
    points: int
    threshold: float
    status: PerfStatus
    like: str | None = None  # boot_s: the compile-cache state both sides share ("warm"), None when not known

    def text(self) -> str:
        spread = f"spread {_fmt(self.metric, self.spread)} over {self.points} run(s)"
        if self.status is PerfStatus.UNCONFIRMED:
            spread = f"only {self.points} earlier result(s), spread not known yet"
        elif self.points == 1:
            spread = "one baseline run, no spread: threshold alone"
        label = METRIC_LABELS[self.metric] + (f", {self.like} compile cache" if self.like else "")
        return (
            f"{label} {_fmt(self.metric, self.baseline)} -> {_fmt(self.metric, self.now)} "
            f"({self.relative:+.0%}; threshold {self.threshold:.0%}, {spread}): {self.status}"
        )


def _fmt(metric: str, value: float) -> str:
    if metric in ("peak_vram", "peak_rss"):
        return f"{value / 2**30:.2f} GiB"
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


@dataclass(frozen=True)
class CellChange:
    cell_id: str
    transition: Transition
    now: Entry | None
    before: Entry | None  # the previous comparable (judged) result
    changes: tuple[str, ...] = ()  # what differs in the key since ``before``
    streak_start: str | None = None  # RECURRING: the run the broken streak began in
    last_working: str | None = None  # the last run it worked in, if ever
    flips: int = 0  # working <-> broken changes over its whole comparable history
    recent_flips: int = 0  # within the last WINDOW results
    was: Transition | None = None  # FLAKY: the transition it would otherwise be
    perf: tuple[PerfDelta, ...] = ()

    def summary(self) -> str:
        """One line: "chat-ok-default-chat: NEW FAILURE PASS -> FAIL CONFIG_MISSING; revision ... -> ..."."""
        before = _verdict(self.before)
        now = _verdict(self.now)
        text = f"{self.cell_id}: {self.transition}"
        if self.transition is Transition.MISSING:
            text += f" (was {before})"
        elif self.transition is not Transition.NEW_CELL:
            text += f" {before} -> {now}"
        else:
            text += f" {now}"
        extra: list[str] = []
        if self.changes:
            extra.append("; ".join(self.changes))
        elif self.before is not None and self.now is not None and self.transition in PANEL_ORDER:
            extra.append("nothing in the key changed")
        if self.transition is Transition.RECURRING:
            extra.append(f"broken since {self.streak_start}, last working {self.last_working or 'never'}")
        if self.transition is Transition.FLAKY:
            extra.append(f"{self.recent_flips} flips in the last {WINDOW} results (otherwise {self.was})")
        shown = self.now or self.before
        if shown is not None and shown.live:
            extra.append(f"answered by a {LIVE_LABEL}")
        return text + (" -- " + "; ".join(extra) if extra else "")

    def detail(self) -> str:
        """The summary without the cell id and the transition's name: "PASS -> FAIL CONFIG_MISSING -- revision ..."."""
        return self.summary().removeprefix(f"{self.cell_id}: {self.transition}").lstrip()

    def regressions(self) -> tuple[PerfDelta, ...]:
        return tuple(d for d in self.perf if d.status is PerfStatus.REGRESSION)


def _verdict(entry: Entry | None) -> str:
    if entry is None:
        return "-"
    return f"{entry.verdict}" + (f" {entry.code}" if entry.code else "")


@dataclass(frozen=True)
class Comparison:
    run: RunRow
    previous: RunRow | None
    cells: tuple[CellChange, ...] = field(default=())

    def of(self, *transitions: Transition) -> list[CellChange]:
        return [c for c in self.cells if c.transition in transitions]

    def panel(self) -> list[CellChange]:
        """What changed, new failures first, then fixed, flaky, missing, recurring, new cells."""
        return sorted(self.of(*PANEL_ORDER), key=lambda c: (PANEL_ORDER.index(c.transition), c.cell_id))

    def by_cell(self) -> dict[str, CellChange]:
        return {c.cell_id: c for c in self.cells}


def compare(
    store: HistoryStore,
    run: RunRow,
    *,
    thresholds: Mapping[str, Mapping[str, float]] | None = None,
) -> Comparison:
    """Every cell of ``run`` against its comparable history, plus the previous run's cells absent now.

    ``thresholds``: model name -> metric -> relative threshold (the matrix's ``gate:`` tolerances)."""
    previous = store.previous_run(run)
    before = store.cells(previous.run_id) if previous is not None else []
    return comparison_of(run, previous, store.histories(run), before, thresholds)


def comparison_of(
    run: RunRow,
    previous: RunRow | None,
    histories: Mapping[str, list[Entry]],
    previous_cells: list[Entry],
    thresholds: Mapping[str, Mapping[str, float]] | None = None,
) -> Comparison:
    """``compare`` over histories already read: each of the run's cells with its history up to the run (oldest
    first, the run's own result last), and the previous run's cells."""
    changes: list[CellChange] = []
    for history in histories.values():
        limits = (thresholds or {}).get(history[-1].model, {})
        changes.append(classify(history, limits))
    for entry in previous_cells:
        if entry.key.cell_id not in histories:
            changes.append(CellChange(entry.key.cell_id, Transition.MISSING, None, entry))
    return Comparison(run, previous, tuple(sorted(changes, key=lambda c: c.cell_id)))


def classify(
    history: list[Entry], thresholds: Mapping[str, float] | None = None, min_points: int = MIN_POINTS
) -> CellChange:
    """The last entry of a cell's comparable history (oldest first) against the ones before it."""
    now = history[-1]
    judged = [e for e in history[:-1] if e.verdict in WORKING | BROKEN]
    if now.verdict not in WORKING | BROKEN:
        return CellChange(now.key.cell_id, Transition.NOT_JUDGED, now, judged[-1] if judged else None)
    if not judged:
        return CellChange(now.key.cell_id, Transition.NEW_CELL, now, None)
    before = judged[-1]
    sequence = [e.verdict in WORKING for e in [*judged, now]]
    flip_at = [i for i in range(1, len(sequence)) if sequence[i] != sequence[i - 1]]
    recent = [i for i in flip_at if i >= len(sequence) - WINDOW]
    was_working, working = sequence[-2], sequence[-1]
    if was_working and working:
        transition = Transition.STILL_WORKING
    elif was_working:
        transition = Transition.NEW_FAILURE
    elif working:
        transition = Transition.FIXED
    else:
        transition = Transition.RECURRING
    streak_start = last_working = None
    if not working:
        entries = [*judged, now]
        start = max((i for i in flip_at), default=0)
        streak_start = entries[start].run_id
        last_working = next((e.run_id for e in reversed(judged) if e.verdict in WORKING), None)
    if (
        transition is Transition.RECURRING
        and now.verdict is Verdict.XFAIL
        and before.verdict is Verdict.XFAIL
        and now.code == before.code
    ):
        transition = Transition.STILL_EXPECTED
    was = None
    if transition not in (Transition.STILL_WORKING, Transition.STILL_EXPECTED) and len(recent) >= 2:
        was, transition = transition, Transition.FLAKY
    return CellChange(
        cell_id=now.key.cell_id,
        transition=transition,
        now=now,
        before=before,
        changes=tuple(now.key.changes_since(before.key)),
        streak_start=streak_start,
        last_working=last_working,
        flips=len(flip_at),
        recent_flips=len(recent),
        was=was,
        perf=perf_deltas(now, [e for e in judged if e.verdict in WORKING][-WINDOW:], thresholds or {}, min_points),
    )


def perf_deltas(
    now: Entry, earlier: list[Entry], thresholds: Mapping[str, float], min_points: int = MIN_POINTS
) -> tuple[PerfDelta, ...]:
    """Each figure against the median of the earlier working results; flagged beyond threshold AND spread, and
    UNCONFIRMED while fewer than ``min_points`` earlier results say what the spread is."""
    out: list[PerfDelta] = []
    for metric in METRICS:
        value = now.figures.get(metric)
        like = now.compile_cache if metric == "boot_s" else None
        # boot seconds compare like with like: a warm compile cache skips what a cold one compiles
        pool = [e for e in earlier if e.compile_cache == like] if like is not None else earlier
        points = [v for v in (e.figures.get(metric) for e in pool) if v is not None]
        if value is None or not points:
            continue
        baseline = statistics.median(points)
        if baseline <= 0:
            continue
        threshold = thresholds.get(metric, DEFAULT_THRESHOLD)
        relative = (value - baseline) / baseline
        spread = max(points) - min(points)
        if abs(relative) <= threshold:
            continue
        if len(points) < min_points:
            status = PerfStatus.UNCONFIRMED
        elif abs(value - baseline) <= spread:
            status = PerfStatus.NOISY
        else:
            status = PerfStatus.REGRESSION if value > baseline else PerfStatus.IMPROVEMENT
        out.append(PerfDelta(metric, value, baseline, relative, spread, len(points), threshold, status, like))
    return tuple(out)


def new_failures(store: HistoryStore, run: RunResults) -> tuple[RunRow, frozenset[str]] | None:
    """For a run not (necessarily) in history yet, as STATUS.md is written before `history add`: the run before it
    on its machine, and the cells working there (PASS, XPASS) that are broken in it (FAIL, ERROR, XFAIL); None when
    history has no earlier run on that machine."""
    entries = entries_of(run)
    if not entries:
        return None
    now = entries[0]
    earlier = [r for r in store.runs(now.key.gpu) if (r.run_at, r.run_id) < (now.run_at, now.run_id)]
    if not earlier:
        return None
    previous = earlier[-1]
    before = {e.key.cell_id: e.verdict for e in store.cells(previous.run_id)}
    broken = {e.key.cell_id for e in entries if e.verdict in BROKEN and before.get(e.key.cell_id) in WORKING}
    return previous, frozenset(broken)
