"""Is a leased GPU really free? Its free memory (NVML) against what vLLM will claim, and who holds the rest.

vLLM claims ``total x gpu-memory-utilization`` and refuses to start, minutes into its boot, when less than that is free
("Free memory on device ... is less than desired GPU memory utilization"). A lease only keeps other servers of this
harness off a GPU; another tenant (a notebook, a stray engine, another team's job) shows up here, before vLLM
starts, with its pids and memory from NVML's list of running compute processes as the evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from harness.engine import open_nvml
from harness.fleet.inventory import GIB, GpuUnit
from harness.fleet.needs import ServerNeeds


@dataclass(frozen=True)
class GpuProcess:
    """A process on a GPU as NVML lists it; ``used_bytes`` None where NVML cannot say (MIG, some containers)."""

    pid: int
    used_bytes: int | None

    @property
    def text(self) -> str:
        used = f"{self.used_bytes / GIB:.1f} GiB" if self.used_bytes is not None else "memory n/a"
        return f"pid {self.pid} ({used})"


@dataclass(frozen=True)
class UnitMemory:
    """One unit's memory now: free and total bytes, and the processes using it."""

    unit: GpuUnit
    free_bytes: int
    total_bytes: int
    processes: tuple[GpuProcess, ...] = ()
    simulated: bool = False


MemoryReader = Callable[[GpuUnit], "UnitMemory | None"]


def described_memory(unit: GpuUnit) -> UnitMemory:
    """A described unit's memory: all of it free, no process on it (simulated: there is no GPU to ask)."""
    free = unit.free_bytes if unit.free_bytes is not None else unit.total_bytes
    return UnitMemory(unit, free, unit.total_bytes, simulated=True)


def nvml_memory(unit: GpuUnit, module: Any = None) -> UnitMemory | None:
    """The unit's memory and compute processes through NVML (by UUID: MIG UUIDs too); None when NVML cannot say."""
    with open_nvml(module) as nvml:
        if nvml is None:
            return None
        try:
            handle = nvml.nvmlDeviceGetHandleByUUID(unit.uuid)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            listed = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
        except Exception:  # NVMLError: the unit is gone or NVML cannot answer; vLLM's own check still runs
            return None
        processes = tuple(GpuProcess(int(p.pid), _used(getattr(p, "usedGpuMemory", None))) for p in listed)
        return UnitMemory(unit, int(memory.free), int(memory.total), processes)


def _used(value: Any) -> int | None:
    # NVML reports "not available" as None (pynvml) or as a huge sentinel on some drivers
    return int(value) if isinstance(value, int) and 0 <= value < (1 << 60) else None


def shortfall(reading: UnitMemory, needs: ServerNeeds) -> str | None:
    """The evidence that ``reading``'s unit cannot take the server's claim, or None when it can."""
    unit = reading.unit
    claim = needs.claim_bytes(reading.total_bytes, None if unit.is_mig else unit.capability)
    if reading.free_bytes >= claim:
        return None
    held = (
        ", ".join(process.text for process in reading.processes)
        if reading.processes
        else "processes NVML does not list (another container, or a driver that hides them)"
    )
    return (
        f"{unit.label} ({unit.name}, {unit.uuid}): {reading.free_bytes / GIB:.1f} GiB free < "
        f"{claim / GIB:.1f} GiB vLLM will claim (gpu-memory-utilization {needs.utilization:g} "
        f"[{needs.utilization_source}] x {reading.total_bytes / GIB:.1f} GiB"
        f"{'' if unit.is_mig else ' less the driver reserve'}); held by {held}"
    )


def shortfalls(units: Iterable[GpuUnit], needs: ServerNeeds, read: MemoryReader) -> list[str]:
    """The evidence for every unit that cannot take the claim now (units NVML cannot read are left to vLLM)."""
    found = []
    for unit in units:
        reading = read(unit)
        problem = shortfall(reading, needs) if reading is not None else None
        if problem is not None:
            found.append(problem)
    return found


__all__ = ["GpuProcess", "MemoryReader", "UnitMemory", "described_memory", "nvml_memory", "shortfall", "shortfalls"]
