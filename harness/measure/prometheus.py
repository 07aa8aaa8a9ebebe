"""The engine's own view of latency: vLLM's Prometheus ``/metrics``, parsed with prometheus_client's text parser.

Names are those vLLM 0.32 exposes (vllm/v1/metrics/loggers.py, and seen on the CPU engine):
``vllm:time_to_first_token_seconds``, ``vllm:request_time_per_output_token_seconds`` (older releases:
``vllm:time_per_output_token_seconds``), ``vllm:inter_token_latency_seconds``, ``vllm:e2e_request_latency_seconds``
(histograms) and the ``vllm:prompt_tokens`` / ``vllm:generation_tokens`` / ``vllm:request_success`` counters.
Series are summed over their labels (one engine serves one model). ``delta(before, after)`` isolates the requests
made between two scrapes, so a probe's figures are its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

HISTOGRAMS: dict[str, tuple[str, ...]] = {
    # our key: names to try, newest first
    "ttft_s": ("vllm:time_to_first_token_seconds",),
    "tpot_s": ("vllm:request_time_per_output_token_seconds", "vllm:time_per_output_token_seconds"),
    "itl_s": ("vllm:inter_token_latency_seconds",),
    "e2e_s": ("vllm:e2e_request_latency_seconds",),
    "queue_s": ("vllm:request_queue_time_seconds",),
    "prefill_s": ("vllm:request_prefill_time_seconds",),
    "decode_s": ("vllm:request_decode_time_seconds",),
}
COUNTERS: dict[str, tuple[str, ...]] = {
    "prompt_tokens": ("vllm:prompt_tokens",),
    "generation_tokens": ("vllm:generation_tokens",),
    "requests_succeeded": ("vllm:request_success",),
    "preemptions": ("vllm:num_preemptions",),
}


@dataclass(frozen=True)
class Histogram:
    name: str  # the vLLM metric name it came from
    count: float
    sum: float
    buckets: tuple[tuple[float, float], ...]  # (upper bound, cumulative count), ascending, ending with +Inf

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """Estimated like PromQL's histogram_quantile: linear inside the bucket holding rank q*count."""
        if not self.count or not self.buckets:
            return None
        rank = q * self.count
        previous_bound, previous_count = 0.0, 0.0
        for bound, cumulative in self.buckets:
            if cumulative >= rank:
                if math.isinf(bound):
                    return previous_bound  # beyond the last finite bound: the best known lower limit
                inside = cumulative - previous_count
                if inside <= 0:
                    return bound
                return previous_bound + (bound - previous_bound) * (rank - previous_count) / inside
            previous_bound, previous_count = bound, cumulative
        return previous_bound

    @property
    def p50(self) -> float | None:
        return self.quantile(0.5)

    def minus(self, before: Histogram | None) -> Histogram:
        if before is None:
            return self
        old = dict(before.buckets)
        return Histogram(
            name=self.name,
            count=self.count - before.count,
            sum=self.sum - before.sum,
            buckets=tuple((bound, cumulative - old.get(bound, 0.0)) for bound, cumulative in self.buckets),
        )

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "count": self.count, "sum": self.sum, "mean": self.mean, "p50": self.p50}


@dataclass(frozen=True)
class ServerMetrics:
    histograms: dict[str, Histogram]  # keyed by HISTOGRAMS' keys; absent when the engine does not expose it
    counters: dict[str, float]  # keyed by COUNTERS' keys
    model_names: tuple[str, ...] = ()  # the model_name labels on the series: the names the engine serves

    def to_json(self) -> dict[str, Any]:
        return {
            "histograms": {key: hist.to_json() for key, hist in self.histograms.items()},
            "counters": dict(self.counters),
        }


def parse(text: str) -> ServerMetrics:
    """The histograms and counters we know, from Prometheus exposition text."""
    from prometheus_client.parser import text_string_to_metric_families

    histogram_parts: dict[str, dict[str, Any]] = {}
    counter_values: dict[str, float] = {}
    model_names: dict[str, None] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name: str = sample.name
            if "model_name" in sample.labels:
                model_names[sample.labels["model_name"]] = None
            value = float(sample.value)
            if family.type == "histogram":
                part = histogram_parts.setdefault(family.name, {"count": 0.0, "sum": 0.0, "buckets": {}})
                if name.endswith("_bucket"):
                    bound = float(sample.labels["le"])
                    part["buckets"][bound] = part["buckets"].get(bound, 0.0) + value
                elif name.endswith("_count"):
                    part["count"] += value
                elif name.endswith("_sum"):
                    part["sum"] += value
            elif family.type == "counter" and name.endswith("_total"):
                # the parser names counter families without "_total"; vLLM's samples end in it
                counter_values[family.name] = counter_values.get(family.name, 0.0) + value
    histograms: dict[str, Histogram] = {}
    for key, names in HISTOGRAMS.items():
        for metric in names:
            if metric in histogram_parts:
                part = histogram_parts[metric]
                buckets = tuple(sorted(part["buckets"].items()))
                histograms[key] = Histogram(metric, part["count"], part["sum"], buckets)
                break
    counters: dict[str, float] = {}
    for key, names in COUNTERS.items():
        for metric in names:
            if metric in counter_values:
                counters[key] = counter_values[metric]
                break
    return ServerMetrics(histograms, counters, tuple(model_names))


def scrape(
    base_url: str, api_key: str | None = None, *, timeout_s: float = 10.0, http: httpx.Client | None = None
) -> ServerMetrics:
    """GET ``{base_url}/metrics`` (a trailing ``/v1`` is dropped) with the bearer key, and parse it."""
    root = base_url.rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    if http is None:
        response = httpx.get(f"{root}/metrics", headers=headers, timeout=timeout_s)
    else:
        response = http.get(f"{root}/metrics", headers=headers, timeout=timeout_s)
    response.raise_for_status()
    return parse(response.text)


def delta(before: ServerMetrics, after: ServerMetrics) -> ServerMetrics:
    """What happened between two scrapes: counts, sums and buckets subtracted (a restart shows as negative)."""
    return ServerMetrics(
        histograms={key: hist.minus(before.histograms.get(key)) for key, hist in after.histograms.items()},
        counters={key: value - before.counters.get(key, 0.0) for key, value in after.counters.items()},
    )


def summary(metrics: ServerMetrics) -> Mapping[str, float | None]:
    """Flat figures for a report: mean and p50 of each histogram, and the counters."""
    flat: dict[str, float | None] = {}
    for key, hist in metrics.histograms.items():
        flat[f"{key}.mean"] = hist.mean
        flat[f"{key}.p50"] = hist.p50
        flat[f"{key}.count"] = hist.count
    flat.update(metrics.counters)
    return flat
