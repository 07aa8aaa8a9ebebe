"""Client-side request latency with exactly the definitions of ``vllm bench serve`` (vLLM 0.32).

Read from vllm/benchmarks/lib/endpoint_request_func.py and vllm/benchmarks/serve.py (``calculate_metrics``):

- start: ``time.perf_counter()`` just before the request is sent.
- TTFT: start -> the first streamed chunk that has ``choices`` (its text may be empty: for chat, vLLM's first
  chunk carries only the assistant role). The trailing usage-only chunk and ``[DONE]`` never count.
- ITL: the gaps between consecutive chunks that have ``choices`` (one entry per chunk after the first).
- E2E (``latency``): start -> the last chunk that has ``choices`` (not the usage chunk, not ``[DONE]``).
- output tokens: ``usage.completion_tokens`` of the final chunk (``stream_options.include_usage``). When the server
  sends no usage, vllm bench re-tokenizes the text; the harness has no tokenizer and counts the chunks with
  non-empty text instead, and says so (``tokens_from_usage=False``).
- TPOT: (E2E - TTFT) / (output_tokens - 1), only for requests with more than one output token.
- Aggregates: mean, ``numpy.median`` and ``numpy.percentile`` (linear interpolation); ITLs are pooled over all
  requests; output throughput = all output tokens / (last end - first start).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.probes import read_stream

if TYPE_CHECKING:
    import openai


_clock = time.perf_counter  # as vllm bench serve; a module attribute so tests can drive it


@dataclass(frozen=True)
class RequestTiming:
    start: float  # perf_counter() when the request was sent
    ttft_s: float
    e2e_s: float
    itl_s: tuple[float, ...]
    output_tokens: int
    tokens_from_usage: bool  # False: counted as chunks with text (the server sent no usage)
    prompt_tokens: int | None
    text: str
    finish_reason: str | None

    @property
    def tpot_s(self) -> float | None:
        """(E2E - TTFT) / (output tokens - 1); None for a request with at most one output token."""
        if self.output_tokens <= 1:
            return None
        return (self.e2e_s - self.ttft_s) / (self.output_tokens - 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "ttft_s": self.ttft_s,
            "tpot_s": self.tpot_s,
            "e2e_s": self.e2e_s,
            "itl_s": list(self.itl_s),
            "output_tokens": self.output_tokens,
            "tokens_from_usage": self.tokens_from_usage,
            "prompt_tokens": self.prompt_tokens,
            "finish_reason": self.finish_reason,
        }


class NoTokenError(RuntimeError):
    """The stream ended without a single chunk carrying choices: vllm bench marks such a request failed."""


def measure_stream(
    client: openai.OpenAI,
    model: str,
    prompt: str | Sequence[Mapping[str, Any]],
    max_tokens: int,
    *,
    ignore_eos: bool = False,
    temperature: float | None = None,
    extra_body: Mapping[str, Any] | None = None,
) -> RequestTiming:
    """Stream one request (a str prompt: /v1/completions; a message list: /v1/chat/completions) and time it."""
    body: dict[str, Any] = dict(extra_body or {})
    if ignore_eos:
        body["ignore_eos"] = True
    options: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}, "extra_body": body}
    if temperature is not None:
        options["temperature"] = temperature
    start = _clock()
    if isinstance(prompt, str):
        stream: Iterable[Any] = client.completions.create(model=model, prompt=prompt, max_tokens=max_tokens, **options)
        chat = False
    else:
        stream = client.chat.completions.create(
            model=model,
            messages=list(prompt),  # type: ignore[arg-type]
            max_completion_tokens=max_tokens,
            **options,
        )
        chat = True
    return _time_stream(stream, start, chat=chat)


def _time_stream(stream: Iterable[Any], start: float, *, chat: bool) -> RequestTiming:
    # The one stream reader times every chunk; vllm bench's points are its first and last chunk with choices.
    # ``_clock`` is looked up at call time so tests can drive it.
    read = read_stream(stream, start, chat=chat, expect_usage=False, clock=lambda: _clock())
    if read.first_choice_at is None or read.last_choice_at is None:
        raise NoTokenError("the stream ended without a chunk carrying choices: no TTFT can be measured")
    usage = read.usage
    return RequestTiming(
        start=start,
        ttft_s=read.first_choice_at - start,
        e2e_s=read.last_choice_at - start,
        itl_s=tuple(read.choice_gaps),
        output_tokens=usage["completion_tokens"] if usage is not None else read.text_chunks,
        tokens_from_usage=usage is not None,
        prompt_tokens=usage["prompt_tokens"] if usage is not None else None,
        text=read.text,
        finish_reason=read.finish_reasons[-1] if read.finish_reasons else None,
    )


def measure_repeated(
    client: openai.OpenAI,
    model: str,
    prompts: Sequence[str | Sequence[Mapping[str, Any]]],
    max_tokens: int,
    *,
    repeats: int = 1,
    ignore_eos: bool = False,
    extra_body: Mapping[str, Any] | None = None,
) -> list[RequestTiming]:
    """Each prompt ``repeats`` times, one request at a time (like ``vllm bench serve --max-concurrency 1``)."""
    return [
        measure_stream(client, model, prompt, max_tokens, ignore_eos=ignore_eos, extra_body=extra_body)
        for _ in range(repeats)
        for prompt in prompts
    ]


def percentile(values: Sequence[float], q: float) -> float:
    """``numpy.percentile(values, q)`` with its default linear interpolation, without numpy."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _stats(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "mean": sum(values) / len(values),
        "n": float(len(values)),
    }


def summarise(timings: Sequence[RequestTiming]) -> dict[str, Any]:
    """p50/p90/p99/mean of TTFT, TPOT, pooled ITL and E2E (seconds), plus output tokens per second over the run."""
    if not timings:
        return {"requests": 0}
    span = max(t.start + t.e2e_s for t in timings) - min(t.start for t in timings)
    output_tokens = sum(t.output_tokens for t in timings)
    return {
        "requests": len(timings),
        "ttft_s": _stats([t.ttft_s for t in timings]),
        "tpot_s": _stats([t.tpot_s for t in timings if t.tpot_s is not None]),
        "itl_s": _stats([gap for t in timings for gap in t.itl_s]),
        "e2e_s": _stats([t.e2e_s for t in timings]),
        "output_tokens": output_tokens,
        "output_tokens_per_s": output_tokens / span if span > 0 else None,
        "tokens_from_usage": all(t.tokens_from_usage for t in timings),
    }
