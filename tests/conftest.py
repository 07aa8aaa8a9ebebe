"""Shared fixtures of the harness's own tests."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from harness.engine import resolve_engine_python
from harness.server.ledger import LEDGER_TEST_VAR, LEDGER_VAR

_LEDGER = pytest.StashKey[Path]()
_PHASES: list[pytest.TestReport] = []  # setup, call and teardown of every test: module fixtures boot in a setup


def pytest_configure(config: pytest.Config) -> None:
    # Every vLLM boot of the session, in this process or a child (vllm-compat run under a test), lands in one ledger.
    if not os.environ.get(LEDGER_VAR) and not hasattr(config, "workerinput"):
        ledger = Path(tempfile.mkdtemp(prefix="vllm-compat-boots-")) / "boots.jsonl"
        os.environ[LEDGER_VAR] = str(ledger)
        config.stash[_LEDGER] = ledger
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


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before the test's fixtures run (a module fixture boots in the first test's setup): boots are charged to it.
    if item.config.stash.get(_LEDGER, None) is not None:
        os.environ[LEDGER_TEST_VAR] = item.nodeid


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _PHASES.append(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Wall seconds and vLLM boots per group of tests, and the boots repeated across modules."""
    ledger = config.stash.get(_LEDGER, None)
    if ledger is not None:
        from session_costs import print_costs

        print_costs(terminalreporter, ledger, _PHASES)
