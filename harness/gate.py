"""The pre-deployment gate: a rollout is blocked when a required cell does not PASS, or a cell regressed.

Pure over typed results.jsonl records, so the decision can be tested on recorded runs and re-made later from the files.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.results import CellRecord, RunResults
from harness.verdicts import Verdict


@dataclass(frozen=True)
class Blocker:
    cell_id: str
    reason: str  # one line: what the cell did, what the gate needed


@dataclass(frozen=True)
class GateDecision:
    blockers: tuple[Blocker, ...]
    required: int  # required cells seen in the run
    compared: int  # cells also present in the baseline

    @property
    def passed(self) -> bool:
        return not self.blockers


def decide(run: RunResults, baseline: RunResults | None = None) -> GateDecision:
    """Required cells must PASS (an XFAIL is still a failure to a rollout); with a baseline, a cell that passed
    there and does not pass now is a regression, required or not."""
    blockers: list[Blocker] = []
    required = [c for c in run.cells if c.required]
    for cell in required:
        if cell.verdict is not Verdict.PASS:
            blockers.append(Blocker(cell.cell_id, f"required, but {cell.verdict}{_code(cell)}: {cell.message}"))
    compared = 0
    if baseline is not None:
        before = {c.cell_id: c for c in baseline.cells}
        for cell in run.cells:
            previous = before.get(cell.cell_id)
            if previous is None:
                continue
            compared += 1
            if previous.verdict is Verdict.PASS and cell.verdict is not Verdict.PASS and not cell.required:
                blockers.append(
                    Blocker(cell.cell_id, f"regressed: PASS in the baseline, now {cell.verdict}{_code(cell)}")
                )
    return GateDecision(tuple(blockers), len(required), compared)


def _code(cell: CellRecord) -> str:
    return f" {cell.code}" if cell.code else ""
