"""Boot a deployment's services one after another, each ready before the next starts.

vLLM engines that initialise on one GPU at the same time fail where the same engines started one after the other
work (vLLM issue 9198): a stack must come up in order, so the harness boots it that way and records when each
service started and became ready.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.checkpoint import CheckpointError
from harness.codes import Code
from harness.matrix import LIVE_LABEL, Cell, Deployment, Service
from harness.results import now_iso
from harness.server import BootError

if TYPE_CHECKING:
    from harness.runner import CellRunner


@dataclass(frozen=True)
class BootStep:
    """One service's place in the boot sequence and how its boot ended."""

    service: Service
    order: int  # 1 = first
    booted: bool
    started_at: str | None = None
    ready_at: str | None = None
    boot_s: float | None = None
    code: Code | None = None
    evidence: str | None = None
    # a failure's stage: "boot", "dry_boot", "schedule" (the GPU check before any boot), "preflight" (a harness error)
    stage: str | None = None


@dataclass(frozen=True)
class BootPlan:
    """What a service's boot needs: the cells that need its server, and the harness errors pre-flight raised."""

    cells: tuple[Cell, ...]
    errors: tuple[str, ...] = ()  # "chat: RuntimeError: ...": those cells are recorded ERROR when they run


def boot_plan(runner: CellRunner, service: Service) -> BootPlan:
    """The service's cells that need its server (pre-flight lets them through and a probe exists), and the harness
    errors met on the way: a broken pre-flight is the harness's failure, never "pre-flight failed the cell"."""
    wanted: list[Cell] = []
    errors: list[str] = []
    for cell in service.cells:
        try:
            if runner.needs_server(cell):
                wanted.append(cell)
        except Exception as error:  # the cell itself is recorded ERROR when it runs; the boot step names it too
            errors.append(f"{cell.use_case}: {type(error).__name__}: {error}")
    return BootPlan(tuple(wanted), tuple(errors))


def cells_that_boot(runner: CellRunner, service: Service) -> list[Cell]:
    """The service's cells that need its server: pre-flight lets them through and a probe exists."""
    return list(boot_plan(runner, service).cells)


def boot_in_order(runner: CellRunner, deployment: Deployment) -> tuple[BootStep, ...]:
    """Boot each service in the matrix's order, waiting for it to be ready (or to fail) before the next one."""
    steps: list[BootStep] = []
    for order, service in enumerate(deployment.services, start=1):
        plan = boot_plan(runner, service)
        cells = list(plan.cells)
        if service.cells and all(cell.endpoint is not None for cell in service.cells):
            runner.say(f"[{deployment.name}] {order}. {service.name}: nothing to boot ({LIVE_LABEL})")
            steps.append(BootStep(service, order, booted=False, evidence=LIVE_LABEL))
            continue
        if not cells and plan.errors:
            evidence = f"harness error in pre-flight (its cells are recorded ERROR): {'; '.join(plan.errors)}"
            runner.say(f"[{deployment.name}] {order}. {service.name}: not booted: {evidence}")
            steps.append(BootStep(service, order, booted=False, evidence=evidence, stage="preflight"))
            continue
        if not cells:
            runner.say(f"[{deployment.name}] {order}. {service.name}: nothing to boot (pre-flight failed every cell)")
            steps.append(BootStep(service, order, booted=False, evidence="pre-flight failed every use case"))
            continue
        runner.say(f"[{deployment.name}] {order}. {service.name}: booting ({', '.join(cells[0].model.use_cases)})")
        started_at, clock = now_iso(), time.monotonic()
        try:
            server = runner.servers.get(cells[0])
        except (BootError, CheckpointError) as error:
            if isinstance(error, BootError):
                seconds, code, evidence = error.elapsed, error.diagnosis.code, error.diagnosis.evidence
                stage = str(getattr(error, "stage", "boot"))
            else:  # the weights could not be fetched: nothing booted
                seconds, code, evidence, stage = time.monotonic() - clock, error.code, error.message, "fetch"
            failed = BootStep(service, order, False, started_at, None, round(seconds, 2), Code(code), evidence, stage)
            runner.say(f"[{deployment.name}] {order}. {service.name}: did not boot: {code}")
            steps.append(failed)
            continue
        steps.append(BootStep(service, order, True, started_at, now_iso(), round(server.boot_seconds, 2)))
    return tuple(steps)
