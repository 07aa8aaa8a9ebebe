"""results.jsonl: typed records, one JSON line per cell, per server boot or teardown and per run environment.

The records are ``CellRecord``, ``ServerRecord``, ``EnvironmentRecord`` and, for a deployment run,
``DeploymentRecord``, frozen dataclasses. Frozen dataclasses
rather than pydantic models: pydantic is not a dependency of the harness, which installs into the user's own
environment beside pytest, and three records with a handful of enums do not need a validation framework: each
record has an explicit ``to_json`` and ``from_json``, and reading errors are worded here, as one line naming the file,
the line, what was found and the fix.

Every line carries ``schema_version`` (``SCHEMA_VERSION``). Lines written before versioning (no ``schema_version``)
are version 1 and are converted when read; a line from a newer harness is refused with ``ResultsError``.

One writer, ``append_record``: a single ``write`` of one line on a file opened in append mode, then ``fsync``, so
xdist workers can share the file and a crash loses nothing already written. One reader, ``read_results``: a line cut
short by a crash is skipped, a server's boot and teardown lines merge into one record, a re-run cell keeps its last
verdict.

Typed all the way down where a value crosses stages: verdicts (``Verdict``), codes (``Code``), use cases
(``UseCase``), a cell's checks (``CheckRecord``), findings (``harness.findings.Finding``), the server that answered a
cell (``CellServer``) and the GPUs of the environment (``GpuRecord``). Measurement blobs stay JSON mappings, written
and read by the package that measures them: a cell's ``latency`` (measure.cell: client percentiles, /metrics deltas,
raw requests), a server's ``resources`` (measure.vram.ResourceReport.to_json) and ``boot_phases``
(server.boot_log.BootPhases.to_json), vLLM's ``/version`` answer, the matrix's ``flags``, an external endpoint's
description, and ``timings`` (seconds by name; the names vary by probe). The mappings inside a frozen record are
plain dicts: treat them as read-only.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness.codes import Code
from harness.findings import Finding, Severity
from harness.redact import redact
from harness.usecases import UseCase
from harness.verdicts import Verdict

RESULTS_FILE = "results.jsonl"
# 1: the unversioned lines written before records were typed; 2: typed records, each line says its version.
SCHEMA_VERSION = 2
_UPGRADE_FIX = "fix: upgrade vllm-compat (pip install -U vllm-compat) to read it"


class ResultsError(Exception):
    """A results file this harness cannot read: one line naming the file and line, what was found and the fix."""


def new_run_id() -> str:
    """Sortable by time, unique across machines: 20261121-201530-3fa2."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _code(value: str | None) -> Code | None:
    return Code(value) if value is not None else None


# -- parts of records ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckRecord:
    """One check a probe made, as recorded."""

    name: str
    passed: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckRecord:
        return cls(name=data["name"], passed=bool(data["passed"]), detail=data["detail"])


@dataclass(frozen=True)
class CellServer:
    """The server that answered a cell: one this run started (port, vLLM version, log; ``cause`` when its engine
    died), or an external endpoint the matrix names (``external``: where, never the key)."""

    key: str
    port: int | None = None
    vllm_version: str | None = None
    log: str | None = None
    cause: Code | None = None  # the diagnosed cause of an engine death
    external: Mapping[str, Any] | None = None  # matrix.endpoints.Endpoint.to_json()
    compile_cache: str | None = None  # the boot's torch.compile cache: warm, cold or disabled (server.boot_log)

    def to_json(self) -> dict[str, Any]:
        # Only what is known: a server of ours has no "external", an endpoint no port or log.
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CellServer:
        return cls(
            key=data["key"],
            port=data.get("port"),
            vllm_version=data.get("vllm_version"),
            log=data.get("log"),
            cause=_code(data.get("cause")),
            external=data.get("external"),
            compile_cache=data.get("compile_cache"),
        )


@dataclass(frozen=True)
class GpuRecord:
    """One GPU as NVML reported it when the run started."""

    index: int
    name: str
    memory_total_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "memory_total_bytes": self.memory_total_bytes}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GpuRecord:
        return cls(index=data["index"], name=data["name"], memory_total_bytes=data["memory_total_bytes"])


def _finding_from_json(data: Mapping[str, Any]) -> Finding:
    return Finding(
        code=Code(data["code"]),
        severity=Severity(data["severity"]),
        message=data["message"],
        evidence=data["evidence"],
    )


