"""What the session-scoped runs of tests/conftest.py hand to the e2e modules that read them."""

from __future__ import annotations

from dataclasses import dataclass

from harness.results import CellRecord, RunResults, ServerRecord


@dataclass(frozen=True)
class DemoRun:
    """One real `vllm-compat run --demo`: its exit status, its records read back, and what it printed."""

    returncode: int
    results: RunResults
    output: str

    def cell(self, cell_id: str) -> CellRecord:
        return next(c for c in self.results.cells if c.cell_id == cell_id)

    def server(self, cell_id: str) -> ServerRecord:
        """The server this run booted for the cell (its flags, boot time, log)."""
        cell = self.cell(cell_id)
        assert cell.server is not None, f"{cell_id} had no server: {cell.message}"
        key = cell.server.key
        return next(s for s in self.results.servers if s.server_key == key)
