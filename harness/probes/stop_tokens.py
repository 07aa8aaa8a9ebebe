"""stop_tokens: a short answer with room to spare must end on the end-of-turn token, with no marker left in the text.

The failure this catches is the classic one: the chat template ends a turn with a token (``<|im_end|>``) that is not
among the eos ids vLLM stops on, so the model talks past the end of its turn until max_tokens.
"""

from __future__ import annotations

from typing import Any

from harness.probes.base import SEED, ProbeContext, ProbeResult, Recorder, find_special_tokens, run_probe
from harness.probes.streams import usage_of

USE_CASE = "stop_tokens"
MAX_TOKENS = 256
PROMPT = "Say hello in one short sentence."


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


def _create(ctx: ProbeContext) -> Any:
    return ctx.client.chat.completions.create(
        model=ctx.model,
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=MAX_TOKENS,
        temperature=0,
        seed=SEED,
        timeout=ctx.timeout,
    )


def _why(ctx: ProbeContext) -> str:
    eos = "{" + ", ".join(str(i) for i in ctx.eos_token_ids) + "}" if ctx.eos_token_ids else "unknown"
    why = f"eos ids {eos}"
    if ctx.eos_mismatch_predicted:
        why += "; pre-flight predicted this (EOS_MISMATCH: the end-of-turn token is not among the eos ids)"
    return why


def _token(ctx: ProbeContext) -> str:
    return f"stop token {ctx.end_of_turn!r}" if ctx.end_of_turn else "the end-of-turn token (unknown)"


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    answer = rec.request("request", lambda: _create(ctx))
    if not rec.check("one_choice", bool(answer.choices), f"{len(answer.choices or [])} choices"):
        return
    choice = answer.choices[0]
    text = choice.message.content or ""
    usage = usage_of(answer.usage)
    rec.usage.update(usage or {})
    completion = usage["completion_tokens"] if usage else None
    finish = choice.finish_reason
    excerpt = text[-200:]
    rec.check(
        "finish_reason_stop",
        finish == "stop",
        f"finish_reason={finish!r}"
        if finish == "stop"
        else f"{_token(ctx)} not honoured: finish_reason={finish!r} after {completion} tokens; {_why(ctx)}",
        code="STOP_TOKEN",
        evidence=f"finish_reason={finish!r}, completion_tokens={completion}, text ends {excerpt!r}",
    )
    rec.check(
        "under_max_tokens",
        completion is not None and completion < MAX_TOKENS,
        f"completion_tokens={completion} (max_tokens={MAX_TOKENS})",
        code="STOP_TOKEN",
        evidence=f"completion_tokens={completion}, text ends {excerpt!r}",
    )
    leaked = find_special_tokens(text)
    rec.check(
        "no_literal_special_tokens",
        not leaked,
        "no special token text in the answer"
        if not leaked
        else f"special token text {leaked} in the answer: the end-of-turn token was generated as text, not stopped on; "
        f"{_why(ctx)}",
        code="STOP_TOKEN",
        evidence=f"text {excerpt!r}",
    )