# -- records ------------------------------------------------------------------------------------------------------
class ServerOutcome(StrEnum):
    READY = "ready"  # booted and answering: the boot line
    BOOT_FAILED = "boot_failed"  # never became ready: its cells FAIL with the diagnosed code
    STOPPED = "stopped"  # stopped after its last cell: the teardown line


@dataclass(frozen=True)
class CellRecord:
    """One cell's verdict with everything the report shows about it."""

    run_id: str
    cell_id: str
    model: str  # the matrix's name for the model
    model_id: str  # hub id, zoo:name or local path as the matrix gave it
    revision: str | None  # as the matrix gave it (None: the hub's main)
    profile: str
    use_case: UseCase
    verdict: Verdict
    code: Code | None = None
    expected: Code | None = None  # the failure the matrix expects
    required: bool = False  # a rollout needs this cell to PASS
    message: str = ""
    evidence: str = ""
    checks: tuple[CheckRecord, ...] = ()
    findings: tuple[Finding, ...] = ()  # pre-flight findings about the model
    timings: Mapping[str, float] = field(default_factory=dict)  # boot_s, probe_s, cell_s, ... in seconds
    latency: Mapping[str, Any] | None = None  # measure.cell.measure_latency(), or {"error": ...}
    server: CellServer | None = None
    log_tail: str | None = None  # the engine log's last lines, when it died
    started_at: str | None = None
    finished_at: str | None = None
    stage: str | None = None  # a failure's stage: preflight, fetch, schedule, dry_boot, boot, probe (None: unknown)
    # What the checkpoint resolved to (checkpoint.resolved_revision: hub commit sha, or "content:<hash>" of a local
    # directory); None when pre-flight never resolved it, and in lines written before it was recorded (no version
    # bump: an absent key reads as None, which is what those lines knew).
    resolved_revision: str | None = None

    KIND = "cell"

    @property
    def live(self) -> bool:
        """Answered by a server this run did not start (a live endpoint): every view labels it."""
        return self.server is not None and self.server.external is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": self.KIND,
            "run_id": self.run_id,
            "cell_id": self.cell_id,
            "model": self.model,
            "model_id": self.model_id,
            "revision": self.revision,
            "profile": self.profile,
            "use_case": self.use_case.value,
            "verdict": self.verdict.value,
            "code": self.code,
            "expected": self.expected,
            "required": self.required,
            "message": self.message,
            "evidence": self.evidence,
            "checks": [check.to_json() for check in self.checks],
            "findings": [finding.to_json() for finding in self.findings],
            "timings": dict(self.timings),
            "latency": self.latency,
            "server": self.server.to_json() if self.server is not None else None,
            "log_tail": self.log_tail,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "stage": self.stage,
            "resolved_revision": self.resolved_revision,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CellRecord:
        server = data.get("server")
        return cls(
            run_id=data["run_id"],
            cell_id=data["cell_id"],
            model=data["model"],
            model_id=data["model_id"],
            revision=data.get("revision"),
            profile=data["profile"],
            use_case=UseCase(data["use_case"]),
            verdict=Verdict(data["verdict"]),
            code=_code(data.get("code")),
            expected=_code(data.get("expected")),
            required=bool(data.get("required", False)),
            message=data.get("message") or "",
            evidence=data.get("evidence") or "",
            checks=tuple(CheckRecord.from_json(c) for c in data.get("checks") or ()),
            findings=tuple(_finding_from_json(f) for f in data.get("findings") or ()),
            timings=dict(data.get("timings") or {}),
            latency=data.get("latency"),
            server=CellServer.from_json(server) if server is not None else None,
            log_tail=data.get("log_tail"),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            stage=data.get("stage"),
            resolved_revision=data.get("resolved_revision"),
        )


