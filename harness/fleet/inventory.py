"""The node's schedulable GPU units: whole GPUs and MIG devices, read through NVML or described for simulation.

A unit is what one CUDA_VISIBLE_DEVICES entry names: a whole GPU, or, on a GPU in MIG mode, one MIG device (CUDA
enumerates only MIG devices there, and a process uses one of them at most, so a MIG device only ever serves a
one-GPU server). Units are named by UUID (``GPU-...``, ``MIG-...``): indices depend on CUDA_DEVICE_ORDER, UUIDs do not.

``VLLM_COMPAT_GPUS`` describes an inventory instead of reading one (``8xH100-80GB``, ``2xA100-40GB,1xL4``,
``1xA100-80GB:mig=3g.40gb*2``): every unit it yields is marked simulated, and so is everything it drives.
CUDA_VISIBLE_DEVICES (indices, GPU UUIDs or their unique prefixes, MIG UUIDs) narrows either kind, by CUDA's rule:
the list ends at its first entry that names no device.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.engine import KNOWN_GPUS, NO_GPU, GpuSpec, GpuSpecError, open_nvml, parse_gpu

GPUS_VAR = "VLLM_COMPAT_GPUS"
GIB = 1 << 30
MIG_COMPUTE_SLICES = 7  # A100 / H100 / H200 / B200: seven compute slices per GPU (NVIDIA's MIG user guide)
NVML_DEVICE_MIG_ENABLE = 1


class InventoryError(ValueError):
    """A fleet setting from the environment that cannot be read (``VLLM_COMPAT_GPUS``, the waits): the message
    names the variable, its value, the rule and the fix."""


@dataclass(frozen=True)
class GpuUnit:
    """One schedulable unit: a whole GPU (``mig_profile`` None) or a MIG device of the GPU ``index``."""

    index: int  # the physical GPU's NVML index
    uuid: str  # what CUDA_VISIBLE_DEVICES takes: GPU-... for a whole GPU, MIG-... for a MIG device
    name: str
    total_bytes: int
    free_bytes: int | None  # None: unknown (a described inventory's units are free by description)
    capability: int  # major * 10 + minor
    parent_uuid: str  # the physical GPU's UUID (itself for a whole GPU): boots on one physical GPU never overlap
    mig_profile: str | None = None  # "3g.40gb"
    mig_index: int | None = None
    simulated: bool = False

    @property
    def is_mig(self) -> bool:
        return self.mig_profile is not None

    @property
    def label(self) -> str:
        """``GPU 3`` or ``GPU 0 MIG 1 (3g.40gb)``: how messages name the unit."""
        if self.mig_profile is None:
            return f"GPU {self.index}"
        return f"GPU {self.index} MIG {self.mig_index} ({self.mig_profile})"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "uuid": self.uuid,
            "name": self.name,
            "memory_total_bytes": self.total_bytes,
            "memory_free_bytes": self.free_bytes,
            "compute_capability": f"{self.capability // 10}.{self.capability % 10}",
            "mig_profile": self.mig_profile,
            "mig_index": self.mig_index,
            "parent_uuid": self.parent_uuid,
            "simulated": self.simulated,
        }


@dataclass(frozen=True)
class Inventory:
    """The units this process may schedule, where they came from, and what narrowed them."""

    units: tuple[GpuUnit, ...]
    source: str  # "nvml", "described" or "none"
    driver: str | None = None
    described: str | None = None  # the VLLM_COMPAT_GPUS value
    cuda_visible_devices: str | None = None
    note: str = ""  # e.g. a CUDA_VISIBLE_DEVICES entry that named no device

    @property
    def simulated(self) -> bool:
        return self.source == "described"

    @property
    def physical_gpus(self) -> int:
        return len({unit.parent_uuid for unit in self.units})

    @property
    def summary(self) -> str:
        """One line: ``8 units on 8 GPUs (simulated: VLLM_COMPAT_GPUS=8xH100-80GB)`` or the honest n/a."""
        if self.source == "none":
            return NO_GPU
        text = f"{len(self.units)} unit(s) on {self.physical_gpus} GPU(s)"
        if self.simulated:
            text += f" (simulated: {GPUS_VAR}={self.described})"
        if self.cuda_visible_devices is not None:
            text += f", CUDA_VISIBLE_DEVICES={self.cuda_visible_devices}"
        return text + (f"; {self.note}" if self.note else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "simulated": self.simulated,
            "described": self.described,
            "driver": self.driver,
            "cuda_visible_devices": self.cuda_visible_devices,
            "units": [unit.to_json() for unit in self.units],
            "note": self.note,
        }


def read_inventory(env: Mapping[str, str] | None = None, nvml_module: Any = None) -> Inventory:
    """The described inventory when ``VLLM_COMPAT_GPUS`` is set, else NVML's; narrowed by CUDA_VISIBLE_DEVICES."""
    env = os.environ if env is None else env
    visible = env.get("CUDA_VISIBLE_DEVICES")
    described = env.get(GPUS_VAR, "").strip()
    if described:
        inventory = Inventory(describe_inventory(described), "described", described=described)
    else:
        inventory = _nvml_inventory(nvml_module)
    if visible is None or inventory.source == "none":
        return inventory
    units, note = narrow_to_visible(inventory.units, visible)
    return Inventory(units, inventory.source, inventory.driver, inventory.described, visible, note)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _nvml_inventory(module: Any) -> Inventory:
    with open_nvml(module) as nvml:
        if nvml is None:
            return Inventory((), "none")
        try:
            driver = _text(nvml.nvmlSystemGetDriverVersion())
            units: list[GpuUnit] = []
            for index in range(int(nvml.nvmlDeviceGetCount())):
                units += _nvml_units(nvml, index)
        except Exception:  # NVMLError from a half-broken driver: nothing the harness can schedule on
            return Inventory((), "none")
    return Inventory(tuple(units), "nvml", driver=driver)


