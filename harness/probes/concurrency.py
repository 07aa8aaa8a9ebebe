"""concurrency: N simultaneous streams (``options: {concurrency: {streams: N}}``, default 8) all complete, well-formed
and independent, with no request error and no stall; the latency spread under that load goes into the timings
(``concurrent_ttft_{min,p50,max}_s``, ``concurrent_e2e_{min,p50,max}_s``, ``concurrent_wall_s``) beside the
single-request figures of the chat/completions cells.

Each stream asks the model to repeat a different word: a copy task every model that can chat or continue a pattern
does, whatever it knows (SmolLM2-135M-Instruct names its word in all twelve, chat and few-shot completions, measured
with transformers). Independence is checked two ways: every stream's usage counts exactly its own prompt's tokens (the
server's /tokenize; for a random-weights canary the prompts are padded to different lengths, so a stream that carried
another request's answer shows another count), and, for a real model, every answer names its own word. Chat where
pre-flight found a chat template or for a live endpoint (no pre-flight), /v1/completions otherwise, so a base model
qualifies.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from harness.probes.base import SEED, ProbeContext, ProbeResult, Recorder, error_body, run_probe, short
from harness.probes.multimodal import fail_request
from harness.probes.server_api import tokenize
from harness.probes.streams import StreamRead, read_stream

USE_CASE = "concurrency"
CODE = "CONCURRENCY"
STREAMS = 8  # default; options: {streams: N}
MAX_TOKENS = 16
WORDS: tuple[str, ...] = (
    "apple",
    "river",
    "mountain",
    "violin",
    "elephant",
    "guitar",
    "window",
    "orange",
    "tiger",
    "pencil",
    "castle",
    "banana",
)
PAD = "Note. "  # repeated ``index`` times before a canary's prompt: each stream's prompt has its own length


@dataclass(frozen=True)
class Ask:
    """One stream's request: its index, the word a right answer repeats, and its padding (canaries only)."""

    index: int
    word: str
    padding: int = 0

    def chat_messages(self) -> list[dict[str, str]]:
        content = f"{PAD * self.padding}Repeat this word exactly, and nothing else: {self.word}"
        return [{"role": "user", "content": content}]

    def prompt(self) -> str:
        return f"{PAD * self.padding}Repeat each word.\nInput: dog\nOutput: dog\nInput: {self.word}\nOutput:"


@dataclass(frozen=True)
class Outcome:
    """What one stream gave: its read stream, or the exception that ended it."""

    ask: Ask
    read: StreamRead | None
    error: BaseException | None


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


def asks(count: int, *, padded: bool = False) -> list[Ask]:
    """``count`` requests, the words in turn (the same word again only after all twelve); ``padded``: each prompt
    ``index`` pads longer than the first."""
    return [Ask(i, WORDS[i % len(WORDS)], i if padded else 0) for i in range(count)]


def uses_chat(ctx: ProbeContext) -> bool:
    template = ctx.facts.chat_template if ctx.facts is not None else None
    return ctx.facts is None or (template is not None and template.source is not None)


def _stream(ctx: ProbeContext, ask: Ask, chat: bool, start: threading.Barrier) -> Outcome:
    common: dict[str, Any] = {
        "model": ctx.model,
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "seed": SEED,
        "timeout": ctx.timeout,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    try:
        start.wait(timeout=ctx.timeout)
        sent = time.perf_counter()
        if chat:
            chunks = ctx.client.chat.completions.create(messages=ask.chat_messages(), **common)  # type: ignore[arg-type]
        else:
            chunks = ctx.client.completions.create(prompt=ask.prompt(), **common)
        return Outcome(ask, read_stream(iter(chunks), sent, chat=chat), None)
    except Exception as error:  # judged by the caller: HTTP error, timeout, lost connection
        return Outcome(ask, None, error)


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    count = int(ctx.options.get("streams", STREAMS))
    chat = uses_chat(ctx)
    questions = asks(count, padded=not ctx.semantic)
    expected = _prompt_tokens(ctx, rec, questions, chat)
    start = threading.Barrier(count)
    began = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="concurrency")
    try:
        futures = [pool.submit(_stream, ctx, ask, chat, start) for ask in questions]
        # each stream has the probe timeout per read; all of them together get it once more as a margin
        done, _pending = wait(futures, timeout=2 * ctx.timeout + 5)
        outcomes = [f.result() for f in futures if f in done]
        wall = time.perf_counter() - began
    finally:
        # a stalled stream must not hold the probe: its thread ends at its own read timeout
        pool.shutdown(wait=False, cancel_futures=True)
    rec.timings["concurrent_wall_s"] = round(wall, 4)
    _judge(ctx, rec, count, outcomes, expected, chat)


def _prompt_tokens(ctx: ProbeContext, rec: Recorder, questions: Sequence[Ask], chat: bool) -> dict[Ask, int]:
    """Each distinct request's prompt length as the server counts it."""
    counts: dict[Ask, int] = {}
    for ask in questions:
        key = replace(ask, index=0)
        if key not in counts:
            if chat:
                counts[key] = tokenize(ctx, rec, "tokenize_request", messages=ask.chat_messages()).count
            else:
                counts[key] = tokenize(ctx, rec, "tokenize_request", prompt=ask.prompt()).count
    return {ask: counts[replace(ask, index=0)] for ask in questions}


