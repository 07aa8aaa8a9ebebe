"""A described pynvml for the fleet's unit tests: GPUs with UUIDs, MIG devices, free memory and compute processes.

Only the functions harness.fleet and harness.engine's opener call; a test sets the figures (``used``, ``processes``)
and passes the module where NVML's would go (``read_inventory(nvml_module=...)``, ``nvml_memory(unit, module)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

GiB = 1 << 30


class NVMLError(Exception):
    """What pynvml raises (NotSupported, NotFound, ...)."""


@dataclass
class FakeDevice:
    uuid: str
    name: str
    total: int
    used: int = 0
    capability: tuple[int, int] = (9, 0)
    processes: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, used bytes or None)
    migs: list[FakeDevice] = field(default_factory=list)


class FakeNvml:
    """pynvml over ``devices`` (index order); a device with ``migs`` is in MIG mode."""

    def __init__(self, devices: list[FakeDevice], driver: str = "550.54.15") -> None:
        self.devices = devices
        self.driver = driver

    def nvmlInit(self) -> None:
        return None

    def nvmlShutdown(self) -> None:
        return None

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeDevice:
        return self.devices[index]

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> FakeDevice:
        for device in self.devices:
            for candidate in (device, *device.migs):
                if candidate.uuid == uuid:
                    return candidate
        raise NVMLError("Not Found")

    def nvmlDeviceGetUUID(self, handle: FakeDevice) -> str:
        return handle.uuid

    def nvmlDeviceGetName(self, handle: FakeDevice) -> bytes:
        return handle.name.encode()

    def nvmlDeviceGetCudaComputeCapability(self, handle: FakeDevice) -> tuple[int, int]:
        return handle.capability

    def nvmlDeviceGetMemoryInfo(self, handle: FakeDevice) -> Any:
        return SimpleNamespace(total=handle.total, used=handle.used, free=handle.total - handle.used)

    def nvmlDeviceGetMigMode(self, handle: FakeDevice) -> tuple[int, int]:
        return (1, 1) if handle.migs else (0, 0)

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: FakeDevice) -> int:
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: FakeDevice, index: int) -> FakeDevice:
        if index >= len(handle.migs):
            raise NVMLError("Not Found")
        return handle.migs[index]

    def nvmlDeviceGetComputeRunningProcesses(self, handle: FakeDevice) -> list[Any]:
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in handle.processes]


class NoDriver:
    """pynvml on a machine without the NVIDIA driver: nvmlInit fails."""

    def nvmlInit(self) -> None:
        raise NVMLError("Driver Not Loaded")

    def nvmlShutdown(self) -> None:
        return None


def h100(index: int, **kwargs: Any) -> FakeDevice:
    return FakeDevice(f"GPU-{index:08x}-fake", "NVIDIA H100 80GB HBM3", 80 * GiB, **kwargs)


def t4(index: int, **kwargs: Any) -> FakeDevice:
    """A T4: 15360 MiB (what nvidia-smi reports), compute capability 7.5 -- the small GPU of a mixed node."""
    return FakeDevice(f"GPU-{index:08x}-fake", "Tesla T4", 15360 << 20, capability=(7, 5), **kwargs)


def a100_with_migs(index: int) -> FakeDevice:
    """An A100 80GB in MIG mode with two 3g.40gb devices."""
    migs = [
        FakeDevice(f"MIG-{index:08x}-{m}-fake", "NVIDIA A100-SXM4-80GB MIG 3g.40gb", 40 * GiB, capability=(8, 0))
        for m in range(2)
    ]
    return FakeDevice(f"GPU-{index:08x}-fake", "NVIDIA A100-SXM4-80GB", 80 * GiB, capability=(8, 0), migs=migs)
