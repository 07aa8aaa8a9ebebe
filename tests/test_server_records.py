"""The server pool's results lines, on the fake engine: a boot line and a teardown line that read as one server."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.matrix import load_matrix
from harness.results import ServerOutcome, ServerRecord, read_records, read_results
from harness.runner import Progress, ServerPool

FAKE = Path(__file__).with_name("fake_engine.py")


def _pool(tmp_path: Path) -> tuple[ServerPool, Path]:
    wrapper = tmp_path / "engine" / "python"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(0o755)
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text('{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}')
    run_dir = tmp_path / "run"
    pool = ServerPool(
        run_id="r1",
        run_dir=run_dir,
        results_path=run_dir / "results.jsonl",
        engine_python=wrapper,
        offline=True,
        boot_timeout=30,
        progress=Progress(),
        extra_env={},
    )
    return pool, model


def test_a_servers_teardown_line_keeps_its_boot_start_and_adds_what_teardown_knows(tmp_path: Path) -> None:
    """Booted then stopped: two typed lines; read together, one stopped server that started when its boot did, with
    the boot line's port and the teardown's leftovers and resources."""
    pool, model = _pool(tmp_path)
    (tmp_path / "matrix.yaml").write_text(f"models:\n  - id: {model}\n    use_cases: [chat]\n")
    (cell,) = load_matrix(tmp_path / "matrix.yaml").cells
    pool.plan([cell])
    try:
        server = pool.get(cell)
        pool.finish(cell)
    finally:
        pool.close()
    boot, teardown = read_records(tmp_path / "run" / "results.jsonl")
    assert isinstance(boot, ServerRecord) and isinstance(teardown, ServerRecord)
    assert (boot.outcome, teardown.outcome) == (ServerOutcome.READY, ServerOutcome.STOPPED)
    (merged,) = read_results(tmp_path / "run").servers
    assert merged.outcome is ServerOutcome.STOPPED
    assert merged.started_at == boot.started_at  # not when the teardown began
    assert merged.at == teardown.at
    assert merged.port == server.port
    assert merged.boot_phases is not None and merged.boot_phases["api_up"]
    assert merged.leftover_pids == ()
    assert merged.resources is not None and "teardown" in merged.resources["phases"]
