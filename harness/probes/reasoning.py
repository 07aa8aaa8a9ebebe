"""reasoning: a model served with ``--reasoning-parser`` answers with its thinking in the message's reasoning field and
the answer in ``content``, plain and streamed, and no think tag reaches the content.

vLLM 0.31.0 and 0.32.0 name the field ``reasoning`` (vllm/entrypoints/openai/chat_completion/protocol.py
ChatMessage and DeltaMessage; the deprecated ``reasoning_content`` of earlier versions is read when ``reasoning`` is
absent, and the record says which field answered). What breaks:

- no reasoning field at all: the server runs without ``--reasoning-parser`` (REASONING_MISSING, or REASONING_LEAK
  when the think tags sit in the content);
- reasoning but empty content: the parser never saw its end tag and took the whole answer as reasoning, or the answer
  was cut at max_tokens while thinking (REASONING_MISSING, with the finish_reason);
- a think-like tag in the content (``<think>``, ``</think>``, ``<reasoning>``...): the parser does not know the
  model's tags (REASONING_LEAK);
- the stream mixes them: reasoning text in content deltas, or the streamed parts differ from the plain answer.

A zoo model (expected_answer ``<think>R</think>C``) must split exactly into R and C; a real model's content must
answer the question (semantic).
"""

from __future__ import annotations

import time
from typing import Any

from harness.probes.base import (
    QUESTION,
    QUESTION_ANSWER,
    SEED,
    ProbeContext,
    ProbeResult,
    Recorder,
    run_probe,
    short,
)
from harness.probes.streams import usage_of

USE_CASE = "reasoning"
LEAK = "REASONING_LEAK"
MISSING = "REASONING_MISSING"
MAX_TOKENS = 512  # a real reasoning model thinks for hundreds of tokens before it answers
# The field names, newest first: vLLM >= 0.11 says "reasoning", earlier versions "reasoning_content".
FIELDS = ("reasoning", "reasoning_content")


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


def think_tags(text: str) -> list[str]:
    """The think-like tags in ``text`` (<think>, </think>, <seed:think>, <|channel>, <reasoning>...), in order."""
    from harness.checkpoint import THINK_TAG

    return THINK_TAG.findall(text)


def reasoning_of(message: Any) -> tuple[str | None, str | None]:
    """The message's (or delta's) reasoning text and the field that carried it; (None, None) when none did."""
    for name in FIELDS:
        value = getattr(message, name, None)
        if value is None:
            extra = getattr(message, "model_extra", None) or {}
            value = extra.get(name)
        if isinstance(value, str):
            return value, name
    return None, None


def expected_split(answer: str) -> tuple[str, str] | None:
    """A zoo answer ``<tag>R</tag>C`` as (R, C), stripped; None when it has no closing tag."""
    tags = think_tags(answer)
    if len(tags) < 2:
        return None
    start, end = tags[0], tags[-1]
    body = answer.split(end, 1)
    return body[0].replace(start, "", 1).strip(), body[1].strip()


def _fix(ctx: ProbeContext) -> str:
    parser = ctx.flags.get("reasoning-parser")
    if parser:
        return (
            f"--reasoning-parser {parser} does not read this model's tags; fix: the parser whose tags its chat "
            "template uses"
        )
    return "the server runs without --reasoning-parser; fix: add `reasoning-parser: <name>` to the cell's flags"


