"""Synthetic runs for history, pages and gate tests: typed records in memory, one call per run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from records_fake import cell, environment, server

from harness.codes import Code
from harness.results import CellServer, RunResults, ServerOutcome
from harness.verdicts import Verdict


def make_run(
    run_id: str,
    minute: int,
    cells: dict[str, Verdict | tuple[Verdict, str]],
    *,
    revision: str = "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0",
    vllm: str = "0.32.0",
    flags: dict[str, Any] | None = None,
    ttft: float | None = 0.020,
    vram: int | None = None,
    required: bool = False,
    gpus: tuple[Any, ...] = (),
    message: str = "",
) -> RunResults:
    """A run at 2026-11-30 <minute> with one cell per "model|profile|use_case" key, each on its model's server."""
    at = f"2026-11-30T{minute // 60:02d}:{minute % 60:02d}:00.000+00:00"
    records = []
    servers = {}
    for key, outcome in cells.items():
        verdict, code = outcome if isinstance(outcome, tuple) else (outcome, None)
        model, profile, _ = key.split("|")
        server_key = f"{model}-{profile}"
        latency = (
            {"client": {"ttft_s": {"p50": ttft}, "e2e_s": {"p50": 0.1}}}
            if ttft is not None and verdict is Verdict.PASS
            else None
        )
        records.append(
            cell(
                key,
                verdict,
                Code(code) if code else None,
                run_id=run_id,
                revision=None,
                resolved_revision=revision,
                required=required,
                started_at=at,
                latency=latency,
                timings={"boot_s": 40.0},
                server=CellServer(key=server_key, vllm_version=vllm),
                message=message or f"{verdict}",
            )
        )
        resources = {"phases": {"probes": {"process_bytes": vram, "rss_bytes": 2**30}}} if vram is not None else None
        servers[server_key] = server(
            server_key,
            ServerOutcome.STOPPED,
            run_id=run_id,
            flags=flags if flags is not None else {"max-model-len": 512},
            version={"version": vllm},
            started_at=at,
            resources=resources,
        )
    return RunResults(
        run_dir=Path("/nonexistent") / run_id,
        environment=environment(run_id=run_id, engine_versions={"vllm": vllm}, gpus=gpus),
        servers=list(servers.values()),
        cells=records,
    )
