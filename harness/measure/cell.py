"""Latency of a working text cell, measured the way `vllm bench serve` defines it, beside the server's own view.

Runs after the cell's probe passed (a failing cell has no latency worth reporting), on the same server: a few
streamed requests one at a time with a fixed output length (ignore_eos, so every model produces the same number
of tokens), and the /metrics histograms scraped before and after so only these requests count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.measure.latency import measure_repeated, summarise
from harness.measure.prometheus import delta, scrape, summary

if TYPE_CHECKING:
    from harness.server import VllmServer

# Use cases whose latency means something: text generation through chat or completions.
CHAT_PROMPT: list[dict[str, str]] = [{"role": "user", "content": "Count from one to twenty in words."}]
COMPLETION_PROMPT = "One, two, three, four,"
OUTPUT_TOKENS = 32
LATENCY_USE_CASES = frozenset({"chat", "completions"})


def measure_latency(server: VllmServer, use_case: str, repeats: int, timeout: float) -> dict[str, Any]:
    """Client-side TTFT/TPOT/ITL/E2E percentiles and raw requests, plus the /metrics deltas of the same requests."""
    prompt: str | list[dict[str, str]] = CHAT_PROMPT if use_case == "chat" else COMPLETION_PROMPT
    before = scrape(server.base_url, server.api_key)
    timings = measure_repeated(
        server.client(timeout=timeout),
        server.served_model_name,
        [prompt],
        OUTPUT_TOKENS,
        repeats=repeats,
        ignore_eos=True,
    )
    after = scrape(server.base_url, server.api_key)
    return {
        "definitions": "vllm bench serve: TTFT send->first chunk with choices; TPOT=(E2E-TTFT)/(tokens-1); ITL gaps",
        "repeats": repeats,
        "output_tokens_per_request": OUTPUT_TOKENS,
        "client": summarise(timings),
        "server": dict(summary(delta(before, after))),
        "requests": [t.to_json() for t in timings],
    }