def _nvml_units(nvml: Any, index: int) -> list[GpuUnit]:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    uuid = _text(nvml.nvmlDeviceGetUUID(handle))
    name = _text(nvml.nvmlDeviceGetName(handle))
    major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
    capability = int(major) * 10 + int(minor)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    try:
        current, _pending = nvml.nvmlDeviceGetMigMode(handle)
    except Exception:  # NVMLError_NotSupported: a GPU without MIG
        current = 0
    if current != NVML_DEVICE_MIG_ENABLE:
        return [GpuUnit(index, uuid, name, int(memory.total), int(memory.free), capability, uuid)]
    units = []
    for mig_index in range(int(nvml.nvmlDeviceGetMaxMigDeviceCount(handle))):
        try:
            mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, mig_index)
        except Exception:  # NVMLError_NotFound: no MIG device in this slot
            continue
        mig_name = _text(nvml.nvmlDeviceGetName(mig))
        mig_memory = nvml.nvmlDeviceGetMemoryInfo(mig)
        profile = mig_name.rsplit(" ", 1)[-1] if " MIG " in mig_name else None
        units.append(
            GpuUnit(
                index,
                _text(nvml.nvmlDeviceGetUUID(mig)),
                mig_name,
                int(mig_memory.total),
                int(mig_memory.free),
                capability,
                uuid,
                mig_profile=profile or f"mig{mig_index}",
                mig_index=mig_index,
            )
        )
    return units


_ITEM = re.compile(r"^(?:(\d+)\s*x\s*)?([^:]+?)(?::mig=(.+))?$", re.IGNORECASE)
_MIG = re.compile(r"^(\d)g\.(\d+)gb(?:\*(\d+))?$", re.IGNORECASE)
_MEMORY_SUFFIX = re.compile(r"[-_ ]?\d+\s*gb$", re.IGNORECASE)
_FIX = "fix: write e.g. 8xH100-80GB, 2xA100-40GB,1xL4 or 1xA100-80GB:mig=3g.40gb*2"


def describe_inventory(text: str) -> tuple[GpuUnit, ...]:
    """The units ``VLLM_COMPAT_GPUS`` describes, with made-up UUIDs (``GPU-sim-...``), free memory = total."""
    units: list[GpuUnit] = []
    for item in (part.strip() for part in text.split(",")):
        match = _ITEM.match(item)
        if not item or match is None:
            raise InventoryError(f"{GPUS_VAR}={text}: item {item!r} is not COUNTxGPU[:mig=PROFILE*N,...]; {_FIX}")
        count = int(match.group(1) or 1)
        if count < 1:
            raise InventoryError(f"{GPUS_VAR}={text}: item {item!r}: the count must be at least 1; {_FIX}")
        spec = _known_gpu(match.group(2).strip(), text)
        migs = _mig_profiles(match.group(3), spec.memory_bytes, item, text) if match.group(3) else []
        for _ in range(count):
            index = len({u.parent_uuid for u in units})
            parent = f"GPU-sim-{index:08d}"
            if not migs:
                units.append(
                    GpuUnit(index, parent, spec.name, spec.memory_bytes, spec.memory_bytes, spec.capability, parent)
                )
                continue
            for mig_index, (profile, memory) in enumerate(migs):
                units.append(
                    GpuUnit(
                        index,
                        f"MIG-sim-{index:08d}-{mig_index}",
                        f"{spec.name} MIG {profile}",
                        memory,
                        memory,
                        spec.capability,
                        parent,
                        mig_profile=profile,
                        mig_index=mig_index,
                    )
                )
    return tuple(GpuUnit(**{**vars(unit), "simulated": True}) for unit in units)


