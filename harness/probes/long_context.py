"""long_context: the served max-model-len is the one asked for, a request that fills it exactly is answered, one token
past it gets vLLM's HTTP 400 (not a crash, not a 500, not a silent truncation), and, for a real model, a fact placed
at the start of a long prompt is recalled at its end.

Lengths are exact for any tokenizer: the prompts are token ids cut from the served tokenizer's own tokenization of
filler text (POST /tokenize), sent to /v1/completions (no chat template, so base models qualify). vLLM 0.32.0 refuses
a prompt longer than max_model_len with "This model's maximum context length is N tokens. However, your prompt
contains M input tokens..." (vllm/renderers/params.py) and clamps max_tokens to what is left otherwise
(entrypoints/serve/utils/api_utils.py get_max_tokens); older versions also refuse prompt + max_tokens past it, so the
request at the limit keeps prompt + max_tokens == max_model_len, which every version accepts.

The request at the limit costs a full prefill of max_model_len tokens: on a CPU keep max-model-len small for this
cell (the lead measured ~99 s for a 3,047-token prompt on SmolLM2-135M with 2 cores), or raise timeouts.probe.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from harness.probes.base import SEED, ProbeContext, ProbeResult, Recorder, error_body, run_probe, short
from harness.probes.multimodal import attempt
from harness.probes.server_api import tokenize
from harness.probes.streams import usage_of

USE_CASE = "long_context"
CODE = "CONTEXT_LIMIT"
LIMIT_MAX_TOKENS = 4  # the request at the limit: prompt = max_model_len - this
NEEDLE_TOKENS = 1000  # default length of the needle prompt; options: {needle_tokens: N}
NEEDLE_MAX_TOKENS = 8
SECRET = "7342"
NEEDLE = f"Remember this: the secret number is {SECRET}."
NEEDLE_QUESTION = "\n\nQuestion: What is the secret number given at the start?\nAnswer: The secret number is"
# Plain sentences with no number in them: they neither help nor mislead the recall.
FILLER = (
    " The grass is green and the sky is blue. The river runs past the old mill and on towards the sea."
    " Children walk to school along the lane, and the baker opens his shop early in the morning."
    " In the afternoon the market fills with people buying bread, apples and cheese."
)
_REFUSAL = re.compile(r"maximum context length is (\d+)")


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    limit = _served_limit(ctx, rec)
    if limit is None:
        return
    filler = _filler_tokens(ctx, rec, limit + 1)
    if not rec.check(
        "filler_long_enough",
        len(filler) > limit,
        f"{len(filler)} filler tokens for a prompt of {limit + 1}",
    ):
        return
    _at_limit(ctx, rec, filler, limit)
    _past_limit(ctx, rec, filler, limit)
    if ctx.semantic:
        _needle(ctx, rec, filler, limit)


def _served_limit(ctx: ProbeContext, rec: Recorder) -> int | None:
    """max_model_len as the engine enforces it (/tokenize), against the flag, /v1/models and the checkpoint's config."""
    served = tokenize(ctx, rec, "tokenize_request", prompt="Hello").max_model_len
    if not rec.check("served_max_model_len", served is not None, f"/tokenize max_model_len={served}"):
        return None
    assert served is not None
    models = rec.request("models_request", lambda: ctx.client.models.list())
    listed = next((getattr(m, "max_model_len", None) for m in models.data if m.id == ctx.model), None)
    flag = ctx.flags.get("max-model-len")
    config, rope = _config_context(ctx)
    expected, source = (flag, "the max-model-len flag") if flag is not None else (config, "config.json")
    wrong = []
    if listed is not None and listed != served:
        wrong.append(f"/v1/models says {listed}")
    # rope scaling lets vLLM derive a longer context than config.json's keys: compare only without it
    if expected is not None and expected != served and (flag is not None or not rope):
        wrong.append(f"{source} says {expected}")
    rec.check(
        "context_as_configured",
        not wrong,
        f"served max_model_len {served}; " + ("; ".join(wrong) if wrong else f"matches {source} ({expected})")
        if expected is not None or wrong
        else f"served max_model_len {served} (no flag, no config value to compare)",
        code=CODE,
    )
    return served


