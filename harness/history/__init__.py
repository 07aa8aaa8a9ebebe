"""History: every run's cells keyed by what makes them comparable, and what changed since the previous run.

Modules:

- ``keys``: the history key of a cell (cell id, model id + resolved revision, vLLM version/commit, flags hash, GPU +
  driver or "cpu", harness version), what changed between two keys in words, and the figures kept per cell.
- ``store``: ``HistoryStore``, the SQLite file (schema versioned and migrated), ``add`` idempotent by run id.
- ``compare``: a run against each cell's previous comparable result: NEW FAILURE / FIXED / RECURRING / FLAKY /
  MISSING / NEW CELL, and performance deltas flagged beyond both a threshold and the cell's own spread.
"""

from __future__ import annotations

from harness.history.compare import (
    BROKEN,
    DEFAULT_THRESHOLD,
    MIN_POINTS,
    PANEL_ORDER,
    WINDOW,
    WORKING,
    CellChange,
    Comparison,
    PerfDelta,
    PerfStatus,
    Transition,
    classify,
    compare,
    comparison_of,
    new_failures,
    perf_deltas,
)
from harness.history.keys import METRIC_LABELS, METRICS, HistoryKey, flag_changes, gpu_label, key_of, short_revision
from harness.history.store import (
    DEFAULT_HISTORY,
    MIGRATIONS_COUNT,
    Entry,
    HistoryError,
    HistoryStore,
    RunRow,
    entries_of,
    run_at,
    run_id_of,
)

__all__ = [
    "BROKEN",
    "DEFAULT_HISTORY",
    "DEFAULT_THRESHOLD",
    "METRICS",
    "METRIC_LABELS",
    "MIGRATIONS_COUNT",
    "MIN_POINTS",
    "PANEL_ORDER",
    "WINDOW",
    "WORKING",
    "CellChange",
    "Comparison",
    "Entry",
    "HistoryError",
    "HistoryKey",
    "HistoryStore",
    "PerfDelta",
    "PerfStatus",
    "RunRow",
    "Transition",
    "classify",
    "compare",
    "comparison_of",
    "entries_of",
    "flag_changes",
    "gpu_label",
    "key_of",
    "new_failures",
    "perf_deltas",
    "run_at",
    "run_id_of",
    "short_revision",
]
