"""The server pool's results lines, on the fake engine: a boot line and a teardown line that read as one server."""

from __future__ import annotations

from pathlib import Path

from harness.results import ServerOutcome, ServerRecord, read_records, read_results
from tests.pool_fake import fake_pool


def test_a_servers_teardown_line_keeps_its_boot_start_and_adds_what_teardown_knows(tmp_path: Path) -> None:
    """Booted then stopped: two typed lines; read together, one stopped server that started when its boot did, with
    the boot line's port and the teardown's leftovers and resources."""
    pool, cell = fake_pool(tmp_path)
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
