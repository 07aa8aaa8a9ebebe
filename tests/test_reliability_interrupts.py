"""Ctrl-C and CI cancels against real runs on the CPU engine: every vLLM process gone within a bound, the finished
cells kept, the others NOT RUN, the report saying the run was interrupted, the conventional exit code.

One small matrix (two zoo servers); each scenario starts `vllm-compat run` (or pytest) and sends the signal at a
chosen moment found by watching the progress lines or results.jsonl. The scenarios that need a ready server boot one
each; the others are stopped during the first seconds of a boot.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from harness.server.groups import ENGINES_DIR

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

MATRIX = """\
defaults:
  # enforce-eager: the compile is not under test here, and costs ~7.5 s of a ~43 s boot on 2 cores
  flags: {max-model-len: 512, gpu-memory-utilization: 0.2, enforce-eager: true}
  env: {VLLM_CPU_KVCACHE_SPACE: "1"}
  timeouts: {boot: 300, probe: 60}
  semantic: false
models:
  - id: zoo:chat-ok
    use_cases: [chat, completions]
  - id: zoo:tool-call
    use_cases: [chat]
"""
CELLS = {"chat-ok-default-chat", "chat-ok-default-completions", "tool-call-default-chat"}
# The bound this test holds the harness to, from the signal to the last engine process gone: the interrupt grace
# (groups.INTERRUPT_GRACE_S, 5 s of SIGTERM) + 5 s of SIGKILL + the harness's own exit.
CLEANUP_BOUND_S = 20.0
BIN = Path(sys.executable).parent
HF_TOKEN = "hf_PLANTEDinEveryRunDoNotLeak987654"  # planted in each run's environment: must appear nowhere


def assert_no_secrets(run: Run, root: Path) -> None:
    """Neither the planted HF_TOKEN nor any engine's API key is in a file under ``root`` or in the output."""
    secrets = [HF_TOKEN, *run.keys]
    text = "".join(run.output)
    leaks = [f"output: {s[:6]}..." for s in secrets if s in text]
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaks += [f"{path}: {s[:6]}..." for s in secrets if s.encode() in data]
    assert not leaks, leaks
    print(f"[reliability] secrets: HF_TOKEN and {len(run.keys)} engine API key(s) absent from {root} and the output")


@dataclass
class Run:
    """A harness process under test, with its output and the engine groups it started (read from the registry)."""

    proc: subprocess.Popen[str]
    run_dir: Path
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    output: list[str] = field(default_factory=list)
    groups: set[int] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)  # the API keys the engines were started with (their command lines)
    signalled_at: float | None = None

    def watch(self) -> None:
        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.put(line)
            self.lines.put("")

        def engines() -> None:
            folder = self.run_dir / ENGINES_DIR
            keyed: set[int] = set()
            while self.proc.poll() is None:
                with contextlib.suppress(OSError):
                    for marker in folder.iterdir():
                        pgid = int(marker.name)
                        self.groups.add(pgid)
                        if pgid not in keyed:  # until exec: the forked harness's command line, no key yet
                            with contextlib.suppress(psutil.Error, ValueError, IndexError):
                                argv = psutil.Process(pgid).cmdline()
                                self.keys.add(argv[argv.index("--api-key") + 1])
                                keyed.add(pgid)
                time.sleep(0.02)

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=engines, daemon=True).start()

    def wait_for(self, pattern: str, timeout: float = 300) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            self.output.append(line)
            if line == "":
                pytest.fail(f"the run ended before {pattern!r}:\n{''.join(self.output)[-3000:]}")
            if re.search(pattern, line):
                return line
        pytest.fail(f"no {pattern!r} within {timeout} s:\n{''.join(self.output)[-3000:]}")

    def wait_for_cell(self, timeout: float = 300) -> dict[str, object]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with contextlib.suppress(OSError):
                for text in (self.run_dir / "results.jsonl").read_text().splitlines():
                    data: dict[str, object] = json.loads(text)
                    if data.get("kind") == "cell":
                        return data
            time.sleep(0.05)
        pytest.fail("no cell recorded in time")

    def signal(self, signum: int) -> None:
        if self.signalled_at is None:
            self.signalled_at = time.monotonic()
        self.proc.send_signal(signum)

    def finish(self, timeout: float = 120) -> tuple[int, float, float]:
        """Exit status, seconds from the first signal to the harness's exit and to the last engine process gone."""
        status = self.proc.wait(timeout=timeout)
        assert self.signalled_at is not None
        exited = time.monotonic() - self.signalled_at
        while _alive(self.groups) and time.monotonic() - self.signalled_at < CLEANUP_BOUND_S + 10:
            time.sleep(0.05)
        gone = time.monotonic() - self.signalled_at
        assert self.proc.stdout is not None
        while True:
            try:
                line = self.lines.get(timeout=5)
            except queue.Empty:
                break
            if line == "":
                break
            self.output.append(line)
        return status, exited, gone


def _alive(pgids: set[int]) -> list[int]:
    alive = []
    for process in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) in pgids and process.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(process.pid)
    return alive


def _start(tmp_path: Path, engine_python: Path, argv: list[str]) -> Run:
    (tmp_path / "matrix.yaml").write_text(MATRIX)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [*argv, "--run-dir", str(run_dir), "--engine-python", str(engine_python), "--latency-repeats", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200", "HF_TOKEN": HF_TOKEN},
    )
    run = Run(proc, run_dir)
    run.watch()
    return run


