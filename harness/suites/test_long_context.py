"""long_context: a prompt at max-model-len is accepted, one past it refused with HTTP 400; a needle is recalled."""

from __future__ import annotations

from harness.matrix import Cell
from harness.plugin import run_cell
from harness.runner import CellRunner

USE_CASE = "long_context"


def test_long_context(cell: Cell, cell_runner: CellRunner) -> None:
    """The cell's verdict is earned by its probe against a server this run started."""
    run_cell(cell, cell_runner)
