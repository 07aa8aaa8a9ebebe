"""lora: --lora-modules adapters listed under their base, answering as themselves; an unknown adapter name refused."""

from __future__ import annotations

from harness.matrix import Cell
from harness.plugin import run_cell
from harness.runner import CellRunner

USE_CASE = "lora"


def test_lora(cell: Cell, cell_runner: CellRunner) -> None:
    """The cell's verdict is earned by its probe against a server this run started."""
    run_cell(cell, cell_runner)
