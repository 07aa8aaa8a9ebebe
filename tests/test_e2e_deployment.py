"""End to end on the CPU engine: the demo's three-service stack boots in order, runs together, is probed at once."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psutil
import pytest

from harness.codes import Code
from harness.deploy import memory_picture, service_verdicts, timeline
from harness.results import DeploymentRecord, RunResults, read_results
from harness.verdicts import Verdict

pytestmark = pytest.mark.e2e

Stack = tuple[int, RunResults, str, Path]


@pytest.fixture(scope="module")
def stack(engine_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """One real run of `vllm-compat run --demo --deployment zoo-stack` shared by the assertions below."""
    base = tmp_path_factory.mktemp("stack")
    env = {**os.environ, "VLLM_COMPAT_ENGINE_PYTHON": str(engine_python)}
    argv = ["run", "--demo", "--deployment", "zoo-stack", "--latency-repeats", "0", "--run-dir", str(base / "run")]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", *argv, "--", "--status-file", str(base / "STATUS.md")],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=base,
    )
    output = done.stdout + done.stderr
    print(f"deployment run: {time.monotonic() - started:.1f} s\n{output[-5000:]}")
    status = base / "STATUS.md"
    if status.exists():  # the deployment section, for the reader of -s
        text = status.read_text(encoding="utf-8")
        print(text[: text.find("cells working")])
    return done.returncode, read_results(base / "run"), output, base / "STATUS.md"


def _record(results: RunResults) -> DeploymentRecord:
    (record,) = results.deployments
    return record


def _at(stamp: str | None) -> datetime:
    assert stamp is not None
    return datetime.fromisoformat(stamp)


def test_two_of_three_services_working_for_the_known_reason(stack: Stack) -> None:
    """The agent and the encoder pass; the base model's chat is NO_CHAT_TEMPLATE: 2 of 3 services working."""
    returncode, results, output, status = stack
    verdicts = {c.cell_id: (c.verdict, c.code) for c in results.cells}
    assert verdicts == {
        "zoo-stack.agent-default-chat": (Verdict.PASS, None),
        "zoo-stack.agent-default-completions": (Verdict.PASS, None),
        "zoo-stack.base-default-completions": (Verdict.PASS, None),
        "zoo-stack.base-default-chat": (Verdict.XFAIL, Code.NO_CHAT_TEMPLATE),
        "zoo-stack.search-default-embeddings": (Verdict.PASS, None),
    }, output[-3000:]
    assert returncode == 0, output[-3000:]
    agent, base, search = service_verdicts(_record(results), results.cells)
    assert agent.working and search.working and not base.working and base.neighbours == ()
    text = status.read_text(encoding="utf-8")
    assert text.index("**deployment `zoo-stack`: 2 of 3 services working**") < text.index("cells working")
    assert "deployment `zoo-stack`: 2 of 3 services working" in output  # the terminal summary says it too


def test_services_booted_one_after_another_and_were_alive_together(stack: Stack) -> None:
    """Each boot started after the previous service was ready, all were up before any stopped, and every cell ran
    then."""
    _, results, _, _ = stack
    record = _record(results)
    services = sorted(record.services, key=lambda s: s.order)
    assert [s.booted for s in services] == [True, True, True]
    servers = {s.server_key: s for s in results.servers}
    for previous, current in itertools.pairwise(services):
        assert _at(current.boot_started_at) >= _at(previous.ready_at)  # boots did not overlap
        assert _at(servers[current.server_key].started_at) >= _at(previous.ready_at)  # the pool's own line agrees
    last_ready = max(_at(s.ready_at) for s in services)
    first_stop = min(_at(s.stopped_at) for s in services)
    assert last_ready < first_stop  # lifetimes overlap
    for cell in results.cells:
        assert last_ready <= _at(cell.started_at) and _at(cell.finished_at) <= first_stop, cell.cell_id
    line = timeline(record)
    assert not line.boots_overlapped and line.together_s is not None and line.together_s > 0


def test_the_concurrent_phase_probed_every_booted_use_case_at_once(stack: Stack) -> None:
    """Under load each service answered every use case it boots for, and the phase ran while both were up."""
    _, results, _, _ = stack
    record = _record(results)
    loads = {s.name: {(p.use_case.value, p.verdict) for p in s.under_load} for s in record.services}
    assert loads == {
        "agent": {("chat", Verdict.PASS), ("completions", Verdict.PASS)},
        "base": {("completions", Verdict.PASS)},
        "search": {("embeddings", Verdict.PASS)},
    }
    assert record.concurrent_s is not None and record.concurrent_s > 0
    phase = _at(record.concurrent_started_at)
    assert all(_at(s.ready_at) <= phase <= _at(s.stopped_at) for s in record.services)


def test_memory_picture_is_rss_per_service_with_no_device_figure(stack: Stack) -> None:
    """Each service has an RSS peak, the total is their sum, device memory is n/a here and the report says so."""
    _, results, _, status = stack
    record = _record(results)
    picture = memory_picture(record, results.servers)
    assert not picture.on_gpu and picture.device_bytes is None
    peaks = {m.name: m.peak_bytes for m in picture.services}
    assert all(isinstance(p, int) and p > 100 * 2**20 for p in peaks.values()), peaks
    assert picture.total_bytes == sum(p for p in peaks.values() if p is not None)
    assert picture.total_bytes is not None and record.host_memory_bytes is not None
    line = timeline(record)
    print(
        "figures: "
        + "; ".join(f"{r.service.name} boot {r.start_s}-{r.ready_s} s ({r.service.boot_s} s)" for r in line.rows)
        + f"; together {line.together_s} s; concurrent phase {record.concurrent_s} s; RSS "
        + ", ".join(f"{name} {peak / 2**30:.2f} GiB" for name, peak in peaks.items() if peak)
        + f"; total {picture.total_bytes / 2**30:.2f} GiB of {record.host_memory_bytes / 2**30:.1f} GiB host RAM"
    )
    assert "device memory: n/a (no NVIDIA GPU)" in status.read_text(encoding="utf-8")


def test_no_process_is_left_over(stack: Stack) -> None:
    """Every engine of the stack is gone after the run: no leftover pids, no process serving this run's names."""
    _, results, _, _ = stack
    assert results.servers and all(not s.leftover_pids for s in results.servers)
    run_id = _record(results).run_id
    alive = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or ())
        if run_id in cmdline:
            alive.append((process.info["pid"], cmdline[:200]))
    assert not alive
    for server in results.servers:
        assert server.pid is not None and _gone(server.pid), server.server_key


def _gone(pid: int) -> bool:
    """The engine's pid is gone, or belongs to another process now (reused), not to a vLLM engine."""
    try:
        return "vllm" not in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return True
