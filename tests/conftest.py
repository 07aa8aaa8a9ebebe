"""Shared fixtures of the harness's own tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_stack import Stack, serve_stack
from session_costs import expected_seconds
from shared_runs import DemoRun

from harness.engine import resolve_engine_python
from harness.results import read_results
from harness.server.cpu_cores import PER_SERVER_VAR
from harness.server.ledger import LEDGER_TEST_VAR, LEDGER_VAR

_LEDGER = pytest.StashKey[Path]()
_PHASES: list[pytest.TestReport] = []  # setup, call and teardown of every test: module fixtures boot in a setup


def pytest_configure(config: pytest.Config) -> None:
    # Every vLLM boot of the session, in this process or a child (vllm-compat run under a test, an xdist worker),
    # lands in one ledger; the workers inherit the variable from the controller.
    if not os.environ.get(LEDGER_VAR) and not hasattr(config, "workerinput"):
        ledger = Path(tempfile.mkdtemp(prefix="vllm-compat-boots-")) / "boots.jsonl"
        os.environ[LEDGER_VAR] = str(ledger)
        config.stash[_LEDGER] = ledger
    if getattr(config.option, "numprocesses", None):
        # The controller schedules in the workers' collection order, longest first (pytest_collection_modifyitems);
        # xdist's own reordering (the units with most tests first) would undo it.
        config.option.loadscopereorder = False
    # Every real boot of the session (the workers', the runs' under a test) takes one CPU core set: `make test` runs
    # two xdist workers and the demo runs two servers at once; without a set each vLLM would bind the same core.
    os.environ.setdefault(PER_SERVER_VAR, "1")
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


# Session fixtures that boot vLLM: every module that uses one runs on one xdist worker, so the servers boot once.
SHARED_FIXTURES = frozenset({"demo_run", "chat_ok_stack"})
SHARED_GROUP = "shared-servers"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `-n N --dist loadgroup`: a module is one unit of work (its module fixtures run once), and the modules that
    read a session fixture's servers are one unit together (each worker would otherwise boot its own copy). The
    longest units go first (the way a scheduler without run times does best: longest first), so the short unit tests
    fill the end instead of a 3-minute end-to-end module starting last on one worker while the other idles."""

    def module_of(item: pytest.Item) -> str:
        return item.nodeid.split("::")[0]

    sharing = {module_of(item) for item in items if SHARED_FIXTURES & set(getattr(item, "fixturenames", ()))}
    group_of = {}
    for item in items:
        marker = item.get_closest_marker("xdist_group")
        if marker is None:
            module = module_of(item)
            group = SHARED_GROUP if module in sharing else module
            item.add_marker(pytest.mark.xdist_group(group))
        else:
            group = str(marker.args[0] if marker.args else marker.kwargs.get("name", ""))
        group_of[item.nodeid] = group
    if hasattr(config, "workerinput") or getattr(config.option, "numprocesses", None):
        items.sort(key=lambda item: -expected_seconds(group_of[item.nodeid].rsplit("/", 1)[-1]))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before the test's fixtures run (a module fixture boots in the first test's setup): boots are charged to it.
    if os.environ.get(LEDGER_VAR):
        os.environ[LEDGER_TEST_VAR] = item.nodeid.split("@")[0]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _PHASES.append(report)


def _shared_cost(name: str, seconds: float, requester: str) -> None:
    """A session fixture's wall seconds and the test whose setup ran it (its time includes them), beside the ledger:
    the fixture may run in an xdist worker, and the controller prints the costs."""
    ledger = os.environ.get(LEDGER_VAR)
    if ledger:
        with open(Path(ledger).with_name("shared-costs.jsonl"), "a", encoding="utf-8") as out:
            out.write(json.dumps({"name": name, "seconds": seconds, "requester": requester.split("@")[0]}) + "\n")


def _shared_costs(ledger: Path) -> dict[str, tuple[float, str]]:
    """Session fixtures by name (no spaces: the ledger keeps a test id's first word) -> (seconds, requester)."""
    costs = {}
    path = ledger.with_name("shared-costs.jsonl")
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            costs[entry["name"]] = (float(entry["seconds"]), str(entry["requester"]))
    return costs


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
    # Two servers at a time on their own CPU cores (harness/server/cpu_cores.py), as a user runs a matrix with -n 2.
    args = ["run", "--demo", "--run-dir", str(base / "run"), "--", "--status-file", str(base / "STATUS.md")]
    args += ["-n", "2", "--dist", "loadgroup"]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=2400,
        env=env,
    )
    seconds = time.monotonic() - started
    _shared_cost("fixture:demo_run", seconds, requester)
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

        workers = int(getattr(config.option, "numprocesses", None) or 1)
        print_costs(terminalreporter, ledger, _PHASES, _shared_costs(ledger), workers)


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
    _shared_cost("fixture:chat_ok_stack", time.monotonic() - started, requester)
    yield served
    next(stack, None)  # stops both servers and asserts nothing of theirs is left
