"""vLLM's own endpoints beside the OpenAI API, at the server root: /tokenize (exact token counts with the served
tokenizer, and the served max_model_len) and /openapi.json (the request fields this version accepts).

They go through the probe's OpenAI client (absolute URLs), so they share its key, its transport and its error
handling: an HTTP error is a failed check, a lost connection EngineUnreachable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.probes.base import ProbeContext, Recorder
from harness.probes.identity import server_root


@dataclass(frozen=True)
class Tokenized:
    """POST /tokenize's answer (vLLM 0.32.0: entrypoints/serve/tokenize/protocol.py TokenizeResponse)."""

    count: int
    tokens: tuple[int, ...]
    max_model_len: int | None  # the engine's context length: what it refuses prompts beyond


def root_url(ctx: ProbeContext, path: str) -> str:
    return f"{server_root(str(ctx.client.base_url))}{path}"


def tokenize(
    ctx: ProbeContext,
    rec: Recorder,
    step: str,
    *,
    prompt: str | None = None,
    messages: Sequence[Mapping[str, Any]] | None = None,
    add_special_tokens: bool | None = None,
) -> Tokenized:
    """Tokenize a prompt (as /v1/completions would) or messages (as /v1/chat/completions would, template applied)."""
    body: dict[str, Any] = {"model": ctx.model}
    if messages is not None:
        body["messages"] = list(messages)
    else:
        body["prompt"] = prompt or ""
    if add_special_tokens is not None:
        body["add_special_tokens"] = add_special_tokens
    url = root_url(ctx, "/tokenize")
    answer = rec.request(
        step, lambda: ctx.client.post(url, body=body, cast_to=object, options={"timeout": ctx.timeout})
    )
    data = answer if isinstance(answer, dict) else {}
    tokens = tuple(int(t) for t in data.get("tokens") or ())
    limit = data.get("max_model_len")
    return Tokenized(int(data.get("count", len(tokens))), tokens, int(limit) if isinstance(limit, int) else None)


def chat_request_fields(ctx: ProbeContext) -> frozenset[str] | None:
    """The fields of /v1/chat/completions' request body in this server's /openapi.json; None when it does not say
    (no /openapi.json, or another layout): the caller then sends only what every version takes."""
    import openai

    try:
        spec = ctx.client.get(root_url(ctx, "/openapi.json"), cast_to=object, options={"timeout": ctx.timeout})
    except openai.APIStatusError:
        return None
    schemas = (spec.get("components") or {}).get("schemas") or {} if isinstance(spec, dict) else {}
    # FastAPI names a schema after its pydantic model; a model used both ways may get an "-Input" suffix
    names = sorted(name for name in schemas if str(name).startswith("ChatCompletionRequest")) if schemas else []
    request = schemas.get(names[0]) if names else None
    properties = request.get("properties") if isinstance(request, dict) else None
    return frozenset(properties) if isinstance(properties, dict) else None
