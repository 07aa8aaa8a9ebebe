"""embeddings: /v1/embeddings returns finite, deterministic vectors of the model's hidden size."""

from __future__ import annotations

from harness.matrix import Cell
from harness.plugin import run_cell
from harness.runner import CellRunner

USE_CASE = "embeddings"


def test_embeddings(cell: Cell, cell_runner: CellRunner) -> None:
    """The cell's verdict is earned by its probe against a server this run started."""
    run_cell(cell, cell_runner)
