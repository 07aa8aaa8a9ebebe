"""The node scheduler: a server's GPUs, leased all or nothing, checked free, booted one engine at a time per GPU.

``lease()`` waits (bounded) until the allocator grants every unit the server needs -- other servers of the node free
them as they stop --, then waits (bounded) until each leased unit's free memory covers what vLLM will claim; past
either bound it raises ``ScheduleError`` with code GPU_CONTENDED and the holders (pids, memory) as evidence. A
server that needs more GPUs than the node has fails at once (TP_INDIVISIBLE, the code pre-flight gives to more GPUs
asked than there are), before any boot. ``booting()`` holds the boot locks of the lease's physical GPUs from spawn
until ready. Without an NVIDIA GPU (and no described inventory) the scheduler is a no-op that says so.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from harness.fleet.contention import MemoryReader, described_memory, nvml_memory, shortfalls
from harness.fleet.inventory import GPUS_VAR, GpuUnit, Inventory, InventoryError, narrow_to_visible, read_inventory
from harness.fleet.leases import Allocator, Lease, Waiter, lease_root
from harness.fleet.needs import ServerNeeds

LEASE_WAIT_VAR = "VLLM_COMPAT_LEASE_WAIT_S"
MEMORY_WAIT_VAR = "VLLM_COMPAT_GPU_MEMORY_WAIT_S"
DEFAULT_LEASE_WAIT_S = 4 * 3600.0  # other servers of the node finish: a nightly's longest queue, not forever
DEFAULT_MEMORY_WAIT_S = 120.0  # a foreign tenant may be a teardown in progress: two minutes, then GPU_CONTENDED
DEFAULT_POLL_S = 0.5


class ScheduleError(Exception):
    """No GPUs for a server before its boot: ``code`` (a harness.codes code), the message and the evidence."""

    def __init__(self, code: str, message: str, evidence: str, waited_s: float = 0.0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.evidence = evidence
        self.waited_s = waited_s


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name, "").strip()
    try:
        seconds = float(value) if value else default
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise InventoryError(f"{name}={value}: expected a number of seconds >= 0; fix: e.g. {name}={default:.0f}")
    return seconds


@dataclass
class NodeScheduler:
    """Leases for the servers of every process on this node, over ``inventory``'s units."""

    inventory: Inventory
    allocator: Allocator
    memory: MemoryReader
    lease_wait_s: float = DEFAULT_LEASE_WAIT_S
    memory_wait_s: float = DEFAULT_MEMORY_WAIT_S
    poll_s: float = DEFAULT_POLL_S

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> NodeScheduler:
        """The node as this process sees it: NVML's GPUs (or ``VLLM_COMPAT_GPUS``'s), the node-wide lease directory,
        and the waits ``VLLM_COMPAT_LEASE_WAIT_S`` / ``VLLM_COMPAT_GPU_MEMORY_WAIT_S`` set. A value it cannot read
        raises InventoryError, one line naming the variable, the rule and the fix."""
        env = os.environ if env is None else env
        inventory = read_inventory(env)
        return cls(
            inventory,
            Allocator(lease_root(simulated=inventory.simulated)),
            described_memory if inventory.simulated else nvml_memory,
            lease_wait_s=_seconds(env, LEASE_WAIT_VAR, DEFAULT_LEASE_WAIT_S),
            memory_wait_s=_seconds(env, MEMORY_WAIT_VAR, DEFAULT_MEMORY_WAIT_S),
        )

    @property
    def active(self) -> bool:
        return bool(self.inventory.units)

    def describe(self) -> str:
        """One line for the run's output: what the scheduler schedules, or why it does nothing."""
        if not self.active:
            why = self.inventory.summary if self.inventory.source == "none" else "no GPU left by CUDA_VISIBLE_DEVICES"
            return f"GPU scheduling: {why}: servers boot without a GPU lease"
        return f"GPU scheduling: leases on {self.inventory.summary} under {self.allocator.root}"

    def units_for(self, needs: ServerNeeds, visible: str | None = None) -> tuple[GpuUnit, ...]:
        """The units that may serve ``needs``, best first: MIG devices serve one-GPU servers only (CUDA uses one MIG
        device per process), and take them first (smallest first) so whole GPUs stay free for bigger servers."""
        units = self.inventory.units
        if visible is not None:  # the matrix's own CUDA_VISIBLE_DEVICES for this model narrows the choice
            units, _ = narrow_to_visible(units, visible)
        if needs.gpus > 1:
            return tuple(unit for unit in units if not unit.is_mig)
        floor = needs.weight_floor_per_gpu or 0
        fitting = [u for u in units if not u.is_mig or needs.claim_bytes(u.total_bytes) >= floor]
        return tuple(sorted(fitting, key=lambda u: (not u.is_mig, u.total_bytes if u.is_mig else 0)))

    def lease(
        self,
        needs: ServerNeeds,
        holder: str,
        *,
        visible: str | None = None,
        say: Callable[[str], None] | None = None,
    ) -> Lease | None:
        """The server's lease, once its units are granted and free; None when there is nothing to schedule."""
        if not self.active:
            return None
        units = self.units_for(needs, visible)
        self._check_fits(needs, holder, units)
        started = time.monotonic()
        with contextlib.ExitStack() as stack:
            ticket: Waiter | None = None
            lease = self._try(needs, holder, units, ticket)
            while lease is None:
                waited = time.monotonic() - started
                if waited > self.lease_wait_s:
                    raise ScheduleError(
                        "GPU_CONTENDED",
                        f"no {needs.gpus} GPU(s) free for {holder} after {waited:.0f} s ({LEASE_WAIT_VAR} bounds it)",
                        self._held_by(units),
                        waited,
                    )
                if ticket is None:
                    ticket = stack.enter_context(self.allocator.waiting(needs.gpus, holder))
                    if say is not None:
                        say(f"waiting for {needs.gpus} GPU(s): {self._held_by(units)}")
                time.sleep(self.poll_s)
                lease = self._try(needs, holder, units, ticket)
        lease.waited_s = time.monotonic() - started
        self._await_memory(lease, needs, say)
        return lease

    def _try(self, needs: ServerNeeds, holder: str, units: tuple[GpuUnit, ...], ticket: Waiter | None) -> Lease | None:
        if not self._may_take(needs, units, ticket):
            return None
        if needs.share_gpu:
            lease = self.allocator.try_shared(units, needs.gpus, needs.utilization, holder)
        else:
            lease = self.allocator.try_exclusive(units, needs.gpus, holder)
        if lease is None:
            self._check_not_waiting_on_itself(needs, holder, units)
        return lease

    def _may_take(self, needs: ServerNeeds, units: tuple[GpuUnit, ...], ticket: Waiter | None) -> bool:
        """No starving of a bigger (or older) waiting server: take units only when the one first in line still finds
        the units it needs free afterwards (a reservation for the head of the queue, the way batch schedulers
        backfill without runtime estimates)."""
        since = ticket.since if ticket is not None else time.time()
        mine = ticket.ticket if ticket is not None else None
        ahead = [w for w in self.allocator.waiters() if w.ticket != mine and w.ahead_of(needs.gpus, since)]
        if not ahead:
            return True
        head = max(ahead, key=lambda w: (w.gpus, -w.since))
        return self.allocator.free_units(units) - needs.gpus >= head.gpus

    def _check_not_waiting_on_itself(self, needs: ServerNeeds, holder: str, units: tuple[GpuUnit, ...]) -> None:
        """Units held only by this process cannot come free while it waits here (its servers are held up, e.g. the
        services of a deployment, whose shares then sum past one GPU): GPU_CONTENDED at once, not after the bound."""
        holders = [h for unit in units for h in self.allocator.holders(unit)]
        if holders and all(h.pid == os.getpid() for h in holders):
            raise ScheduleError(
                "GPU_CONTENDED",
                f"no {needs.gpus} GPU(s) for {holder}: this process's own servers hold them and stay up while it "
                "waits (shares of one GPU must sum to 1 or less)",
                self._held_by(units),
            )

    def _check_fits(self, needs: ServerNeeds, holder: str, units: tuple[GpuUnit, ...]) -> None:
        if needs.gpus <= len(units):
            return
        mig = " (MIG devices serve one-GPU servers only)" if any(u.is_mig for u in self.inventory.units) else ""
        simulated = f" (simulated: {GPUS_VAR})" if self.inventory.simulated else ""
        parallel = f"{needs.tensor_parallel} x {needs.pipeline_parallel} x {needs.data_parallel}"
        raise ScheduleError(
            "TP_INDIVISIBLE",
            f"{holder} needs {needs.gpus} GPUs but this node has {len(units)} that can serve it{mig}{simulated}; "
            f"fix: --tensor-parallel-size (x pipeline x data parallel) of {len(units) or 'one'} or fewer, "
            "or a node with more GPUs",
            f"tensor x pipeline x data parallel {parallel} = {needs.gpus} GPUs; node: {self.inventory.summary}",
        )

    def _held_by(self, units: tuple[GpuUnit, ...]) -> str:
        parts = []
        for unit in units:
            holders = self.allocator.holders(unit)
            if holders:
                parts.append(f"{unit.label} held by " + ", ".join(h.text for h in holders))
        return "; ".join(parts) or "units busy"

    def _await_memory(self, lease: Lease, needs: ServerNeeds, say: Callable[[str], None] | None) -> None:
        started = time.monotonic()
        problems = shortfalls(lease.units, needs, self.memory)
        told = False
        while problems:
            waited = time.monotonic() - started
            if waited > self.memory_wait_s:
                lease.release()
                raise ScheduleError(
                    "GPU_CONTENDED",
                    f"another process holds the GPU memory vLLM would claim; waited {waited:.0f} s "
                    f"({MEMORY_WAIT_VAR} bounds it); vLLM not started",
                    "; ".join(problems),
                    lease.waited_s + waited,
                )
            if say is not None and not told:
                say(f"waiting for GPU memory: {'; '.join(problems)}")
                told = True
            time.sleep(self.poll_s)
            problems = shortfalls(lease.units, needs, self.memory)
        lease.memory_wait_s = time.monotonic() - started

    @contextlib.contextmanager
    def booting(self, lease: Lease | None, *, timeout_s: float | None = None) -> Iterator[None]:
        """Hold the boot locks of the lease's physical GPUs while the body boots (no lease: nothing to hold)."""
        if lease is None:
            yield
            return
        bound = timeout_s if timeout_s is not None else self.lease_wait_s
        stack = contextlib.ExitStack()
        try:
            waited = stack.enter_context(self.allocator.boot_lock(lease.units, timeout_s=bound, poll_s=self.poll_s))
        except TimeoutError as error:
            raise ScheduleError("GPU_CONTENDED", f"boot lock: {error}", str(error), bound) from None
        with stack:
            lease.boot_wait_s = waited
            yield


__all__ = [
    "DEFAULT_LEASE_WAIT_S",
    "DEFAULT_MEMORY_WAIT_S",
    "LEASE_WAIT_VAR",
    "MEMORY_WAIT_VAR",
    "NodeScheduler",
    "ScheduleError",
]