def _known_gpu(name: str, text: str) -> GpuSpec:
    """A GPU of the engine's known-GPU table; ``H100-80GB`` finds ``H100`` when its memory agrees (within 10 %)."""
    try:
        return parse_gpu(name)
    except GpuSpecError as error:
        problem = str(error).removeprefix("--gpu ").replace("`auto` (ask NVML) or ", "or ")
    suffix = _MEMORY_SUFFIX.search(name)
    if suffix is not None:
        with contextlib.suppress(GpuSpecError):
            gpu = parse_gpu(name[: suffix.start()])
            stated = int(re.sub(r"\D", "", suffix.group())) * GIB
            if abs(gpu.memory_bytes - stated) <= 0.1 * stated:
                return gpu
            problem = (
                f"{name}: {gpu.name} has {gpu.memory_gib:.0f} GiB, not {stated // GIB}; "
                f"fix: name a variant the table knows ({', '.join(KNOWN_GPUS)})"
            )
    raise InventoryError(f"{GPUS_VAR}={text}: {problem}")


def _mig_profiles(text: str, gpu_memory: int, item: str, whole: str) -> list[tuple[str, int]]:
    profiles: list[tuple[str, int]] = []
    slices = 0
    for part in (p.strip() for p in text.split("+")):
        match = _MIG.match(part)
        if match is None:
            raise InventoryError(
                f"{GPUS_VAR}={whole}: item {item!r}: MIG profile {part!r} is not <slices>g.<GB>gb[*count] "
                "(e.g. 3g.40gb*2, or 1g.10gb*7); join several with '+'"
            )
        compute, memory_gb, count = int(match.group(1)), int(match.group(2)), int(match.group(3) or 1)
        profile = f"{compute}g.{memory_gb}gb"
        slices += compute * count
        profiles += [(profile, memory_gb * GIB)] * count
    if slices > MIG_COMPUTE_SLICES or sum(memory for _, memory in profiles) > gpu_memory * 1.01:
        raise InventoryError(
            f"{GPUS_VAR}={whole}: item {item!r}: the MIG devices take {slices} compute slices and "
            f"{sum(m for _, m in profiles) / GIB:.0f} GiB, more than one GPU has ({MIG_COMPUTE_SLICES} slices, "
            f"{gpu_memory / GIB:.0f} GiB); fix: fewer or smaller MIG devices"
        )
    return profiles


def narrow_to_visible(units: tuple[GpuUnit, ...], visible: str) -> tuple[tuple[GpuUnit, ...], str]:
    """The units CUDA_VISIBLE_DEVICES leaves, in its order, and a note when an entry named no device.

    Like CUDA: an index or a (prefix of a) GPU UUID names a whole GPU -- on a GPU in MIG mode, its MIG devices --,
    a MIG UUID names one MIG device, and the list ends at its first entry that names nothing (``-1`` hides all)."""
    chosen: list[GpuUnit] = []
    for entry in (item.strip() for item in visible.split(",")):
        if not entry:
            continue
        found = _named(units, entry)
        if not found:
            if entry.lstrip("-").isdigit() and int(entry) < 0:
                return tuple(chosen), ""
            return tuple(chosen), f"CUDA_VISIBLE_DEVICES entry {entry!r} names no device: the list ends there"
        chosen += [unit for unit in found if unit not in chosen]
    return tuple(chosen), ""


def _named(units: tuple[GpuUnit, ...], entry: str) -> list[GpuUnit]:
    if entry.isdigit():
        return [unit for unit in units if unit.index == int(entry)]
    if entry.startswith("MIG-"):
        return [unit for unit in units if unit.uuid == entry]
    parents = {unit.parent_uuid for unit in units if unit.parent_uuid.startswith(entry)}
    if len(parents) != 1:  # CUDA takes a unique prefix only
        return []
    return [unit for unit in units if unit.parent_uuid in parents]


__all__ = [
    "GPUS_VAR",
    "GpuUnit",
    "Inventory",
    "InventoryError",
    "describe_inventory",
    "narrow_to_visible",
    "read_inventory",
]