def _judge(
    ctx: ProbeContext, rec: Recorder, count: int, outcomes: list[Outcome], expected: dict[Ask, int], chat: bool
) -> None:
    api = "chat" if chat else "completions"
    errors = [o for o in outcomes if o.error is not None]
    reads = [(o.ask, o.read) for o in outcomes if o.read is not None]
    lost = [
        o.error
        for o in errors
        if o.error is not None
        and _kinds(o.error) & {"APIConnectionError", "TransportError"}
        and not _timed_out(o.error)
    ]
    if lost and not reads:
        fail_request(rec, "streams", lost[0])  # nothing answered: ask the server whether the engine died
    failures = [f"stream {o.ask.index}: {_describe(o.error)}" for o in errors if o.error is not None]
    missing = count - len(outcomes)
    if missing:
        failures.append(f"{missing} stream(s) still open after {2 * ctx.timeout + 5:g} s")
    rec.check(
        "all_streams_answered",
        not failures,
        f"{len(reads)} of {count} simultaneous {api} streams answered"
        + (": " + "; ".join(failures[:4]) + (" ..." if len(failures) > 4 else "") if failures else ""),
        code="PROBE_TIMEOUT" if missing or any(_timed_out(o.error) for o in errors) else CODE,
        evidence="; ".join(failures),
    )
    if not reads:
        return
    _record_spread(rec, [read for _ask, read in reads])
    bad = [f"stream {ask.index}: {'; '.join(read.problems)}" for ask, read in reads if read.problems]
    rec.check(
        "streams_well_formed",
        not bad,
        "; ".join(bad[:4]) if bad else f"{len(reads)} streams: one id, one finish_reason, usage present each",
        code=CODE,
    )
    ids = [next(iter(read.ids)) for _ask, read in reads if len(read.ids) == 1]
    rec.check(
        "distinct_ids",
        len(set(ids)) == len(reads),
        f"{len(set(ids))} distinct response ids for {len(reads)} streams",
        code=CODE,
    )
    empty = [ask.index for ask, read in reads if not read.text.strip()]
    rec.check(
        "content_in_every_stream",
        not empty,
        f"streams {empty} ended without text" if empty else f"every stream carried text (max_tokens={MAX_TOKENS})",
        code=CODE,
    )
    crossed = [
        f"stream {ask.index} ({ask.word!r}): prompt_tokens={(read.usage or {}).get('prompt_tokens')}, its prompt "
        f"has {expected[ask]}"
        for ask, read in reads
        if (read.usage or {}).get("prompt_tokens") != expected[ask]
    ]
    lengths = len({expected[ask] for ask, _read in reads})
    rec.check(
        "usage_matches_own_prompt",
        not crossed,
        "; ".join(crossed[:4])
        if crossed
        else f"every stream's usage counts exactly its own prompt's tokens ({lengths} different prompt lengths)",
        code=CODE,
    )
    slow = [f"stream {ask.index}: {read.e2e_s:.1f} s" for ask, read in reads if read.e2e_s > ctx.timeout]
    rec.check(
        "no_stalls",
        not slow and not missing,
        f"streams over the probe timeout of {ctx.timeout:g} s: {', '.join(slow)}"
        if slow
        else f"every stream ended within the probe timeout of {ctx.timeout:g} s"
        if not missing
        else f"{missing} stream(s) never ended",
        code="PROBE_TIMEOUT",
    )
    if ctx.semantic:
        wrong = [
            f"stream {ask.index} ({ask.word!r}): {short(read.text, 40)!r}"
            for ask, read in reads
            if ask.word not in read.text.lower()
        ]
        rec.check(
            "own_answers",
            not wrong,
            ("expected each stream to repeat its own word; " + "; ".join(wrong[:4]))
            if wrong
            else f"each of {len(reads)} streams repeated its own word",
            code=CODE,
        )


def _record_spread(rec: Recorder, reads: Sequence[StreamRead]) -> None:
    """min / p50 / max of TTFT (vllm bench's point: the first chunk with choices) and of E2E, under load (timings are
    seconds by name: the stream count is in the checks' details, not here)."""
    ttfts = [r.first_choice_at - r.sent_at for r in reads if r.first_choice_at is not None]
    e2es = [r.e2e_s for r in reads]
    for name, values in (("ttft", ttfts), ("e2e", e2es)):
        if values:
            rec.timings[f"concurrent_{name}_min_s"] = round(min(values), 4)
            rec.timings[f"concurrent_{name}_p50_s"] = round(statistics.median(values), 4)
            rec.timings[f"concurrent_{name}_max_s"] = round(max(values), 4)


def _kinds(error: BaseException | None) -> set[str]:
    return {cls.__name__ for cls in type(error).__mro__} if error is not None else set()


def _timed_out(error: BaseException | None) -> bool:
    return bool(_kinds(error) & {"APITimeoutError", "TimeoutException", "BrokenBarrierError"})


def _describe(error: BaseException | None) -> str:
    status = getattr(error, "status_code", None)
    if status is not None:
        return f"HTTP {status}: {short(error_body(error), 120)}"
    return f"{type(error).__name__}: {short(str(error), 120)}"
