"""The GPU a pre-flight is judged against: a known name (the table's, or NVML's for the same board), a ``sm_89:24GiB``
spec, or ``auto`` (asked of NVML).

Compute capabilities are NVIDIA's published ones (developer.nvidia.com/cuda-gpus). Memory is the total NVML reports
for that board (``nvidia-smi --query-gpu=memory.total``), which is a little less than the spec sheet's figure: vLLM
budgets ``total x gpu-memory-utilization`` of exactly that number. Values are from public nvidia-smi outputs and are
approximate to within a few hundred MiB; pass a spec (``sm_90:80GiB``) or ``auto`` when precision matters.

vLLM does not budget NVML's total: its worker takes ``torch.cuda.mem_get_info()`` (``MemorySnapshot.total_memory``,
vllm/utils/mem_utils.py) and requests ``ceil(total x gpu-memory-utilization)`` (vllm/v1/worker/utils.py
``request_memory``). CUDA's total leaves out what the driver reserves for itself, which ``nvidia-smi -q`` shows as
"FB Memory Usage / Reserved" and NVML's v2 memory info as ``reserved``: on an 80 GB H100 NVML says 81559 MiB
(79.65 GiB) and vLLM logs total_gpu_memory 79.22 GiB, 438 MiB less. ``cuda_total_bytes`` is that budget's base.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from harness.engine.nvml import open_nvml

MIB = 1 << 20
GIB = 1 << 30

Source = Literal["table", "spec", "nvml", "lease"]

# The driver's reserve per GPU generation (compute capability major), in MiB: the LEAST "FB Memory Usage / Reserved"
# seen in public ``nvidia-smi -q`` outputs of that generation (it moves with the driver: H100 80GB HBM3 shows 328,
# 336, 450, 454, 516, 551 MiB). The least, because a WEIGHTS_TOO_LARGE from it is an ERROR (certain refusal): with a
# larger real reserve vLLM's budget is smaller still, so the prediction can miss a borderline case, never invent one.
# Cross-check: vLLM's own log, total_gpu_memory 79.22 GiB on an H100 whose NVML total is 79.65 GiB (438 MiB), and
# 79.11-79.33 GiB on 80 GB boards in vLLM users' logs (github.com/vllm-project/vllm issues, blog posts).
#   7 (Volta/Turing): T4 15360 MiB total, 393 reserved. 8 (Ampere/Ada): A100 80GB 557, 763, 834; L4 556; L40S 450,
#   471, 665, 685; RTX 4090 354. 9 (Hopper): H100 328-551; H200 700. Newer generations: no public figure found, so
#   the least of all (328).
_DRIVER_RESERVE_MIB = {7: 393, 8: 354, 9: 328}
_DRIVER_RESERVE_FALLBACK_MIB = 328


def driver_reserve_bytes(capability: int) -> int:
    """The least the driver keeps of a GPU of ``capability`` (major * 10 + minor) out of CUDA's total."""
    return _DRIVER_RESERVE_MIB.get(capability // 10, _DRIVER_RESERVE_FALLBACK_MIB) * MIB


@dataclass(frozen=True)
class GpuSpec:
    name: str
    capability: int  # vLLM's DeviceCapability.to_int(): major * 10 + minor (8.9 -> 89)
    memory_bytes: int  # total memory as NVML reports it
    source: Source  # where the figures came from
    count: int = 1  # GPUs of this kind available (auto: the machine's; otherwise assumed enough for the flags)
    reserved_bytes: int | None = None  # the driver's reserve as NVML read it (v2 memory info); None: the table's

    @property
    def reserve_bytes(self) -> int:
        """What the driver keeps out of CUDA's total: NVML's reading, else the generation's least public figure."""
        return self.reserved_bytes if self.reserved_bytes is not None else driver_reserve_bytes(self.capability)

    @property
    def cuda_total_bytes(self) -> int:
        """The total vLLM budgets: ``torch.cuda.mem_get_info()``'s, NVML's total less the driver's reserve."""
        return max(self.memory_bytes - self.reserve_bytes, 0)

    def budget_bytes(self, utilization: float) -> int:
        """vLLM's request on this GPU: ceil(CUDA total x gpu-memory-utilization), vllm/v1/worker/utils.py."""
        return math.ceil(self.cuda_total_bytes * utilization)

    @property
    def sm(self) -> str:
        return f"sm_{self.capability}"

    @property
    def capability_str(self) -> str:
        return f"{self.capability // 10}.{self.capability % 10}"

    @property
    def memory_gib(self) -> float:
        return self.memory_bytes / GIB

    @property
    def label(self) -> str:
        return f"{self.name} (compute capability {self.capability_str}, {self.memory_gib:.1f} GiB)"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "capability": self.capability_str,
            "memory_bytes": self.memory_bytes,
            "source": self.source,
            "count": self.count,
            "reserve_bytes": self.reserve_bytes,
            "cuda_total_bytes": self.cuda_total_bytes,
        }