def _config_context(ctx: ProbeContext) -> tuple[int | None, bool]:
    """Pre-flight's context length (the smallest of vLLM's config keys) and whether config.json scales rope."""
    context = ctx.facts.context_length if ctx.facts is not None else None
    rope = False
    if ctx.model_dir is not None:
        try:
            config = json.loads((Path(ctx.model_dir) / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = {}
        text_config = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
        rope = any(isinstance(c.get("rope_scaling"), dict) for c in (config, text_config))
    return context, rope


def _filler_tokens(ctx: ProbeContext, rec: Recorder, needed: int) -> tuple[int, ...]:
    """At least ``needed`` token ids of filler, starting as the tokenizer starts a prompt (BOS where it adds one)."""
    repeats = max(1, needed // 30)  # FILLER is ~60 tokens in common tokenizers: start with twice what is needed
    tokens: tuple[int, ...] = ()
    for _ in range(4):
        tokens = tokenize(ctx, rec, "tokenize_filler", prompt=FILLER * repeats).tokens
        if len(tokens) > needed:
            break
        repeats *= 4
    return tokens


def _complete(ctx: ProbeContext, prompt: list[int], max_tokens: int) -> Any:
    return ctx.client.completions.create(
        model=ctx.model, prompt=prompt, max_tokens=max_tokens, temperature=0, seed=SEED, timeout=ctx.timeout
    )


def _at_limit(ctx: ProbeContext, rec: Recorder, filler: tuple[int, ...], limit: int) -> None:
    length = limit - LIMIT_MAX_TOKENS
    started = time.perf_counter()
    answer, error = attempt(rec, "at_limit_accepted", lambda: _complete(ctx, list(filler[:length]), LIMIT_MAX_TOKENS))
    rec.timings["at_limit_s"] = round(time.perf_counter() - started, 4)
    if error is not None:
        body = error_body(error)
        rec.check(
            "at_limit_accepted",
            False,
            f"a prompt of {length} tokens + max_tokens {LIMIT_MAX_TOKENS} = max_model_len {limit} was refused: HTTP "
            f"{error.status_code}: {short(body)}",
            code=CODE if error.status_code == 400 else "HTTP_ERROR",
            evidence=body,
        )
        return
    usage = usage_of(answer.usage) or {}
    prompt_tokens, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    finish = answer.choices[0].finish_reason if answer.choices else None
    rec.check(
        "at_limit_accepted",
        prompt_tokens == length and completion is not None and 0 < completion <= LIMIT_MAX_TOKENS,
        f"prompt of {length} tokens + max_tokens {LIMIT_MAX_TOKENS} = max_model_len {limit}: answered with "
        f"prompt_tokens={prompt_tokens}, completion_tokens={completion}, finish_reason={finish!r}",
        code=CODE,
    )


def _past_limit(ctx: ProbeContext, rec: Recorder, filler: tuple[int, ...], limit: int) -> None:
    length = limit + 1
    answer, error = attempt(rec, "past_limit_refused", lambda: _complete(ctx, list(filler[:length]), 1))
    if error is None:
        usage = usage_of(answer.usage) or {}
        rec.check(
            "past_limit_refused",
            False,
            f"a prompt of {length} tokens (max_model_len {limit}) got HTTP 200 with prompt_tokens="
            f"{usage.get('prompt_tokens')}: the engine did not refuse it (truncated or overran its context)",
            code=CODE,
        )
        return
    body = error_body(error)
    match = _REFUSAL.search(body)
    named = int(match.group(1)) if match else None
    refused = error.status_code == 400 and named == limit
    rec.check(
        "past_limit_refused",
        refused,
        f"a prompt of {length} tokens: HTTP 400 naming the limit {limit}: {short(body, 160)}"
        if refused
        else f"a prompt of {length} tokens (max_model_len {limit}): expected HTTP 400 'maximum context length is "
        f"{limit} tokens', got HTTP {error.status_code}: {short(body)}",
        code=CODE if error.status_code < 500 else "HTTP_ERROR",
        evidence=body,
    )


def _needle(ctx: ProbeContext, rec: Recorder, filler: tuple[int, ...], limit: int) -> None:
    """A fact at the start, filler, then the question: the answer must carry the fact."""
    needle = tokenize(ctx, rec, "tokenize_needle", prompt=NEEDLE).tokens
    question = tokenize(ctx, rec, "tokenize_question", prompt=NEEDLE_QUESTION, add_special_tokens=False).tokens
    bos = _leading_special(needle, filler)
    wanted = min(int(ctx.options.get("needle_tokens", NEEDLE_TOKENS)), limit - NEEDLE_MAX_TOKENS)
    body = max(0, wanted - len(needle) - len(question))
    # the filler's own start-of-prompt token is already at the needle's front
    prompt = [*needle, *filler[bos : bos + body], *question]
    started = time.perf_counter()
    answer = rec.request("needle_request", lambda: _complete(ctx, prompt, NEEDLE_MAX_TOKENS))
    rec.timings["needle_s"] = round(time.perf_counter() - started, 4)
    text = (answer.choices[0].text or "") if answer.choices else ""
    rec.check(
        "needle_recalled",
        SECRET in text,
        f"{NEEDLE!r} then {len(prompt)} tokens in all, asked for the number: got {text!r}"
        + ("" if SECRET in text else f", expected {SECRET}"),
        code="NEEDLE_MISSED",
        evidence=text,
    )


def _leading_special(needle: tuple[int, ...], filler: tuple[int, ...]) -> int:
    """How many start-of-prompt tokens (BOS) the tokenizer puts first: the common prefix of two tokenized texts."""
    count = 0
    while count < min(len(needle), len(filler)) and needle[count] == filler[count]:
        count += 1
    return min(count, 1)
