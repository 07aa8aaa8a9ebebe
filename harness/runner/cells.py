"""Runs matrix cells: pre-flight once per model, one server per (model, profile) from the pool, one probe per cell.

Independent of pytest (the plugin turns an Outcome into a pytest outcome), so that the verdict logic is tested on
its own. Nothing here decides PASS without a probe that ran: every path that does not reach a probe ends in FAIL,
SKIP or ERROR.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.checkpoint import (
    CheckpointError,
    PreflightReport,
    against_gpu,
    against_lora,
    against_reasoning,
    lora_modules,
    preflight,
    resolved_revision,
    wants_lora,
)
from harness.codes import Code
from harness.diagnose import Diagnosis
from harness.engine import GpuSpec
from harness.findings import Finding
from harness.fleet import Lease, NodeScheduler
from harness.logs import read_tail
from harness.matrix import Cell, ModelSpec
from harness.measure import LATENCY_USE_CASES, measure_latency
from harness.probes import PROBES, EngineUnreachable, ProbeContext, ProbeResult
from harness.results import CellRecord, CellServer, CheckRecord, Stopwatch, append_record, now_iso
from harness.runner.external import LiveEndpoints, probe_external
from harness.runner.outcome import Outcome
from harness.runner.placement import PreflightRefusal, lease_gpu, preflight_refusal
from harness.runner.progress import Progress
from harness.runner.servers import ServerPool, checkpoint_reference
from harness.server import BootError, VllmServer, parse_boot_log
from harness.verdicts import Verdict, judge
from harness.zoo import ADAPTER_BASES, MEMBERS, zoo_member_name

LOG_TAIL_LINES = 40
# vLLM answers HTTP 500 when its engine core has died (EngineDeadError), then shuts the API server down a moment
# later; a killed engine refuses connections a moment before its process is gone. After a 5xx or a refused
# connection, wait up to this long for the process to go before deciding between HTTP_ERROR and ENGINE_DIED.
ENGINE_DEATH_GRACE_S = 15.0
_SERVER_ERROR = re.compile(r"HTTP 5\d\d")


def _await_exit(server: VllmServer, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while server.alive() and time.monotonic() < deadline:
        time.sleep(0.2)


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
        dry_boot: bool = False,
        gpu: GpuSpec | None = None,
        scheduler: NodeScheduler | None = None,
    ) -> None:
        self.run_id = run_id
        # The GPU this process's servers get before a lease says which (NVML's GPU 0, with the count this worker
        # sees); once a server holds its lease, pre-flight judges its flags against the leased GPUs instead. None (no
        # NVIDIA GPU) leaves the GPU-side checks out until a lease names GPUs.
        self.gpu = gpu
        self._against_gpu: dict[tuple[str, GpuSpec | None], PreflightReport] = {}  # (server key, GPU) -> judged
        self.run_dir = run_dir
        self.engine_python = engine_python
        self.offline = offline
        self.progress = progress or Progress()
        self.say = self.progress.line
        self.latency_repeats = latency_repeats  # streamed requests per working chat/completions cell; 0: none
        self.results_path = run_dir / "results.jsonl"
        self._preflights: dict[str, PreflightReport | BaseException] = {}
        self._revisions: dict[str, str | None] = {}  # model name -> resolved revision, hashed once per run
        self._planned = self._done = 0  # cells this process will run / has run: the "cells done/left" progress
        self.live = LiveEndpoints(self.say)  # identity and swaps of the servers this run did not start, asked once
        self.servers = ServerPool(
            run_id=run_id,
            run_dir=run_dir,
            results_path=self.results_path,
            engine_python=engine_python or Path(),
            offline=offline,
            boot_timeout=boot_timeout,
            progress=self.progress,
            extra_env=extra_env or {},
            dry_boot=dry_boot,
            scheduler=scheduler,
        )
        self.servers.judge_lease = self._judge_lease

    def plan(self, cells: Iterable[Cell]) -> None:
        """Tell the pool which cells each server will serve, so a server stops right after its last one."""
        planned = list(cells)
        self.servers.plan(planned)
        self._planned, self._done = len(planned), 0

    def preflight(self, model: ModelSpec) -> PreflightReport:
        """The model's pre-flight, run once; a harness error in it is kept and raised again for each cell."""
        cached = self._preflights.get(model.name)
        if cached is None:
            try:
                cached = preflight(
                    checkpoint_reference(model),
                    use_cases=model.use_cases,
                    revision=model.revision,
                    engine_python=self.engine_python,
                    offline=self.offline,
                    gguf_file=model.gguf_file,
                    quant=model.quant,
                    tokenizer=model.tokenizer,
                )
            except Exception as error:  # kept: every cell of the model then reports the same ERROR
                cached = error
            self._preflights[model.name] = cached
        if isinstance(cached, BaseException):
            raise cached
        return cached

    def _judged(self, cell: Cell, report: PreflightReport, gpu: GpuSpec | None = None) -> PreflightReport:
        """The model's pre-flight with the findings of this cell's server, once per server and GPU: its flags x its
        GPU (none without a GPU), its reasoning parser x the tokenizer (a model with the reasoning use case; the
        engine's answer is cached per checkpoint), its LoRA adapters (--lora-modules x the base x the engine's
        rules)."""
        if cell.endpoint is not None:
            return report
        gpu = gpu or self._server_gpu(cell)
        judged = self._against_gpu.get((cell.server_key, gpu))
        if judged is None:
            judged = against_gpu(report, gpu, cell.flags, self.engine_python) if gpu is not None else report
            judged = against_reasoning(judged, cell.flags, self.engine_python)
            if wants_lora(cell.flags, cell.model.use_cases):  # adapters load while the server starts: their refusals
                judged = against_lora(  # are the server's
                    judged, cell.flags, model_id=cell.model.id, engine_python=self.engine_python, offline=self.offline
                )
            self._against_gpu[(cell.server_key, gpu)] = judged
        return judged

    def _server_gpu(self, cell: Cell) -> GpuSpec | None:
        """The GPU the server is judged against: its lease's when it holds one; before the lease, this process's GPU
        only where every unit of the node is alike (on a mixed node the lease decides, and is judged then)."""
        lease = self.servers.lease_of(cell.server_key)
        if lease is not None and not lease.simulated:
            return lease_gpu(lease)
        inventory = self.servers.scheduler.inventory
        # A described (simulated) inventory is no GPU the engine sees: it never replaces this process's own.
        if not inventory.simulated and len({(u.name, u.total_bytes, u.capability) for u in inventory.units}) > 1:
            return None
        return self.gpu

    def _judge_lease(self, cell: Cell, lease: Lease) -> None:
        """Pre-flight against the GPUs the server was leased (ServerPool asks between lease and spawn): a certain
        refusal there is PreflightRefusal, and vLLM is not started on GPUs that cannot take it. A simulated lease
        (VLLM_COMPAT_GPUS) names GPUs no engine sees: the engine runs where it runs, so nothing is judged."""
        if lease.simulated:
            return
        gpu = lease_gpu(lease)
        errors = self._judged(cell, self.preflight(cell.model), gpu).errors_for(cell.use_case)
        if errors:
            raise preflight_refusal(cell.server_key, errors, gpu, self.run_dir)

    def _lease_findings(self, cell: Cell) -> tuple[Finding, ...]:
        """The findings of the server's pre-flight against a leased GPU (the newest judged), if any was judged."""
        leased = [
            r
            for (key, gpu), r in self._against_gpu.items()
            if key == cell.server_key and gpu is not None and gpu.source == "lease"
        ]
        return tuple(leased[-1].findings) if leased else ()

    def close(self) -> None:
        """Stop every server still up (an interrupted session, or cells deselected after planning)."""
        self.servers.close()

    # -- one cell -------------------------------------------------------------------------------------------------
    def run(self, cell: Cell) -> Outcome:
        watch = Stopwatch()
        teardown: str | None = None
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
            # A teardown problem must not hide the cell's verdict, nor be hidden: the server's STOPPED line records
            # it (ServerPool._stop), the cell's message and the terminal say it.
            try:
                self.servers.finish(cell)
            except Exception as error:
                teardown = f"{type(error).__name__}: {error}"
                self.say(f"[{cell.server_key}] teardown failed: {teardown}")
        if teardown is not None:
            raw = replace(raw, message=f"{raw.message}; its server's teardown failed: {teardown}")
        if raw.verdict is Verdict.FAIL and raw.stage is None:
            raw = replace(raw, stage="probe")  # every earlier stage names itself; what is left failed in a probe
        outcome = judge(raw, cell.expect)
        self._cell_record(cell, outcome, watch, self._resolved_revision(cell))
        self._done += 1
        code = f" {outcome.code}" if outcome.code else ""
        left = f" ({self._done}/{self._planned} cells done)" if self._planned else ""
        self.say(f"[{cell.id}] {outcome.verdict.value}{code}{left}")
        return outcome

    def evaluate(self, cell: Cell) -> Outcome:
        """The cell's raw outcome (before the matrix's expectation), without a record, a latency measurement or a
        step towards stopping its server: a deployment's concurrent phase probes cells again while all are up."""
        return self._evaluate(cell, latency=False)

    def needs_server(self, cell: Cell) -> bool:
        """Whether running the cell boots its server: no endpoint answers it, it has a probe and pre-flight lets it
        through (a deployment boots its services in order before any cell runs)."""
        if cell.endpoint is not None or cell.use_case.value not in PROBES:
            return False
        return not self._judged(cell, self.preflight(cell.model)).errors_for(cell.use_case)

    def _evaluate(self, cell: Cell, *, latency: bool = True) -> Outcome:
        if cell.endpoint is not None:
            return probe_external(cell, cell.endpoint, self.say, self.live)
        report = self._judged(cell, self.preflight(cell.model))
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
                stage="preflight",
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
            server = self.servers.get(cell)
        except CheckpointError as error:  # the weights could not be fetched: the model's cells fail, nothing booted
            return Outcome(
                verdict=Verdict.FAIL,
                code=error.code,
                message=f"fetching the weights: {error.message}; no server booted",
                evidence=error.evidence,
                findings=findings,
                stage="fetch",
            )
        except PreflightRefusal as error:  # pre-flight against the leased GPUs: vLLM is certain to refuse them
            lease_findings = self._lease_findings(cell)
            return Outcome(
                verdict=Verdict.FAIL,
                code=error.diagnosis.code,
                message=f"pre-flight against the leased GPU(s): {error.diagnosis.evidence}; no server booted",
                evidence=error.log_tail,
                findings=lease_findings or findings,
                stage="preflight",
                server=CellServer(key=cell.server_key, log=str(error.log_path)),
            )
        except BootError as error:
            stage = getattr(error, "stage", "boot")
            dry = " on dummy weights (dry boot; no weight fetched)" if stage == "dry_boot" else ""
            return Outcome(
                verdict=Verdict.FAIL,
                code=error.diagnosis.code,
                message=f"GPU scheduling: {error.diagnosis.evidence}; vLLM not started"
                if stage == "schedule"
                else f"boot{dry} failed after {error.elapsed:.1f} s (exit code {error.exit_code}): "
                f"{error.diagnosis.evidence}",
                stage=stage,
                evidence=error.diagnosis.evidence,
                server=CellServer(key=cell.server_key, log=str(error.log_path)),
                log_tail=error.log_tail,
                findings=findings,
                timings={"boot_s": round(error.elapsed, 2)},
            )
        return self._probe(cell, server, probe, report, findings, latency=latency)

    def _probe(
        self,
        cell: Cell,
        server: VllmServer,
        probe: Callable[..., ProbeResult],
        report: PreflightReport,
        findings: tuple[Finding, ...],
        *,
        latency: bool = True,
    ) -> Outcome:
        server_info = CellServer(
            key=cell.server_key,
            port=server.port,
            vllm_version=(server.version or {}).get("version"),
            log=str(server.log_path),
            compile_cache=parse_boot_log(server.log_text()).compile_cache,  # boot times compare warm with warm
        )
        timings: dict[str, float] = {"boot_s": round(server.boot_seconds, 2)}
        death = server.death_report()
        if death is not None:
            return self._engine_died(server, death, server_info, timings, findings)
        facts = report.facts
        context = ProbeContext(
            client=server.client(timeout=cell.model.timeouts.probe),
            model=server.served_model_name,
            semantic=cell.model.semantic,
            timeout=cell.model.timeouts.probe,
            end_of_turn=facts.chat_template.end_of_turn if facts.chat_template is not None else None,
            eos_token_ids=facts.eos_token_ids or (),
            eos_mismatch_predicted=any(f.code == "EOS_MISMATCH" for f in findings),
            expected_answer=_expected_answer(cell.model),
            lora_answers=_lora_answers(cell),
            flags=cell.flags,
            model_dir=report.path,
            facts=facts,
            base_url=server.base_url,
            api_key=server.api_key,
            options=cell.options,
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
            return self._engine_died(server, death, server_info, timings, findings)
        timings |= {k: round(float(v), 4) for k, v in result.timings.items()}
        if not result.passed and _SERVER_ERROR.search(result.message):
            _await_exit(server, ENGINE_DEATH_GRACE_S)
        death = None if result.passed else server.death_report()
        if death is not None:
            # The engine died under this probe: the cause is in its log, not in the probe's checks.
            return self._engine_died(server, death, server_info, timings, findings, result)
        measured = self._latency(cell, server) if result.passed and latency else None
        hung = result.code == "PROBE_TIMEOUT"
        return Outcome(
            verdict=Verdict.PASS if result.passed else Verdict.FAIL,
            code=None if result.passed else (result.code or "PROBE_FAILED"),
            latency=measured,
            message=result.message
            + (f" (after {cell.model.timeouts.probe:g} s; {_process_state(server)})" if hung else ""),
            evidence=result.evidence,
            log_tail=read_tail(server.log_path, LOG_TAIL_LINES) if hung else None,  # what the engine said last
            checks=tuple(result.checks),
            timings=timings,
            server=server_info,
            findings=findings,
        )

    @staticmethod
    def _engine_died(
        server: VllmServer,
        death: Diagnosis,
        server_info: CellServer,
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
            server=replace(server_info, cause=Code(death.code)),
            log_tail=read_tail(server.log_path, LOG_TAIL_LINES),
            findings=findings,
        )

    def _latency(self, cell: Cell, server: VllmServer) -> dict[str, Any] | None:
        """Latency figures for a working text cell; a measurement failure is recorded, never turned into a verdict."""
        if self.latency_repeats <= 0 or cell.use_case.value not in LATENCY_USE_CASES:
            return None
        self.say(f"[{cell.server_key}] measuring {cell.use_case.value} latency ({self.latency_repeats} requests)")
        try:
            return measure_latency(server, cell.use_case.value, self.latency_repeats, cell.model.timeouts.probe)
        except Exception as error:  # the verdict stands on the probe; the report shows why figures are missing
            return {"error": f"{type(error).__name__}: {error}"}

    def _resolved_revision(self, cell: Cell) -> str | None:
        """The commit or content hash pre-flight's directory resolved to (the history key); None without one."""
        name = cell.model.name
        if name not in self._revisions:
            report = self._preflights.get(name)
            path = report.path if isinstance(report, PreflightReport) else None
            gguf = report.facts.gguf_path if isinstance(report, PreflightReport) else None
            try:
                self._revisions[name] = resolved_revision(path, Path(gguf) if gguf else None)
            except OSError:  # a directory that vanished mid-run: the key says unknown rather than break the cell
                self._revisions[name] = None
        return self._revisions[name]

    def _cell_record(self, cell: Cell, outcome: Outcome, watch: Stopwatch, revision: str | None = None) -> None:
        timings = dict(outcome.timings)
        timings.setdefault("cell_s", watch.elapsed())
        record = CellRecord(
            run_id=self.run_id,
            cell_id=cell.id,
            model=cell.model.name,
            model_id=cell.model.id,
            revision=cell.model.revision,
            profile=cell.profile,
            use_case=cell.use_case,
            verdict=outcome.verdict,
            code=Code(outcome.code) if outcome.code else None,
            expected=Code(cell.expect) if cell.expect else None,
            required=cell.required,
            message=outcome.message,
            evidence=outcome.evidence,
            checks=tuple(CheckRecord(c.name, c.passed, c.detail) for c in outcome.checks),
            findings=outcome.findings,
            timings=timings,
            latency=outcome.latency,
            server=outcome.server,
            log_tail=outcome.log_tail,
            stage=outcome.stage if outcome.verdict in (Verdict.FAIL, Verdict.XFAIL) else None,
            started_at=watch.started_at,
            finished_at=now_iso(),
            resolved_revision=revision,
        )
        append_record(self.results_path, record)


def _expected_answer(model: ModelSpec) -> str | None:
    """A zoo member's known greedy answer: the semantic check for checkpoints the harness wrote itself."""
    name = zoo_member_name(model.id)
    member = MEMBERS.get(name) if name is not None else None
    return member.expected_answer if member is not None else None


def _lora_answers(cell: Cell) -> dict[str, str]:
    """The exact greedy answers of the cell's zoo adapters that were built for its base model (a zoo member)."""
    answers: dict[str, str] = {}
    for module in lora_modules(cell.flags)[0]:
        member = MEMBERS.get(zoo_member_name(module.path) or "")
        base = zoo_member_name(cell.model.id)
        if member is not None and member.expected_answer is not None and base == ADAPTER_BASES.get(member.name):
            answers[module.name] = member.expected_answer
    return answers


def _process_state(server: VllmServer) -> str:
    """The engine process's state for a timeout's evidence: a SIGSTOP'd engine reads "stopped"."""
    import psutil

    if server.pid is None:
        return "no engine process"
    try:
        return f"engine pid {server.pid} is {psutil.Process(server.pid).status()}"
    except psutil.Error:
        return f"engine pid {server.pid} is gone"