@dataclass(frozen=True)
class ServerRecord:
    """A server of a (model, profile): written when it is ready (or failed to boot), and again when it stops. The
    reader merges the two: what the later line knows is added to the earlier one, never erased by a null."""

    run_id: str
    server_key: str
    model: str
    model_id: str
    profile: str
    flags: Mapping[str, Any]  # the effective vLLM flags
    outcome: ServerOutcome
    started_at: str
    at: str  # when this line was written
    port: int | None = None
    boot_s: float | None = None
    version: Mapping[str, Any] | None = None  # vLLM's /version answer
    log: str | None = None
    pid: int | None = None
    code: Code | None = None  # why the boot failed, or LEAK at teardown
    evidence: str | None = None
    exit_code: int | None = None
    log_tail: str | None = None
    boot_phases: Mapping[str, Any] | None = None  # server.boot_log.BootPhases.to_json()
    expected_weight_bytes: int | None = None  # what the safetensors headers promise
    resources: Mapping[str, Any] | None = None  # measure.vram.ResourceReport.to_json()
    leftover_pids: tuple[int, ...] | None = None  # processes of the server still alive after teardown
    stage: str | None = None  # a failed boot: "schedule" (no GPUs, nothing ran), "dry_boot" (dummy weights), "boot"
    dry_boot_s: float | None = None  # seconds the dry boot took to become ready, when one ran
    # the GPUs the node scheduler leased for the boot (harness.fleet Lease.to_json(): units, waits, simulated)
    gpu_lease: Mapping[str, Any] | None = None
    # the CPU engine's core set when several servers could boot at once (server.cpu_cores CoreLease.to_json())
    cpu_cores: Mapping[str, Any] | None = None

    KIND = "server"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "kind": self.KIND}
        for item in fields(self):
            value = getattr(self, item.name)
            data[item.name] = list(value) if isinstance(value, tuple) else value
        data["outcome"] = self.outcome.value
        data["flags"] = dict(self.flags)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServerRecord:
        leftovers = data.get("leftover_pids")
        return cls(
            run_id=data["run_id"],
            server_key=data["server_key"],
            model=data["model"],
            model_id=data["model_id"],
            profile=data["profile"],
            flags=dict(data.get("flags") or {}),
            outcome=ServerOutcome(data["outcome"]),
            started_at=data["started_at"],
            at=data["at"],
            port=data.get("port"),
            boot_s=data.get("boot_s"),
            version=data.get("version"),
            log=data.get("log"),
            pid=data.get("pid"),
            code=_code(data.get("code")),
            evidence=data.get("evidence"),
            exit_code=data.get("exit_code"),
            log_tail=data.get("log_tail"),
            boot_phases=data.get("boot_phases"),
            expected_weight_bytes=data.get("expected_weight_bytes"),
            resources=data.get("resources"),
            leftover_pids=tuple(leftovers) if leftovers is not None else None,
            stage=data.get("stage"),
            dry_boot_s=data.get("dry_boot_s"),
            gpu_lease=data.get("gpu_lease"),
            cpu_cores=data.get("cpu_cores"),
        )

    def merged(self, later: ServerRecord) -> ServerRecord:
        """This record with what a later line of the same server adds (its non-null fields win)."""
        changes = {f.name: getattr(later, f.name) for f in fields(later) if getattr(later, f.name) is not None}
        return replace(self, **changes)


