"""Repository-level pytest policy; the harness itself is the plugin registered under the `pytest11` entry point."""

from __future__ import annotations

import pytest

# Run output (engine logs, zoo copies) must never be collected as tests.
collect_ignore = ["reports", "build"]


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("vllm_compat"):
        raise pytest.UsageError(
            "the vllm-compat pytest plugin is not installed in this environment: run `pip install -e .` "
            "(or `make test`, which does it)"
        )
