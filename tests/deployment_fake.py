"""Deployment records for tests: services with boot stamps, a deployment line, and the servers' resources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from harness.results import DeployedService, DeploymentRecord, GpuRecord, ServerOutcome, ServerRecord
from harness.usecases import UseCase

GIB = 2**30
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def at(seconds: int) -> str:
    """A stamp ``seconds`` after 09:00:00 UTC, in the results' format."""
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def service(name: str, order: int, **changes: Any) -> DeployedService:
    """A booted service of deployment "stack" on GPU 0 serving chat, ready 40 s after its boot started."""
    start = (order - 1) * 41
    fields: dict[str, Any] = {
        "name": name,
        "model": name,
        "cell_model": f"stack.{name}",
        "server_key": f"stack.{name}-default",
        "use_cases": (UseCase.CHAT,),
        "devices": (0,),
        "pinned": False,
        "share": 0.3,
        "port": 8000 + order,
        "order": order,
        "booted": True,
        "boot_started_at": at(start),
        "ready_at": at(start + 40),
        "stopped_at": at(200),
        "boot_s": 40.0,
    }
    return DeployedService(**(fields | changes))


def deployment(*services: DeployedService, **changes: Any) -> DeploymentRecord:
    fields: dict[str, Any] = {
        "run_id": "r1",
        "name": "stack",
        "services": services,
        "at": at(200),
        "gpus": (),
        "host_memory_bytes": 24 * GIB,
    }
    return DeploymentRecord(**(fields | changes))


def h100(index: int = 0) -> GpuRecord:
    """A described GPU, as NVML would report an H100 80GB (for the memory picture; no GPU is asked)."""
    return GpuRecord(index=index, name="NVIDIA H100 80GB HBM3", memory_total_bytes=80 * GIB)


def server_with_peak(key: str, *, vram: int | None = None, rss: int | None = None) -> ServerRecord:
    """A server's merged record whose sampler saw this VRAM (NVML) or RSS peak; the other field is n/a."""
    phases = {
        "boot": {"process_bytes": vram // 2 if vram else "n/a (no NVIDIA GPU)", "rss_bytes": (rss or GIB) // 2},
        "probes": {"process_bytes": vram or "n/a (no NVIDIA GPU)", "rss_bytes": rss or GIB},
    }
    return ServerRecord(
        run_id="r1",
        server_key=key,
        model=key.rsplit("-", 1)[0],
        model_id="zoo:chat-ok",
        profile="default",
        flags={},
        outcome=ServerOutcome.STOPPED,
        started_at=at(0),
        at=at(200),
        resources={"gpu": vram is not None, "phases": phases},
    )