def _ask(ctx: ProbeContext, **extra: Any) -> Any:
    return ctx.client.chat.completions.create(
        model=ctx.model,
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=MAX_TOKENS,
        temperature=0,
        seed=SEED,
        timeout=ctx.timeout,
        **extra,
    )


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    answer = rec.request("request", lambda: _ask(ctx))
    if not rec.check("one_choice", bool(answer.choices), f"{len(answer.choices or [])} choices"):
        return
    choice = answer.choices[0]
    rec.usage.update(usage_of(answer.usage) or {})
    content = choice.message.content or ""
    reasoning, field = reasoning_of(choice.message)
    finish = choice.finish_reason
    leaked = think_tags(content)
    if not reasoning:
        code = LEAK if leaked else MISSING
        said = f"no {' / '.join(FIELDS)} in the message; content={short(content, 160)!r}"
        why = f": think tags {leaked} sit in the content; {_fix(ctx)}" if leaked else f"; {_fix(ctx)}"
        rec.check("reasoning_present", False, said + why, code=code, evidence=content)
        return
    rec.check("reasoning_present", True, f"{field}: {short(reasoning, 80)!r}")
    cut = f" (finish_reason {finish!r}: cut at max_tokens={MAX_TOKENS} while thinking)" if finish == "length" else ""
    rec.check(
        "content_present",
        bool(content.strip()),
        f"content {short(content, 80)!r}"
        if content.strip()
        else f"empty content after reasoning {short(reasoning, 120)!r}{cut}: the parser took the whole answer as "
        "reasoning (it never saw its end tag)",
        code=MISSING,
        evidence=reasoning,
    )
    rec.check(
        "no_tags_in_content",
        not leaked,
        "no think tag in the content" if not leaked else f"think tags {leaked} in the content {short(content, 120)!r}",
        code=LEAK,
        evidence=content,
    )
    if ctx.expected_answer is not None and (split := expected_split(ctx.expected_answer)) is not None:
        got = (reasoning.strip(), content.strip())
        rec.check(
            "split_exact",
            got == split,
            f"reasoning {got[0]!r}, content {got[1]!r}"
            + ("" if got == split else f"; the model's answer splits into {split[0]!r} and {split[1]!r}"),
            code=LEAK,
            evidence=f"reasoning={got[0]!r} content={got[1]!r}",
        )
    if ctx.semantic:
        rec.check(
            "answer",
            QUESTION_ANSWER in content.lower(),
            f"content {short(content, 120)!r}, expected it to name Paris",
        )
    _stream(ctx, rec, reasoning, content)


def _stream(ctx: ProbeContext, rec: Recorder, reasoning: str, content: str) -> None:
    def read() -> tuple[list[str], list[str], list[str], float]:
        sent = time.perf_counter()
        parts_reasoning: list[str] = []
        parts_content: list[str] = []
        finishes: list[str] = []
        for chunk in _ask(ctx, stream=True):
            for item in chunk.choices or ():
                piece, _ = reasoning_of(item.delta)
                if piece:
                    parts_reasoning.append(piece)
                if item.delta.content:
                    parts_content.append(item.delta.content)
                if item.finish_reason:
                    finishes.append(item.finish_reason)
        return parts_reasoning, parts_content, finishes, time.perf_counter() - sent

    parts_reasoning, parts_content, finishes, seconds = rec.request("stream_request", read)
    rec.timings["e2e_s"] = round(seconds, 4)
    streamed_reasoning, streamed_content = "".join(parts_reasoning), "".join(parts_content)
    leaked = think_tags(streamed_content)
    mixed = bool(reasoning.strip()) and reasoning.strip() in streamed_content
    rec.check(
        "stream_apart",
        not leaked and not mixed and bool(parts_reasoning),
        f"{len(parts_reasoning)} reasoning and {len(parts_content)} content deltas, kept apart"
        if not leaked and not mixed and parts_reasoning
        else f"streamed content {short(streamed_content, 120)!r} carries "
        + (f"think tags {leaked}" if leaked else "the reasoning" if mixed else "everything: no reasoning delta"),
        code=LEAK,
        evidence=streamed_content,
    )
    same = streamed_reasoning.strip() == reasoning.strip() and streamed_content.strip() == content.strip()
    rec.check(
        "stream_agrees",
        same and len(finishes) == 1,
        "streamed reasoning and content are the plain answer's"
        if same and len(finishes) == 1
        else f"streamed reasoning {short(streamed_reasoning, 60)!r} / content {short(streamed_content, 60)!r} vs "
        f"plain {short(reasoning, 60)!r} / {short(content, 60)!r}; finish_reasons {finishes}",
    )