def _mib(name: str, capability: int, mib: int) -> GpuSpec:
    return GpuSpec(name, capability, mib * MIB, "table")


KNOWN_GPUS: dict[str, GpuSpec] = {
    g.name: g
    for g in (
        _mib("T4", 75, 15360),
        _mib("V100", 70, 16160),  # V100-SXM2-16GB
        _mib("V100-32GB", 70, 32768),
        _mib("RTX 2080 Ti", 75, 11264),
        _mib("A10G", 86, 23028),
        _mib("A10", 86, 23028),
        _mib("A30", 80, 24576),
        _mib("L4", 89, 23034),
        _mib("L40S", 89, 46068),
        _mib("RTX A6000", 86, 49140),
        _mib("RTX 3090", 86, 24576),
        _mib("RTX 4090", 89, 24564),
        _mib("RTX 6000 Ada", 89, 49140),
        _mib("A100-40GB", 80, 40960),
        _mib("A100-80GB", 80, 81920),
        _mib("H100", 90, 81559),  # H100 80GB HBM3 (SXM)
        _mib("H100-NVL", 90, 95830),
        _mib("GH200", 90, 97871),
        _mib("H200", 90, 143771),
        _mib("B200", 100, 183359),
        _mib("RTX 5090", 120, 32607),
        _mib("RTX PRO 6000", 120, 97887),
    )
}

_SPEC = re.compile(r"^sm_?(\d{2,3}):(\d+(?:\.\d+)?)\s*(GiB|GB|MiB|MB)$", re.IGNORECASE)
_UNITS = {"gib": GIB, "gb": 10**9, "mib": MIB, "mb": 10**6}


class GpuSpecError(ValueError):
    """A --gpu value that names no known GPU and is no spec; the message says the rule and the fix."""


def _key(name: str) -> str:
    return re.sub(r"[\s_-]", "", name).lower()


# What NVML (and so nvidia-smi) prints around a board's table name: a vendor or brand word, the form factor, the
# memory technology. "NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3", "Tesla T4", "NVIDIA RTX 6000 Ada Generation".
_NVML_NOISE = frozenset(
    {"nvidia", "tesla", "geforce", "quadro", "sxm", "sxm2", "sxm3", "sxm4", "sxm5", "pcie", "generation"}
    | {"hbm2", "hbm2e", "hbm3", "hbm3e"}
)
_MEMORY_WORD = re.compile(r"^\d+gb$")


def _nvml_match(name: str, by_key: dict[str, GpuSpec]) -> GpuSpec | None:
    """The table entry an NVML board name stands for: with its memory ("A100" + "40GB" is A100-40GB), else without
    it when the memory it states is the entry's (the H100 80GB HBM3 is the table's H100; an "H100 40GB" is no H100
    the table knows, and is not taken for one)."""
    words = [w for w in re.split(r"[\s_-]+", name.strip().lower()) if w and w not in _NVML_NOISE]
    memory = [int(w.removesuffix("gb")) for w in words if _MEMORY_WORD.match(w)]
    base = "".join(w for w in words if not _MEMORY_WORD.match(w))
    for size in memory:
        if f"{base}{size}gb" in by_key:
            return by_key[f"{base}{size}gb"]
    gpu = by_key.get(base)
    if gpu is None or any(abs(gpu.memory_bytes - size * GIB) > 0.1 * size * GIB for size in memory):
        return None
    return gpu


