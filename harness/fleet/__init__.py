"""The fleet on one node: which GPUs there are, what each server needs, and who holds which GPU while it runs.

Between the engine/checkpoint stages (GPU facts, weight sizes) and the runner (which boots servers): the runner asks
for a lease before a boot and gives it back at teardown; the plugin orders servers biggest first; `vllm-compat gpus`
prints the inventory. Reusable by anything that boots vLLM services side by side on one node.

Modules:
- ``inventory``: ``read_inventory`` -- whole GPUs and MIG devices through NVML (UUIDs, memory, compute capability),
  narrowed by CUDA_VISIBLE_DEVICES, or described by ``VLLM_COMPAT_GPUS`` (``8xH100-80GB``; simulated).
- ``needs``: ``server_needs`` -- GPUs (tensor x pipeline x data parallel), vLLM's claim (total x
  gpu-memory-utilization), the weights' floor per GPU, ``share_gpu``.
- ``leases``: ``Allocator`` -- node-wide flock leases per unit (exclusive or shared fractions) that die with their
  process, and per-GPU boot locks.
- ``contention``: free memory (NVML) against vLLM's claim, with the holders' pids and memory as evidence.
- ``scheduler``: ``NodeScheduler`` -- lease all or nothing with bounded waits, GPU_CONTENDED / TP_INDIVISIBLE before a
  boot, boot locks; a no-op that says so where there is no NVIDIA GPU.
- ``simulate``: a simulated node (described inventory, stand-in engine sleeping scaled public boot/probe figures)
  run through the real allocator on worker processes; the makespan, its lower bound, the even split, the invariants.
- ``bench``: ``python -m harness.fleet.bench`` (``make bench-fleet``), a simulated 8-GPU node through the real
  allocator (a program: not imported here).
"""

from __future__ import annotations

from harness.fleet.contention import (
    GpuProcess,
    MemoryReader,
    UnitMemory,
    described_memory,
    nvml_memory,
    shortfall,
    shortfalls,
)
from harness.fleet.inventory import (
    GPUS_VAR,
    GpuUnit,
    Inventory,
    InventoryError,
    describe_inventory,
    narrow_to_visible,
    read_inventory,
)
from harness.fleet.leases import Allocator, Holder, Lease, lease_root
from harness.fleet.needs import FALLBACK_GPU_MEMORY_UTILIZATION, FALLBACK_SOURCE, ServerNeeds, server_needs
from harness.fleet.scheduler import (
    DEFAULT_LEASE_WAIT_S,
    DEFAULT_MEMORY_WAIT_S,
    LEASE_WAIT_VAR,
    MEMORY_WAIT_VAR,
    NodeScheduler,
    ScheduleError,
)

__all__ = [
    "DEFAULT_LEASE_WAIT_S",
    "DEFAULT_MEMORY_WAIT_S",
    "FALLBACK_GPU_MEMORY_UTILIZATION",
    "FALLBACK_SOURCE",
    "GPUS_VAR",
    "LEASE_WAIT_VAR",
    "MEMORY_WAIT_VAR",
    "Allocator",
    "GpuProcess",
    "GpuUnit",
    "Holder",
    "Inventory",
    "InventoryError",
    "Lease",
    "MemoryReader",
    "NodeScheduler",
    "ScheduleError",
    "ServerNeeds",
    "UnitMemory",
    "describe_inventory",
    "described_memory",
    "lease_root",
    "narrow_to_visible",
    "nvml_memory",
    "read_inventory",
    "server_needs",
    "shortfall",
    "shortfalls",
]
