"""A cell's latency and memory as one labelled table: each figure once, with its unit and what it measures.

The figures come from three places that overlap: the cell record's ``latency`` (client percentiles of the timed
requests and vLLM's /metrics for the same requests), its ``timings`` (seconds by name, per probe) and the history
entry's ``figures`` (p50s, boot seconds and the server's peak memory, which is all history keeps when the record is
gone). A figure is taken from the most detailed place that has it and never shown a second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.history import Entry
from harness.results import CellRecord


@dataclass(frozen=True)
class Figure:
    label: str  # what it is, with where it was measured: "TTFT (client)"
    value: str  # with its unit: "p50 34.7 ms · p90 74.8 ms · p99 83.8 ms (3 requests)"
    meaning: str  # one sentence: what the figure measures


# client-side percentiles of the timed requests, as `vllm bench serve` defines them (harness/measure/latency.py)
CLIENT: tuple[tuple[str, str, str], ...] = (
    ("ttft_s", "TTFT (client)", "time to first token: request sent to the first streamed chunk with text"),
    ("tpot_s", "TPOT (client)", "time per output token after the first: (E2E - TTFT) / (tokens - 1)"),
    ("itl_s", "ITL (client)", "inter-token latency: the gaps between streamed chunks, pooled over the requests"),
    ("e2e_s", "E2E (client)", "end to end: request sent to the last streamed chunk"),
)
# vLLM's own /metrics histograms over the same timed requests (harness/measure/prometheus.py)
ENGINE: tuple[tuple[str, str, str], ...] = (
    ("ttft_s.mean", "TTFT (engine)", "the same requests' time to first token as vLLM's /metrics records it, mean"),
    ("tpot_s.mean", "TPOT (engine)", "the same requests' time per output token from vLLM's /metrics, mean"),
    ("e2e_s.mean", "E2E (engine)", "the same requests' end-to-end time inside vLLM (/metrics), mean"),
    ("queue_s.mean", "queue (engine)", "time the same requests waited in vLLM's queue (/metrics), mean"),
)
# history's p50s: shown only when the record's percentiles are not there
P50S: tuple[tuple[str, str, str], ...] = (
    ("ttft_p50", "TTFT (client)", CLIENT[0][2]),
    ("tpot_p50", "TPOT (client)", CLIENT[1][2]),
    ("e2e_p50", "E2E (client)", CLIENT[3][2]),
)
# the cell's timings by name (seconds); a name not listed here is shown as recorded, "seconds the probe recorded"
TIMINGS: Mapping[str, tuple[str, str]] = {
    "boot_s": ("boot", "the server's launch to ready (answering /v1/models); one boot serves every cell of the server"),
    "dry_boot_s": ("dry boot", "the boot with dummy weights that ran before the real one"),
    "probe_s": ("probe", "this cell's probe: all its requests and checks"),
    "first_content_s": ("probe first content", "the probe's request to its first visible text or tool-call delta"),
    "e2e_s": ("probe request", "the probe's own request, sent to the last byte (one request, not the timed ones)"),
    "batch_s": ("probe batch", "the probe's batch request, sent to the last byte"),
    "cell_s": ("cell total", "the whole cell: pre-flight, its server's boot or the wait for it, the probe, timing"),
    "at_limit_s": ("at max-model-len", "long_context: the request that fills max-model-len exactly, sent to answered"),
    "needle_s": ("needle request", "long_context: the long prompt with a fact at its start, sent to answered"),
    "concurrent_wall_s": ("all streams", "concurrency: the simultaneous streams, sent to the last one done"),
    **{
        f"concurrent_{kind}_{stat}_s": (
            f"{label} under load ({stat})",
            f"concurrency: the {stat} over the simultaneous streams of {meaning}",
        )
        for kind, label, meaning in (
            ("ttft", "TTFT", "send to the first chunk"),
            ("e2e", "E2E", "send to the last chunk"),
        )
        for stat in ("min", "p50", "max")
    },
}
MEMORY: tuple[tuple[str, str, str], ...] = (
    ("peak_vram", "peak GPU memory (server)", "the server's processes on its GPUs (NVML), the peak while it ran"),
    ("peak_rss", "peak CPU memory (server)", "resident memory of the server's process tree (psutil), the peak"),
)


def seconds(value: float) -> str:
    """Below one second in ms (two significant digits below one ms), else in s."""
    if abs(value) >= 1:
        return f"{value:.2f} s"
    ms = value * 1000
    return f"{ms:.1f} ms" if abs(ms) >= 1 or ms == 0 else f"{ms:.2g} ms"


def _gib(value: float) -> str:
    return f"{value / 2**30:.2f} GiB" if value >= 2**30 else f"{value / 2**20:.1f} MiB"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _percentiles(stats: Mapping[str, Any], requests: Any) -> str:
    parts = [f"{p} {seconds(v)}" for p in ("p50", "p90", "p99") if (v := _number(stats.get(p))) is not None]
    n = _number(stats.get("n"))
    count = f" ({int(n)} {'samples' if n != requests else 'requests'})" if n is not None else ""
    return " · ".join(parts) + count


def _latency(latency: Mapping[str, Any]) -> list[Figure]:
    rows: list[Figure] = []
    if latency.get("error"):
        return [Figure("latency", "not measured", str(latency["error"]))]
    client = latency.get("client")
    if isinstance(client, Mapping):
        requests = client.get("requests")
        for key, label, meaning in CLIENT:
            stats = client.get(key)
            if isinstance(stats, Mapping) and "p50" in stats:
                rows.append(Figure(label, _percentiles(stats, requests), meaning))
        rate = _number(client.get("output_tokens_per_s"))
        if rate is not None:
            rows.append(Figure("output rate (client)", f"{rate:.0f} tokens/s", "output tokens per second over the run"))
    server = latency.get("server")
    if isinstance(server, Mapping):
        for key, label, meaning in ENGINE:
            value = _number(server.get(key))
            if value is not None:
                rows.append(Figure(label, seconds(value), meaning))
    return rows


def figures_of(entry: Entry, record: CellRecord | None) -> list[Figure]:
    """The cell's figures, each once: latency, then timings, then the server's peak memory."""
    rows = _latency(record.latency) if record is not None and isinstance(record.latency, Mapping) else []
    labels = {row.label for row in rows}
    rows += [
        Figure(label, f"p50 {seconds(value)}", meaning)
        for key, label, meaning in P50S
        if label not in labels and (value := _number(entry.figures.get(key))) is not None
    ]
    timings: dict[str, float] = {}
    if record is not None:
        timings = {k: v for k, raw in record.timings.items() if (v := _number(raw)) is not None}
    boot = _number(entry.figures.get("boot_s"))
    if "boot_s" not in timings and boot is not None:
        timings = {"boot_s": boot} | timings
    cache = record.server.compile_cache if record is not None and record.server is not None else None
    order = list(TIMINGS)
    for name, value in sorted(
        timings.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0])
    ):
        label, meaning = TIMINGS.get(name, (name.removesuffix("_s").replace("_", " "), "seconds the probe recorded"))
        note = f" ({cache} compile cache)" if name == "boot_s" and cache else ""
        rows.append(Figure(label, seconds(value) + note, meaning))
    rows += [
        Figure(label, _gib(value), meaning)
        for key, label, meaning in MEMORY
        if (value := _number(entry.figures.get(key))) is not None
    ]
    return rows


__all__ = ["Figure", "figures_of", "seconds"]
