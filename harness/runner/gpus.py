"""Which GPUs a pytest-xdist worker's servers get: one worker, one slice of the GPUs, through CUDA_VISIBLE_DEVICES.

The way GPU users share a box between parallel jobs; the matrix's own `env: {CUDA_VISIBLE_DEVICES: ...}` wins.
"""

from __future__ import annotations

import re


def worker_index(worker_id: str | None) -> int | None:
    """xdist names workers gw0, gw1, ...; the controller (no xdist) has none."""
    match = re.fullmatch(r"gw(\d+)", worker_id or "")
    return int(match.group(1)) if match else None


def worker_gpus(worker_id: str | None, gpu_count: int, workers: int) -> str | None:
    """The CUDA_VISIBLE_DEVICES value for this worker: the GPUs split evenly over the workers (at least one each,
    wrapping around when there are more workers than GPUs); None without xdist or without GPUs."""
    index = worker_index(worker_id)
    if index is None or gpu_count <= 0 or workers <= 0:
        return None
    per_worker = max(1, gpu_count // workers)
    first = (index * per_worker) % gpu_count
    return ",".join(str((first + k) % gpu_count) for k in range(per_worker))
