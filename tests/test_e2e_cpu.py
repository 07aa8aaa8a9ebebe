"""End to end against real vLLM (CPU build) on the zoo: the demo run's verdicts match each canary's truth."""

from __future__ import annotations

import http.server
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import psutil
import pytest
from demo_truth import DEMO_TRUTH
from shared_runs import DemoRun

from harness.codes import Code
from harness.results import RunResults, read_results
from harness.usecases import UseCase
from harness.verdicts import Verdict
from harness.zoo.qwen2 import CHAT_OK_ANSWER

pytestmark = pytest.mark.e2e

PREFLIGHT_ONLY = (
    "missing-config",
    "incomplete-shards",
    "unsupported-arch",
    "remote-code",
    "diffusers-pipeline",
    "chat-ok-as-audio",
)


def _run(args: list[str], engine_python: Path, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VLLM_COMPAT_ENGINE_PYTHON": str(engine_python)}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def _verdicts(results: RunResults) -> dict[str, tuple[str, str | None]]:
    return {c.cell_id: (c.verdict, c.code) for c in results.cells}


def test_demo_run_is_green_and_every_verdict_matches_the_zoo(demo_run: DemoRun) -> None:
    """The demo exits 0 and each canary gets exactly its known verdict and code."""
    returncode, results, output = demo_run.returncode, demo_run.results, demo_run.output
    assert _verdicts(results) == DEMO_TRUTH, output[-4000:]
    assert returncode == 0, output[-4000:]


def test_chat_ok_answers_its_known_text_through_a_server_this_run_started(demo_run: DemoRun) -> None:
    """chat-ok's PASS rests on checks that ran, including the exact answer, on a server with a recorded port."""
    results = demo_run.results
    cell = next(c for c in results.cells if c.cell_id == "chat-ok-default-chat")
    assert cell.checks and all(check.passed for check in cell.checks)
    assert any(CHAT_OK_ANSWER in check.detail or "answer" in check.name for check in cell.checks)
    assert cell.server is not None and cell.server.port and cell.server.vllm_version


def test_preflight_failures_never_boot_a_server(demo_run: DemoRun) -> None:
    """Cells failed by pre-flight have no server, and no server was booted for their models."""
    results = demo_run.results
    booted = {s.model for s in results.servers}
    assert booted.isdisjoint(PREFLIGHT_ONLY)
    chat = next(c for c in results.cells if c.cell_id == "no-chat-template-default-chat")
    assert chat.server is None and "no server booted" in chat.message


def test_runaway_eos_names_the_end_of_turn_token_and_cites_the_prediction(demo_run: DemoRun) -> None:
    """The STOP_TOKEN failure names <|im_end|>, the active eos ids and pre-flight's EOS_MISMATCH."""
    results = demo_run.results
    cell = next(c for c in results.cells if c.cell_id == "runaway-eos-default-stop_tokens")
    assert "<|im_end|>" in cell.message
    assert "eos ids" in cell.message and "EOS_MISMATCH" in cell.message


def test_tiny_head_dim_is_an_engine_death_with_its_cause(demo_run: DemoRun) -> None:
    """head_dim 16 is never PASS: the engine dies on the first request and the log line that says why is kept."""
    results = demo_run.results
    cell = next(c for c in results.cells if c.cell_id == "tiny-head-dim-default-chat")
    assert cell.code is Code.ENGINE_DIED
    assert "head_dim=16" in cell.message + cell.evidence


def test_no_engine_process_outlives_the_run(demo_run: DemoRun) -> None:
    """Every server was stopped with nothing of its process group left."""
    results = demo_run.results
    assert results.servers
    for server in results.servers:
        assert server.leftover_pids == (), server
        if server.pid and psutil.pid_exists(server.pid):
            assert "vllm" not in " ".join(psutil.Process(server.pid).cmdline())


def test_servers_that_booted_at_the_same_time_had_cores_of_their_own(demo_run: DemoRun) -> None:
    """The demo ran two xdist workers: every server it booted took a CPU core set (vLLM's own log says it bound to
    it), and no two boots overlapped on one set."""
    ready = [s for s in demo_run.results.servers if s.outcome.value in ("ready", "stopped")]
    assert len(ready) >= 10
    windows = []
    for server in ready:
        cores = server.cpu_cores
        assert cores is not None and cores["boot_s"] is not None, server.server_key
        assert server.log is not None
        bound = re.findall(r"local_rank=0, core ids=\[([\d, ]+)\]", Path(server.log).read_text(errors="replace"))
        assert bound and [int(c) for c in bound[0].split(",")] == cores["cores"], server.server_key
        windows.append((cores["since"], cores["since"] + cores["boot_s"], cores["mask"], server.server_key))
    overlapping = 0
    for i, (start, end, mask, key) in enumerate(windows):
        for other_start, other_end, other_mask, other_key in windows[i + 1 :]:
            if start < other_end and other_start < end:
                overlapping += 1
                assert mask != other_mask, f"{key} and {other_key} booted at once on cores {mask}"
    assert overlapping > 0  # two workers did boot side by side (else this test proves nothing)


def test_every_boot_records_its_compile_cache(demo_run: DemoRun) -> None:
    """Each server the demo booted says whether its compile cache was warm or cold, read from its engine log; a boot
    that compiled nothing (--enforce-eager; vLLM's CPU runner with --enable-lora) says None, never a guess; the
    report shows it."""
    booted = [s for s in demo_run.results.servers if s.boot_phases and s.code is None]
    assert len(booted) >= 12
    said = {s.server_key: (s.boot_phases or {}).get("compile_cache") for s in booted}
    assert set(said.values()) <= {"warm", "cold", None}
    assert sum(value is not None for value in said.values()) >= 8
    for server in booted:
        if said[server.server_key] is None:
            assert server.log is not None
            log = Path(server.log).read_text(errors="replace")
            assert not re.search(r"AOT compil|Compiling a graph|Directly load the compiled", log), server.server_key
    assert all(said[s.server_key] is None for s in booted if s.flags.get("enforce-eager"))
    assert "compile cache)" in (demo_run.results.run_dir / "STATUS.md").read_text(encoding="utf-8")


def test_report_opens_with_the_honest_headline(demo_run: DemoRun) -> None:
    """STATUS.md starts with how many cells work, counted from PASS only."""
    results = demo_run.results
    text = (results.run_dir / "STATUS.md").read_text()
    passes = sum(1 for v, _ in DEMO_TRUTH.values() if v == "PASS")
    assert f"**{passes} of {len(DEMO_TRUTH)} cells working**" in text


def test_a_use_case_marker_boots_only_the_servers_it_needs(engine_python: Path, tmp_path: Path) -> None:
    """`-m audio` boots tiny-whisper only and runs only the audio cells: chat-ok-as-audio's audio cell fails at
    pre-flight without a boot, and no other model's server starts (one boot: the cheapest marker that still holds a
    booting server and one that must not boot)."""
    status = tmp_path / "STATUS.md"
    done = _run(
        ["run", "--demo", "-m", "audio", "--run-dir", str(tmp_path / "run"), "--", "--status-file", str(status)],
        engine_python,
    )
    results = read_results(tmp_path / "run")
    assert sorted(s.model for s in results.servers) == ["tiny-whisper"], done.stdout[-3000:]
    assert {c.use_case for c in results.cells} == {UseCase.AUDIO}
    assert {c.cell_id for c in results.cells} == {"tiny-whisper-default-audio", "chat-ok-as-audio-default-audio"}
    assert done.returncode == 0, done.stdout[-3000:]


class _Squatter(http.server.BaseHTTPRequestHandler):
    """Another team's container: answers 200 to everything, and remembers what it was asked."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(f"GET {self.path}")
        self._ok()

    def do_POST(self) -> None:
        self.seen.append(f"POST {self.path}")
        self._ok()

    def _ok(self) -> None:
        body = b'{"data": [], "status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def squatter() -> Iterator[tuple[int, list[str]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Squatter)
    _Squatter.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], _Squatter.seen
    server.shutdown()


def test_squatted_port_is_never_probed_and_a_killed_engine_is_engine_died(
    engine_python: Path, tmp_path: Path, squatter: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A foreign server on the chosen port gets no probe; killing our engine mid-run gives ENGINE_DIED for every
    remaining cell, with the diagnosed cause, and nothing hangs."""
    import harness.server.server
    from harness.matrix import load_matrix
    from harness.runner import CellRunner

    port, seen = squatter
    ports = iter([port])
    real_free_port = harness.server.server.free_port
    monkeypatch.setattr(harness.server.server, "free_port", lambda *a: next(ports, None) or real_free_port(*a))
    matrix_file = tmp_path / "matrix.yaml"
    matrix_file.write_text(
        "defaults: {flags: {max-model-len: 512, gpu-memory-utilization: 0.2, enforce-eager: true},"
        " env: {VLLM_CPU_KVCACHE_SPACE: '1'}, timeouts: {boot: 300, probe: 60}, semantic: false}\n"
        "models:\n  - id: zoo:chat-ok\n    use_cases: [chat, completions, stop_tokens]\n"
    )
    cells = load_matrix(matrix_file).cells
    runner = CellRunner(
        run_id="e2e-kill", run_dir=tmp_path / "run", engine_python=engine_python, offline=True, boot_timeout=None
    )
    runner.plan(cells)
    try:
        first = runner.run(cells[0])
        assert first.verdict is Verdict.PASS, first
        assert first.server is not None and first.server.port != port
        # Readiness asks /health and /v1/models (that is how the squatter is told apart); no probe ever went there.
        assert not any(request.startswith("POST") for request in seen), seen

        server = runner.servers.known(cells[0].server_key)
        os.killpg(server.pid, signal.SIGKILL)  # type: ignore[union-attr]
        started = time.monotonic()
        rest = [runner.run(cell) for cell in cells[1:]]
        assert time.monotonic() - started < 60
        for outcome in rest:
            assert (outcome.verdict, outcome.code) == (Verdict.FAIL, Code.ENGINE_DIED), outcome
            assert "PROC_KILLED" in outcome.message
    finally:
        runner.close()


def test_working_text_cells_carry_latency_beside_the_servers_own_view(demo_run: DemoRun) -> None:
    """chat-ok's chat cell has client TTFT/TPOT percentiles and /metrics figures for the same requests."""
    results = demo_run.results
    cell = next(c for c in results.cells if c.cell_id == "chat-ok-default-chat")
    latency = cell.latency
    assert latency is not None
    assert latency["client"]["requests"] == latency["repeats"] >= 1
    assert latency["client"]["ttft_s"]["p50"] > 0
    assert latency["client"]["tpot_s"]["p50"] > 0
    assert latency["server"]["ttft_s.count"] == latency["repeats"]
    assert all(r["output_tokens"] == latency["output_tokens_per_request"] for r in latency["requests"])


def test_servers_record_boot_phases_and_honest_memory_figures(demo_run: DemoRun) -> None:
    """Each booted server has its KV cache size from the log, 'n/a (no NVIDIA GPU)' for VRAM and a real RSS."""
    results = demo_run.results
    server = next(s for s in results.servers if s.server_key == "chat-ok-default")
    assert server.boot_phases is not None and server.boot_phases["kv_cache_tokens"] > 0
    assert server.resources is not None
    probes = server.resources["phases"]["probes"]
    assert probes["process_bytes"] == "n/a (no NVIDIA GPU)"
    assert probes["rss_bytes"] > 50 * 2**20
    assert server.expected_weight_bytes is not None and server.expected_weight_bytes > 0
    assert "n/a (no NVIDIA GPU)" in (results.run_dir / "STATUS.md").read_text()


def test_real_smollm2_earns_its_pass_with_semantic_checks_a_random_model_cannot_pass(
    demo_run: DemoRun,
) -> None:
    """SmolLM2-135M-Instruct's chat PASS includes the right capital, an obeyed system prompt and a used earlier turn;
    its stop_tokens cell ends at <|im_end|>; Gemma 3's completion names Paris."""
    results = demo_run.results
    cells = {c.cell_id: c for c in results.cells}
    chat = cells["smollm2-135m-instruct-default-chat"]
    passed = {check.name for check in chat.checks if check.passed}
    assert chat.verdict == Verdict.PASS and {"answer", "system_obeyed", "uses_earlier_turn"} <= passed, chat.message
    stop = cells["smollm2-135m-instruct-default-stop_tokens"]
    assert stop.verdict == Verdict.PASS and stop.checks, stop.message
    gemma = cells["gemma3-270m-default-completions"]
    assert gemma.verdict == Verdict.PASS and any(c.name == "answer" and c.passed for c in gemma.checks), gemma.message


def test_real_models_report_latency_and_memory(demo_run: DemoRun) -> None:
    """The real models' servers record their boot and memory, and SmolLM2's chat cell its latency percentiles."""
    results = demo_run.results
    servers = {s.server_key: s for s in results.servers}
    for key, floor in (("smollm2-135m-instruct-default", 250 * 2**20), ("gemma3-270m-default", 500 * 2**20)):
        server = servers[key]
        assert server.boot_s is not None and server.boot_s > 0, key
        assert server.resources is not None, key
        assert server.resources["phases"]["probes"]["rss_bytes"] > floor, key  # the bf16 weights alone are this big
        assert server.expected_weight_bytes is not None and server.expected_weight_bytes > floor, key
    latency = next(c for c in results.cells if c.cell_id == "smollm2-135m-instruct-default-chat").latency
    assert latency is not None and latency["client"]["ttft_s"]["p50"] > 0
