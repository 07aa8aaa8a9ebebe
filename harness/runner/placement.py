"""Where a server boots on the node: its lease from the fleet's scheduler, and a scheduling failure as a boot failure.

The pool asks ``lease_for`` before a boot (after the weights are fetched: a GPU never waits for a download) and holds
``boot_guard`` around the spawn; a ``ScheduleError`` (GPU_CONTENDED, TP_INDIVISIBLE) becomes a ``PlacementError``, a
``BootError`` of stage "schedule", so the server's cells fail with its code and evidence like any failed boot, and
vLLM never starts. The evidence is also written to the server's log path, which the record and the report point at.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from harness.diagnose import Diagnosis
from harness.engine import GpuSpec
from harness.findings import Finding
from harness.fleet import Lease, NodeScheduler, ScheduleError, server_needs
from harness.matrix import Cell
from harness.server import BootError


class PlacementError(BootError):
    """The scheduler found no GPUs for the server: nothing booted."""

    stage = "schedule"


class PreflightRefusal(BootError):
    """Pre-flight against the GPUs the server was leased found a certain refusal: nothing booted."""

    stage = "preflight"


def lease_gpu(lease: Lease) -> GpuSpec:
    """The GPU a leased server's pre-flight is judged against. vLLM budgets every worker on its own GPU (each
    worker's MemorySnapshot, vllm/v1/worker/gpu_worker.py) and refuses when one of them is short, so over tensor /
    pipeline parallel GPUs the binding figures are the least memory and the least compute capability of the units.
    A MIG device's driver reserve is not known: none is taken off its total (the budget is not under-estimated)."""
    units = lease.units
    names = list(dict.fromkeys(unit.name for unit in units))
    labels = ", ".join(unit.label for unit in units)
    return GpuSpec(
        f"{' + '.join(names)} (leased {labels})",
        min(unit.capability for unit in units),
        min(unit.total_bytes for unit in units),
        "lease",
        len(units),
        0 if any(unit.is_mig for unit in units) else None,
    )


def preflight_refusal(key: str, errors: Sequence[Finding], gpu: GpuSpec, run_dir: Path) -> PreflightRefusal:
    """The refusal pre-flight found on the leased GPUs, as the boot failure it stands for (its log says it all)."""
    log = run_dir / f"server-{re.sub(r'[^A-Za-z0-9._-]+', '-', key).strip('-')}.preflight.log"
    text = "".join(f"{f.code}: {f.message}\n  evidence: {f.evidence}\n" for f in errors)
    with contextlib.suppress(OSError):
        run_dir.mkdir(parents=True, exist_ok=True)
        log.write_text(f"pre-flight against {gpu.label}\n{text}", encoding="utf-8")
    first = errors[0]
    return PreflightRefusal(
        name=key,
        exit_code=None,
        elapsed=0.0,
        diagnosis=Diagnosis(first.code, first.message, None),  # the message names the leased GPU (gpu.label)
        log_tail=text,
        log_path=log,
    )


def _placement_error(error: ScheduleError, key: str, run_dir: Path) -> PlacementError:
    log = run_dir / f"server-{re.sub(r'[^A-Za-z0-9._-]+', '-', key).strip('-')}.schedule.log"
    text = f"{error.code}: {error.message}\n  evidence: {error.evidence}\n"
    with contextlib.suppress(OSError):
        run_dir.mkdir(parents=True, exist_ok=True)
        log.write_text(text, encoding="utf-8")
    return PlacementError(
        name=key,
        exit_code=None,
        elapsed=error.waited_s,
        diagnosis=Diagnosis(error.code, f"{error.message}: {error.evidence}", None),
        log_tail=text,
        log_path=log,
    )


def lease_for(
    scheduler: NodeScheduler,
    cell: Cell,
    weight_bytes: int | None,
    run_dir: Path,
    say: Callable[[str], None],
    default_utilization: tuple[float, str] | None = None,
) -> Lease | None:
    """The cell's server's lease (None where there is nothing to schedule), or PlacementError before any boot.
    ``default_utilization``: the engine's gpu-memory-utilization default and its source (None: the fallback)."""
    needs = server_needs(
        cell.flags, share_gpu=cell.model.share_gpu, weight_bytes=weight_bytes, default_utilization=default_utilization
    )
    try:
        lease = scheduler.lease(
            needs,
            cell.server_key,
            visible=cell.model.env.get("CUDA_VISIBLE_DEVICES"),
            say=lambda text: say(f"[{cell.server_key}] {text}"),
        )
    except ScheduleError as error:
        raise _placement_error(error, cell.server_key, run_dir) from None
    if lease is not None:
        simulated = " (simulated: no engine sees these GPUs)" if lease.simulated else ""
        waited = f" after waiting {lease.waited_s + lease.memory_wait_s:.1f} s" if lease.waited_s >= 0.05 else ""
        say(f"[{cell.server_key}] leased {', '.join(u.label for u in lease.units)}{waited}{simulated}")
    return lease


def lease_env(lease: Lease | None) -> dict[str, str]:
    """The boot's CUDA_VISIBLE_DEVICES (and device order): the lease's units; none for a simulated lease."""
    if lease is None or lease.simulated:
        return {}
    return lease.env


@contextlib.contextmanager
def boot_guard(scheduler: NodeScheduler, lease: Lease | None, key: str, run_dir: Path) -> Iterator[None]:
    """No other boot on the lease's physical GPUs while the body boots; a boot lock never freed: PlacementError."""
    try:
        with scheduler.booting(lease):
            yield  # the body (a spawn and its wait for ready) raises BootError, never ScheduleError
    except ScheduleError as error:
        raise _placement_error(error, key, run_dir) from None


__all__ = [
    "PlacementError",
    "PreflightRefusal",
    "boot_guard",
    "lease_env",
    "lease_for",
    "lease_gpu",
    "preflight_refusal",
]
