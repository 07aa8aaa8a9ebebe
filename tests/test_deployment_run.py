"""A deployment's run through the real pool on the stand-in engine (tests/fake_engine.py, never a verdict): boots
in order, a memory failure after a neighbour is attributed to it, the concurrent phase starts together, no process
is left; tests/test_e2e_deployment.py runs real vLLM."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.deploy import DeploymentRun, probe_at_once, service_verdicts, timeline
from harness.matrix import Cell, load_matrix
from harness.results import read_results
from harness.runner import CellRunner, Outcome
from harness.verdicts import Verdict
from tests.pool_fake import fake_runner


def _runner(tmp_path: Path) -> CellRunner:
    return fake_runner(tmp_path)


def _matrix(tmp_path: Path, second_mode: str) -> Path:
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text('{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}')
    path = tmp_path / "matrix.yaml"
    path.write_text(
        f"models:\n  - {{id: {model}, name: m, use_cases: [chat]}}\n"
        "deployments:\n  stack:\n    services:\n"
        "      - {name: agent, model: m, gpu-memory-utilization: 0.4, env: {FAKE_ENGINE_MODE: serve}}\n"
        f"      - {{name: second, model: m, gpu-memory-utilization: 0.4, env: {{FAKE_ENGINE_MODE: {second_mode}}}}}\n"
    )
    return path


def test_a_kv_failure_at_boot_after_a_running_neighbour_is_attributed_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second service dies with the KV-cache error after the first was up on the same GPU: the record says it
    booted second, and the verdict says it fails because of its neighbour; the first is stopped at the end."""
    runner = _runner(tmp_path)
    deployment = load_matrix(_matrix(tmp_path, "die")).deployments["stack"]
    monkeypatch.setattr(runner, "needs_server", lambda cell: True)  # the stand-in has no pre-flight to pass
    runner.plan(deployment.cells)
    stack = DeploymentRun(runner, deployment)
    try:
        steps = stack.boot()
        assert [(s.service.name, s.booted, s.code) for s in steps] == [
            ("agent", True, None),
            ("second", False, "KV_BUDGET"),
        ]
        agent = runner.servers.known("stack.agent-default")
        for cell in deployment.cells:  # what the suites' cells do when they end: one step towards the stop
            runner.servers.finish(cell)
        monkeypatch.setattr(runner, "evaluate", lambda cell: Outcome(verdict=Verdict.PASS, message="stand-in"))
        record = stack.finish()
    finally:
        runner.close()
    assert record is not None and not agent.alive()  # type: ignore[union-attr]
    first, second = record.services
    assert second.boot_started_at is not None and first.ready_at is not None
    assert second.boot_started_at >= first.ready_at and first.stopped_at is not None
    assert [p.verdict for p in first.under_load] == [Verdict.PASS] and second.under_load == ()
    assert second.stage == "boot" and second.code == "KV_BUDGET"
    verdicts = service_verdicts(record, [])
    assert verdicts[1].neighbours == ("agent",)
    assert "KV_BUDGET at boot after agent already held memory on GPU 0 (it booted second)" in verdicts[1].because
    assert not timeline(record).boots_overlapped
    on_disk = read_results(tmp_path / "run")
    assert on_disk.deployments == [record]
    assert {s.server_key: s.outcome for s in on_disk.servers} == {
        "stack.agent-default": "stopped",
        "stack.second-default": "boot_failed",
    }


def test_services_stay_up_past_their_last_cell_until_the_deployment_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hold keeps a service whose cells are all done running, so the concurrent phase finds every one alive."""
    runner = _runner(tmp_path)
    deployment = load_matrix(_matrix(tmp_path, "serve")).deployments["stack"]
    monkeypatch.setattr(runner, "needs_server", lambda cell: True)
    runner.plan(deployment.cells)
    stack = DeploymentRun(runner, deployment)
    try:
        stack.boot()
        for cell in deployment.cells:  # what the suites' cells do when they end: one step towards the stop
            runner.servers.finish(cell)
        servers = [runner.servers.known(s.server_key) for s in deployment.services]
        assert all(s is not None and s.alive() for s in servers)  # type: ignore[union-attr]
        alive_when_probed: list[bool] = []

        def probe(cell: Cell) -> Outcome:
            alive_when_probed.append(runner.servers.known(cell.server_key).alive())  # type: ignore[union-attr]
            return Outcome(verdict=Verdict.PASS)

        monkeypatch.setattr(runner, "evaluate", probe)
        record = stack.finish()
    finally:
        runner.close()
    assert alive_when_probed == [True, True]
    assert record is not None and all(s.stopped_at for s in record.services)
    assert not any(s.alive() for s in servers)  # type: ignore[union-attr]
    assert stack.finish() is None  # once


def test_the_concurrent_phase_starts_every_service_together_and_turns_a_crash_into_error(tmp_path: Path) -> None:
    """Threads wait for each other at the start; a probe that raises is ERROR under load, never a pass."""
    deployment = load_matrix(_matrix(tmp_path, "serve")).deployments["stack"]
    started: dict[str, float] = {}

    class StandIn:
        def evaluate(self, cell: Cell) -> Outcome:
            started[cell.model.name] = time.monotonic()
            if cell.model.name == "stack.second":
                raise RuntimeError("probe broke")
            time.sleep(0.2)
            return Outcome(verdict=Verdict.PASS)

    jobs = {s.name: s.cells for s in deployment.services}
    results = probe_at_once(StandIn(), jobs)  # type: ignore[arg-type]
    assert abs(started["stack.agent"] - started["stack.second"]) < 0.15
    assert results["agent"][0].verdict is Verdict.PASS and results["agent"][0].seconds >= 0.2
    assert results["second"][0].verdict is Verdict.ERROR and "probe broke" in results["second"][0].message
