"""The dry boot against real vLLM (the CPU build): an architecture failure is caught on dummy weights, with its root
cause, and no weight is fetched."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.matrix import load_matrix
from harness.results import ServerOutcome, read_results
from harness.runner import DryBootError, Progress, ServerPool

pytestmark = pytest.mark.e2e


def test_dry_boot_catches_an_unsupported_architecture_without_fetching_weights(
    engine_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """zoo:unsupported-arch with dry_boot: true fails in the dry boot with vLLM's own root cause (its config names
    model type tiny_zoo, which the engine's transformers does not know: TRANSFORMERS_MISMATCH, before vLLM's registry
    is asked); the fetcher, which fails if called, never is."""

    def no_fetch(*args: object, **kwargs: object) -> Path:
        raise AssertionError("weights fetched before the dry boot decided")

    monkeypatch.setattr("harness.runner.servers.fetch_weights", no_fetch)
    (tmp_path / "matrix.yaml").write_text(
        "defaults: {flags: {max-model-len: 512, gpu-memory-utilization: 0.2}}\n"
        "models:\n  - id: zoo:unsupported-arch\n    use_cases: [completions]\n    dry_boot: true\n"
    )
    (cell,) = load_matrix(tmp_path / "matrix.yaml").cells
    run_dir = tmp_path / "run"
    pool = ServerPool(
        run_id="dry",
        run_dir=run_dir,
        results_path=run_dir / "results.jsonl",
        engine_python=engine_python,
        offline=True,
        boot_timeout=300,
        progress=Progress(),
        extra_env={},
    )
    pool.plan([cell])
    try:
        with pytest.raises(DryBootError) as caught:
            pool.get(cell)
    finally:
        pool.close()
    assert caught.value.diagnosis.code == "TRANSFORMERS_MISMATCH"
    assert "tiny_zoo" in caught.value.diagnosis.evidence
    (server,) = read_results(run_dir).servers
    assert (server.outcome, server.stage) == (ServerOutcome.BOOT_FAILED, "dry_boot")
    assert server.code == "TRANSFORMERS_MISMATCH"
