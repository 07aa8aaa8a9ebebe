"""What one vLLM server needs from the node, derived from its flags and its weights, before anything boots.

GPUs: tensor-parallel-size x pipeline-parallel-size x data-parallel-size (vLLM places one worker per GPU for each).
Memory: vLLM claims ``total x gpu-memory-utilization`` of every GPU it uses, whatever is free
(vllm/v1/worker/gpu_worker.py budgets the requested fraction of the total, and refuses to start when less than that is
free), so the claim is that fraction; the weights' floor per GPU is the weight bytes over tensor x pipeline parallel
(data parallel replicates them). A model that declares ``share_gpu: true`` takes its utilization as its fraction of
one GPU, beside other sharers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# CacheConfig.gpu_memory_utilization's default in the installed vLLM (vllm/config/cache.py: 0.92 in 0.32.0);
# tests/test_fleet_needs.py reads the engine's source and fails when vLLM moves it.
DEFAULT_GPU_MEMORY_UTILIZATION = 0.92


@dataclass(frozen=True)
class ServerNeeds:
    """GPUs and memory one server takes; ``share_gpu`` servers take ``utilization`` of one GPU beside others."""

    tensor_parallel: int
    pipeline_parallel: int
    data_parallel: int
    utilization: float  # the fraction of each GPU's total vLLM claims
    share_gpu: bool = False
    weight_bytes: int | None = None  # what the safetensors headers promise, when known

    @property
    def gpus(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel * self.data_parallel

    @property
    def weight_floor_per_gpu(self) -> int | None:
        """The least memory each GPU needs for its shard of the weights (None: weights not known yet)."""
        if self.weight_bytes is None:
            return None
        return -(-self.weight_bytes // (self.tensor_parallel * self.pipeline_parallel))

    def claim_bytes(self, total_bytes: int) -> int:
        """What vLLM will claim of a GPU (or MIG device) of ``total_bytes``: total x gpu-memory-utilization."""
        return int(total_bytes * self.utilization)

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
    default_utilization: float | None = None,
) -> ServerNeeds:
    """The needs of a server started with ``flags`` (the matrix's effective flags, names without dashes).

    ``default_utilization`` is the installed engine's default (harness.engine's rules answer it); without one,
    ``DEFAULT_GPU_MEMORY_UTILIZATION``."""
    raw = flags.get("gpu-memory-utilization")
    utilization = (
        float(raw)
        if isinstance(raw, int | float) and not isinstance(raw, bool)
        else default_utilization or DEFAULT_GPU_MEMORY_UTILIZATION
    )
    return ServerNeeds(
        tensor_parallel=_whole(flags, "tensor-parallel-size"),
        pipeline_parallel=_whole(flags, "pipeline-parallel-size"),
        data_parallel=_whole(flags, "data-parallel-size"),
        utilization=utilization,
        share_gpu=share_gpu,
        weight_bytes=weight_bytes,
    )


__all__ = ["DEFAULT_GPU_MEMORY_UTILIZATION", "ServerNeeds", "server_needs"]
