"""A deployment's memory picture from its records: each service's peak, their total against the device, what is
left.

On a GPU the figure is the VRAM of each service's process tree (NVML) against the GPUs' total; with no NVIDIA GPU
it is each tree's RSS (psutil) against the machine's RAM, labelled as such, and device memory is "n/a (no NVIDIA
GPU)", never a made-up zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.engine import NO_GPU
from harness.results import DeploymentRecord, ServerRecord

VRAM_LABEL = "VRAM peak of the service's process tree on its GPUs (NVML)"
RSS_LABEL = "process-tree RSS peak (psutil; CPU memory, no NVIDIA GPU)"


def peak_of(resources: Mapping[str, Any], field: str) -> object:
    """The highest figure of one field over every sampled phase; an "n/a" string when that is all there is."""
    values = [stats.get(field) for stats in (resources.get("phases") or {}).values()]
    numbers = [v for v in values if isinstance(v, int | float)]
    if numbers:
        return max(numbers)
    return next((v for v in values if isinstance(v, str)), None)


@dataclass(frozen=True)
class ServiceMemory:
    name: str
    peak_bytes: int | None  # None: not measured (it never booted, or the sampler saw nothing)
    devices: tuple[int, ...]
    share: float | None


@dataclass(frozen=True)
class GpuBudget:
    """One GPU of the deployment: its total, and what the shares of the services on it ask of it."""

    index: int
    name: str
    total_bytes: int
    services: tuple[str, ...]
    shares: float  # the sum of their gpu-memory-utilization

    @property
    def budget_bytes(self) -> int:
        return int(self.total_bytes * self.shares)


@dataclass(frozen=True)
class MemoryPicture:
    on_gpu: bool
    label: str  # what the per-service figures are (VRAM, or RSS without a GPU)
    services: tuple[ServiceMemory, ...]
    total_bytes: int | None  # the services' peaks added up
    device_bytes: int | None  # the deployment's GPUs together; None: no NVIDIA GPU
    gpus: tuple[GpuBudget, ...]
    host_bytes: int | None  # the machine's RAM (the measure of RSS figures)

    @property
    def left_bytes(self) -> int | None:
        """What is left: of the GPUs on a GPU, of the machine's RAM without one."""
        whole = self.device_bytes if self.on_gpu else self.host_bytes
        if whole is None or self.total_bytes is None:
            return None
        return whole - self.total_bytes

    @property
    def device_text(self) -> str | None:
        """None when there is a device total to format; the honest n/a otherwise."""
        return None if self.on_gpu else NO_GPU


def memory_picture(deployment: DeploymentRecord, servers: Iterable[ServerRecord]) -> MemoryPicture:
    by_key = {server.server_key: server for server in servers}
    on_gpu = bool(deployment.gpus) and any(
        (by_key[s.server_key].resources or {}).get("gpu") for s in deployment.services if s.server_key in by_key
    )
    field = "process_bytes" if on_gpu else "rss_bytes"
    rows: list[ServiceMemory] = []
    for service in sorted(deployment.services, key=lambda s: s.order):
        server = by_key.get(service.server_key)
        peak = peak_of(server.resources or {}, field) if server is not None else None
        measured = int(peak) if isinstance(peak, int | float) and not isinstance(peak, bool) else None
        rows.append(ServiceMemory(service.name, measured, service.devices, service.share))
    measured_peaks = [r.peak_bytes for r in rows if r.peak_bytes is not None]
    total = sum(measured_peaks) if measured_peaks else None
    budgets: list[GpuBudget] = []
    if on_gpu:
        known = {gpu.index: gpu for gpu in deployment.gpus}
        for index in sorted({d for s in deployment.services for d in s.devices}):
            gpu = known.get(index)
            if gpu is None:
                continue
            on_it = [s for s in deployment.services if index in s.devices]
            budgets.append(
                GpuBudget(
                    index,
                    gpu.name,
                    gpu.memory_total_bytes,
                    tuple(s.name for s in on_it),
                    round(sum(s.share or 0.0 for s in on_it), 4),
                )
            )
    return MemoryPicture(
        on_gpu=on_gpu,
        label=VRAM_LABEL if on_gpu else RSS_LABEL,
        services=tuple(rows),
        total_bytes=total,
        device_bytes=sum(b.total_bytes for b in budgets) if on_gpu else None,
        gpus=tuple(budgets),
        host_bytes=deployment.host_memory_bytes,
    )
