"""Boot phases read from a vLLM engine log: how long weights took, how big the KV cache is, how long init took.

A pure function over the log text. The wordings are vLLM 0.32's, from its sources, and each was seen in a real log
where the CPU engine prints it (tests/data/engine_logs/cpu-chat-ok-phases.log):

- "Loading weights took 0.01 seconds" (model_executor/model_loader/default_loader.py; CPU and GPU)
- "Model loading took 1.23 GiB memory and 4.567890 seconds" (v1/worker/gpu_model_runner.py; GPU only)
- "GPU KV cache size: 12,345 tokens, Maximum concurrency for 512 tokens per request: 24.11x"
  (v1/core/kv_cache_utils.py; "CPU KV cache size" on the CPU engine)
- "Available KV cache memory: 5.5 GiB" (v1/worker/gpu_worker.py) or, on the CPU,
  "Explicitly set (1.0/31.3) GiB for KV cache on node 0." / "Auto set (...) GiB for KV cache ..." (cpu_worker.py)
- "init engine (profile, create kv cache, warmup model) took 12.34 s (compilation: 5.67 s)" (v1/engine/core.py)
- "Graph capturing finished in 5 secs, took 0.50 GiB" (GPU: CUDA graphs)
- "Starting vLLM server on http://..." then uvicorn's "Application startup complete." (the API is up)

Whether vLLM's torch.compile cache was warm (vllm/compilation/decorators.py and backends.py, 0.32):

- warm: "Directly load AOT compilation from path ..." (decorators.py) or "Directly load the compiled graph(s) for
  compile range ... from the cache, took ... s" (backends.py);
- cold: "Compiling model again due to a load failure from ..., reason: ..." (a cache entry that could not be
  loaded: on this machine's CPU build every second boot says "'function' object has no attribute
  'finalize_loading'"), "saved AOT compiled function to ...", "Compiling a graph for compile range ... takes ... s",
  "Cache the graph of compile range ... for later use";
- disabled: "vLLM's torch.compile cache is disabled." (VLLM_DISABLE_COMPILE_CACHE);
- none of them (e.g. --enforce-eager): nothing compiled, None.
One cold line makes the boot cold: something was compiled. Boot-time trends compare warm with warm.

Total boot is measured from the log's own timestamps ("INFO 11-21 20:19:53", one-second resolution): first
timestamped line to the API-up line. Whoever started the process has a better clock; this is for logs alone.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

_NUMBER = r"([0-9][0-9,]*(?:\.[0-9]+)?)"

WEIGHTS_LOADED = re.compile(r"Loading weights took " + _NUMBER + r" seconds")
MODEL_LOADING = re.compile(r"Model loading took " + _NUMBER + r" GiB memory and " + _NUMBER + r" seconds")
KV_TOKENS = re.compile(r"(\w+(?: \+ host)?) KV cache size: " + _NUMBER + r" tokens")
MAX_CONCURRENCY = re.compile(r"Maximum concurrency for " + _NUMBER + r" tokens per request: " + _NUMBER + r"x")
KV_GIB_GPU = re.compile(r"Available KV cache memory: " + _NUMBER + r" GiB")
KV_GIB_CPU = re.compile(r"(?:Explicitly|Auto) set \(" + _NUMBER + r"/" + _NUMBER + r"\) GiB for KV cache")
INIT_ENGINE = re.compile(
    r"init engine \(profile, create kv cache, warmup model\) took " + _NUMBER + r" s"
    r"(?: \(compilation: " + _NUMBER + r" s)?"
)
GRAPH_CAPTURE = re.compile(r"Graph capturing finished in " + _NUMBER + r" secs?, took " + _NUMBER + r" GiB")
API_UP = re.compile(r"Starting vLLM (?:API )?server on|Application startup complete")
COMPILE_WARM = re.compile(
    r"Directly load AOT compilation from path .*|Directly load the compiled graph\(s\) for compile range .*"
)
COMPILE_COLD = re.compile(
    r"Compiling model again due to a load failure from .*|saved AOT compiled function to .*"
    r"|Compiling a graph for compile range .*|Cache the graph of compile range .*"
)
COMPILE_DISABLED = re.compile(r"vLLM's torch\.compile cache is disabled\.")
TIMESTAMP = re.compile(r"\b(?:INFO|WARNING|ERROR|DEBUG|CRITICAL) (\d\d-\d\d \d\d:\d\d:\d\d)\b")


@dataclass(frozen=True)
class BootPhases:
    """What the log said; None where it did not say it."""

    weights_load_s: float | None = None  # "Loading weights took" (the loader), else "Model loading took" seconds
    weights_gib: float | None = None  # "Model loading took N GiB" (GPU runner only)
    kv_cache_tokens: int | None = None
    kv_cache_device: str | None = None  # "GPU", "CPU", ... as printed before "KV cache size"
    kv_cache_gib: float | None = None
    max_concurrency: float | None = None  # requests of max_concurrency_len tokens the KV cache holds at once
    max_concurrency_len: int | None = None
    engine_init_s: float | None = None  # profile + KV cache + warm-up
    compilation_s: float | None = None
    graph_capture_s: float | None = None
    graph_capture_gib: float | None = None
    api_up: bool = False  # "Starting vLLM server on" / "Application startup complete" seen
    boot_s_from_log: float | None = None  # first timestamp -> API up, from the log's 1 s timestamps
    compile_cache: str | None = None  # "warm", "cold" or "disabled"; None when nothing was compiled
    compile_cache_evidence: str | None = None  # the line that decided it (a cold one when any)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _timestamp(line: str) -> datetime | None:
    found = TIMESTAMP.search(line)
    if found is None:
        return None
    # the log omits the year; 2000 is a leap year, so "02-29" parses too (boots spanning New Year are not handled)
    return datetime.strptime("2000-" + found.group(1), "%Y-%m-%d %H:%M:%S")


def parse_boot_log(text: str) -> BootPhases:
    """The boot phases a vLLM log reports; the first occurrence of each line wins (later ones are restarts/dups)."""
    found: dict[str, Any] = {}
    first_time: datetime | None = None
    for line in text.splitlines():
        if first_time is None:
            first_time = _timestamp(line)
        if "weights_load_s" not in found and (match := WEIGHTS_LOADED.search(line)):
            found["weights_load_s"] = _num(match.group(1))
        if "weights_gib" not in found and (match := MODEL_LOADING.search(line)):
            found["weights_gib"] = _num(match.group(1))
            found["_model_loading_s"] = _num(match.group(2))
        if "kv_cache_tokens" not in found and (match := KV_TOKENS.search(line)):
            found["kv_cache_device"] = match.group(1)
            found["kv_cache_tokens"] = int(_num(match.group(2)))
        if "max_concurrency" not in found and (match := MAX_CONCURRENCY.search(line)):
            found["max_concurrency_len"] = int(_num(match.group(1)))
            found["max_concurrency"] = _num(match.group(2))
        if "kv_cache_gib" not in found and (match := KV_GIB_GPU.search(line) or KV_GIB_CPU.search(line)):
            found["kv_cache_gib"] = _num(match.group(1))
        if "engine_init_s" not in found and (match := INIT_ENGINE.search(line)):
            found["engine_init_s"] = _num(match.group(1))
            if match.group(2) is not None:
                found["compilation_s"] = _num(match.group(2))
        if "graph_capture_s" not in found and (match := GRAPH_CAPTURE.search(line)):
            found["graph_capture_s"] = _num(match.group(1))
            found["graph_capture_gib"] = _num(match.group(2))
        if "api_up" not in found and API_UP.search(line):
            found["api_up"] = True
            up_time = _timestamp(line)
            if first_time is not None and up_time is not None:
                found["boot_s_from_log"] = (up_time - first_time).total_seconds()
        _compile_cache(line, found)
    model_loading_s = found.pop("_model_loading_s", None)
    if "weights_load_s" not in found and model_loading_s is not None:
        found["weights_load_s"] = model_loading_s
    return BootPhases(**found)


def _compile_cache(line: str, found: dict[str, Any]) -> None:
    """Disabled beats cold beats warm: the first line of the strongest kind is the evidence."""
    rank = {None: 0, "warm": 1, "cold": 2, "disabled": 3}
    for state, pattern in (("disabled", COMPILE_DISABLED), ("cold", COMPILE_COLD), ("warm", COMPILE_WARM)):
        match = pattern.search(line)
        if match is not None:
            if rank[state] > rank[found.get("compile_cache")]:
                found["compile_cache"] = state
                found["compile_cache_evidence"] = match.group(0).strip()[:300]
            return
