"""lora: the server's LoRA adapters (``--enable-lora --lora-modules NAME=DIR``) are served as themselves.

vLLM serves each adapter as a model of its own name beside the base (vllm/entrypoints/openai/models/serving.py):
/v1/models lists it with ``parent`` set to the base model's served name, and a request whose ``model`` is the adapter
runs the base with the adapter's weights. The checks:

- ``base_listed`` / ``adapter_listed:NAME``: /v1/models lists the base, and each adapter with the base as its parent;
- ``base_answers`` / ``adapter_answers:NAME``: the base and each adapter answer the same question (chat where
  pre-flight found a chat template, else /v1/completions), greedy;
- ``adapter_applied:NAME``: where the adapter is built to answer otherwise than its base (a zoo adapter, whose exact
  answer is known), it gives that answer and the base does not; a server that loads the adapter but runs the base
  (or that answers every name with the base) fails here, with both answers as evidence;
- ``unknown_adapter_refused``: a name that is neither the base nor an adapter gets vLLM's refusal (HTTP 404 "The model
  `...` does not exist." in 0.32.0; 400 in versions that answered a bad LoRA request so), not an answer from the base.

The adapters are the cell's ``lora-modules`` flag; a live endpoint's (no flags) are those /v1/models lists under the
base. Pre-flight (harness.checkpoint.lora) has already refused the adapters vLLM would not load.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from harness.checkpoint import lora_modules
from harness.probes.base import (
    COMPLETION_PROMPT,
    QUESTION,
    SEED,
    ProbeContext,
    ProbeResult,
    Recorder,
    error_body,
    run_probe,
    short,
)
from harness.probes.concurrency import uses_chat

USE_CASE = "lora"
CODE = "LORA_SERVING"
MAX_TOKENS = 16
UNKNOWN_ADAPTER = "vllm-compat-no-such-adapter"
REFUSAL_STATUSES = (400, 404)
REFUSAL_TEXT = "does not exist"  # vLLM's message for a model name it does not serve


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


def configured_adapters(ctx: ProbeContext) -> list[str]:
    """The adapter names in the cell's ``lora-modules`` flag (vLLM's NAME=PATH or JSON forms), in order."""
    return [module.name for module in lora_modules(ctx.flags)[0]]


def _ask(ctx: ProbeContext, model: str, chat: bool) -> Any:
    common: dict[str, Any] = {
        "model": model,
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "seed": SEED,
        "timeout": ctx.timeout,
    }
    if chat:
        return ctx.client.chat.completions.create(messages=[{"role": "user", "content": QUESTION}], **common)
    return ctx.client.completions.create(prompt=COMPLETION_PROMPT, **common)


def _text(answer: Any, chat: bool) -> str:
    if not answer.choices:
        return ""
    choice = answer.choices[0]
    return str((choice.message.content if chat else choice.text) or "")


def _unknown(ctx: ProbeContext, chat: bool) -> Any:
    """The answer to a request for an adapter nobody loaded: vLLM's HTTP error (returned, not raised), or an answer."""
    import openai

    try:
        return _ask(ctx, UNKNOWN_ADAPTER, chat)
    except openai.APIStatusError as error:
        return error


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    models = rec.request("models_request", lambda: ctx.client.models.list(timeout=ctx.timeout))
    parents = {str(m.id): getattr(m, "parent", None) for m in models.data}
    rec.check(
        "base_listed",
        ctx.model in parents,
        f"/v1/models lists {sorted(parents)}" + ("" if ctx.model in parents else f", not the base {ctx.model!r}"),
        code=CODE,
    )
    adapters = configured_adapters(ctx) or [name for name, parent in parents.items() if parent == ctx.model]
    if not rec.check(
        "adapters_configured",
        bool(adapters),
        f"adapters asked for: {', '.join(adapters)}"
        if adapters
        else "no adapter to ask for: no lora-modules in the cell's flags and none listed under the base by "
        "/v1/models; fix: flags enable-lora: true, lora-modules: [NAME=DIR]",
        code="LORA_ADAPTER",
    ):
        return
    for name in adapters:
        parent = parents.get(name, "absent")
        rec.check(
            f"adapter_listed:{name}",
            parent == ctx.model,
            f"/v1/models lists {name!r} with parent {ctx.model!r}"
            if parent == ctx.model
            else f"/v1/models lists {name!r} with parent {parent!r}, expected {ctx.model!r}"
            if name in parents
            else f"/v1/models does not list the adapter {name!r} (it lists {sorted(parents)})",
            code=CODE,
        )
    chat = uses_chat(ctx)
    endpoint = "chat" if chat else "completions"
    base = _text(rec.request("base_request", lambda: _ask(ctx, ctx.model, chat)), chat)
    rec.check("base_answers", bool(base.strip()), f"the base answered {short(base, 80)!r} ({endpoint})")
    for name in adapters:
        asked: Callable[[], Any] = functools.partial(_ask, ctx, name, chat)
        answer = _text(rec.request(f"adapter_request:{name}", asked), chat)
        rec.check(f"adapter_answers:{name}", bool(answer.strip()), f"{name!r} answered {short(answer, 80)!r}")
        expected = ctx.lora_answers.get(name)
        if expected is None:
            continue  # an adapter of unknown behaviour may well answer this question as its base does
        applied = answer.strip() == expected.strip() and answer.strip() != base.strip()
        rec.check(
            f"adapter_applied:{name}",
            applied,
            f"{name!r} answered {short(answer, 80)!r} as built, the base {short(base, 80)!r}"
            if applied
            else f"{name!r} answered {short(answer, 80)!r}, built to answer {short(expected, 80)!r}; the base "
            f"answered {short(base, 80)!r}: the adapter's weights were not applied",
            code=CODE,
            evidence=f"adapter: {answer!r}; base: {base!r}",
        )
    refusal = rec.request("unknown_adapter_request", lambda: _unknown(ctx, chat))
    _refused(rec, refusal)


def _refused(rec: Recorder, refusal: Any) -> None:
    import openai

    if not isinstance(refusal, openai.APIStatusError):
        rec.check(
            "unknown_adapter_refused",
            False,
            f"a request for the unknown adapter {UNKNOWN_ADAPTER!r} was answered (HTTP 200): the server answers any "
            "model name, so a misspelt adapter silently gets another model",
            code=CODE,
        )
        return
    body = error_body(refusal)
    ok = refusal.status_code in REFUSAL_STATUSES and REFUSAL_TEXT in body
    rec.check(
        "unknown_adapter_refused",
        ok,
        f"HTTP {refusal.status_code}: {short(body, 160)}"
        + ("" if ok else f" (expected vLLM's 404/400 saying the model {REFUSAL_TEXT!r})"),
        code=CODE,
        evidence=body,
    )
