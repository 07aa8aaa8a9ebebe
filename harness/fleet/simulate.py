"""A simulated node, run through the real scheduler: a described inventory, real lease files, real worker processes,
and a stand-in engine that sleeps scaled-down boot and probe durations instead of booting vLLM.

Everything here is simulation and says so: no GPU is touched and no vLLM starts. What is real is the allocator
(flock leases, boot locks) and the NodeScheduler that the harness's ServerPool uses; the records each worker writes
are checked afterwards for the two invariants (no GPU held by two servers at once, no two boots overlapping on one
GPU). The durations are public figures of vLLM on H100-class GPUs (see ``FIGURES``), drawn with a fixed seed.

Times are recorded so the checks cannot pass by luck of the clock: a lease's start is taken after the allocator
granted it and its end before it is given back, a boot's start after its boot lock is held and its end before that
lock is released; every process reads the same clock (time.time).
"""

from __future__ import annotations

import itertools
import multiprocessing
import queue
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.fleet.contention import described_memory
from harness.fleet.inventory import Inventory, describe_inventory
from harness.fleet.leases import Allocator
from harness.fleet.needs import server_needs
from harness.fleet.scheduler import NodeScheduler

# tensor-parallel size -> (boot seconds low, high), (probe seconds low, high), where the figures come from
FIGURES: dict[int, tuple[tuple[float, float], tuple[float, float], str]] = {
    1: (
        (80, 240),
        (40, 150),
        "Llama-3.1-8B: 82 s to ready with warm caches, 233 s cold (weights 33 s, torch.compile 52 s, CUDA graphs "
        "54 s, engine init 94 s; Tensorfuse, 'Reducing GPU cold start time when using vLLM', 2025)",
    ),
    2: ((150, 300), (60, 180), "13-34B models on 2 GPUs: between the 8B and 70B figures"),
    4: ((240, 480), (80, 220), "70B FP8 / 34B bf16 on 4 GPUs: weights per GPU as the 8-GPU 70B, fewer workers"),
    8: (
        (480, 660),
        (100, 260),
        "Llama-3.1-70B on 8xH100: 'more than 10 min' to load (vLLM issue 10702); DeepSeek-V4-Flash tp 8: ~8 min "
        "to ready (vLLM issue 43189)",
    ),
}
BENCH_MIX = {1: 16, 2: 12, 4: 8, 8: 4}  # 40 servers


@dataclass(frozen=True)
class SimServer:
    """One server of the simulated matrix: its tensor-parallel size and its (unscaled) boot and probe seconds."""

    key: str
    tensor_parallel: int
    boot_s: float
    probe_s: float

    @property
    def seconds(self) -> float:
        return self.boot_s + self.probe_s

    @property
    def gpu_seconds(self) -> float:
        return self.tensor_parallel * self.seconds


@dataclass(frozen=True)
class SimRecord:
    """What one worker saw of one server, in simulated seconds from the run's start."""

    key: str
    pid: int
    units: tuple[str, ...]
    parents: tuple[str, ...]
    leased_at: float
    boot_started: float
    ready_at: float
    released_at: float
    waited_s: float


def bench_matrix(mix: dict[int, int] | None = None, seed: int = 10) -> tuple[SimServer, ...]:
    """The servers of the bench: ``mix`` (tensor-parallel size -> count), durations drawn from ``FIGURES``."""
    draw = random.Random(seed)
    servers = []
    for tp, count in (mix or BENCH_MIX).items():
        (boot_lo, boot_hi), (probe_lo, probe_hi), _ = FIGURES[tp]
        for n in range(count):
            servers.append(
                SimServer(f"tp{tp}-{n:02d}", tp, draw.uniform(boot_lo, boot_hi), draw.uniform(probe_lo, probe_hi))
            )
    return tuple(servers)


def lower_bound(servers: Sequence[SimServer], gpus: int) -> float:
    """No schedule beats max(total GPU-seconds / GPUs, the longest server)."""
    return max(sum(s.gpu_seconds for s in servers) / gpus, max(s.seconds for s in servers))


