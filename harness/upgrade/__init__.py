"""The upgrade gate: one matrix on two vLLM versions, side by side.

Modules:

- ``preflight``: what each engine says about itself (options, architectures and their implementations, parsers),
  the differences between two of them, and each cell's predicted refusals on each version before any boot.
- ``compare``: two runs cell by cell (broke, fixed, code changed), figures judged by history's noise rule.
- ``report``: the side-by-side Markdown report and the exit decision (1 when a required cell breaks).
"""

from __future__ import annotations

from harness.upgrade.compare import CHANGED, CellSides, Change, compare_runs
from harness.upgrade.preflight import (
    PARSER_FLAGS,
    CellPrediction,
    EngineDiff,
    EngineSide,
    Parsers,
    diff_engines,
    predict_cell,
    refusals,
    refused_by_target,
)
from harness.upgrade.report import UpgradeReport, engine_changes, render

__all__ = [
    "CHANGED",
    "PARSER_FLAGS",
    "CellPrediction",
    "CellSides",
    "Change",
    "EngineDiff",
    "EngineSide",
    "Parsers",
    "UpgradeReport",
    "compare_runs",
    "diff_engines",
    "engine_changes",
    "predict_cell",
    "refusals",
    "refused_by_target",
    "render",
]
