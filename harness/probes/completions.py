"""completions: /v1/completions (the "generate" path of Ollama-style front ends), plain and streamed, must agree."""

from __future__ import annotations

import time
from typing import Any

from harness.probes.base import (
    COMPLETION_PROMPT,
    QUESTION_ANSWER,
    SEED,
    ProbeContext,
    ProbeResult,
    Recorder,
    check_usage,
    compare_stream,
    record_stream_timings,
    run_probe,
)
from harness.probes.streams import read_stream, usage_of

USE_CASE = "completions"
MAX_TOKENS = 32


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


def _create(ctx: ProbeContext, **extra: Any) -> Any:
    return ctx.client.completions.create(
        model=ctx.model,
        prompt=COMPLETION_PROMPT,
        max_tokens=MAX_TOKENS,
        temperature=0,
        seed=SEED,
        timeout=ctx.timeout,
        **extra,
    )


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    answer = rec.request("request", lambda: _create(ctx))
    if not rec.check("one_choice", bool(answer.choices), f"{len(answer.choices or [])} choices"):
        return
    choice = answer.choices[0]
    text = choice.text or ""
    usage = usage_of(answer.usage)
    rec.usage.update(usage or {})
    rec.check("text", bool(text), f"text={text[:80]!r}")
    check_usage(rec, "usage_consistent", usage)
    if ctx.expected_answer is not None:
        # Plain completion continues the prompt: the zoo's greedy answer comes first, maybe after whitespace.
        rec.check(
            "answer",
            text.strip().startswith(ctx.expected_answer),
            f"got {text[:80]!r}, expected it to start with {ctx.expected_answer!r}",
        )
    elif ctx.semantic:
        rec.check("answer", QUESTION_ANSWER in text.lower(), f"got {text[:80]!r}, expected it to mention Paris")

    def streamed() -> Any:
        sent = time.perf_counter()
        chunks = _create(ctx, stream=True, stream_options={"include_usage": True})
        return read_stream(iter(chunks), sent, chat=False)

    stream = rec.request("stream_request", streamed)
    record_stream_timings(rec, stream)
    compare_stream(rec, "", text, choice.finish_reason, usage, stream)
