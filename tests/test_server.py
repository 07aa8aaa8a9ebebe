"""VllmServer against a fake engine: readiness is proven, failures are diagnosed, teardown leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.diagnose import diagnose
from harness.server import BootError, VllmServer
from harness.server import server as server_module

FAKE = Path(__file__).with_name("fake_engine.py")


@pytest.fixture
def engine_python(tmp_path: Path) -> Path:
    """A python that runs the fake engine whatever module it is asked for."""
    wrapper = tmp_path / "engine-python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def make(engine_python: Path, tmp_path: Path, mode: str = "serve", **kwargs: Any) -> VllmServer:
    env = {"FAKE_ENGINE_MODE": mode, **kwargs.pop("env", {})}
    options: dict[str, Any] = {"boot_timeout": 20.0, "stop_grace": 2.0, "poll_interval": 0.1} | kwargs
    return VllmServer(
        engine_python=engine_python,
        model_path=tmp_path / "model",
        name="tiny/chat-ok",
        flags={"max-model-len": 512},
        env=env,
        run_dir=tmp_path / "run",
        run_id="0123456789abcdef",
        **options,
    )


def ports(monkeypatch: pytest.MonkeyPatch, *first: int) -> None:
    """Make free_port hand out these ports first, then real free ones."""
    queue = list(first)
    real = server_module.free_port
    monkeypatch.setattr(server_module, "free_port", lambda host="127.0.0.1": queue.pop(0) if queue else real(host))


class Squatter(BaseHTTPRequestHandler):
    """Someone else's server: 200 to everything."""

    seen: list[str] = []  # noqa: RUF012 - shared on purpose: the test reads what the squatter was asked

    def log_message(self, format: str, *values: object) -> None:
        pass

    def _answer(self) -> None:
        Squatter.seen.append(f"{self.command} {self.path}")
        body = json.dumps({"object": "list", "data": [{"id": "someone-elses-model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


@pytest.fixture
def squatter() -> Iterator[int]:
    Squatter.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Squatter)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_ready_server_is_provably_ours(engine_python: Path, tmp_path: Path) -> None:
    """A booted server lists our run-unique name, records its version and phases, and answers with our key."""
    phases: list[str] = []
    with make(engine_python, tmp_path, on_phase=phases.append) as server:
        assert server.alive()
        assert server.served_model_name == "tiny-chat-ok-0123456789abcdef"
        assert server.version == {"version": "0.0.fake"}
        assert server.boot_seconds > 0
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        models = server.client(timeout=5).models.list()
        assert [m.id for m in models.data] == [server.served_model_name]
        assert server.death_report() is None
        assert server.api_key not in server.log_text()
    assert phases[0] == "starting"
    assert phases[-1] == "ready"
    assert {"resolving model", "loading weights", "kv cache", "api server up"} <= set(phases)
    assert not server.alive()
    assert server.leftover_pids == []


def test_squatter_on_the_port_is_never_ready(
    engine_python: Path, tmp_path: Path, squatter: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A foreign process answering 200 on our port is FOREIGN_SERVER and is never sent a request."""
    ports(monkeypatch, squatter)
    server = make(engine_python, tmp_path, mode="hang", foreign_grace=1.0, port_attempts=1)
    with pytest.raises(BootError) as caught:
        server.start()
    assert caught.value.diagnosis.code == "FOREIGN_SERVER"
    assert "someone-elses-model" in caught.value.diagnosis.evidence
    assert caught.value.exit_code is None
    assert all(request.startswith("GET ") for request in Squatter.seen)
    assert not any("/chat" in request or "/completions" in request for request in Squatter.seen)
    assert not server.alive()


def test_squatter_until_the_boot_timeout_is_still_foreign(
    engine_python: Path, tmp_path: Path, squatter: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the boot timeout comes before the foreign grace, the cause is still FOREIGN_SERVER, not a timeout."""
    ports(monkeypatch, squatter)
    server = make(engine_python, tmp_path, mode="hang", boot_timeout=2.0, port_attempts=1)
    with pytest.raises(BootError) as caught:
        server.start()
    assert caught.value.diagnosis.code == "FOREIGN_SERVER"


def test_exit_during_boot_raises_boot_error(engine_python: Path, tmp_path: Path) -> None:
    """An engine that exits while booting raises BootError at once with its exit code, diagnosis and log tail."""
    server = make(engine_python, tmp_path, mode="die", boot_timeout=60.0)
    started = time.monotonic()
    with pytest.raises(BootError) as caught:
        server.start()
    error = caught.value
    assert time.monotonic() - started < 30
    assert error.exit_code == 1
    assert error.diagnosis.code == "KV_BUDGET"
    assert "No available memory for the cache blocks" in error.log_tail
    assert error.log_path == server.log_path
    assert error.log_path.exists()
    text = str(error)
    assert "KV_BUDGET" in text
    assert "exit code 1" in text
    assert str(error.log_path) in text
    assert len(text.splitlines()) > 3


def test_boot_timeout(engine_python: Path, tmp_path: Path) -> None:
    """An engine that stays alive but never listens is BOOT_TIMEOUT, and is stopped."""
    server = make(engine_python, tmp_path, mode="hang", boot_timeout=1.5)
    with pytest.raises(BootError) as caught:
        server.start()
    assert caught.value.diagnosis.code == "BOOT_TIMEOUT"
    assert caught.value.exit_code is None
    assert not server.alive()
    assert server.leftover_pids == []


def test_port_conflict_is_retried_on_another_port(
    engine_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port taken between picking and binding is diagnosed PORT_CONFLICT and the boot retried on another port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports(monkeypatch, busy)
        with make(engine_python, tmp_path) as server:
            assert server.port != busy
            assert [a["code"] for a in server.attempts] == ["PORT_CONFLICT", None]
            assert Path(server.attempts[0]["log"]).exists()
            assert server.client(timeout=5).models.list().data[0].id == server.served_model_name


def test_port_conflict_gives_up_after_three_attempts(
    engine_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three lost port races end in BootError PORT_CONFLICT, never in a shared port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports(monkeypatch, busy, busy, busy)
        with pytest.raises(BootError) as caught:
            make(engine_python, tmp_path).start()
    assert caught.value.diagnosis.code == "PORT_CONFLICT"
    assert caught.value.attempts == 3
    assert "Address already in use" in caught.value.diagnosis.evidence


def test_teardown_kills_the_whole_group(engine_python: Path, tmp_path: Path) -> None:
    """Stopping kills the engine and a grandchild that ignores SIGTERM, and checks nothing of the group is left."""
    pidfile = tmp_path / "grandchild.pid"
    server = make(engine_python, tmp_path, env={"FAKE_ENGINE_GRANDCHILD": str(pidfile)}, stop_grace=1.0)
    with server:
        grandchild = int(pidfile.read_text())
        assert psutil.pid_exists(grandchild)
    assert server.leftover_pids == []
    assert server.teardown_seconds is not None
    assert not _running(grandchild)
    assert server.exit_code is not None


def test_death_report_names_the_cause_once_dead(engine_python: Path, tmp_path: Path) -> None:
    """death_report is None while the engine lives and the diagnosed cause once it was killed."""
    with make(engine_python, tmp_path) as server:
        assert server.death_report() is None
        assert server.pid is not None
        os.killpg(server.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while server.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        report = server.death_report()
        assert report is not None
        assert report.code == "PROC_KILLED"
        assert server.exit_code == -signal.SIGKILL


def test_flags_owned_by_the_harness_are_refused(engine_python: Path, tmp_path: Path) -> None:
    """A flag profile that sets the port, key, host or served name is refused."""
    with pytest.raises(ValueError, match="port"):
        VllmServer(
            engine_python=engine_python,
            model_path=tmp_path,
            name="m",
            flags={"port": 8000},
            env={},
            run_dir=tmp_path,
            boot_timeout=1,
            run_id="r",
        )


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_boot_error_names_the_second_cause_its_line_proves(tmp_path: Path) -> None:
    """Where the decisive line proves either of two causes (a max seq len larger than the KV cache: a shorter context,
    or more cache memory), the error a user reads names both, with the other one's fix."""
    line = (
        "ValueError: The model's max seq len (8192) is larger than the maximum number of tokens that can be stored "
        "in KV cache (4096). Try increasing `gpu_memory_utilization` or decreasing `max_model_len`."
    )
    error = BootError(
        name="tiny",
        exit_code=1,
        elapsed=3.0,
        diagnosis=diagnose(line + "\n"),
        log_tail=line,
        log_path=tmp_path / "engine.log",
    )
    assert "failed to boot: MAX_MODEL_LEN" in str(error)
    assert "  or: KV_BUDGET, as the same line proves: " in str(error)
    plain = BootError(
        name="tiny",
        exit_code=1,
        elapsed=3.0,
        diagnosis=diagnose("torch.OutOfMemoryError: CUDA out of memory\n"),
        log_tail="",
        log_path=tmp_path / "engine.log",
    )
    assert "  or: " not in str(plain)
