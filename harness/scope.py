"""What a run of a matrix was meant to judge: the cells in its scope, which of them are required, and which a live
endpoint answers.

The gate and the upgrade check read a run's recorded cells; a cell that was never recorded (``run -m chat`` on a
matrix that also requires completions, a shard that crashed, a worker that was killed) leaves no line to read. Only the
matrix says it should be there, so the gate asks this module for the run's scope rather than trusting the records.

The scope is the deployment's cells for a ``--deployment`` run (its record names it; a run cut short before the
deployment record was written is known by its cells' ``<deployment>.<service>`` models), else the matrix's cells.
A marker or keyword selection (``-m``, ``-k``) does not narrow it: a rollout needs every required cell judged.
A cell of the scope that is known never to have been reached (an interrupted run, a shard that left no results) is
recorded with ``not_run_record``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.matrix import Cell, Matrix
from harness.results import CellRecord, RunResults, now_iso
from harness.verdicts import Verdict


@dataclass(frozen=True)
class ScopeCell:
    """One cell the run should have recorded."""

    cell_id: str
    model: str
    required: bool
    live: bool  # the matrix sends it to a live endpoint: no engine of ours serves it


@dataclass(frozen=True)
class RunScope:
    """The cells a run of ``source`` was meant to judge (``cells`` None: no matrix known, so nobody can say)."""

    source: str  # the matrix and the part of it, in words; or why there is none
    cells: Mapping[str, ScopeCell] | None = None
    tolerances: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # model -> figure -> tolerance

    @property
    def known(self) -> bool:
        return self.cells is not None

    def required(self) -> list[ScopeCell]:
        return [c for c in (self.cells or {}).values() if c.required]

    def includes(self, cell_id: str) -> bool | None:
        """True or False when the matrix is known; None when it is not."""
        return None if self.cells is None else cell_id in self.cells


def _scope_cell(cell: Cell) -> ScopeCell:
    return ScopeCell(cell.id, cell.model.name, cell.required, cell.endpoint is not None)


def deployment_of(matrix: Matrix, run: RunResults) -> str | None:
    """The deployment a run verified: from its deployment record, else from its cells' service models."""
    for record in run.deployments:
        if record.name in matrix.deployments:
            return record.name
    models = {cell.model for cell in run.cells}
    for name, deployment in matrix.deployments.items():
        if models & {service.model.name for service in deployment.services}:
            return name
    return None


def scope_of(matrix: Matrix, run: RunResults) -> RunScope:
    """The run's scope in ``matrix``, with the matrix's per-model ``gate:`` tolerances."""
    deployment = deployment_of(matrix, run)
    cells = matrix.deployments[deployment].cells if deployment is not None else matrix.cells
    part = f"deployment {deployment}" if deployment is not None else "its models"
    required = sum(1 for c in cells if c.required)
    models = {cell.model.name: cell.model for cell in cells} | {model.name: model for model in matrix.models}
    return RunScope(
        source=f"matrix {matrix.path} ({part}: {len(cells)} cell(s), {required} required)",
        cells={c.id: _scope_cell(c) for c in cells},
        tolerances={name: dict(model.gate) for name, model in models.items() if model.gate},
    )


def unknown_scope(why: str) -> RunScope:
    """No matrix to read: the gate says so instead of judging as if nothing were required or bounded."""
    return RunScope(source=why)


def not_run_record(cell: Cell, run_id: str, message: str) -> CellRecord:
    """The NOT RUN line of a planned cell that was never reached (an interrupted run, a shard that left nothing)."""
    return CellRecord(
        run_id=run_id,
        cell_id=cell.id,
        model=cell.model.name,
        model_id=cell.model.id,
        revision=cell.model.revision,
        profile=cell.profile,
        use_case=cell.use_case,
        verdict=Verdict.NOT_RUN,
        required=cell.required,
        message=message,
        finished_at=now_iso(),
    )


__all__ = ["RunScope", "ScopeCell", "deployment_of", "not_run_record", "scope_of", "unknown_scope"]
