"""One deployment run: hold every service, boot them in order, let the cells run while all are up, probe all at
once, stop them, and write the deployment's record.

The cells' own verdicts come from the ordinary path (the suites run each cell through ``CellRunner.run`` while every
service is up); this module adds what only a stack has: the boot order, the overlap, the concurrent phase.
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

import psutil

from harness.deploy.concurrent import probe_at_once
from harness.deploy.sequence import BootStep, boot_in_order, cells_that_boot
from harness.engine import gpu_inventory
from harness.matrix import Deployment
from harness.results import DeployedService, DeploymentRecord, GpuRecord, LoadProbe, append_record, now_iso
from harness.runner import interrupts
from harness.server import VllmServer

if TYPE_CHECKING:
    from harness.runner import CellRunner


def _interrupted() -> str | None:
    """The signal this process received (SIGINT, SIGTERM), None while it runs on."""
    signum = interrupts.STATE.signum
    return None if signum is None else signal.Signals(signum).name


class DeploymentRun:
    """The deployment's life in one pytest process: ``boot()`` before its cells, ``finish()`` after them."""

    def __init__(self, runner: CellRunner, deployment: Deployment) -> None:
        self.runner = runner
        self.deployment = deployment
        self.steps: tuple[BootStep, ...] = ()
        self._held = [service.cells[0] for service in deployment.services if service.cells]
        self._finished = False

    def boot(self) -> tuple[BootStep, ...]:
        """Keep every service up until ``finish()`` (past its last cell), then boot them one after another."""
        for cell in self._held:
            self.runner.servers.hold(cell)
        self.steps = boot_in_order(self.runner, self.deployment)
        up = sum(step.booted for step in self.steps)
        self.runner.say(f"[{self.deployment.name}] {up} of {len(self.steps)} services up together")
        return self.steps

    def finish(self) -> DeploymentRecord | None:
        """The concurrent phase, then every service stopped, then the record (once; None on a second call).

        After SIGINT / SIGTERM (pytest tears the session fixture down, which calls this) there is no concurrent
        phase: the services are stopped at once, within the interrupt's bound, and the record says the phase was
        skipped. A signal during the phase ends it the same way, and the interrupt goes on once the record is
        written."""
        if self._finished:
            return None
        self._finished = True
        interrupted = _interrupted()
        under_load: dict[str, tuple[LoadProbe, ...]] = {}
        concurrent_started_at: str | None = None
        concurrent_s: float | None = None
        stop: KeyboardInterrupt | None = None
        if interrupted is None:
            booted = [step for step in self.steps if step.booted]
            jobs = {step.service.name: cells_that_boot(self.runner, step.service) for step in booted}
            concurrent_started_at = now_iso() if jobs else None
            clock = time.monotonic()
            if jobs:
                self.runner.say(f"[{self.deployment.name}] concurrent phase: {len(jobs)} services probed at once")
            try:
                under_load = probe_at_once(self.runner, jobs)
            except KeyboardInterrupt as signal_:  # the first signal lands in this thread, waiting for the probes
                stop, under_load = signal_, {}
                interrupted = _interrupted() or "interrupted"
            concurrent_s = round(time.monotonic() - clock, 2) if jobs else None
        if interrupted is not None:
            phase = "concurrent phase cut short" if stop is not None else "no concurrent phase"
            self.runner.say(f"[{self.deployment.name}] {interrupted}: {phase}; stopping every service")
        servers = {cell.server_key: self.runner.servers.known(cell.server_key) for cell in self._held}
        for cell in self._held:
            self.runner.servers.finish(cell)  # the hold's release: the server stops if its cells are done
        if interrupted is not None:
            self.runner.close()  # cells never reached keep a server up: every one goes now, not after the record
        stopped: dict[str, str] = {}
        for key, server in servers.items():
            if isinstance(server, VllmServer) and not server.alive():
                stopped[key] = now_iso()
        record = DeploymentRecord(
            run_id=self.runner.run_id,
            name=self.deployment.name,
            description=self.deployment.description,
            services=tuple(self._service(step, under_load.get(step.service.name, ()), stopped) for step in self.steps),
            at=now_iso(),
            concurrent_started_at=concurrent_started_at,
            concurrent_s=concurrent_s,
            interrupted=(
                f"{interrupted}: the concurrent phase was {'cut short' if stop is not None else 'skipped'}"
                if interrupted is not None
                else None
            ),
            gpus=tuple(GpuRecord.from_json(gpu) for gpu in gpu_inventory()["gpus"]),
            host_memory_bytes=int(psutil.virtual_memory().total),
        )
        append_record(self.runner.results_path, record)
        if stop is not None:
            raise stop
        return record

    @staticmethod
    def _service(step: BootStep, under_load: tuple[LoadProbe, ...], stopped: dict[str, str]) -> DeployedService:
        service = step.service
        return DeployedService(
            name=service.name,
            model=service.source_model,
            cell_model=service.model.name,
            server_key=service.server_key,
            use_cases=service.model.use_cases,
            devices=service.devices,
            pinned=service.gpus is not None,
            share=service.share,
            port=service.port,
            order=step.order,
            booted=step.booted,
            boot_started_at=step.started_at,
            ready_at=step.ready_at,
            stopped_at=stopped.get(service.server_key) if step.booted else None,
            boot_s=step.boot_s,
            code=step.code,
            evidence=step.evidence,
            under_load=under_load,
            stage=step.stage,
        )
