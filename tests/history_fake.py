"""Synthetic runs for history, pages and gate tests: typed records in memory, one call per run."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from records_fake import cell, environment, server

from harness.codes import Code
from harness.results import CellServer, RunResults, ServerOutcome
from harness.usecases import ALL_USE_CASES, UseCase
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


# The six use cases the production matrix adds; those ``UseCase`` does not name yet are made up here.
FUTURE_USE_CASES = ("structured_output", "reasoning", "lora", "rerank", "long_context", "concurrency")
# Today's use cases and those six (17): records of these are written as usual, and read back where a test puts
# this enum in ``harness.results``' place.
WideUseCase = StrEnum(
    "WideUseCase", [(name.upper(), name) for name in dict.fromkeys((*ALL_USE_CASES, *FUTURE_USE_CASES))]
)


# Model names as long as real hub names get, so the grid's first column is tested at its widest.
_FAMILIES = (
    "Qwen2.5-VL-7B-Instruct-AWQ",
    "Meta-Llama-3.1-8B-Instruct",
    "mistralai-Mistral-Small-24B-Instruct-2501",
    "gemma-3-27b-it-qat-q4_0-unquantized",
    "DeepSeek-R1-Distill-Qwen-32B",
    "whisper-large-v3-turbo",
    "bge-reranker-v2-m3",
    "Phi-4-multimodal-instruct",
    "granite-3.3-8b-instruct",
    "SmolLM2-135M-Instruct",
)
# Verdicts cycled through the cells: mostly working, with the longest codes there are among the failures.
_OUTCOMES: tuple[tuple[Verdict, str | None], ...] = (
    (Verdict.PASS, None),
    (Verdict.PASS, None),
    (Verdict.FAIL, "TRANSFORMERS_MISMATCH"),
    (Verdict.PASS, None),
    (Verdict.XFAIL, "REMOTE_CODE_REQUIRED"),
    (Verdict.PASS, None),
    (Verdict.ERROR, "ENV_IMPORT_BROKEN"),
    (Verdict.FAIL, "GPU_ARCH_UNSUPPORTED"),
    (Verdict.PASS, None),
    (Verdict.SKIP, None),
    (Verdict.NOT_RUN, None),
    (Verdict.XPASS, None),
    (Verdict.XFAIL, "WEIGHTS_INCOMPLETE"),
)


def wide_run(run_id: str, minute: int, models: int = 50, profiles: tuple[str, ...] = ("default", "fp8")) -> RunResults:
    """A production-sized run: ``models`` models x the 17 use cases, every fifth model also on the other profiles."""
    at = f"2026-11-30T{minute // 60:02d}:{minute % 60:02d}:00.000+00:00"
    records = []
    servers = []
    number = 0
    for m in range(models):
        model = f"{_FAMILIES[m % len(_FAMILIES)]}-{m:02d}"
        for profile in profiles if m % 5 == 0 else profiles[:1]:
            server_key = f"{model}-{profile}"
            servers.append(server(server_key, ServerOutcome.STOPPED, run_id=run_id, started_at=at))
            for use_case in WideUseCase:
                verdict, code = _OUTCOMES[number % len(_OUTCOMES)]
                number += 1
                record = cell(
                    f"{model}|{profile}|chat",
                    verdict,
                    Code(code) if code else None,
                    run_id=run_id,
                    resolved_revision="a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0",
                    started_at=at,
                    timings={"boot_s": 40.0, "probe_s": 0.5},
                    server=CellServer(key=server_key, vllm_version="0.32.0"),
                    message=f"{verdict}: {use_case.value} on {model} ({profile})" + (f", {code}" if code else ""),
                )
                cell_id = f"{model}-{profile}-{use_case.value}"
                records.append(replace(record, cell_id=cell_id, use_case=cast(UseCase, use_case)))
    return RunResults(
        run_dir=Path("/nonexistent") / run_id,
        environment=environment(run_id=run_id),
        servers=servers,
        cells=records,
    )