def _vllm_compat_run(tmp_path: Path, engine_python: Path) -> Run:
    return _start(tmp_path, engine_python, [str(BIN / "vllm-compat"), "run", "--matrix", "matrix.yaml"])


def _verdicts(run_dir: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for text in (run_dir / "results.jsonl").read_text().splitlines():
        data = json.loads(text)  # every line whole: a torn line would raise here
        if data.get("kind") == "cell":
            out[data["cell_id"]] = data["verdict"]
    return out


def _check(run: Run, status: int, expected_status: int, exited: float, gone: float, what: str) -> dict[str, str]:
    text = "".join(run.output)
    print(
        f"\n[reliability] {what}: harness exited {exited:.1f} s after the signal, engines gone after {gone:.1f} s "
        f"(bound {CLEANUP_BOUND_S:.0f} s), exit {status}, engine groups {sorted(run.groups)}"
    )
    assert status == expected_status, text[-3000:]
    assert not _alive(run.groups), f"engine processes left: {_alive(run.groups)}"
    assert gone < CLEANUP_BOUND_S
    verdicts = _verdicts(run.run_dir)
    assert set(verdicts) == CELLS, verdicts  # every planned cell recorded: none silently absent
    assert "PASS" not in {v for k, v in verdicts.items() if v == "NOT RUN"}
    status_md = (run.run_dir / "STATUS.md").read_text()
    assert "run interrupted" in status_md
    assert not (run.run_dir / ENGINES_DIR).exists() or not any((run.run_dir / ENGINES_DIR).iterdir())
    assert_no_secrets(run, run.run_dir.parent)
    return verdicts


def test_sigint_during_a_boot(tmp_path: Path, engine_python: Path) -> None:
    """Ctrl-C while the first engine boots: it is stopped, all three cells NOT RUN, exit 130."""
    run = _vllm_compat_run(tmp_path, engine_python)
    run.wait_for(r"booting: starting")
    run.signal(signal.SIGINT)
    status, exited, gone = run.finish()
    verdicts = _check(run, status, 130, exited, gone, "SIGINT during a boot")
    assert set(verdicts.values()) == {"NOT RUN"}


def test_sigterm_during_a_probe(tmp_path: Path, engine_python: Path) -> None:
    """A CI cancel (SIGTERM) while the first cell is being probed: the server is stopped, nothing is PASS by
    omission, the cells not finished are NOT RUN, exit 143."""
    run = _vllm_compat_run(tmp_path, engine_python)
    run.wait_for(r"ready in [0-9.]+ s")
    run.signal(signal.SIGTERM)
    status, exited, gone = run.finish()
    verdicts = _check(run, status, 143, exited, gone, "SIGTERM during a probe")
    assert verdicts["tool-call-default-chat"] == "NOT RUN"
    assert "NOT RUN" in verdicts.values()


def test_sigint_between_cells_then_again_during_teardown(tmp_path: Path, engine_python: Path) -> None:
    """Ctrl-C once the first cell is recorded, and again half a second later while the server is being stopped:
    the finished cell keeps its verdict, the rest are NOT RUN, no engine process is left, exit 130."""
    run = _vllm_compat_run(tmp_path, engine_python)
    first = run.wait_for_cell()
    run.signal(signal.SIGINT)
    time.sleep(0.5)
    run.signal(signal.SIGINT)
    status, exited, gone = run.finish()
    verdicts = _check(run, status, 130, exited, gone, "SIGINT between cells + a second SIGINT in teardown")
    assert verdicts[str(first["cell_id"])] == first["verdict"] != "NOT RUN"
    assert "again during teardown" in "".join(run.output), "".join(run.output)[-4000:]


def test_sigint_to_pytest_with_xdist_during_a_boot(tmp_path: Path, engine_python: Path) -> None:
    """`pytest -n 2` interrupted while a worker boots: the controller passes the signal on, the workers stop their
    engines (or the controller reaps them), pytest exits INTERRUPTED (2)."""
    from harness import suites

    argv = [
        str(BIN / "pytest"), str(suites.DIRECTORY), "-p", "vllm_compat", "-p", "no:cacheprovider",
        "-c", str(suites.RUN_CONFIG), "--rootdir", str(tmp_path), "--confcutdir", str(suites.DIRECTORY),
        "--matrix", "matrix.yaml", "-n", "2", "--dist", "loadgroup",
    ]  # fmt: skip
    run = _start(tmp_path, engine_python, argv)
    deadline = time.monotonic() + 120
    while not run.groups and time.monotonic() < deadline:  # a worker's engine is starting
        time.sleep(0.05)
    assert run.groups, "no engine started"
    time.sleep(1.0)
    run.signal(signal.SIGINT)
    status, exited, gone = run.finish()
    text = "".join(run.output)
    print(
        f"\n[reliability] SIGINT to pytest -n 2 during a boot: exited {exited:.1f} s, engines gone {gone:.1f} s, "
        f"exit {status}"
    )
    assert status == pytest.ExitCode.INTERRUPTED, text[-3000:]
    assert not _alive(run.groups)
    assert gone < CLEANUP_BOUND_S
    assert "NOT RUN" in set(_verdicts(run.run_dir).values())
