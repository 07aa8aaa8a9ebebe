"""SIGINT / SIGTERM during `--deployment`: no concurrent phase after the signal, every service stopped within the
README's bound (20 s from the signal to the last engine gone), the record saying so. On the stand-in engine
(tests/fake_engine.py) through the real pool and the real signal handler; never a verdict."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_deployment_run import _matrix, _runner

from harness.deploy import DeploymentRun
from harness.matrix import Cell, load_matrix
from harness.report import render_status
from harness.results import read_results
from harness.runner import Outcome, interrupts
from harness.server import VllmServer
from harness.verdicts import Verdict

CLEANUP_BOUND_S = 20.0  # README, "What survives what": the signal to the last engine process gone


@pytest.fixture
def handler() -> Iterator[None]:
    """The harness's own SIGINT / SIGTERM handler for this test, given back (and the state forgotten) after it."""
    interrupts.reset()
    assert interrupts.install(say=lambda text: None)
    try:
        yield
    finally:
        interrupts.uninstall()
        interrupts.reset()


def _signal_now(signum: int) -> float:
    """Send ``signum`` to this process as a CI cancel would; the handler raises KeyboardInterrupt here."""
    at = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signum)  # the handler runs at the next bytecode, here
    return at


def test_a_signal_before_the_teardown_skips_the_concurrent_phase_and_stops_every_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, handler: None
) -> None:
    """SIGTERM while the services' cells run (none finished): the session's teardown probes nothing more, every
    engine is gone well within the bound before finish() returns, and the record says the phase was skipped."""
    runner = _runner(tmp_path)
    deployment = load_matrix(_matrix(tmp_path, "serve")).deployments["stack"]
    monkeypatch.setattr(runner, "needs_server", lambda cell: True)
    runner.plan(deployment.cells)
    stack = DeploymentRun(runner, deployment)
    probed: list[str] = []

    def probe(cell: Cell) -> Outcome:
        probed.append(cell.id)
        time.sleep(3)  # a probe under load is slow: running them would blow the bound
        return Outcome(verdict=Verdict.PASS)

    try:
        stack.boot()
        servers = [runner.servers.known(s.server_key) for s in deployment.services]
        assert all(isinstance(s, VllmServer) and s.alive() for s in servers)
        monkeypatch.setattr(runner, "evaluate", probe)
        signalled = _signal_now(signal.SIGTERM)
        record = stack.finish()  # what the session fixture's teardown does after the interrupt
        gone = time.monotonic() - signalled
        alive = [s.alive() for s in servers if isinstance(s, VllmServer)]
    finally:
        runner.close()
    assert probed == []
    assert alive == [False, False] and gone < CLEANUP_BOUND_S
    assert record is not None and record.interrupted == "SIGTERM: the concurrent phase was skipped"
    assert record.concurrent_started_at is None and all(s.under_load == () for s in record.services)
    assert all(s.stopped_at for s in record.services)
    results = read_results(tmp_path / "run")
    assert results.deployments == [record]
    assert "**Run interrupted** (SIGTERM: the concurrent phase was skipped)" in render_status(results)
    print(f"\n[reliability] SIGTERM before the deployment's teardown: services gone {gone:.1f} s after the signal")


def test_a_signal_during_the_concurrent_phase_ends_it_and_stops_every_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, handler: None
) -> None:
    """SIGINT while both services are being probed at once: finish() stops waiting for the probes, stops every
    engine, writes the record (phase cut short) and lets the interrupt go on."""
    runner = _runner(tmp_path)
    deployment = load_matrix(_matrix(tmp_path, "serve")).deployments["stack"]
    monkeypatch.setattr(runner, "needs_server", lambda cell: True)
    runner.plan(deployment.cells)
    stack = DeploymentRun(runner, deployment)
    release = threading.Event()
    started = threading.Barrier(3)

    def probe(cell: Cell) -> Outcome:
        started.wait(timeout=120)  # generous: a loaded CI machine starts threads late
        release.wait(timeout=300)  # a probe that would hang far past the bound
        return Outcome(verdict=Verdict.PASS)

    sent: list[float] = []

    def cancel() -> None:
        started.wait(timeout=120)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    try:
        stack.boot()
        for cell in deployment.cells:
            runner.servers.finish(cell)
        servers = [runner.servers.known(s.server_key) for s in deployment.services]
        monkeypatch.setattr(runner, "evaluate", probe)
        threading.Thread(target=cancel, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            stack.finish()
        gone = time.monotonic() - sent[0]
        alive = [s.alive() for s in servers if isinstance(s, VllmServer)]
    finally:
        release.set()
        runner.close()
    assert alive == [False, False] and gone < CLEANUP_BOUND_S
    (record,) = read_results(tmp_path / "run").deployments
    assert record.interrupted == "SIGINT: the concurrent phase was cut short"
    assert all(s.stopped_at for s in record.services)