@dataclass(frozen=True)
class EnvironmentRecord:
    """What a run tested on: harness, matrix, engine versions, machine and GPUs. Everything but the run id may be
    unknown (None) in a file written by an older harness."""

    run_id: str
    harness_version: str | None = None
    harness_git_sha: str | None = None  # None when the harness is not a git checkout (an installed wheel)
    matrix: str | None = None
    matrix_sha256: str | None = None
    engine_python: str | None = None
    engine_versions: Mapping[str, str] = field(default_factory=dict)
    python: str | None = None
    platform: str | None = None
    hostname: str | None = None
    cpu_count: int | None = None
    driver: str | None = None  # the NVIDIA driver, or "n/a (no NVIDIA GPU)"
    gpus: tuple[GpuRecord, ...] = ()
    cuda_visible_devices: str | None = None
    shard: str | None = None  # "K/N" when this run was one shard of a split matrix (harness.shards)
    shard_plan_sha256: str | None = None  # the split's server assignment: every shard of one split has the same
    shard_cost_source: str | None = None  # what the split balanced on: the cost model, and the history it read
    # The split itself, "K/N" -> its servers (the assignment shard_plan_sha256 hashes): merge names the cells of a
    # shard that left no results from it
    shard_plan: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # A run joined from shard runs (vllm-compat merge): one {"shard", "run_id", "run_dir", "hostname"} per shard; a
    # shard that left no results: {"shard", "missing": true, "servers", "cells"} (its cells are recorded NOT RUN)
    merged_from: tuple[Mapping[str, Any], ...] = ()

    KIND = "environment"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "kind": self.KIND}
        for item in fields(self):
            data[item.name] = getattr(self, item.name)
        data["engine_versions"] = dict(self.engine_versions)
        data["gpus"] = [gpu.to_json() for gpu in self.gpus]
        data["merged_from"] = [dict(m) for m in self.merged_from]
        data["shard_plan"] = {shard: list(servers) for shard, servers in self.shard_plan.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EnvironmentRecord:
        return cls(
            run_id=data["run_id"],
            harness_version=data.get("harness_version"),
            harness_git_sha=data.get("harness_git_sha"),
            matrix=data.get("matrix"),
            matrix_sha256=data.get("matrix_sha256"),
            engine_python=data.get("engine_python"),
            engine_versions=dict(data.get("engine_versions") or {}),
            python=data.get("python"),
            platform=data.get("platform"),
            hostname=data.get("hostname"),
            cpu_count=data.get("cpu_count"),
            driver=data.get("driver"),
            gpus=tuple(GpuRecord.from_json(g) for g in data.get("gpus") or ()),
            cuda_visible_devices=data.get("cuda_visible_devices"),
            shard=data.get("shard"),
            shard_plan_sha256=data.get("shard_plan_sha256"),
            shard_cost_source=data.get("shard_cost_source"),
            shard_plan={str(k): tuple(v) for k, v in (data.get("shard_plan") or {}).items()},
            merged_from=tuple(dict(m) for m in data.get("merged_from") or ()),
        )


@dataclass(frozen=True)
class LoadProbe:
    """One cell probed again in a deployment's concurrent phase, while every service was probed at once."""

    use_case: UseCase
    verdict: Verdict  # with the matrix's expectation applied, as the cell's own verdict
    code: Code | None
    seconds: float  # the probe's wall time under load
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "use_case": self.use_case.value,
            "verdict": self.verdict.value,
            "code": self.code,
            "seconds": self.seconds,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoadProbe:
        return cls(
            use_case=UseCase(data["use_case"]),
            verdict=Verdict(data["verdict"]),
            code=_code(data.get("code")),
            seconds=float(data["seconds"]),
            message=data.get("message") or "",
        )


@dataclass(frozen=True)
class DeployedService:
    """One service of a deployment run: where it ran, when it booted (in order), and how it did under load. Its
    server and its cells have their own records (``server_key``, cells of model ``cell_model``)."""

    name: str
    model: str  # the matrix's models: entry it runs
    cell_model: str  # the model name its cells and server carry: <deployment>.<service>
    server_key: str
    use_cases: tuple[UseCase, ...]
    devices: tuple[int, ...]  # the GPUs it is on (pinned, or the ones vLLM picks)
    pinned: bool  # CUDA_VISIBLE_DEVICES set from the matrix's gpus:
    share: float | None  # gpu-memory-utilization
    port: int | None  # the stack's port (the harness booted on its own)
    order: int  # 1 = booted first
    booted: bool
    boot_started_at: str | None = None
    ready_at: str | None = None  # None: never became ready (or nothing of it needed a server)
    stopped_at: str | None = None
    boot_s: float | None = None
    code: Code | None = None  # why it did not boot
    evidence: str | None = None
    under_load: tuple[LoadProbe, ...] = ()
    stage: str | None = None  # where its boot failed: "boot", "dry_boot", "fetch", "schedule" (before any boot)

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["use_cases"] = [u.value for u in self.use_cases]
        data["devices"] = list(self.devices)
        data["under_load"] = [probe.to_json() for probe in self.under_load]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeployedService:
        return cls(
            name=data["name"],
            model=data["model"],
            cell_model=data["cell_model"],
            server_key=data["server_key"],
            use_cases=tuple(UseCase(u) for u in data.get("use_cases") or ()),
            devices=tuple(int(d) for d in data.get("devices") or ()),
            pinned=bool(data.get("pinned")),
            share=data.get("share"),
            port=data.get("port"),
            order=int(data["order"]),
            booted=bool(data.get("booted")),
            boot_started_at=data.get("boot_started_at"),
            ready_at=data.get("ready_at"),
            stopped_at=data.get("stopped_at"),
            boot_s=data.get("boot_s"),
            code=_code(data.get("code")),
            evidence=data.get("evidence"),
            under_load=tuple(LoadProbe.from_json(p) for p in data.get("under_load") or ()),
            stage=data.get("stage"),
        )


@dataclass(frozen=True)
class DeploymentRecord:
    """A deployment run (``--deployment NAME``): its services in boot order, the concurrent phase and the memory the
    machine had, written once every service has stopped."""

    run_id: str
    name: str
    services: tuple[DeployedService, ...]
    at: str
    description: str = ""
    concurrent_started_at: str | None = None  # None: no service was up for a concurrent phase
    concurrent_s: float | None = None
    interrupted: str | None = None  # "SIGINT: the concurrent phase was skipped": the run was stopping
    gpus: tuple[GpuRecord, ...] = ()  # the GPUs NVML saw (empty: no NVIDIA GPU)
    host_memory_bytes: int | None = None  # the machine's RAM: what RSS figures are measured against without a GPU

    KIND = "deployment"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "kind": self.KIND}
        for item in fields(self):
            data[item.name] = getattr(self, item.name)
        data["services"] = [service.to_json() for service in self.services]
        data["gpus"] = [gpu.to_json() for gpu in self.gpus]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeploymentRecord:
        return cls(
            run_id=data["run_id"],
            name=data["name"],
            services=tuple(DeployedService.from_json(s) for s in data.get("services") or ()),
            at=data["at"],
            description=data.get("description") or "",
            concurrent_started_at=data.get("concurrent_started_at"),
            concurrent_s=data.get("concurrent_s"),
            interrupted=data.get("interrupted"),
            gpus=tuple(GpuRecord.from_json(g) for g in data.get("gpus") or ()),
            host_memory_bytes=data.get("host_memory_bytes"),
        )


