"""Core sets for servers of the CPU engine: servers booted side by side on one machine get disjoint cores.

vLLM's CPU backend binds its worker's OpenMP threads with ``VLLM_CPU_OMP_THREADS_BIND``; left at ``auto`` every
server on a machine picks the same cores (vllm/utils/ompmultiprocessing.py: the cores of the first NUMA node, less
one reserved), and the libgomp affinity it exports pins the worker from its first import. Two servers booted at
once then share one core: measured on the 2-core CI machine, two tiny servers booted together took 85 and 92 s
with ``auto``, 56 and 57 s bound to core 0 and core 1 (one alone: 50 s).

So when several servers may boot at once (``run -- -n N``, or ``VLLM_COMPAT_CPU_CORES_PER_SERVER``), each server
takes a core set the way a GPU server takes a GPU: the machine's allowed cores (``sched_getaffinity``) cut into
blocks of ``per_server``, the block with the fewest servers bound to it, and its boot lock from spawn to ready, so no
two engines initialise on one block at once. Both are ``flock`` files under ``<cache root>/cpu-cores``: they die with
the process that holds them. A bound server never blocks another server's boot (a deployment keeps more services up
than there are blocks); the boot lock does, bounded by the caller's timeout. With one server at a time, or a bind the
user set, nothing is bound: vLLM's own ``auto`` stands, as a user who runs ``vllm serve`` gets it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.flocks import live_files, open_lock_file, try_flock
from harness.paths import cache_root

BIND_VAR = "VLLM_CPU_OMP_THREADS_BIND"  # vLLM's own variable: the cores of each worker rank, ranks split by "|"
PER_SERVER_VAR = "VLLM_COMPAT_CPU_CORES_PER_SERVER"
WORKERS_VAR = "PYTEST_XDIST_WORKER_COUNT"  # set by pytest-xdist in every worker: how many servers may boot at once


class CoreSetError(Exception):
    """The variable that sets the cores per server cannot be read, or no core set came free in time."""


@dataclass(frozen=True)
class CorePlan:
    """How this machine's cores are split between servers: ``per_server`` cores each out of ``allowed``."""

    allowed: tuple[int, ...]
    per_server: int
    source: str  # why: the variable that set it, or the worker count it was derived from

    def blocks(self, ranks: int) -> list[tuple[int, ...]]:
        """The core sets a server of ``ranks`` worker processes (tensor x pipeline x data parallel) may take: blocks
        of ``per_server`` cores (at least one per rank), lowest first; all allowed cores when a block is too big."""
        size = min(max(self.per_server, ranks), len(self.allowed))
        return [self.allowed[i : i + size] for i in range(0, len(self.allowed) - size + 1, size)]


def is_cpu_engine(engine_python: Path) -> bool:
    """The engine environment holds vLLM's CPU build (the ``vllm-cpu`` distribution)."""
    environment = Path(engine_python).parent.parent
    return any(environment.glob("lib/python3*/site-packages/vllm_cpu-*.dist-info"))


