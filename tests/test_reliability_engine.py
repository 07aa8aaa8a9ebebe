"""Engine faults on the real CPU engine: an engine stopped (SIGSTOP) during its boot ends in BOOT_TIMEOUT, one
stopped while it serves ends each request in PROBE_TIMEOUT; both with the engine log's last lines as evidence, and
the stopped engine is still torn down (SIGTERM + SIGCONT) without waiting for the SIGKILL.

One `vllm-compat run` over two zoo servers with short timeouts: chat-ok is stopped once ready (probe timeout 5 s),
tool-call is stopped as its boot starts (boot timeout 25 s).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from harness.server.groups import ENGINES_DIR
from tests.test_reliability_interrupts import BIN, HF_TOKEN, Run, _alive, assert_no_secrets

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

MATRIX = """\
defaults:
  # enforce-eager: the compile is not under test here, and costs ~7.5 s of a ~43 s boot on 2 cores
  flags: {max-model-len: 512, gpu-memory-utilization: 0.2, enforce-eager: true}
  env: {VLLM_CPU_KVCACHE_SPACE: "1"}
  semantic: false
models:
  - id: zoo:chat-ok
    use_cases: [chat]
    timeouts: {boot: 300, probe: 5}
  - id: zoo:tool-call
    use_cases: [chat]
    timeouts: {boot: 25, probe: 5}
"""


def _stop_newest_engine(run: Run) -> int:
    folder = run.run_dir / ENGINES_DIR
    newest = max(folder.iterdir(), key=lambda p: p.stat().st_mtime)
    pgid = int(newest.name)
    os.killpg(pgid, signal.SIGSTOP)
    return pgid


def test_a_stopped_engine_times_out_with_its_log_tail(tmp_path: Path, engine_python: Path) -> None:
    """SIGSTOP once ready: the cell FAILs PROBE_TIMEOUT naming the stopped process, with the log tail; SIGSTOP during
    the next boot: BOOT_TIMEOUT with the log tail; no engine process is left."""
    import subprocess

    (tmp_path / "matrix.yaml").write_text(MATRIX)
    run_dir = tmp_path / "run"
    argv = [str(BIN / "vllm-compat"), "run", "--matrix", "matrix.yaml", "--run-dir", str(run_dir)]
    argv += ["--engine-python", str(engine_python), "--latency-repeats", "0"]
    env = {**os.environ, "HF_TOKEN": HF_TOKEN}
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    run = Run(proc, run_dir)
    run.watch()
    run.wait_for(r"\[chat-ok-default\] ready in")
    stopped = [_stop_newest_engine(run)]
    run.wait_for(r"\[tool-call-default\] booting: starting")
    time.sleep(0.5)
    stopped.append(_stop_newest_engine(run))
    started = time.monotonic()
    status = proc.wait(timeout=200)
    print(f"\n[reliability] stopped engines: run ended {time.monotonic() - started:.1f} s after the second SIGSTOP")
    assert not _alive(set(stopped)), "a stopped engine was left behind"
    run.signalled_at = started
    run.finish()  # drain the output
    assert run.keys, "the engines' API keys were not captured"
    assert_no_secrets(run, tmp_path)  # a boot, a hung probe and a failed boot: no HF_TOKEN, no API key anywhere
    cells: dict[str, dict[str, Any]] = {}
    servers: dict[str, list[dict[str, Any]]] = {}
    for text in (run_dir / "results.jsonl").read_text().splitlines():
        data = json.loads(text)
        if data["kind"] == "cell":
            cells[data["cell_id"]] = data
        elif data["kind"] == "server":
            servers.setdefault(data["server_key"], []).append(data)
    chat = cells["chat-ok-default-chat"]
    assert (chat["verdict"], chat["code"]) == ("FAIL", "PROBE_TIMEOUT"), chat
    assert "stopped" in chat["message"] and chat["log_tail"], chat
    boot = cells["tool-call-default-chat"]
    assert (boot["verdict"], boot["code"]) == ("FAIL", "BOOT_TIMEOUT"), boot
    assert boot["log_tail"], boot
    assert servers["chat-ok-default"][-1].get("leftover_pids") in (None, [])
    print(f"[reliability] PROBE_TIMEOUT: {chat['message'][:200]}")
    print(f"[reliability] BOOT_TIMEOUT: {boot['message'][:200]}")
    assert status == 1
