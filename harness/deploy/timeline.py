"""A deployment's boot sequence as rows, seconds from the first boot, and the window in which all were up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from harness.results import DeployedService, DeploymentRecord


@dataclass(frozen=True)
class BootRow:
    service: DeployedService
    start_s: float | None  # seconds after the first service's boot started
    ready_s: float | None
    stop_s: float | None


@dataclass(frozen=True)
class Timeline:
    rows: tuple[BootRow, ...]
    together_s: float | None  # how long every booted service was up at once; None: fewer than two were
    boots_overlapped: bool  # a boot started before the previous one was ready (never, when booted in order)


def _at(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp) if stamp else None


def timeline(deployment: DeploymentRecord) -> Timeline:
    services = sorted(deployment.services, key=lambda s: s.order)
    starts = [t for t in (_at(s.boot_started_at) for s in services) if t is not None]
    origin = min(starts) if starts else None

    def offset(stamp: str | None) -> float | None:
        moment = _at(stamp)
        return round((moment - origin).total_seconds(), 1) if moment is not None and origin is not None else None

    rows = tuple(BootRow(s, offset(s.boot_started_at), offset(s.ready_at), offset(s.stopped_at)) for s in services)
    up = [s for s in services if s.ready_at and s.stopped_at]
    together: float | None = None
    if len(up) >= 2:
        last_ready = max(_at(s.ready_at) for s in up)  # type: ignore[type-var]
        first_stop = min(_at(s.stopped_at) for s in up)  # type: ignore[type-var]
        together = round(max(0.0, (first_stop - last_ready).total_seconds()), 1)  # type: ignore[operator]
    overlapped = False
    previous_ready: datetime | None = None
    for service in services:
        started = _at(service.boot_started_at)
        if started is not None and previous_ready is not None and started < previous_ready:
            overlapped = True
        ready = _at(service.ready_at)
        if ready is not None:
            previous_ready = ready
    return Timeline(rows, together, overlapped)