def core_plan(env: Mapping[str, str], allowed: Sequence[int] | None = None) -> CorePlan | None:
    """The split for servers started under ``env``, or None where vLLM's own binding stands (one server at a time,
    or the user set ``VLLM_CPU_OMP_THREADS_BIND`` themselves)."""
    if env.get(BIND_VAR, "auto") != "auto":
        return None
    cores = tuple(sorted(os.sched_getaffinity(0) if allowed is None else allowed))
    value = env.get(PER_SERVER_VAR, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise CoreSetError(
                f"{PER_SERVER_VAR}={value}: expected a whole number of cores >= 1; fix: e.g. {PER_SERVER_VAR}=1, "
                "or unset it to let the worker count decide"
            )
        return CorePlan(cores, min(int(value), len(cores)), f"{PER_SERVER_VAR}={value}")
    workers = env.get(WORKERS_VAR, "").strip()
    if workers.isdigit() and int(workers) > 1 and len(cores) > 1:
        per_server = max(1, len(cores) // int(workers))
        return CorePlan(cores, per_server, f"{workers} pytest-xdist workers over {len(cores)} cores")
    return None


def bind_mask(cores: Sequence[int], ranks: int) -> str:
    """``VLLM_CPU_OMP_THREADS_BIND`` for a server of ``ranks`` worker processes on ``cores``: one list per rank,
    ranks split by "|" (vLLM asserts their count is its local world size), runs of cores written as ranges."""
    ranks = max(1, min(ranks, len(cores)))
    per_rank = len(cores) // ranks
    parts = [cores[i * per_rank : (i + 1) * per_rank] for i in range(ranks)]
    return "|".join(_ranges(part) for part in parts)


def _ranges(cores: Sequence[int]) -> str:
    out: list[str] = []
    start = previous = cores[0]
    for core in [*cores[1:], None]:
        if core is not None and core == previous + 1:
            previous = core
            continue
        out.append(str(start) if start == previous else f"{start}-{previous}")
        if core is not None:
            start = previous = core
    return ",".join(out)


def _name(cores: Sequence[int]) -> str:
    return _ranges(cores).replace(",", "_")


def _take(path: Path, payload: str) -> int | None:
    """An exclusive flock on ``path`` (created if need be) with ``payload`` written in it, or None if held."""
    fd = open_lock_file(path)
    if not try_flock(fd, fcntl.LOCK_EX):
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, payload.encode(), 0)
    return fd


def _bound_count(root: Path, block: str) -> int:
    """Servers bound to ``block`` now: the bound files some live process keeps locked."""
    return sum(1 for _ in live_files(root, f"bound-{block}-*"))


@dataclass
class CoreLease:
    """A server's core set: ``mask`` for its environment; the boot lock until ``booted()``, the binding until
    ``release()``."""

    cores: tuple[int, ...]
    mask: str
    waited_s: float
    plan_source: str
    since: float = field(default_factory=time.time)  # epoch seconds the set was taken (its boot started)
    boot_s: float | None = None  # seconds from then until the engine was ready (or gone): the boot lock's hold
    _boot_fd: int | None = field(default=None, repr=False)
    _bound_fd: int | None = field(default=None, repr=False)
    _bound_path: Path | None = field(default=None, repr=False)

    def booted(self) -> None:
        """The engine is ready (or gone): another server may boot on these cores."""
        if self._boot_fd is not None:
            os.close(self._boot_fd)  # closing the descriptor drops its flock
            self._boot_fd = None
            self.boot_s = time.time() - self.since

    def release(self) -> None:
        """The server stopped: nothing of it is bound to these cores any more."""
        self.booted()
        if self._bound_fd is not None:
            with contextlib.suppress(OSError):
                assert self._bound_path is not None
                self._bound_path.unlink()
            os.close(self._bound_fd)
            self._bound_fd = None

    def to_json(self) -> dict[str, Any]:
        return {
            "cores": list(self.cores),
            "mask": self.mask,
            "waited_s": round(self.waited_s, 2),
            "why": self.plan_source,
            "since": round(self.since, 2),
            "boot_s": round(self.boot_s, 2) if self.boot_s is not None else None,
        }


def lease_cores(
    plan: CorePlan,
    holder: str,
    ranks: int,
    *,
    timeout_s: float,
    poll_s: float = 0.5,
    root: Path | None = None,
) -> CoreLease:
    """The core set with the fewest servers bound to it whose boot lock is free, once one is (waiting at most
    ``timeout_s``: a boot that holds its lock longer is stuck). CoreSetError past the bound, naming the holders."""
    root = root if root is not None else cache_root() / "cpu-cores"
    root.mkdir(parents=True, exist_ok=True)
    blocks = plan.blocks(ranks)
    started = time.monotonic()
    while True:
        by_load = sorted(blocks, key=lambda block: (_bound_count(root, _name(block)), block))
        for block in by_load:
            name = _name(block)
            boot_fd = _take(root / f"boot-{name}.lock", f"{os.getpid()} {holder}\n")
            if boot_fd is None:
                continue
            bound_path = root / f"bound-{name}-{os.getpid()}-{time.monotonic_ns()}"
            bound_fd = _take(bound_path, f"{os.getpid()} {holder}\n")
            return CoreLease(
                block,
                bind_mask(block, ranks),
                time.monotonic() - started,
                plan.source,
                _boot_fd=boot_fd,
                _bound_fd=bound_fd,
                _bound_path=bound_path,
            )
        waited = time.monotonic() - started
        if waited >= timeout_s:
            holders = []
            for block in blocks:
                with contextlib.suppress(OSError):
                    text = (root / f"boot-{_name(block)}.lock").read_text().strip()
                    holders.append(f"cores {_ranges(block)}: pid {text}")
            raise CoreSetError(
                f"no CPU core set free to boot {holder} after {waited:.0f} s (every set is booting another server: "
                f"{'; '.join(holders) or 'unknown'})"
            )
        time.sleep(poll_s)


__all__ = [
    "BIND_VAR",
    "PER_SERVER_VAR",
    "WORKERS_VAR",
    "CoreLease",
    "CorePlan",
    "CoreSetError",
    "bind_mask",
    "core_plan",
    "is_cpu_engine",
    "lease_cores",
]
