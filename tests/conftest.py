"""Shared fixtures of the harness's own tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.engine import resolve_engine_python


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: boots real vLLM (the CPU build) on the zoo; needs the engine environment (make engine)"
    )
    config.addinivalue_line(
        "markers",
        "reliability: a fault the harness must survive (signal, hung engine, full disk, hostile input, a secret); "
        "`pytest -m reliability -s` runs them all and prints the figures",
    )


@pytest.fixture(scope="session")
def engine_python() -> Path:
    """The engine environment's python; without one, e2e tests skip with the reason, or fail where CI demands it."""
    python = resolve_engine_python()
    if python is None or not python.exists():
        reason = "no engine environment: run `make engine` (or set VLLM_COMPAT_ENGINE_PYTHON)"
        if os.environ.get("VLLM_COMPAT_REQUIRE_ENGINE"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return python
