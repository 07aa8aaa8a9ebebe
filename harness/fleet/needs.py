"""What one vLLM server needs from the node, derived from its flags and its weights, before anything boots.

GPUs: tensor-parallel-size x pipeline-parallel-size x data-parallel-size (vLLM places one worker per GPU for each).
Memory: vLLM claims ``CUDA's total x gpu-memory-utilization`` of every GPU it uses, whatever is free
(vllm/v1/worker/gpu_worker.py budgets the requested fraction of the total, and refuses to start when less than that is
free), so the claim is that fraction; the weights' floor per GPU is the weight bytes over tensor x pipeline parallel
(data parallel replicates them). A model that declares ``share_gpu: true`` takes its utilization as its fraction of
one GPU, beside other sharers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.engine import driver_reserve_bytes

# Only a FALLBACK, for when the engine of the run cannot be asked: the default is the installed engine's own
# (harness.engine.rules answers CacheConfig().gpu_memory_utilization, and the pool passes it in). This copy is
# vllm/config/cache.py's in 0.32.0; tests/test_fleet_needs.py reads that engine's source and fails when it moves.
FALLBACK_GPU_MEMORY_UTILIZATION = 0.92
FALLBACK_SOURCE = "fallback: the harness's copy of vLLM 0.32.0's default (the engine's own could not be read)"


@dataclass(frozen=True)
class ServerNeeds:
    """GPUs and memory one server takes; ``share_gpu`` servers take ``utilization`` of one GPU beside others."""

    tensor_parallel: int
    pipeline_parallel: int
    data_parallel: int
    utilization: float  # the fraction of each GPU's total vLLM claims
    share_gpu: bool = False
    weight_bytes: int | None = None  # what the safetensors headers promise, when known
    utilization_source: str = "flags"  # the flag, the engine's default (named), or the fallback (saying so)

    @property
    def gpus(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel * self.data_parallel

    @property
    def weight_floor_per_gpu(self) -> int | None:
        """The least memory each GPU needs for its shard of the weights (None: weights not known yet)."""
        if self.weight_bytes is None:
            return None
        return -(-self.weight_bytes // (self.tensor_parallel * self.pipeline_parallel))

    def claim_bytes(self, total_bytes: int, capability: int | None = None) -> int:
        """What vLLM will claim of a GPU (or MIG device) of NVML total ``total_bytes``: CUDA's total x
        gpu-memory-utilization (vllm/v1/worker/utils.py request_memory), CUDA's total being NVML's less the driver's
        reserve for a whole GPU of ``capability`` (harness.engine.gpu_specs: the generation's least public figure,
        so the claim is never under-estimated); a MIG device's reserve is not known, so its NVML total stands."""
        reserve = driver_reserve_bytes(capability) if capability is not None else 0
        return math.ceil(max(total_bytes - reserve, 0) * self.utilization)

    @property
    def size(self) -> tuple[int, float, int]:
        """Bigger first: more GPUs, then more of each GPU, then heavier weights."""
        return (self.gpus, self.utilization, self.weight_bytes or 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "gpus": self.gpus,
            "tensor_parallel": self.tensor_parallel,
            "pipeline_parallel": self.pipeline_parallel,
            "data_parallel": self.data_parallel,
            "utilization": self.utilization,
            "utilization_source": self.utilization_source,
            "share_gpu": self.share_gpu,
            "weight_bytes": self.weight_bytes,
            "weight_floor_per_gpu": self.weight_floor_per_gpu,
        }


def _whole(flags: Mapping[str, Any], name: str) -> int:
    value = flags.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        return 1
    return max(1, int(value))


def server_needs(
    flags: Mapping[str, Any],
    *,
    share_gpu: bool = False,
    weight_bytes: int | None = None,
    default_utilization: tuple[float, str] | None = None,
) -> ServerNeeds:
    """The needs of a server started with ``flags`` (the matrix's effective flags, names without dashes).

    ``default_utilization`` is the engine of the run's default and where it came from (harness.engine's rules
    answer it); without one, ``FALLBACK_GPU_MEMORY_UTILIZATION``, labelled as the fallback it is."""
    raw = flags.get("gpu-memory-utilization")
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        utilization, source = float(raw), "flags"
    elif default_utilization is not None:
        utilization, source = default_utilization
    else:
        utilization, source = FALLBACK_GPU_MEMORY_UTILIZATION, FALLBACK_SOURCE
    return ServerNeeds(
        tensor_parallel=_whole(flags, "tensor-parallel-size"),
        pipeline_parallel=_whole(flags, "pipeline-parallel-size"),
        data_parallel=_whole(flags, "data-parallel-size"),
        utilization=utilization,
        share_gpu=share_gpu,
        weight_bytes=weight_bytes,
        utilization_source=source,
    )


__all__ = ["FALLBACK_GPU_MEMORY_UTILIZATION", "FALLBACK_SOURCE", "ServerNeeds", "server_needs"]
