"""The dry boot: vLLM on dummy weights before any weight is fetched -- when it runs, what it catches, what it records
(the fake engine here; tests/test_e2e_dry_boot.py boots real vLLM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.matrix import Cell, load_matrix
from harness.results import ServerOutcome, read_results
from harness.runner import DryBootError, ServerPool, wants_dry_boot
from tests.pool_fake import fake_pool


def _cell(tmp_path: Path, entry: str) -> Cell:
    (tmp_path / "matrix.yaml").write_text(f"models:\n  - {entry}\n    use_cases: [chat]\n")
    return load_matrix(tmp_path / "matrix.yaml").cells[0]


def test_when_a_dry_boot_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--dry-boot forces it, the matrix's dry_boot: decides next, else only hub models whose weights are not cached."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))  # an empty cache: nothing of the hub model is there
    local = tmp_path / "m"
    local.mkdir()
    (local / "config.json").write_text("{}")
    assert wants_dry_boot(_cell(tmp_path, "id: org/never-cached").model, forced=False)
    assert not wants_dry_boot(_cell(tmp_path, "id: org/never-cached\n    dry_boot: false").model, forced=False)
    assert not wants_dry_boot(_cell(tmp_path, "id: zoo:chat-ok").model, forced=False)
    assert not wants_dry_boot(_cell(tmp_path, f"id: {local}").model, forced=False)
    assert wants_dry_boot(_cell(tmp_path, f"id: {local}\n    dry_boot: true").model, forced=False)
    assert wants_dry_boot(_cell(tmp_path, f"id: {local}").model, forced=True)


def test_matrix_dry_boot_must_be_a_boolean(tmp_path: Path) -> None:
    """dry_boot: yes-please is refused with the file, the key and the fix."""
    from harness.matrix import MatrixError

    with pytest.raises(MatrixError, match=r"dry_boot.*true or false"):
        _cell(tmp_path, "id: zoo:chat-ok\n    dry_boot: sometimes")


def _pool(tmp_path: Path, mode: str) -> tuple[ServerPool, Cell]:
    # The dry boot (argv holds --load-format dummy) behaves as FAKE_DRY_MODE says, the real boot as "serve".
    prelude = (
        'case "$*" in *"--load-format dummy"*) FAKE_ENGINE_MODE="$FAKE_DRY_MODE";; *) FAKE_ENGINE_MODE=serve;; esac\n'
        "export FAKE_ENGINE_MODE\n"
    )
    return fake_pool(
        tmp_path, model_keys="    dry_boot: true\n", wrapper_prelude=prelude, extra_env={"FAKE_DRY_MODE": mode}
    )


def test_a_failed_dry_boot_fetches_no_weight_and_records_its_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dry boot dies with a KV-cache error: the fetcher is never called, the pool remembers the failure, and the
    server line says the dry boot caught it."""

    def no_fetch(*args: object, **kwargs: object) -> Path:
        raise AssertionError("weights fetched before the dry boot decided")

    monkeypatch.setattr("harness.runner.servers.fetch_weights", no_fetch)
    pool, cell = _pool(tmp_path, "die")
    try:
        with pytest.raises(DryBootError) as caught:
            pool.get(cell)
        assert caught.value.diagnosis.code == "KV_BUDGET"
        with pytest.raises(DryBootError):
            pool.get(cell)  # remembered: no second boot
    finally:
        pool.close()
    (server,) = read_results(tmp_path / "run").servers
    assert server.outcome is ServerOutcome.BOOT_FAILED
    assert (server.stage, server.code) == ("dry_boot", "KV_BUDGET")
    assert server.log is not None and "dry-boot" in Path(server.log).name


def test_a_passing_dry_boot_is_followed_by_the_real_boot(tmp_path: Path) -> None:
    """Dry boot ready, then the weights and the real boot: the ready line carries the dry boot's seconds, and the
    dry boot's engine got --load-format dummy."""
    pool, cell = _pool(tmp_path, "serve")
    try:
        server = pool.get(cell)
        assert "--load-format" not in server.argv()
        pool.finish(cell)
    finally:
        pool.close()
    (record,) = read_results(tmp_path / "run").servers
    assert record.outcome is ServerOutcome.STOPPED
    assert record.dry_boot_s is not None and record.dry_boot_s > 0
    dry_logs = [p for p in (tmp_path / "run").rglob("*dry-boot*") if p.is_file()]
    assert dry_logs and "'dummy'" in dry_logs[0].read_text()


def test_status_says_which_stage_caught_a_failure_and_the_gpu_predictions(tmp_path: Path) -> None:
    """STATUS.md names the stage under a failed cell, lists the GPU-side predictions, and marks the server that
    failed in its dry boot (and a dry boot's seconds beside a real boot's)."""
    from harness.codes import Code
    from harness.findings import Finding, Severity
    from harness.report import render_status
    from harness.results import RunResults
    from harness.verdicts import Verdict
    from tests.records_fake import cell, environment, server

    predicted = Finding("DTYPE_UNSUPPORTED", Severity.WARNING, "falls back to float16 on T4", "config.json")
    results = RunResults(
        run_dir=tmp_path,
        environment=environment(),
        servers=[
            server("big-default", ServerOutcome.BOOT_FAILED, code=Code.KV_BUDGET, stage="dry_boot"),
            server("small-default", ServerOutcome.STOPPED, boot_s=40.0, dry_boot_s=31.5),
        ],
        cells=[
            cell(
                "big|default|chat",
                Verdict.FAIL,
                Code.KV_BUDGET,
                message="boot on dummy weights (dry boot; no weight fetched) failed",
                stage="dry_boot",
                findings=(predicted,),
            ),
            cell("small|default|chat", Verdict.PASS),
        ],
    )
    text = render_status(results)
    assert "*(caught by: dry boot)*" in text
    assert "- predicted against the GPU: warning `DTYPE_UNSUPPORTED`: falls back to float16 on T4" in text
    assert "`KV_BUDGET` (in the dry boot)" in text
    assert "40.0 (dry boot 31.5)" in text


def test_dry_boot_option_reaches_pytest_and_the_runner() -> None:
    """`vllm-compat run --dry-boot` passes --dry-boot to the plugin, which registers it."""
    import argparse

    from harness.commands import run as run_command

    parser = argparse.ArgumentParser()
    run_command.add_arguments(parser)
    argv = run_command.pytest_argv(parser.parse_args(["--demo", "--dry-boot"]), Path.cwd())
    assert "--dry-boot" in argv
    assert "--dry-boot" not in run_command.pytest_argv(parser.parse_args(["--demo"]), Path.cwd())
