"""Errors in the server pool and a deployment's pre-flight are recorded with their real cause, never swallowed: a
start that raises something else than BootError, a teardown that raises, a pre-flight that breaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.codes import Code
from harness.deploy import boot_in_order
from harness.matrix import load_matrix
from harness.results import ServerOutcome, ServerRecord, read_records, read_results
from harness.runner import ServerPool
from harness.server import BootError, VllmServer
from tests.pool_fake import fake_pool
from tests.test_deployment_run import _matrix, _runner
from tests.test_fleet_pool import _described


def _held(pool: ServerPool) -> list[str]:
    """The holders of the pool's one simulated GPU."""
    scheduler = pool.scheduler
    return [h.holder for h in scheduler.allocator.holders(scheduler.inventory.units[0])]


def test_a_start_that_raises_another_error_is_a_recorded_boot_failure_not_a_live_server(tmp_path: Path) -> None:
    """An engine python that cannot be executed: BOOT_FAILED with the PermissionError as cause, remembered, no lease."""
    pool, cell = fake_pool(tmp_path, scheduler=_described(tmp_path, "1xH100-80GB"))
    (tmp_path / "engine" / "python").chmod(0o644)  # not executable: Popen raises PermissionError, not BootError
    try:
        with pytest.raises(BootError) as first:
            pool.get(cell)
        assert first.value.diagnosis.code == Code.OTHER
        assert "PermissionError" in first.value.diagnosis.evidence
        assert isinstance(first.value.__cause__, PermissionError)
        assert not isinstance(pool.known(cell.server_key), VllmServer)  # no dead server kept for the next cell
        assert _held(pool) == []  # the GPU was given back at once, not at the end of the run
        with pytest.raises(BootError) as again:
            pool.get(cell)
        assert again.value is first.value
    finally:
        pool.close()
    (record,) = read_results(tmp_path / "run").servers
    assert record.outcome is ServerOutcome.BOOT_FAILED and record.code == Code.OTHER
    assert record.evidence is not None and "PermissionError" in record.evidence


def test_a_file_the_boot_needs_that_cannot_be_had_stays_a_fetch_failure_and_frees_the_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CheckpointError while the server is set up is raised as it is (the cell's fetch failure), the GPU freed."""
    from harness.checkpoint import CheckpointError

    pool, cell = fake_pool(tmp_path, scheduler=_described(tmp_path, "1xH100-80GB"))

    def missing(*args: object, **kwargs: object) -> VllmServer:
        raise CheckpointError("TOKENIZER_MISSING", "the tokenizer the matrix names is not cached", "offline")

    monkeypatch.setattr(pool, "_server", missing)
    try:
        with pytest.raises(CheckpointError):
            pool.get(cell)
        assert _held(pool) == []
    finally:
        pool.close()
    assert read_results(tmp_path / "run").servers == []


def test_a_dry_boot_that_raises_another_error_is_a_recorded_dry_boot_failure(tmp_path: Path) -> None:
    """The same for the dry boot: DryBootError with the real cause, a BOOT_FAILED line of stage dry_boot."""
    from harness.runner import DryBootError

    pool, cell = fake_pool(tmp_path, dry_boot=True)
    (tmp_path / "engine" / "python").chmod(0o644)
    try:
        with pytest.raises(DryBootError, match="PermissionError"):
            pool.get(cell)
        assert isinstance(pool.known(cell.server_key), DryBootError)
    finally:
        pool.close()
    (record,) = read_results(tmp_path / "run").servers
    assert (record.outcome, record.stage, record.code) == (ServerOutcome.BOOT_FAILED, "dry_boot", Code.OTHER)


def test_a_teardown_that_raises_still_writes_the_stopped_line_and_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """server.stop() raising: the STOPPED line is written naming the error, the lease is released, the error is
    raised to the caller (which records it on the cell) instead of being swallowed."""
    pool, cell = fake_pool(tmp_path, scheduler=_described(tmp_path, "1xH100-80GB"))
    try:
        server = pool.get(cell)
        assert _held(pool) == [cell.server_key]
        real_stop = server.stop

        def broken_stop() -> list[int]:
            real_stop()
            raise OSError("psutil could not read the process table")

        monkeypatch.setattr(server, "stop", broken_stop)
        with pytest.raises(OSError, match="process table"):
            pool.finish(cell)
    finally:
        pool.close()
    lines = [r for r in read_records(tmp_path / "run" / "results.jsonl") if isinstance(r, ServerRecord)]
    assert [r.outcome for r in lines] == [ServerOutcome.READY, ServerOutcome.STOPPED]
    assert lines[1].evidence == "teardown failed: OSError: psutil could not read the process table"
    assert _held(pool) == []


def test_a_harness_error_in_a_deployments_preflight_is_recorded_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pre-flight that raises is named as a harness error in the boot step, not "pre-flight failed every use case"."""
    runner = _runner(tmp_path)
    deployment = load_matrix(_matrix(tmp_path, "serve")).deployments["stack"]

    def broken(cell: object) -> bool:
        raise RuntimeError("tokenizer check crashed")

    monkeypatch.setattr(runner, "needs_server", broken)
    runner.plan(deployment.cells)
    try:
        steps = boot_in_order(runner, deployment)
    finally:
        runner.close()
    assert [s.booted for s in steps] == [False, False]
    assert steps[0].stage == "preflight"
    assert steps[0].evidence == (
        "harness error in pre-flight (its cells are recorded ERROR): chat: RuntimeError: tokenizer check crashed"
    )


def test_a_teardown_error_reaches_the_cells_record_without_changing_its_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner no longer swallows a teardown error: the cell keeps its verdict and its message names the error."""
    from harness.runner import Outcome
    from harness.verdicts import Verdict

    runner = _runner(tmp_path)
    (cell,) = load_matrix(_matrix(tmp_path, "serve")).cells
    monkeypatch.setattr(runner, "_evaluate", lambda cell, latency=True: Outcome(verdict=Verdict.PASS, message="ok"))

    def broken_finish(cell: object) -> None:
        raise OSError("psutil could not read the process table")

    monkeypatch.setattr(runner.servers, "finish", broken_finish)
    outcome = runner.run(cell)
    runner.close()
    assert outcome.verdict is Verdict.PASS
    assert outcome.message == "ok; its server's teardown failed: OSError: psutil could not read the process table"
    (record,) = read_results(tmp_path / "run").cells
    assert record.message == outcome.message