Record = CellRecord | ServerRecord | EnvironmentRecord | DeploymentRecord


# -- the writer ---------------------------------------------------------------------------------------------------
class ResultsWriteError(OSError):
    """results.jsonl could not be written (a full disk, a read-only run directory): one line naming the path, the
    reason, what the file keeps and the fix."""


def append_record(path: Path, record: Record) -> None:
    """Append one record as one line, in one write, flushed to disk before returning.

    ResultsWriteError when the line cannot be written whole: a part written by a short write on a full disk is cut
    off again, so the file keeps exactly the lines written before."""
    # Masked here, at the one writer: the report, pages and gate outputs are all rendered from these lines.
    line = (redact(json.dumps(record.to_json(), default=str, sort_keys=False)) + "\n").encode()
    fd: int | None = None
    size = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        size = os.fstat(fd).st_size
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(errno.ENOSPC, f"No space left on device (a short write: {written} of {len(line)} bytes)")
        os.fsync(fd)
    except OSError as error:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)  # never leave half a line behind
        kept = _kept(path)
        failure = ResultsWriteError(
            f"cannot write {path}: {error.strerror or error} ({type(record).__name__} {_record_name(record)} not "
            f"recorded); the file keeps {kept}; fix: free space or make the run directory writable (--run-dir)"
        )
        failure.errno = error.errno or errno.EIO
        raise failure from error
    finally:
        if fd is not None:
            os.close(fd)


def _kept(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            lines = sum(1 for raw in handle if raw.endswith(b"\n"))
    except OSError:
        return "nothing (it could not be created)"
    return f"the {lines} whole line(s) written before"


def _record_name(record: Record) -> str:
    if isinstance(record, CellRecord):
        return record.cell_id
    if isinstance(record, ServerRecord):
        return record.server_key
    if isinstance(record, DeploymentRecord):
        return record.name
    return record.run_id


# -- the reader ---------------------------------------------------------------------------------------------------
def _from_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 lines have the fields of version 2, with one meaning that changed: a version 1 cell's
    ``timings["ttft_s"]`` is the probe's first visible content (first text or tool-call delta), which version 2
    calls ``first_content_s``; ``ttft_s`` now only ever means vllm bench serve's (as in ``latency``)."""
    data = data | {"schema_version": 2}
    timings = data.get("timings")
    if data.get("kind") == CellRecord.KIND and isinstance(timings, dict) and "ttft_s" in timings:
        data["timings"] = {("first_content_s" if key == "ttft_s" else key): value for key, value in timings.items()}
    return data


# version -> the function that turns a line of that version into the next version's shape
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_v1}
_READERS: dict[str, Callable[[Mapping[str, Any]], Record]] = {
    CellRecord.KIND: CellRecord.from_json,
    ServerRecord.KIND: ServerRecord.from_json,
    EnvironmentRecord.KIND: EnvironmentRecord.from_json,
    DeploymentRecord.KIND: DeploymentRecord.from_json,
}


