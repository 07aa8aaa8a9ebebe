"""Measurement, riding along the server and the probes: memory (NVML VRAM, or the server tree's RSS without an
NVIDIA GPU), request latency with ``vllm bench serve``'s definitions, and the engine's own /metrics.

Modules:
- ``vram``: ``ResourceSampler``, a background sampler of a server's memory, phase by phase, with LEAK detection.
- ``latency``: client-side TTFT / TPOT / ITL / E2E of streamed requests, and their percentiles.
- ``prometheus``: vLLM's /metrics histograms and counters, scraped and differenced.
- ``cell``: the latency of one working text cell: the client's figures beside the server's for the same requests.
- ``bench``: ``python -m harness.measure.bench``, the harness's own figures against ``vllm bench serve`` (not
  imported here: it is a program).
"""

from __future__ import annotations

from harness.measure.cell import LATENCY_USE_CASES, measure_latency
from harness.measure.latency import RequestTiming, measure_repeated, measure_stream, summarise
from harness.measure.prometheus import ServerMetrics, delta, scrape
from harness.measure.prometheus import parse as parse_metrics
from harness.measure.vram import NA_NO_GPU, ResourceReport, ResourceSampler, expected_weight_bytes, gpu_indices_from_env

__all__ = [
    "LATENCY_USE_CASES",
    "NA_NO_GPU",
    "RequestTiming",
    "ResourceReport",
    "ResourceSampler",
    "ServerMetrics",
    "delta",
    "expected_weight_bytes",
    "gpu_indices_from_env",
    "measure_latency",
    "measure_repeated",
    "measure_stream",
    "parse_metrics",
    "scrape",
    "summarise",
]