def even_split(servers: Sequence[SimServer], gpus: int, workers: int) -> tuple[float, list[str]]:
    """Today's even split, computed (not run): each worker owns gpus // workers GPUs and runs the servers it is
    handed one after another (xdist hands the next server to the first free worker); a server needing more GPUs
    than a slice cannot run there. The makespan and the servers that could not run."""
    slice_size = max(1, gpus // workers)
    free_at = [0.0] * workers
    unrunnable = []
    for server in sorted(servers, key=lambda s: -s.tensor_parallel):
        if server.tensor_parallel > slice_size:
            unrunnable.append(server.key)
            continue
        first = min(range(workers), key=free_at.__getitem__)
        free_at[first] += server.seconds
    return max(free_at), unrunnable


def best_even_split(servers: Sequence[SimServer], gpus: int) -> tuple[float, int]:
    """The even split's best makespan for the whole matrix, and its worker count: ``-n W`` runs what its slices hold,
    then a second pass of ``-n 1`` (all GPUs, one server at a time) runs the servers too big for a slice."""
    best: tuple[float, int] | None = None
    for workers in (w for w in (1, 2, 4, 8, 16) if w <= gpus):
        makespan, left = even_split(servers, gpus, workers)
        if left:
            makespan += even_split([s for s in servers if s.key in left], gpus, 1)[0]
        if best is None or makespan < best[0]:
            best = (makespan, workers)
    assert best is not None
    return best


def _worker(
    described: str,
    lease_dir: str,
    scale: float,
    poll_s: float,
    work: Any,
    results: Any,
    go: Any,
) -> None:
    inventory = Inventory(describe_inventory(described), "described", described=described)
    scheduler = NodeScheduler(inventory, Allocator(Path(lease_dir)), described_memory, poll_s=poll_s)
    go.wait()
    while True:
        item = work.get()
        if item is None:
            return
        server = SimServer(*item)
        asked = time.time()
        lease = scheduler.lease(server_needs({"tensor-parallel-size": server.tensor_parallel}), server.key)
        assert lease is not None
        leased_at = time.time()  # after the grant
        with scheduler.booting(lease):
            boot_started = time.time()  # after the boot locks are held
            time.sleep(server.boot_s * scale)  # the stand-in engine boots
            ready_at = time.time()  # before the boot locks go
        time.sleep(server.probe_s * scale)  # the stand-in engine serves its cells
        released_at = time.time()  # before the lease goes
        lease.release()
        results.put(
            (
                server.key,
                multiprocessing.current_process().pid,
                tuple(u.uuid for u in lease.units),
                tuple(u.parent_uuid for u in lease.units),
                leased_at,
                boot_started,
                ready_at,
                released_at,
                leased_at - asked,
            )
        )


@dataclass(frozen=True)
class SimRun:
    """A finished simulation: the records (simulated seconds), the makespan and the real seconds it took."""

    records: tuple[SimRecord, ...]
    makespan_s: float
    wall_s: float
    scale: float


def simulate(
    servers: Sequence[SimServer],
    described: str,
    lease_dir: Path,
    *,
    workers: int,
    scale: float,
    poll_s: float = 0.005,
) -> SimRun:
    """Run ``servers`` biggest first on ``workers`` processes sharing the node ``described`` through the real
    allocator under ``lease_dir``; durations are multiplied by ``scale``."""
    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent (pytest, rich)
    work: Any = context.Queue()
    results: Any = context.Queue()
    go = context.Event()
    for server in sorted(servers, key=lambda s: (-s.tensor_parallel, -s.seconds)):
        work.put((server.key, server.tensor_parallel, server.boot_s, server.probe_s))
    for _ in range(workers):
        work.put(None)
    processes = [
        context.Process(target=_worker, args=(described, str(lease_dir), scale, poll_s, work, results, go))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    time.sleep(0.5)  # let every worker import before the clock starts: spawn is slow on a small machine
    started = time.time()
    go.set()
    raw: list[tuple[Any, ...]] = []
    deadline = time.monotonic() + 60 + 4 * sum(s.seconds for s in servers) * scale
    while len(raw) < len(servers) and time.monotonic() < deadline:
        try:
            raw.append(results.get(timeout=1))
        except queue.Empty:
            if not any(p.is_alive() for p in processes):
                break
    for process in processes:
        process.join(timeout=10)
    wall = time.time() - started
    if len(raw) < len(servers):
        raise RuntimeError(f"simulation: {len(servers) - len(raw)} of {len(servers)} servers never finished")
    records = tuple(
        SimRecord(
            key,
            pid,
            units,
            parents,
            (leased - started) / scale,
            (boot - started) / scale,
            (ready - started) / scale,
            (released - started) / scale,
            waited / scale,
        )
        for key, pid, units, parents, leased, boot, ready, released, waited in raw
    )
    first = min(r.leased_at - r.waited_s for r in records)
    return SimRun(records, max(r.released_at for r in records) - min(first, 0.0), wall, scale)


def violations(records: Sequence[SimRecord]) -> list[str]:
    """Every moment the records show a GPU leased to two servers at once, or two boots overlapping on one GPU."""
    found = []
    by_gpu: dict[str, list[SimRecord]] = {}
    for record in records:
        for parent in set(record.parents):
            by_gpu.setdefault(parent, []).append(record)
    for gpu, held in sorted(by_gpu.items()):
        held.sort(key=lambda r: r.leased_at)
        for before, after in itertools.pairwise(held):
            if after.leased_at < before.released_at:
                found.append(f"{gpu}: {before.key} and {after.key} held it at once")
        boots = sorted(held, key=lambda r: r.boot_started)
        for before, after in itertools.pairwise(boots):
            if after.boot_started < before.ready_at:
                found.append(f"{gpu}: the boots of {before.key} and {after.key} overlapped")
    return found


def gpus_of(described: str) -> int:
    return len({unit.parent_uuid for unit in describe_inventory(described)})


__all__ = [
    "BENCH_MIX",
    "FIGURES",
    "SimRecord",
    "SimRun",
    "SimServer",
    "bench_matrix",
    "best_even_split",
    "even_split",
    "gpus_of",
    "lower_bound",
    "simulate",
    "violations",
]
