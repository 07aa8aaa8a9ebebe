"""The server pool of one pytest process: each (model, profile) server boots once, on first use, and stops right
after the last cell planned for it; a failed boot is remembered so the server's other cells do not retry it.

Each server rides with a resource sampler (NVML VRAM of its GPUs, or its process tree's RSS where there is no NVIDIA
GPU), and each boot and teardown writes a server line to results.jsonl as soon as it is known.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.checkpoint import (
    CheckpointError,
    boot_gguf_file,
    fetch_weights,
    local_gguf_file,
    resolve_model,
    served_lora_modules,
)
from harness.codes import Code
from harness.diagnose import Diagnosis
from harness.engine import EngineError, load_rules
from harness.findings import Finding
from harness.fleet import Lease, NodeScheduler
from harness.matrix import Cell, ModelSpec
from harness.measure import ResourceSampler, expected_weight_bytes, gpu_indices_from_env
from harness.results import ServerOutcome, ServerRecord, append_record, now_iso
from harness.runner.dry_boot import DRY_BOOT_FLAGS, DryBootError, dry_boot, wants_dry_boot
from harness.runner.placement import boot_guard, lease_env, lease_for
from harness.runner.prefetch import WeightPrefetcher
from harness.runner.progress import Progress
from harness.server import BootError, VllmServer, parse_boot_log

SAMPLE_INTERVAL_S = 0.02  # NVML every 20 ms, as fine as the field's best trackers; ~2% of one core on this machine


def checkpoint_reference(model: ModelSpec) -> str:
    """What the checkpoint stage resolves: the hub id or zoo: id, or the local path the matrix resolved."""
    return model.id if model.path is None else str(model.path)


def _weight_bytes(path: Path) -> int | None:
    """What the safetensors headers promise: the floor of the memory the weights will take."""
    try:
        return expected_weight_bytes(path) or None
    except (OSError, ValueError):
        return None


def _start_error(
    cell: Cell,
    server: VllmServer | None,
    error: Exception,
    clock: float,
    run_dir: Path,
    kind: type[BootError] = BootError,
) -> BootError:
    """A start that raised something other than BootError (an engine python that cannot be executed, a log that
    cannot be opened), as the boot failure it is (``kind``: the dry boot's own): the exception is the cause."""
    if isinstance(error, BootError):
        return error
    log = server.log_path if server is not None else run_dir / f"server-{cell.server_key}.log"
    evidence = f"the engine could not be started: {type(error).__name__}: {error}"
    return kind(
        name=cell.server_key,
        exit_code=server.exit_code if server is not None else None,
        elapsed=time.monotonic() - clock,
        diagnosis=Diagnosis(Code.OTHER, evidence, None),
        log_tail=(server.log_tail() if server is not None and server.log_path.is_file() else "") or evidence,
        log_path=log,
    )


class ServerPool:
    """Boots, keeps and stops the servers of one process's cells (the controller, or one xdist worker)."""

    def __init__(
        self,
        *,
        run_id: str,
        run_dir: Path,
        results_path: Path,
        engine_python: Path,
        offline: bool | None,
        boot_timeout: float | None,
        progress: Progress,
        extra_env: dict[str, str],
        dry_boot: bool = False,
        scheduler: NodeScheduler | None = None,
    ) -> None:
        self.run_id = run_id
        self.dry_boot = dry_boot  # --dry-boot: every server boots on dummy weights first (else the matrix decides)
        self.run_dir = run_dir
        self.results_path = results_path
        self.engine_python = engine_python
        self.offline = offline
        self.boot_timeout = boot_timeout  # overrides the matrix when given on the command line
        self.progress = progress
        self.extra_env = extra_env  # extra engine environment from the caller; the matrix's env wins over it
        self._servers: dict[str, VllmServer | BootError] = {}
        self._samplers: dict[str, ResourceSampler] = {}
        self._started: dict[str, str] = {}  # when each server's boot began: its teardown line says the same
        self._remaining: Counter[str] = Counter()
        # the next server's weights download while this one boots and probes (not those a dry boot must go before)
        self._prefetch = WeightPrefetcher(self._fetch_weights, lambda cell: not wants_dry_boot(cell.model, dry_boot))
        # the node's GPU leases: a server leases its GPUs before its boot and gives them back at its teardown
        self.scheduler = scheduler if scheduler is not None else NodeScheduler.from_environment()
        self._leases: dict[str, Lease] = {}
        self._utilization: tuple[float, str] | bool | None = False  # the engine's default, asked once (False: not yet)
        # Pre-flight against the GPUs a server was leased, between its lease and its spawn: raises PreflightRefusal
        # where vLLM is certain to refuse them (the cell runner sets it; None: no such check).
        self.judge_lease: Callable[[Cell, Lease], None] | None = None
        progress.line(self.scheduler.describe())

    def plan(self, cells: Iterable[Cell]) -> None:
        """Count the cells each server will serve in this process, so a server stops right after its last one."""
        cells = list(cells)
        self._remaining = Counter(cell.server_key for cell in cells if cell.endpoint is None)
        self._prefetch.plan(cells)

    def _fetch_weights(self, cell: Cell) -> Path:
        model = cell.model
        reference = checkpoint_reference(model)
        gguf = local_gguf_file(reference, None)  # a .gguf file named by its path is itself what vLLM loads
        return gguf or fetch_weights(reference, revision=model.revision, offline=self.offline)

    def hold(self, cell: Cell) -> None:
        """Keep the cell's server up past its last planned cell until ``finish(cell)`` releases the hold (a
        deployment keeps every service up for its concurrent phase)."""
        if cell.endpoint is None:
            self._remaining[cell.server_key] += 1

    def remaining(self) -> dict[str, int]:
        """Cells still to run per server key (servers answered elsewhere are not counted)."""
        return dict(self._remaining)

    def known(self, key: str) -> VllmServer | BootError | None:
        """The server booted for ``key`` (or its boot failure); None before its first cell."""
        return self._servers.get(key)

    def get(self, cell: Cell) -> VllmServer:
        """The cell's server, booted on first use; a failed boot raises its BootError again for every cell."""
        known = self._servers.get(cell.server_key)
        if isinstance(known, BootError):
            raise known
        if known is not None:
            return known
        return self._boot(cell)

    def _boot(self, cell: Cell) -> VllmServer:
        model = cell.model
        dry_boot_s = self._dry_boot(cell) if wants_dry_boot(model, self.dry_boot) else None
        with self.progress.visible():
            # Weights are fetched before the boot clock starts.
            path = self._prefetch.weights(cell)
        self._prefetch.prefetch_after(cell.server_key)
        timeout = self.boot_timeout or model.timeouts.boot
        started_at = now_iso()
        weight_bytes = _weight_bytes(path)
        self._lease(cell, weight_bytes, started_at)
        self._judge_lease(cell, started_at)
        self.progress.line(f"[{cell.server_key}] booting vLLM (timeout {timeout:.0f} s)")
        sampler = None
        server: VllmServer | None = None
        clock = time.monotonic()
        try:
            with self.progress.activity(f"[{cell.server_key}] booting") as show:
                server = self._server(cell, path, on_phase=show)
                sampler = self._sampler(server, model)
                # Known to close() from before its start: an interrupt right after the boot must still stop it.
                self._servers[cell.server_key] = server
                self._samplers[cell.server_key] = sampler
                with boot_guard(self.scheduler, self._leases.get(cell.server_key), cell.server_key, self.run_dir):
                    server.start()
        except CheckpointError:
            # Not a boot failure: a file the boot needs could not be had (the cell reports it as the fetch's) and
            # nothing was started; the GPUs go back.
            self._release(cell.server_key)
            raise
        except Exception as caught:
            # Anything else than the engine's own failure (an engine python that cannot be executed, a log that
            # cannot be opened) is a boot that did not happen either: recorded with its real cause and remembered,
            # never kept as a server whose dead port the next cell would probe.
            error = _start_error(cell, server, caught, clock, self.run_dir)
            if server is not None and server.running:
                server.stop()
            self._servers[cell.server_key] = error
            self._samplers.pop(cell.server_key, None)
            try:
                resources = sampler.stop(settle_timeout_s=0).to_json() if sampler is not None else None
                self._record(
                    cell, ServerOutcome.BOOT_FAILED, started_at, error=error, resources=resources, dry_boot_s=dry_boot_s
                )
            finally:
                self._release(cell.server_key)
            self.progress.line(f"[{cell.server_key}] boot failed: {error.diagnosis.code}: {error.diagnosis.evidence}")
            if error is caught:
                raise
            raise error from caught
        sampler.mark("probes")
        self._servers[cell.server_key] = server
        self._samplers[cell.server_key] = sampler
        self._started[cell.server_key] = started_at
        phases = parse_boot_log(server.log_text()).to_json()
        self._record(
            cell,
            ServerOutcome.READY,
            started_at,
            server=server,
            boot_phases=phases,
            expected_weight_bytes=weight_bytes,
            dry_boot_s=dry_boot_s,
        )
        kv = phases.get("kv_cache_tokens")
        self.progress.line(
            f"[{cell.server_key}] ready in {server.boot_seconds:.1f} s on port {server.port}"
            + (f" (CPU cores {server.cores.mask})" if server.cores is not None else "")
            + (f"; KV cache {kv:,} tokens" if kv else "")
        )
        return server

    def _dry_boot(self, cell: Cell) -> float:
        """Boot on dummy weights before fetching any: the seconds it took, or DryBootError (recorded, remembered)."""
        model = cell.model
        # Only the small files (config, tokenizer): the dummy loader never reads a weight file.
        path = resolve_model(checkpoint_reference(model), revision=model.revision, offline=self.offline)
        self.progress.line(f"[{cell.server_key}] dry boot: vLLM on dummy weights, before any weight is fetched")
        started_at = now_iso()
        self._lease(cell, None, started_at)  # given back after it: the weights' fetch holds no GPU
        server: VllmServer | None = None
        clock = time.monotonic()
        try:
            with self.progress.activity(f"[{cell.server_key}] dry boot"):
                server = self._server(cell, path, name_suffix="-dry-boot", extra_flags=DRY_BOOT_FLAGS)
                with boot_guard(self.scheduler, self._leases.get(cell.server_key), cell.server_key, self.run_dir):
                    seconds = dry_boot(server)
        except Exception as caught:  # DryBootError, PlacementError (a boot lock never freed), or a start that broke
            error = _start_error(cell, server, caught, clock, self.run_dir, DryBootError)
            self._servers[cell.server_key] = error
            self._record(cell, ServerOutcome.BOOT_FAILED, started_at, error=error)
            self.progress.line(
                f"[{cell.server_key}] dry boot failed: {error.diagnosis.code}: {error.diagnosis.evidence}; "
                "no weight fetched"
            )
            if error is caught:
                raise
            raise error from caught
        finally:
            self._release(cell.server_key)
        self.progress.line(f"[{cell.server_key}] dry boot ready in {seconds:.1f} s; fetching the weights")
        return seconds

    def default_utilization(self) -> tuple[float, str] | None:
        """The engine's gpu-memory-utilization default (CacheConfig's, as harness.engine's rules read it) and where it
        came from, asked once; None when the engine cannot answer (the fleet then says it uses its fallback)."""
        if self._utilization is False and not self.scheduler.inventory.units:
            return None  # nothing to schedule: no claim to size, no engine to ask
        if self._utilization is False:
            try:
                rules = load_rules(self.engine_python)
            except EngineError as error:
                self.progress.line(f"the engine's gpu-memory-utilization default could not be read ({error})")
                rules = None
            value = rules.gpu_memory_utilization if rules is not None else None
            self._utilization = (value, f"{rules.label}'s default") if rules is not None and value else None
        return self._utilization if not isinstance(self._utilization, bool) else None

    def _lease(self, cell: Cell, weight_bytes: int | None, started_at: str) -> None:
        """The server's GPUs from the node scheduler (kept until its teardown); none: recorded, remembered, raised."""
        try:
            lease = lease_for(
                self.scheduler, cell, weight_bytes, self.run_dir, self.progress.line, self.default_utilization()
            )
        except BootError as error:
            self._servers[cell.server_key] = error
            self._record(cell, ServerOutcome.BOOT_FAILED, started_at, error=error)
            self.progress.line(f"[{cell.server_key}] not booted: {error.diagnosis.code}: {error.diagnosis.evidence}")
            raise
        if lease is not None:
            self._leases[cell.server_key] = lease

    def lease_of(self, key: str) -> Lease | None:
        """The lease the server ``key`` holds now (None: not leased yet, given back, or nothing to schedule)."""
        return self._leases.get(key)

    def _judge_lease(self, cell: Cell, started_at: str) -> None:
        """Pre-flight on the leased GPUs before the spawn; a refusal is recorded, remembered, the GPUs given back."""
        lease = self._leases.get(cell.server_key)
        if self.judge_lease is None or lease is None:
            return
        try:
            self.judge_lease(cell, lease)
        except BootError as error:
            self._servers[cell.server_key] = error
            try:
                self._record(cell, ServerOutcome.BOOT_FAILED, started_at, error=error)
            finally:
                self._release(cell.server_key)
            self.progress.line(f"[{cell.server_key}] not booted: {error.diagnosis.code}: {error.diagnosis.evidence}")
            raise
        except Exception:  # the harness broke judging: the cell reports it as an ERROR; the GPUs still go back
            self._release(cell.server_key)
            raise

    def _release(self, key: str) -> None:
        lease = self._leases.pop(key, None)
        if lease is not None:
            lease.release()

    def _server(
        self,
        cell: Cell,
        path: Path,
        *,
        name_suffix: str = "",
        extra_flags: Mapping[str, Any] | None = None,
        on_phase: Callable[[str], None] | None = None,
    ) -> VllmServer:
        """The cell's server, not yet started: the real boot's, or the dry boot's (its own name, extra flags)."""
        model = cell.model
        # A GGUF checkpoint boots as vLLM documents it: the one .gguf file pre-flight judged, with --tokenizer.
        gguf = boot_gguf_file(path, model.gguf_file, model.quant)
        tokenizer = {"tokenizer": str(self._tokenizer_path(model))} if model.tokenizer else {}
        lora = served_lora_modules(cell.flags, self.offline)  # zoo: adapters as the directories they are built in
        return VllmServer(
            engine_python=self.engine_python,
            model_path=gguf or path,
            name=cell.server_key + name_suffix,
            flags={**cell.flags, **tokenizer, **lora, **(extra_flags or {})},
            env={**self.extra_env, **model.env, **lease_env(self._leases.get(cell.server_key))},
            run_dir=self.run_dir,
            boot_timeout=self.boot_timeout or model.timeouts.boot,
            run_id=self.run_id,
            on_phase=on_phase,
        )

    def _tokenizer_path(self, model: ModelSpec) -> Path:
        """The matrix's ``tokenizer:`` (hub id, zoo member or path) as the directory vLLM is given."""
        assert model.tokenizer is not None
        return resolve_model(model.tokenizer, offline=self.offline)

    def _sampler(self, server: VllmServer, model: ModelSpec) -> ResourceSampler:
        """VRAM of the server's GPUs (NVML), or its process tree's RSS where there is no NVIDIA GPU."""
        sampler = ResourceSampler(
            lambda: server.pid if server.alive() else None,
            gpu_indices_from_env(
                {**os.environ, **self.extra_env, **model.env, **lease_env(self._leases.get(server.name))}
            ),
            interval_s=SAMPLE_INTERVAL_S,
        )
        sampler.start()
        sampler.mark("boot")
        return sampler

    def _record(
        self,
        cell: Cell,
        outcome: ServerOutcome,
        started_at: str,
        *,
        server: VllmServer | None = None,
        error: BootError | None = None,
        boot_phases: dict[str, Any] | None = None,
        expected_weight_bytes: int | None = None,
        resources: dict[str, Any] | None = None,
        leftover_pids: list[int] | None = None,
        leak: Finding | None = None,
        dry_boot_s: float | None = None,
        teardown_error: str | None = None,
    ) -> None:
        record = ServerRecord(
            run_id=self.run_id,
            server_key=cell.server_key,
            model=cell.model.name,
            model_id=cell.model.id,
            profile=cell.profile,
            flags=dict(cell.flags),
            outcome=outcome,
            started_at=started_at,
            at=now_iso(),
            boot_phases=boot_phases,
            expected_weight_bytes=expected_weight_bytes,
            resources=resources,
            leftover_pids=tuple(leftover_pids) if leftover_pids is not None else None,
            dry_boot_s=round(dry_boot_s, 2) if dry_boot_s is not None else None,
            gpu_lease=lease.to_json() if (lease := self._leases.get(cell.server_key)) is not None else None,
        )
        if server is not None:
            record = replace(
                record,
                port=server.port,
                boot_s=round(server.boot_seconds, 2),
                version=server.version,
                log=str(server.log_path),
                pid=server.pid,
                cpu_cores=server.cores.to_json() if server.cores is not None else None,
            )
        if error is not None:
            record = replace(
                record,
                code=Code(error.diagnosis.code),
                evidence=error.diagnosis.evidence,
                exit_code=error.exit_code,
                boot_s=round(error.elapsed, 2),
                log=str(error.log_path),
                log_tail=error.log_tail,
                stage=getattr(error, "stage", "boot"),  # which boot caught it: the dry boot or the real one
            )
        if leak is not None:
            record = replace(record, code=Code(leak.code), evidence=leak.message)
        if teardown_error is not None:
            record = replace(record, evidence=f"teardown failed: {teardown_error}")
        append_record(self.results_path, record)

    def finish(self, cell: Cell) -> None:
        """One of the server's cells is done; after its last one, the server stops."""
        if cell.endpoint is not None:
            return  # answered elsewhere: no server of ours served it
        self._remaining[cell.server_key] -= 1
        if self._remaining[cell.server_key] > 0:
            return
        server = self._servers.get(cell.server_key)
        if isinstance(server, VllmServer):
            self._stop(cell, server)

    def _stop(self, cell: Cell, server: VllmServer) -> None:
        """Stop the server, then write its STOPPED line and give its lease back whatever the teardown raised: the
        line says what failed (``teardown_error``) and the error is raised again after it, never swallowed."""
        sampler = self._samplers.pop(cell.server_key, None)
        leftovers: list[int] | None = None
        report = None
        failure: Exception | None = None
        try:
            if sampler is not None:
                sampler.mark("teardown")
            leftovers = server.stop()
            report = sampler.stop() if sampler is not None else None
        except Exception as error:  # recorded below, then raised
            failure = error
        try:
            self._record(
                cell,
                ServerOutcome.STOPPED,
                self._started.pop(cell.server_key, now_iso()),
                server=server,
                leftover_pids=leftovers,
                resources=report.to_json() if report is not None else None,
                leak=report.leak if report is not None else None,
                teardown_error=f"{type(failure).__name__}: {failure}" if failure is not None else None,
            )
        finally:
            self._release(cell.server_key)  # after the record: its line still names the lease
        if failure is not None:
            self.progress.line(f"[{cell.server_key}] teardown failed: {type(failure).__name__}: {failure}")
            raise failure
        self.progress.line(f"[{cell.server_key}] stopped" + (f"; LEFT OVER pids {leftovers}" if leftovers else ""))

    def close(self) -> None:
        """Stop every server still up (an interrupted session, or cells deselected after planning); one that fails
        to stop does not keep the others up or their leases held: the first error is raised after all are done."""
        errors: list[Exception] = []
        for key, server in list(self._servers.items()):
            self._servers.pop(key, None)
            sampler = self._samplers.pop(key, None)
            try:
                if isinstance(server, VllmServer) and server.running:
                    server.stop()
                if sampler is not None:
                    sampler.stop(settle_timeout_s=0)
            except Exception as error:  # raised below, once every server had its turn
                self.progress.line(f"[{key}] could not be stopped: {type(error).__name__}: {error}")
                errors.append(error)
        for key in list(self._leases):
            self._release(key)
        if errors:
            raise errors[0]