def _current(data: dict[str, Any], where: str) -> dict[str, Any]:
    """The line in this harness's schema: older versions converted, newer ones refused."""
    version = data.get("schema_version", 1)  # lines written before versioning carry none
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ResultsError(f"{where}: schema_version {version!r} is not a positive integer; the line is corrupt")
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"{where}: schema_version {version} is newer than this vllm-compat reads (up to {SCHEMA_VERSION}); "
            + _UPGRADE_FIX
        )
    while version < SCHEMA_VERSION:
        data = _UPGRADES[version](data)
        version = data["schema_version"]
    return data


def read_records(path: Path, dropped: list[str] | None = None) -> Iterator[Record]:
    """Every record of a results file in file order, as written (a server's two lines stay two records).

    A line cut short by a crash or a power loss (not JSON) is skipped, never fatal, and said in ``dropped`` (one
    ``file:line: why`` each) when a list is given; a line of a kind this harness does not know is skipped too. A
    record that cannot be read raises ``ResultsError``."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            text = text.strip()
            if not text:
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                if dropped is not None:
                    dropped.append(
                        f"{path}:{number}: {len(text)} characters that are not a whole JSON line (cut short)"
                    )
                continue
            if not isinstance(data, dict):
                continue
            where = f"{path}:{number}"
            data = _current(data, where)
            reader = _READERS.get(data.get("kind", ""))
            if reader is None:
                continue
            try:
                yield reader(data)
            except KeyError as error:
                kind = data["kind"]
                raise ResultsError(f"{where}: a {kind} record without {error}; the line is incomplete") from None
            except (ValueError, TypeError) as error:
                raise ResultsError(f"{where}: {error} (written by a newer vllm-compat?); {_UPGRADE_FIX}") from None


@dataclass
class RunResults:
    """What one run directory holds, grouped by record kind."""

    run_dir: Path
    environment: EnvironmentRecord | None = None
    servers: list[ServerRecord] = field(default_factory=list)
    cells: list[CellRecord] = field(default_factory=list)
    deployments: list[DeploymentRecord] = field(default_factory=list)  # runs with --deployment: one each
    dropped: list[str] = field(default_factory=list)  # lines the reader skipped (a torn last line), file:line: why

    @property
    def interrupted(self) -> bool:
        """The run was interrupted: some planned cells were never reached (recorded NOT RUN)."""
        return any(cell.verdict is Verdict.NOT_RUN for cell in self.cells)

    def counts(self) -> dict[Verdict, int]:
        counts = dict.fromkeys(Verdict, 0)
        for cell in self.cells:
            counts[cell.verdict] += 1
        return counts


def read_results(run_dir: Path) -> RunResults:
    """The run directory's results.jsonl, merged: one record per server and per cell, and the environment."""
    results = RunResults(run_dir=run_dir)
    servers: dict[str, ServerRecord] = {}
    cells: dict[str, CellRecord] = {}
    for record in read_records(run_dir / RESULTS_FILE, results.dropped):
        if isinstance(record, EnvironmentRecord):
            results.environment = record
        elif isinstance(record, DeploymentRecord):
            results.deployments.append(record)
        elif isinstance(record, ServerRecord):
            # A server has a line at boot and one at teardown: the later one adds to the earlier, never erases it.
            known = servers.get(record.server_key)
            servers[record.server_key] = known.merged(record) if known is not None else record
        else:
            cells[record.cell_id] = record  # a re-run cell (pytest --lf into the same dir) keeps its last verdict
    results.servers = list(servers.values())
    results.cells = list(cells.values())
    return results


class Stopwatch:
    """Wall-clock start/finish stamps plus a monotonic duration for one cell."""

    def __init__(self) -> None:
        self.started_at = now_iso()
        self._t0 = time.monotonic()

    def elapsed(self) -> float:
        return round(time.monotonic() - self._t0, 3)


__all__ = [
    "RESULTS_FILE",
    "SCHEMA_VERSION",
    "CellRecord",
    "CellServer",
    "CheckRecord",
    "DeployedService",
    "DeploymentRecord",
    "EnvironmentRecord",
    "GpuRecord",
    "LoadProbe",
    "Record",
    "ResultsError",
    "ResultsWriteError",
    "RunResults",
    "ServerOutcome",
    "ServerRecord",
    "Stopwatch",
    "append_record",
    "new_run_id",
    "now_iso",
    "read_records",
    "read_results",
]
