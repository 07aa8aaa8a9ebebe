"""image_generation: image generation: vLLM cannot serve it, so the cell is reported NOT_SERVABLE with the reason."""

from __future__ import annotations

from harness.matrix import Cell
from harness.plugin import run_cell
from harness.runner import CellRunner

USE_CASE = "image_generation"


def test_image_generation(cell: Cell, cell_runner: CellRunner) -> None:
    """The cell's verdict is earned by its probe against a server this run started."""
    run_cell(cell, cell_runner)
