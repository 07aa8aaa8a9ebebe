"""structured_output: response_format json_schema and json_object answers obey the schema, enforced by the engine."""

from __future__ import annotations

from harness.matrix import Cell
from harness.plugin import run_cell
from harness.runner import CellRunner

USE_CASE = "structured_output"


def test_structured_output(cell: Cell, cell_runner: CellRunner) -> None:
    """The cell's verdict is earned by its probe against a server this run started."""
    run_cell(cell, cell_runner)
