"""Shared fixtures of the harness's own tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_stack import Stack, serve_stack
from shared_runs import DemoRun

from harness.engine import resolve_engine_python
from harness.results import read_results
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


# Session fixtures that boot vLLM, by name (no spaces: the ledger keeps a test id's first word): wall seconds
# and the test whose setup ran them (its time includes them).
SHARED_COSTS: dict[str, tuple[float, str]] = {}


@pytest.fixture(scope="session")
def demo_run(engine_python: Path, tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The demo matrix run once for the whole session: every e2e module that asserts on a cell the demo has (chat,
    tools, vision, video, audio, embeddings, the real models) reads this run instead of booting its own copy of the
    server (each boot costs 35-90 s on two cores). Its boots are charged to a group of their own."""
    base = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "VLLM_COMPAT_ENGINE_PYTHON": str(engine_python)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    requester = os.environ.get(LEDGER_TEST_VAR, "")  # the test whose setup runs this fixture
    if env.get(LEDGER_VAR):
        env[LEDGER_TEST_VAR] = "fixture:demo_run"
    args = ["run", "--demo", "--run-dir", str(base / "run"), "--", "--status-file", str(base / "STATUS.md")]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=2400,
        env=env,
    )
    seconds = time.monotonic() - started
    SHARED_COSTS["fixture:demo_run"] = (seconds, requester)
    print(f"demo run: {seconds:.1f} s\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}")
    return DemoRun(done.returncode, read_results(base / "run"), done.stdout + done.stderr)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A module that boots a copy of a session fixture's server, without a reason on record, fails the session."""
    ledger = session.config.stash.get(_LEDGER, None)
    if ledger is None or not ledger.exists():
        return
    from session_costs import repeated_boots, unexplained_repeats, vllm_boots

    if unexplained_repeats(repeated_boots(vllm_boots(ledger))) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Wall seconds and vLLM boots per group of tests, and the boots repeated across modules."""
    ledger = config.stash.get(_LEDGER, None)
    if ledger is not None:
        from session_costs import print_costs

        print_costs(terminalreporter, ledger, _PHASES, SHARED_COSTS)


@pytest.fixture(scope="session")
def chat_ok_stack(engine_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Two real chat-ok servers (one with an API key, one without and under two names) for the whole session: the
    live-endpoint tests verify them as someone else's deployment, the audio tests ask the text model for audio."""
    requester = os.environ.get(LEDGER_TEST_VAR, "")
    if os.environ.get(LEDGER_VAR):
        os.environ[LEDGER_TEST_VAR] = "fixture:chat_ok_stack"
    started = time.monotonic()
    stack = serve_stack(engine_python, tmp_path_factory.mktemp("live-stack"))
    served = next(stack)
    SHARED_COSTS["fixture:chat_ok_stack"] = (time.monotonic() - started, requester)
    yield served
    next(stack, None)  # stops both servers and asserts nothing of theirs is left
