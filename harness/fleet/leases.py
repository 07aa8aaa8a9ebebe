"""The node-wide GPU allocator: leases on GPU units as file locks, so they die with the process that holds them.

One lock file per unit under one directory of the node (``<cache root>/fleet/leases``; a described inventory's
units under ``leases-simulated``, so a simulation never blocks a real GPU). A lease is ``flock`` locks on its units'
files: exclusive for a server that takes whole units, shared for ``share_gpu`` servers, whose fractions are kept in
per-holder files beside it (the sum of the live ones never passes 1). The kernel drops a flock when its holder's last
descriptor closes, so a crashed or killed worker frees its GPUs without anyone cleaning up. Every lock is taken
non-blocking: a lease is all or nothing (what was taken is given back when one unit is busy), and waiting is the
caller's polling loop, bounded.

Boot locks are a second file per physical GPU, held from a server's spawn until it is ready: engines that initialise
at the same time on one GPU fail where the same engines started one after the other work (vLLM issue 9198).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.fleet.inventory import GpuUnit
from harness.flocks import live_files as _live_files
from harness.flocks import open_lock_file as _open
from harness.flocks import try_flock as _try_lock
from harness.paths import cache_root

SHARE_EPSILON = 1e-6


def lease_root(*, simulated: bool) -> Path:
    """The node's lease directory (per user: the cache root is)."""
    return cache_root() / "fleet" / ("leases-simulated" if simulated else "leases")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


@dataclass(frozen=True)
class Holder:
    """Who holds a unit, as its lock file says: the process, the server, since when, and its share if shared."""

    pid: int
    holder: str
    since: str
    fraction: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "holder": self.holder, "since": self.since, "fraction": self.fraction}

    @property
    def text(self) -> str:
        share = f", {self.fraction:.2f} of it" if self.fraction is not None else ""
        return f"pid {self.pid} ({self.holder}, since {self.since}{share})"


def _write(fd: int, payload: dict[str, Any]) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(payload).encode(), 0)


