"""Typed result records for tests: a cell, a server line and an environment with plausible defaults."""

from __future__ import annotations

from typing import Any

from harness.codes import Code
from harness.results import CellRecord, EnvironmentRecord, ServerOutcome, ServerRecord
from harness.usecases import UseCase
from harness.verdicts import Verdict


def cell(cell_id: str, verdict: Verdict, code: Code | None = None, **changes: Any) -> CellRecord:
    """A cell record; ``cell_id`` is "model|profile|use_case" and becomes "model-profile-use_case"."""
    model, profile, use_case = cell_id.split("|")
    fields: dict[str, Any] = {
        "run_id": "r1",
        "cell_id": f"{model}-{profile}-{use_case}",
        "model": model,
        "model_id": f"zoo:{model}",
        "revision": None,
        "profile": profile,
        "use_case": UseCase(use_case),
        "verdict": verdict,
        "code": code,
    }
    return CellRecord(**(fields | changes))


def server(key: str, outcome: ServerOutcome, **changes: Any) -> ServerRecord:
    """A server line of the server "model-profile"."""
    model, profile = key.rsplit("-", 1)
    fields: dict[str, Any] = {
        "run_id": "r1",
        "server_key": key,
        "model": model,
        "model_id": f"zoo:{model}",
        "profile": profile,
        "flags": {"max-model-len": 512},
        "outcome": outcome,
        "started_at": "2026-11-30T09:00:00.000+00:00",
        "at": "2026-11-30T09:00:40.000+00:00",
    }
    return ServerRecord(**(fields | changes))


def environment(**changes: Any) -> EnvironmentRecord:
    fields: dict[str, Any] = {
        "run_id": "r1",
        "harness_version": "0.1.0",
        "engine_versions": {"vllm": "0.32.0"},
        "driver": "n/a (no NVIDIA GPU)",
    }
    return EnvironmentRecord(**(fields | changes))
