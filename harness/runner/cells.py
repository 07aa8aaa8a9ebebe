"""Runs matrix cells: pre-flight once per model, one server per (model, profile), one probe per cell.

Independent of pytest (the plugin turns an Outcome into a pytest outcome), so that the verdict logic is tested on
its own. Nothing here decides PASS without a probe that ran: every path that does not reach a probe ends in FAIL,
SKIP or ERROR.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.server.boot_log import parse_boot_log
from harness.findings import Finding
from harness.runner.progress import Progress
from harness.results import Stopwatch, Verdict, append_record, now_iso
from harness.usecases import UseCase

if TYPE_CHECKING:
    from harness.checkpoint.preflight import PreflightReport
    from harness.matrix.endpoints import Endpoint
    from harness.matrix.load import Cell, ModelSpec
    from harness.measure.vram import ResourceSampler
    from harness.probes.base import Check, ProbeResult
    from harness.server.server import BootError, VllmServer

LOG_TAIL_LINES = 40
# vLLM answers HTTP 500 when its engine core has died (EngineDeadError), then shuts the API server down a moment
# later; a killed engine refuses connections a moment before its process is gone. After a 5xx or a refused
# connection, wait up to this long for the process to go before deciding between HTTP_ERROR and ENGINE_DIED.
ENGINE_DEATH_GRACE_S = 15.0
SAMPLE_INTERVAL_S = 0.02  # NVML every 20 ms, as fine as the field's best trackers; ~2% of one core on this machine
_SERVER_ERROR = re.compile(r"HTTP 5\d\d")


def _weight_bytes(path: Path) -> int | None:
    """What the safetensors headers promise: the floor of the memory the weights will take."""
    from harness.measure.vram import expected_weight_bytes

    try:
        return expected_weight_bytes(path) or None
    except (OSError, ValueError):
        return None


def _await_exit(server: VllmServer, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while server.alive() and time.monotonic() < deadline:
        time.sleep(0.2)


@dataclass(frozen=True)
class Outcome:
    """A cell's verdict with everything the report shows about it."""

    verdict: Verdict
    code: str | None = None
    message: str = ""
    evidence: str = ""
    checks: tuple[Check, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    server: dict[str, Any] | None = None
    log_tail: str | None = None
    findings: tuple[Finding, ...] = ()
    latency: dict[str, Any] | None = None  # client percentiles + /metrics deltas, for working text cells


def judge(raw: Outcome, expected: str | None) -> Outcome:
    """Apply the matrix's expectation: a failure with the expected code is XFAIL; a pass where one was expected is
    XPASS (news, never hidden); a failure with another code stays FAIL and says what was expected."""
    if expected is None or raw.verdict in (Verdict.SKIP, Verdict.ERROR):
        return raw
    if raw.verdict is Verdict.PASS:
        message = f"expected {expected} but every check passed: the known failure is gone (update the matrix)"
        return replace(raw, verdict=Verdict.XPASS, message=message)
    if raw.verdict is Verdict.FAIL and raw.code == expected:
        return replace(raw, verdict=Verdict.XFAIL)
    return replace(raw, message=f"expected {expected}, got {raw.code}: {raw.message}")


def _reference(model: ModelSpec) -> str:
    """What the checkpoint stage resolves: the hub id or zoo: id, or the local path the matrix resolved."""
    return model.id if model.path is None else str(model.path)


def _tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str | None:
    if path is None or not path.exists():
        return None
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


class CellRunner:
    """One per pytest process (the controller, or each xdist worker)."""

    def __init__(
        self,
        *,
        run_id: str,
        run_dir: Path,
        engine_python: Path | None,
        offline: bool | None,
        boot_timeout: float | None,
        progress: Progress | None = None,
        latency_repeats: int = 3,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.run_id = run_id
        self.run_dir = run_dir
        self.engine_python = engine_python
        self.offline = offline
        self.boot_timeout = boot_timeout  # overrides the matrix when given on the command line
        self.progress = progress or Progress()
        self.say = self.progress.line
        self.extra_env = extra_env or {}  # e.g. this xdist worker's CUDA_VISIBLE_DEVICES; the matrix's env wins
        self.latency_repeats = latency_repeats  # streamed requests per working chat/completions cell; 0: none
        self._preflights: dict[str, PreflightReport | BaseException] = {}
        self._servers: dict[str, VllmServer | BootError] = {}
        self._samplers: dict[str, ResourceSampler] = {}
        self._remaining: Counter[str] = Counter()
        self._planned = self._done = 0  # cells this process will run / has run: the "probes done/left" progress
        self.results_path = run_dir / "results.jsonl"

    # -- planning -------------------------------------------------------------------------------------------------
    def plan(self, cells: Iterable[Cell]) -> None:
        """Count the cells each server will serve in this process, so a server stops right after its last one."""
        planned = list(cells)
        self._remaining = Counter(cell.server_key for cell in planned if cell.endpoint is None)
        self._planned, self._done = len(planned), 0

    # -- stages ---------------------------------------------------------------------------------------------------
    def preflight(self, model: ModelSpec) -> PreflightReport:
        from harness.checkpoint.preflight import preflight

        cached = self._preflights.get(model.name)
        if cached is None:
            try:
                cached = preflight(
                    _reference(model),
                    use_cases=model.use_cases,
                    revision=model.revision,
                    engine_python=self.engine_python,
                    offline=self.offline,
                )
            except Exception as error:  # kept: every cell of the model then reports the same ERROR
                cached = error
            self._preflights[model.name] = cached
        if isinstance(cached, BaseException):
            raise cached
        return cached

    def _model_path(self, model: ModelSpec) -> Path:
        """The checkpoint with its weights: a zoo member or local directory as it is, a hub model fetched once."""
        from harness.checkpoint.preflight import fetch_weights

        return fetch_weights(_reference(model), revision=model.revision, offline=self.offline)

    def server(self, cell: Cell) -> VllmServer:
        """The cell's server, booted on first use; a failed boot is remembered so its other cells do not retry."""
        from harness.server.server import BootError, VllmServer

        known = self._servers.get(cell.server_key)
        if isinstance(known, BootError):
            raise known
        if known is not None:
            return known
        assert self.engine_python is not None
        model = cell.model
        with self.progress.visible():
            path = self._model_path(model)  # weights are fetched before the boot clock starts
        timeout = self.boot_timeout or model.timeouts.boot
        self.say(f"[{cell.server_key}] booting vLLM (timeout {timeout:.0f} s)")
        started_at = now_iso()
        try:
            with self.progress.activity(f"[{cell.server_key}] booting") as show:
                server = VllmServer(
                    engine_python=self.engine_python,
                    model_path=path,
                    name=cell.server_key,
                    flags=cell.flags,
                    env={**self.extra_env, **model.env},
                    run_dir=self.run_dir,
                    boot_timeout=timeout,
                    run_id=self.run_id,
                    on_phase=show,
                )
                sampler = self._sampler(server, model)
                server.start()
        except BootError as error:
            self._servers[cell.server_key] = error
            resources = sampler.stop(settle_timeout_s=0).to_json()
            self._server_record(cell, "boot_failed", started_at, error=error, extra={"resources": resources})
            self.say(f"[{cell.server_key}] boot failed: {error.diagnosis.code}: {error.diagnosis.evidence}")
            raise
        sampler.mark("probes")
        self._servers[cell.server_key] = server
        self._samplers[cell.server_key] = sampler
        phases = parse_boot_log(server.log_text()).to_json()
        self._server_record(
            cell,
            "ready",
            started_at,
            server=server,
            extra={"boot_phases": phases, "expected_weight_bytes": _weight_bytes(path)},
        )
        kv = phases.get("kv_cache_tokens")
        self.say(
            f"[{cell.server_key}] ready in {server.boot_seconds:.1f} s on port {server.port}"
            + (f"; KV cache {kv:,} tokens" if kv else "")
        )
        return server

    def _sampler(self, server: VllmServer, model: ModelSpec) -> ResourceSampler:
        """VRAM of the server's GPUs (NVML), or its process tree's RSS where there is no NVIDIA GPU."""
        from harness.measure.vram import ResourceSampler, gpu_indices_from_env

        sampler = ResourceSampler(
            lambda: server.pid if server.alive() else None,
            gpu_indices_from_env({**os.environ, **self.extra_env, **model.env}),
            interval_s=SAMPLE_INTERVAL_S,
        )
        sampler.start()
        sampler.mark("boot")
        return sampler

    def _server_record(
        self,
        cell: Cell,
        outcome: str,
        started_at: str,
        *,
        server: VllmServer | None = None,
        error: BootError | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        record: dict[str, Any] = {
            "kind": "server",
            "run_id": self.run_id,
            "server_key": cell.server_key,
            "model": cell.model.name,
            "model_id": cell.model.id,
            "profile": cell.profile,
            "flags": dict(cell.flags),
            "outcome": outcome,
            "started_at": started_at,
            "at": now_iso(),
        }
        if server is not None:
            record |= {
                "port": server.port,
                "boot_s": round(server.boot_seconds, 2),
                "version": server.version,
                "log": str(server.log_path),
                "pid": server.pid,
            }
        if error is not None:
            record |= {
                "code": error.diagnosis.code,
                "evidence": error.diagnosis.evidence,
                "exit_code": error.exit_code,
                "boot_s": round(error.elapsed, 2),
                "log": str(error.log_path),
                "log_tail": error.log_tail,
            }
        record |= extra or {}
        append_record(self.results_path, record)

    def _finish_server(self, cell: Cell) -> None:
        if cell.endpoint is not None:
            return  # answered elsewhere: no server of ours served it
        self._remaining[cell.server_key] -= 1
        if self._remaining[cell.server_key] > 0:
            return
        server = self._servers.get(cell.server_key)
        from harness.server.server import VllmServer

        if isinstance(server, VllmServer):
            self._stop(cell, server)

    def _stop(self, cell: Cell, server: VllmServer) -> None:
        sampler = self._samplers.pop(cell.server_key, None)
        if sampler is not None:
            sampler.mark("teardown")
        leftovers = server.stop()
        extra: dict[str, Any] = {"leftover_pids": leftovers}
        if sampler is not None:
            report = sampler.stop()
            extra["resources"] = report.to_json()
            if report.leak is not None:
                extra |= {"code": report.leak.code, "evidence": report.leak.message}
        self._server_record(cell, "stopped", now_iso(), server=server, extra=extra)
        self.say(f"[{cell.server_key}] stopped" + (f"; LEFT OVER pids {leftovers}" if leftovers else ""))

    def close(self) -> None:
        """Stop every server still up (an interrupted session, or cells deselected after planning)."""
        from harness.server.server import VllmServer

        for key, server in list(self._servers.items()):
            if isinstance(server, VllmServer) and server.running:
                server.stop()
            self._servers.pop(key, None)
            sampler = self._samplers.pop(key, None)
            if sampler is not None:
                sampler.stop(settle_timeout_s=0)

    # -- one cell -------------------------------------------------------------------------------------------------
    def run(self, cell: Cell) -> Outcome:
        watch = Stopwatch()
        try:
            raw = self._evaluate(cell)
        except Exception as error:  # the harness broke: ERROR, with the traceback as evidence
            raw = Outcome(
                verdict=Verdict.ERROR,
                code=None,
                message=f"harness error: {type(error).__name__}: {error}",
                evidence=traceback.format_exc(limit=8),
            )
        finally:
            # A teardown problem must not hide the cell's verdict; the server record says what was left over.
            with contextlib.suppress(Exception):
                self._finish_server(cell)
        outcome = judge(raw, cell.expect)
        self._cell_record(cell, outcome, watch)
        self._done += 1
        code = f" {outcome.code}" if outcome.code else ""
        left = f" ({self._done}/{self._planned} cells done)" if self._planned else ""
        self.say(f"[{cell.id}] {outcome.verdict.value}{code}{left}")
        return outcome

    def _evaluate(self, cell: Cell) -> Outcome:
        from harness.checkpoint.preflight import CheckpointError
        from harness.probes import PROBES
        from harness.server.server import BootError

        if cell.endpoint is not None:
            return self._external(cell, cell.endpoint)
        report = self.preflight(cell.model)
        findings = tuple(report.findings)
        errors = report.errors_for(cell.use_case)
        if errors:
            first = errors[0]
            rest = "; ".join(f"{f.code}: {f.message}" for f in errors[1:])
            return Outcome(
                verdict=Verdict.FAIL,
                code=first.code,
                message=f"pre-flight: {first.message}" + (f" (also {rest})" if rest else "") + "; no server booted",
                evidence=first.evidence,
                findings=findings,
            )
        probe = PROBES.get(cell.use_case.value)
        if probe is None:
            return Outcome(
                verdict=Verdict.SKIP,
                message=f"no probe for use case {cell.use_case.value!r} in this harness version",
                findings=findings,
            )
        if self.engine_python is None or not self.engine_python.exists():
            return Outcome(
                verdict=Verdict.ERROR,
                message="no engine environment: run `vllm-compat engine build`, or pass --engine-python "
                "(or set VLLM_COMPAT_ENGINE_PYTHON)",
                findings=findings,
            )
        try:
            server = self.server(cell)
        except CheckpointError as error:  # the weights could not be fetched: the model's cells fail, nothing booted
            return Outcome(
                verdict=Verdict.FAIL,
                code=error.code,
                message=f"fetching the weights: {error.message}; no server booted",
                evidence=error.evidence,
                findings=findings,
            )
        except BootError as error:
            return Outcome(
                verdict=Verdict.FAIL,
                code=error.diagnosis.code,
                message=f"boot failed after {error.elapsed:.1f} s (exit code {error.exit_code}): "
                f"{error.diagnosis.evidence}",
                evidence=error.diagnosis.evidence,
                server={"key": cell.server_key, "log": str(error.log_path)},
                log_tail=error.log_tail,
                findings=findings,
                timings={"boot_s": round(error.elapsed, 2)},
            )
        return self._probe(cell, server, probe, report, findings)

    def _external(self, cell: Cell, endpoint: Endpoint) -> Outcome:
        """A use case vLLM cannot serve, probed at the server the matrix names: the local checkpoint's pre-flight
        does not decide it (another server's model answers), and no vLLM boots for it."""
        from harness.matrix.endpoints import EndpointKeyMissing, endpoint_context
        from harness.probes import PROBES
        from harness.probes.base import EngineUnreachable

        info: dict[str, Any] = {"key": cell.server_key, "external": endpoint.to_json()}
        probe = PROBES.get(cell.use_case.value)
        if probe is None:
            message = f"no probe for use case {cell.use_case.value!r} in this harness version"
            return Outcome(verdict=Verdict.SKIP, message=message, server=info)
        try:
            context = endpoint_context(endpoint, timeout=cell.model.timeouts.probe)
        except EndpointKeyMissing as error:
            return Outcome(verdict=Verdict.ERROR, message=str(error), server=info)
        self.say(f"[{cell.server_key}] probing {cell.use_case.value} at {endpoint.describe()}")
        try:
            result = probe(context)
        except EngineUnreachable as error:
            message = f"{endpoint.describe()} unreachable: {error}"
            return Outcome(verdict=Verdict.FAIL, code="HTTP_ERROR", message=message, evidence=str(error), server=info)
        return Outcome(
            verdict=Verdict.PASS if result.passed else Verdict.FAIL,
            code=None if result.passed else (result.code or "PROBE_FAILED"),
            message=f"{endpoint.describe()}: {result.message}",
            evidence=result.evidence,
            checks=tuple(result.checks),
            timings={k: round(float(v), 4) for k, v in result.timings.items()},
            server=info,
        )

    def _probe(
        self,
        cell: Cell,
        server: VllmServer,
        probe: Callable[..., ProbeResult],
        report: PreflightReport,
        findings: tuple[Finding, ...],
    ) -> Outcome:
        from harness.probes.base import EngineUnreachable, ProbeContext

        server_info = {
            "key": cell.server_key,
            "port": server.port,
            "vllm_version": (server.version or {}).get("version"),
            "log": str(server.log_path),
        }
        timings: dict[str, float] = {"boot_s": round(server.boot_seconds, 2)}
        death = server.death_report()
        if death is not None:
            return self._engine_died(cell, server, death, server_info, timings, findings)
        facts = report.facts
        template = facts.get("chat_template") or {}
        context = ProbeContext(
            client=server.client(timeout=cell.model.timeouts.probe),
            model=server.served_model_name,
            semantic=cell.model.semantic,
            timeout=cell.model.timeouts.probe,
            end_of_turn=template.get("end_of_turn"),
            eos_token_ids=tuple(facts.get("eos_token_ids") or ()),
            eos_mismatch_predicted=any(f.code == "EOS_MISMATCH" for f in findings),
            expected_answer=self._expected_answer(cell.model),
            flags=cell.flags,
            model_dir=report.path,
            facts=facts,
            base_url=server.base_url,
            api_key=server.api_key,
        )
        self.say(f"[{cell.server_key}] probing {cell.use_case.value}")
        try:
            result = probe(context)
        except EngineUnreachable as error:
            # A refused connection usually means the engine is going down: let it finish exiting before deciding,
            # or a dying engine (its socket closed, its process not yet reaped) would pass for a live one.
            _await_exit(server, ENGINE_DEATH_GRACE_S)
            death = server.death_report()
            if death is None:
                return Outcome(
                    verdict=Verdict.FAIL,
                    code="HTTP_ERROR",
                    message=f"engine unreachable while alive: {error}",
                    server=server_info,
                    timings=timings,
                    findings=findings,
                )
            return self._engine_died(cell, server, death, server_info, timings, findings)
        timings |= {k: round(float(v), 4) for k, v in result.timings.items()}
        if not result.passed and _SERVER_ERROR.search(result.message):
            _await_exit(server, ENGINE_DEATH_GRACE_S)
        if not result.passed and server.death_report() is not None:
            # The engine died under this probe: the cause is in its log, not in the probe's checks.
            return self._engine_died(cell, server, server.death_report(), server_info, timings, findings, result)
        latency = self._latency(cell, server) if result.passed else None
        return Outcome(
            verdict=Verdict.PASS if result.passed else Verdict.FAIL,
            code=None if result.passed else (result.code or "PROBE_FAILED"),
            latency=latency,
            message=result.message,
            evidence=result.evidence,
            checks=tuple(result.checks),
            timings=timings,
            server=server_info,
            findings=findings,
        )

    def _engine_died(
        self,
        cell: Cell,
        server: VllmServer,
        death: Any,
        server_info: dict[str, Any],
        timings: dict[str, float],
        findings: tuple[Finding, ...],
        result: ProbeResult | None = None,
    ) -> Outcome:
        return Outcome(
            verdict=Verdict.FAIL,
            code="ENGINE_DIED",
            message=f"the engine died (exit code {server.exit_code}); diagnosed cause {death.code}: {death.evidence}",
            evidence=death.evidence,
            checks=tuple(result.checks) if result else (),
            timings=timings,
            server=server_info | {"cause": death.code},
            log_tail=_tail(server.log_path),
            findings=findings,
        )

    def _latency(self, cell: Cell, server: VllmServer) -> dict[str, Any] | None:
        """Latency figures for a working text cell; a measurement failure is recorded, never turned into a verdict."""
        from harness.measure.cell import LATENCY_USE_CASES, measure_latency

        if self.latency_repeats <= 0 or cell.use_case.value not in LATENCY_USE_CASES:
            return None
        self.say(f"[{cell.server_key}] measuring {cell.use_case.value} latency ({self.latency_repeats} requests)")
        try:
            return measure_latency(server, cell.use_case.value, self.latency_repeats, cell.model.timeouts.probe)
        except Exception as error:  # the verdict stands on the probe; the report shows why figures are missing
            return {"error": f"{type(error).__name__}: {error}"}

    @staticmethod
    def _expected_answer(model: ModelSpec) -> str | None:
        if model.source != "zoo":
            return None
        from harness.zoo.core import MEMBERS

        member = MEMBERS.get(model.id.removeprefix("zoo:"))
        return member.expected_answer if member is not None else None

    def _cell_record(self, cell: Cell, outcome: Outcome, watch: Stopwatch) -> None:
        timings = dict(outcome.timings)
        timings.setdefault("cell_s", watch.elapsed())
        append_record(
            self.results_path,
            {
                "kind": "cell",
                "run_id": self.run_id,
                "cell_id": cell.id,
                "model": cell.model.name,
                "model_id": cell.model.id,
                "revision": cell.model.revision,
                "profile": cell.profile,
                "use_case": cell.use_case.value,
                "verdict": outcome.verdict.value,
                "code": outcome.code,
                "expected": cell.expect,
                "required": cell.required,
                "message": outcome.message,
                "evidence": outcome.evidence,
                "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in outcome.checks],
                "findings": [f.to_json() for f in outcome.findings],
                "timings": timings,
                "latency": outcome.latency,
                "server": outcome.server,
                "log_tail": outcome.log_tail,
                "started_at": watch.started_at,
                "finished_at": now_iso(),
            },
        )


__all__ = ["CellRunner", "Outcome", "UseCase", "judge"]