def _read_holder(path: Path) -> Holder | None:
    try:
        data = json.loads(path.read_text() or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "pid" not in data:
        return None
    return Holder(int(data["pid"]), str(data.get("holder", "")), str(data.get("since", "")), data.get("fraction"))


@dataclass(frozen=True)
class Waiter:
    """A request waiting for units: how many, since when (time.time()), whose; ``ticket`` names its file."""

    gpus: int
    since: float
    pid: int
    holder: str
    ticket: str

    def ahead_of(self, gpus: int, since: float) -> bool:
        """Bigger requests first, then the one that waited longer."""
        return (self.gpus, -self.since) > (gpus, -since)


@dataclass
class Lease:
    """Units leased to one server: all of them, exclusive, or a fraction of one shared unit. ``release()`` (or the
    holder's exit) gives them back."""

    units: tuple[GpuUnit, ...]
    holder: str
    shared: bool = False
    fraction: float | None = None
    waited_s: float = 0.0  # how long the lease was waited for (other servers of the node held the units)
    memory_wait_s: float = 0.0  # how long its units' free memory was waited for (another tenant held it)
    boot_wait_s: float | None = None  # how long the boot waited for another boot on the same GPU
    _fds: list[int] = field(default_factory=list, repr=False)
    _files: list[Path] = field(default_factory=list, repr=False)

    @property
    def cuda_visible_devices(self) -> str:
        """What the boot's CUDA_VISIBLE_DEVICES is: whole GPUs by NVML index (with CUDA_DEVICE_ORDER=PCI_BUS_ID,
        CUDA's order is NVML's), MIG devices by MIG UUID (the only name CUDA has for one). Indices rather than GPU
        UUIDs: vLLM versions before the UUID fix read each entry with int() (vLLM issues 6551, 41848)."""
        return ",".join(unit.uuid if unit.is_mig else str(unit.index) for unit in self.units)

    @property
    def env(self) -> dict[str, str]:
        """The boot's environment for this lease: CUDA_VISIBLE_DEVICES and the device order its indices assume."""
        return {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": self.cuda_visible_devices}

    @property
    def simulated(self) -> bool:
        return any(unit.simulated for unit in self.units)

    @property
    def held(self) -> bool:
        return bool(self._fds)

    def release(self) -> None:
        """Give the units back (idempotent): share files go, lock files are emptied and unlocked."""
        for path in self._files:
            with contextlib.suppress(OSError):
                path.unlink()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing drops the flock
        self._fds.clear()
        self._files.clear()

    def to_json(self) -> dict[str, Any]:
        return {
            "units": [unit.uuid for unit in self.units],
            "gpus": [unit.label for unit in self.units],
            "names": [unit.name for unit in self.units],
            "cuda_visible_devices": self.cuda_visible_devices,
            "shared": self.shared,
            "fraction": self.fraction,
            "wait_s": round(self.waited_s, 3),
            "memory_wait_s": round(self.memory_wait_s, 3),
            "boot_wait_s": round(self.boot_wait_s, 3) if self.boot_wait_s is not None else None,
            "simulated": self.simulated,
        }


class Allocator:
    """Takes and reports leases on a node's units under ``root`` (created on first use)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _unit_file(self, unit: GpuUnit) -> Path:
        return self.root / f"{_safe(unit.uuid)}.lock"

    def _ready(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def _stamp(self, holder: str, fraction: float | None = None) -> dict[str, Any]:
        since = datetime.now(UTC).isoformat(timespec="seconds")
        return {"pid": os.getpid(), "holder": holder, "since": since, "fraction": fraction}

    def try_exclusive(self, candidates: Sequence[GpuUnit], count: int, holder: str) -> Lease | None:
        """``count`` of ``candidates`` (in their order), each exclusively, or None with nothing kept."""
        self._ready()
        fds: list[int] = []
        taken: list[GpuUnit] = []
        for unit in candidates:
            if len(taken) == count:
                break
            fd = _open(self._unit_file(unit))
            if _try_lock(fd, fcntl.LOCK_EX):
                fds.append(fd)
                taken.append(unit)
            else:
                os.close(fd)
        if len(taken) < count:
            for fd in fds:
                os.close(fd)
            return None
        stamp = self._stamp(holder)
        for fd in fds:
            _write(fd, stamp)
        return Lease(tuple(taken), holder, _fds=fds)

    def try_shared(self, candidates: Sequence[GpuUnit], count: int, fraction: float, holder: str) -> Lease | None:
        """``fraction`` of each of ``count`` of ``candidates`` (in their order) beside other sharers, never beside
        an exclusive holder; or None with nothing kept."""
        self._ready()
        taken: list[GpuUnit] = []
        fds: list[int] = []
        files: list[Path] = []
        for unit in candidates:
            if len(taken) == count:
                break
            share = self._share_of(unit, fraction, holder)
            if share is not None:
                fds += share[0]
                files.append(share[1])
                taken.append(unit)
        if len(taken) < count:
            Lease((), holder, _fds=fds, _files=files).release()
            return None
        return Lease(tuple(taken), holder, shared=True, fraction=fraction, _fds=fds, _files=files)

    def _share_of(self, unit: GpuUnit, fraction: float, holder: str) -> tuple[list[int], Path] | None:
        """A share of one unit: its lock held shared, and a share file (locked while alive) saying the fraction."""
        fd = _open(self._unit_file(unit))
        if not _try_lock(fd, fcntl.LOCK_SH):
            os.close(fd)
            return None
        ledger = _open(self.root / f"{_safe(unit.uuid)}.ledger")
        try:
            fcntl.flock(ledger, fcntl.LOCK_EX)  # held for the bookkeeping only: milliseconds
            taken = sum(share.fraction or 0.0 for share in self._live_shares(unit))
            if taken + fraction > 1.0 + SHARE_EPSILON:
                os.close(fd)
                return None
            path = self.root / f"{_safe(unit.uuid)}.share.{os.getpid()}.{time.monotonic_ns()}"
            share_fd = _open(path)
            fcntl.flock(share_fd, fcntl.LOCK_EX)
            _write(share_fd, self._stamp(holder, fraction))
        finally:
            os.close(ledger)
        return [share_fd, fd], path

    def _live_shares(self, unit: GpuUnit) -> list[Holder]:
        """The sharers of ``unit`` whose process is alive (a share file nobody locks is a dead holder's: removed)."""
        live = []
        for path in _live_files(self.root, f"{_safe(unit.uuid)}.share.*"):
            found = _read_holder(path)
            if found is not None:
                live.append(found)
        return live

    def holders(self, unit: GpuUnit) -> list[Holder]:
        """Who holds ``unit`` now (an exclusive holder, or the sharers); [] when it is free."""
        self._ready()
        shares = self._live_shares(unit)
        if shares:
            return shares
        path = self._unit_file(unit)
        fd = _open(path)
        try:
            if _try_lock(fd, fcntl.LOCK_EX):
                return []
        finally:
            os.close(fd)
        found = _read_holder(path)
        return [found] if found is not None else []

    def free_units(self, units: Sequence[GpuUnit]) -> int:
        """How many of ``units`` nobody holds now (a glance: the answer may change at once)."""
        self._ready()
        free = 0
        for unit in units:
            fd = _open(self._unit_file(unit))
            try:
                free += _try_lock(fd, fcntl.LOCK_EX)
            finally:
                os.close(fd)  # drops the probe's lock, if it got one
        return free

    @contextlib.contextmanager
    def waiting(self, gpus: int, holder: str) -> Iterator[Waiter]:
        """Announce a request that waits for ``gpus`` units (a ticket file, locked while it waits, gone after):
        smaller requests leave the GPUs it needs alone, so the biggest waiting server is never starved."""
        self._ready()
        path = self.root / f"wait.{os.getpid()}.{time.monotonic_ns()}"
        fd = _open(path)
        fcntl.flock(fd, fcntl.LOCK_EX)
        since = time.time()
        _write(fd, {**self._stamp(holder), "gpus": gpus, "since_s": since})
        try:
            yield Waiter(gpus, since, os.getpid(), holder, path.name)
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
            os.close(fd)

    def waiters(self) -> list[Waiter]:
        """The requests waiting now (a ticket nobody locks is a dead waiter's: removed)."""
        self._ready()
        found = []
        for path in _live_files(self.root, "wait.*"):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                data = json.loads(path.read_text())
                found.append(
                    Waiter(int(data["gpus"]), float(data["since_s"]), int(data["pid"]), data["holder"], path.name)
                )
        return found

    @contextlib.contextmanager
    def boot_lock(self, units: Sequence[GpuUnit], *, timeout_s: float, poll_s: float) -> Iterator[float]:
        """Hold the boot lock of every physical GPU under ``units`` (in one global order: no deadlock between two
        boots); yields the seconds waited. TimeoutError when another boot keeps one past ``timeout_s``."""
        self._ready()
        started = time.monotonic()
        fds: list[int] = []  # the boot locks taken so far
        try:
            for parent in sorted({unit.parent_uuid for unit in units}):
                path = self.root / f"{_safe(parent)}.boot"
                fd = _open(path)
                while not _try_lock(fd, fcntl.LOCK_EX):
                    if time.monotonic() - started > timeout_s:
                        os.close(fd)
                        holder = _read_holder(path)
                        raise TimeoutError(
                            f"another boot on {parent} held its boot lock for over {timeout_s:.0f} s"
                            + (f": {holder.text}" if holder else "")
                        )
                    time.sleep(poll_s)
                fds.append(fd)
                _write(fd, self._stamp(f"boot on {parent}"))
            yield time.monotonic() - started
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                os.close(fd)


__all__ = ["Allocator", "Holder", "Lease", "Waiter", "lease_root"]