def parse_gpu(text: str) -> GpuSpec:
    """A known GPU name (case and separators ignored: ``a100-80gb``, ``RTX4090``), the name NVML reports for one
    (``NVIDIA H100 80GB HBM3``, ``Tesla T4``: what people paste from nvidia-smi), or ``sm_89:24GiB``."""
    value = text.strip()
    match = _SPEC.match(value)
    if match:
        capability = int(match.group(1))
        memory = int(float(match.group(2)) * _UNITS[match.group(3).lower()])
        if memory <= 0:
            raise GpuSpecError(f"--gpu {text}: memory must be positive, e.g. sm_89:24GiB")
        return GpuSpec(f"sm_{capability} {match.group(2)}{match.group(3)}", capability, memory, "spec")
    by_key = {_key(name): gpu for name, gpu in KNOWN_GPUS.items()}
    known = by_key.get(_key(value)) or _nvml_match(value, by_key)  # the table's own name, else nvidia-smi's
    if known is not None:
        return known
    raise GpuSpecError(
        f"--gpu {text}: not a known GPU and not a spec; expected one of {', '.join(KNOWN_GPUS)} (or the name "
        "nvidia-smi prints for one, e.g. 'NVIDIA A100-SXM4-40GB'), `auto` (ask NVML) or sm_<capability>:<memory> "
        "such as sm_89:24GiB"
    )


def detect_gpu(module: Any = None) -> GpuSpec | None:
    """GPU 0 of this machine as NVML sees it (with the number of GPUs), or None with no NVIDIA GPU."""
    with open_nvml(module) as nvml:
        if nvml is None:
            return None
        try:
            count = int(nvml.nvmlDeviceGetCount())
            if count < 1:
                return None
            handle = nvml.nvmlDeviceGetHandleByIndex(0)
            raw = nvml.nvmlDeviceGetName(handle)
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
            total = int(nvml.nvmlDeviceGetMemoryInfo(handle).total)
        except Exception:  # NVMLError on a half-broken driver: no GPU the harness can judge against
            return None
        reserved = nvml_reserved_bytes(nvml, handle)
    return GpuSpec(name, int(major) * 10 + int(minor), total, "nvml", count, reserved)


def nvml_reserved_bytes(nvml: Any, handle: Any) -> int | None:
    """The driver's reserve as NVML's v2 memory info reports it (drivers R510+); None where the driver or the
    bindings have no v2 (then the generation's table figure stands in)."""
    version = getattr(nvml, "nvmlMemory_v2", None)
    if version is None:
        return None
    try:
        reserved = getattr(nvml.nvmlDeviceGetMemoryInfo(handle, version=version), "reserved", None)
    except Exception:  # NVMLError_FunctionNotFound / NotSupported on older drivers
        return None
    return int(reserved) if isinstance(reserved, int) and reserved >= 0 else None


def resolve_gpu(text: str, module: Any = None) -> GpuSpec:
    """``--gpu``'s value: ``auto`` asks NVML (an error when there is none), anything else ``parse_gpu``."""
    if text.strip().lower() == "auto":
        gpu = detect_gpu(module)
        if gpu is None:
            raise GpuSpecError(
                "--gpu auto: NVML sees no NVIDIA GPU on this machine; name one (e.g. --gpu L4) or give a spec "
                "(--gpu sm_89:24GiB)"
            )
        return gpu
    return parse_gpu(text)


__all__ = [
    "KNOWN_GPUS",
    "GpuSpec",
    "GpuSpecError",
    "detect_gpu",
    "driver_reserve_bytes",
    "nvml_reserved_bytes",
    "parse_gpu",
    "resolve_gpu",
]
