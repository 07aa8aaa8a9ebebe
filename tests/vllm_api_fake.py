"""Fake vLLM servers (httpx.MockTransport handlers) for the structured_output, long_context, concurrency, reasoning,
rerank and lora probes.

``FakeVllm`` answers /v1/chat/completions and /v1/completions (plain and streamed, with usage), /tokenize,
/openapi.json and /v1/models the way vLLM 0.32.0 does, with a toy tokenizer (BOS, then one token per character) so
lengths are exact; ``FakeReasoner`` a thinking model behind --reasoning-parser; ``FakeReranker`` a cross-encoder's
/rerank and /score. Each has knobs that break each property a probe checks.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import openai

from harness.probes.base import ProbeContext, ProbeResult

BOS = 1
# the word a concurrency request asks to repeat: chat ("...nothing else: WORD") or few-shot ("Input: WORD\nOutput:")
_REPEAT = re.compile(r"(?:nothing else: |Input: )(\w+)(?:\nOutput:)?$")


def tokens_of(text: str, *, bos: bool = True) -> list[int]:
    return ([BOS] if bos else []) + [ord(c) + 2 for c in text]


def text_of(tokens: list[int]) -> str:
    return "".join(chr(t - 2) for t in tokens if t != BOS)


def template(messages: list[dict[str, Any]]) -> str:
    return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"


@dataclass
class FakeVllm:
    """Knobs (defaults: a healthy vLLM 0.32.0)."""

    max_model_len: int = 300
    listed_max_model_len: int | None = None  # /v1/models' value; None: the same as max_model_len
    enforce: bool = True  # structured outputs honoured; False: answers as if response_format were absent
    openapi_fields: tuple[str, ...] | None = ("messages", "response_format", "structured_outputs")
    accept_past_limit: bool = False  # answer a prompt past max_model_len (truncating it) instead of HTTP 400
    past_limit_status: int = 400
    refuse_at_limit: bool = False  # an old vLLM that counts the prompt + max_tokens strictly below the limit
    needle_recall: bool = True
    unfinished: bool = False  # structured answers cut at max_tokens (finish_reason length)
    same_ids: bool = False  # every response has the same id
    usage_off_by: int = 0  # streams report prompt_tokens off by this much (an answer to another request)
    failing_stream: str | None = None  # the country whose stream gets HTTP 500
    timeout_stream: str | None = None  # the country whose stream times out
    barrier: threading.Barrier | None = None  # streams wait here: only simultaneous requests get past it
    answer: Callable[[str], str] | None = None  # chat answer for a plain question
    refuse_response_format: str | None = None  # HTTP 400 with this message for any request with response_format
    # lora: served adapters, name -> the answer it gives (chat and completions); /v1/models lists them under the base
    adapters: dict[str, str] = field(default_factory=dict)
    adapter_parent: str | None = None  # the parent /v1/models gives them; None: the base, as vLLM does
    unlisted_adapters: bool = False  # /v1/models leaves the adapters out
    adapters_ignored: bool = False  # adapters answer as the base (loaded, never applied)
    unknown_model_status: int | None = 404  # vLLM's refusal of a model name it does not serve; None: answer it
    requests: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        payload = json.loads(request.content) if request.content else {}
        with self._lock:
            self.requests.append({"path": path, **payload})
        if path == "/openapi.json":
            if self.openapi_fields is None:
                return httpx.Response(404, json={"detail": "Not Found"})
            properties = {name: {} for name in self.openapi_fields}
            return httpx.Response(
                200, json={"components": {"schemas": {"ChatCompletionRequest": {"properties": properties}}}}
            )
        if path == "/tokenize":
            if "messages" in payload:
                tokens = tokens_of(template(payload["messages"]), bos=False)
            else:
                tokens = tokens_of(payload["prompt"], bos=payload.get("add_special_tokens", True))
            return httpx.Response(
                200, json={"count": len(tokens), "tokens": tokens, "max_model_len": self.max_model_len}
            )
        if path == "/v1/models":
            listed = self.listed_max_model_len or self.max_model_len
            model = {"id": "m-1", "object": "model", "created": 1, "owned_by": "vllm", "max_model_len": listed}
            loras = [
                {"id": name, "object": "model", "created": 1, "owned_by": "vllm", "root": f"/adapters/{name}",
                 "parent": self.adapter_parent or "m-1"}
                for name in ([] if self.unlisted_adapters else self.adapters)
            ]  # fmt: skip
            return httpx.Response(200, json={"object": "list", "data": [model, *loras]})
        asked = payload.get("model")
        if asked not in ("m-1", *self.adapters) and self.unknown_model_status is not None:
            message = f"The model `{asked}` does not exist. Valid aliases: m-1."
            return _error(self.unknown_model_status, message)
        if asked in self.adapters and not self.adapters_ignored:
            return self._answer(payload, self.adapters[asked], 5, chat=path != "/v1/completions", who="")
        if path == "/v1/completions":
            return self._completion(payload)
        return self._chat(payload)

    # -- completions: token ids or text --

    def _completion(self, payload: dict[str, Any]) -> httpx.Response:
        prompt = payload["prompt"]
        tokens = prompt if isinstance(prompt, list) else tokens_of(prompt)
        max_tokens = int(payload.get("max_tokens") or 16)
        if len(tokens) > self.max_model_len and not self.accept_past_limit:
            message = (
                f"This model's maximum context length is {self.max_model_len} tokens. However, your prompt contains "
                f"{len(tokens)} input tokens, which exceeds this limit even without any output tokens. Please reduce "
                "the length of the input prompt."
            )
            return _error(self.past_limit_status, message)
        if self.refuse_at_limit and len(tokens) + max_tokens >= self.max_model_len:
            return _error(400, f"This model's maximum context length is {self.max_model_len} tokens.")
        text = text_of(tokens)
        if "secret number is 7342" in text:
            answer = " 7342." if self.needle_recall else " 12."
        else:
            repeat = _REPEAT.search(text)
            answer = f" {repeat.group(1)}\n\nThe answer is" if repeat else " something."
        return self._answer(payload, answer[:max_tokens], min(len(tokens), self.max_model_len), chat=False, who=text)

    # -- chat: structured outputs and plain questions --

    def _chat(self, payload: dict[str, Any]) -> httpx.Response:
        if self.refuse_response_format and payload.get("response_format"):
            return _error(400, self.refuse_response_format)
        question = payload["messages"][-1]["content"]
        prompt_tokens = len(tokens_of(template(payload["messages"]), bos=False))
        answer = self._structured(payload) if self.enforce else None
        if answer is None:
            repeat = _REPEAT.search(question)
            if self.answer is not None:
                answer = self.answer(question)
            elif repeat is not None:
                answer = f'The word "{repeat.group(1)}" is repeated exactly.'
            else:
                answer = "Paris is the capital of France."
        return self._answer(payload, answer, prompt_tokens, chat=True, who=question)

    def _structured(self, payload: dict[str, Any]) -> str | None:
        response_format = payload.get("response_format") or {}
        guided = payload.get("structured_outputs") or {}
        if response_format.get("type") == "json_schema":
            answer = '{ "city" : "Lyon", "zq_code": "123" }'
        elif response_format.get("type") == "json_object":
            answer = '{"sentence": "Paris is lovely."}'
        elif "choice" in guided or "guided_choice" in payload:
            answer = (guided.get("choice") or payload.get("guided_choice"))[0]
        elif "regex" in guided or "guided_regex" in payload:
            answer = "123-AB"
        else:
            return None
        return answer[:10] if self.unfinished else answer

    # -- the answer, plain or streamed --

    def _answer(
        self, payload: dict[str, Any], text: str, prompt_tokens: int, *, chat: bool, who: str
    ) -> httpx.Response:
        if self.failing_stream and self.failing_stream in who:
            return _error(500, "Internal Server Error")
        if self.timeout_stream and self.timeout_stream in who:
            raise httpx.ReadTimeout("timed out")
        finish = (
            "length"
            if self.unfinished and (payload.get("response_format") or payload.get("structured_outputs"))
            else "stop"
        )
        completion = max(1, len(text) // 3)
        rid = "r-1" if self.same_ids else f"r-{next(self._ids)}"  # itertools.count: atomic under the GIL
        if payload.get("stream"):
            if self.barrier is not None:
                self.barrier.wait()
            usage = _usage(prompt_tokens + self.usage_off_by, completion)
            return _sse(rid, text, finish, usage, chat=chat)
        if chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
            }
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish}
        body = {
            "id": rid,
            "object": "chat.completion" if chat else "text_completion",
            "created": 1,
            "model": payload["model"],
            "choices": [choice],
            "usage": _usage(prompt_tokens, completion),
        }
        return httpx.Response(200, json=body)


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _error(status: int, message: str) -> httpx.Response:
    body = {"error": {"message": message, "type": "BadRequestError", "param": None, "code": status}}
    return httpx.Response(status, json=body)


def _sse(rid: str, text: str, finish: str, usage: dict[str, int], *, chat: bool) -> httpx.Response:
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)] or [""]
    kind = "chat.completion.chunk" if chat else "text_completion"
    chunks: list[dict[str, Any]] = []
    if chat:
        chunks.append({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
    for i, piece in enumerate(pieces):
        reason = finish if i == len(pieces) - 1 else None
        body = {"delta": {"content": piece}} if chat else {"text": piece}
        chunks.append({"choices": [{"index": 0, **body, "finish_reason": reason}]})
    chunks.append({"choices": [], "usage": usage})
    events = [json.dumps({"id": rid, "object": kind, "created": 1, "model": "m", **chunk}) for chunk in chunks]
    text_body = "".join(f"data: {event}\n\n" for event in events) + "data: [DONE]\n\n"
    return httpx.Response(200, text=text_body, headers={"content-type": "text/event-stream"})


def fake_context(api: Callable[[httpx.Request], httpx.Response], **overrides: Any) -> ProbeContext:
    """A ProbeContext whose client talks to ``api`` through httpx.MockTransport."""
    http_client = cast(Any, httpx.Client(transport=httpx.MockTransport(api)))
    client = openai.OpenAI(base_url="http://engine.test/v1", api_key="k", max_retries=0, http_client=http_client)
    options: dict[str, Any] = {
        "client": client,
        "model": "m-1",
        "semantic": False,
        "timeout": 5.0,
        "end_of_turn": None,
        "eos_token_ids": (),
        "eos_mismatch_predicted": False,
        "base_url": "http://engine.test",
    }
    return ProbeContext(**(options | overrides))


def failed(result: ProbeResult) -> list[str]:
    """The names of a result's failed checks, in order."""
    return [check.name for check in result.checks if not check.passed]


@dataclass
class FakeReasoner:
    """vLLM 0.32.0 serving a thinking model with --reasoning-parser: /v1/chat/completions answers with ``reasoning``
    beside ``content``, streamed as separate deltas. Knobs break what the reasoning probe checks."""

    reasoning: str | None = "The user wants a greeting."
    content: str = "Hello from the thinking zoo model."
    field_name: str = "reasoning"  # "reasoning_content": an older vLLM's name
    finish: str = "stop"
    stream_content_only: bool = False  # the stream sends everything as content (reasoning text included)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content) if request.content else {}
        self.requests.append({"path": request.url.path, **payload})
        if request.url.path != "/v1/chat/completions":
            return httpx.Response(404, json={"detail": "Not Found"})
        usage = _usage(20, 12)
        if payload.get("stream"):
            return self._stream(usage)
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.reasoning is not None:
            message[self.field_name] = self.reasoning
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "m-1",
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish}],
            "usage": usage,
        }
        return httpx.Response(200, json=body)

    def _stream(self, usage: dict[str, int]) -> httpx.Response:
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        if self.stream_content_only:
            deltas.append({"content": f"{self.reasoning or ''}{self.content}"})
        else:
            if self.reasoning is not None:
                deltas += [{self.field_name: self.reasoning[:5]}, {self.field_name: self.reasoning[5:]}]
            deltas += [{"content": self.content[:4]}, {"content": self.content[4:]}]
        chunks = [
            {"choices": [{"index": 0, "delta": d, "finish_reason": self.finish if i == len(deltas) - 1 else None}]}
            for i, d in enumerate(deltas)
        ]
        chunks.append({"choices": [], "usage": usage})
        events = [
            json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m-1", **c})
            for c in chunks
        ]
        text_body = "".join(f"data: {event}\n\n" for event in events) + "data: [DONE]\n\n"
        return httpx.Response(200, text=text_body, headers={"content-type": "text/event-stream"})


@dataclass
class FakeReranker:
    """vLLM 0.32.0's /rerank, /v1/rerank, /v2/rerank, /score and /v1/score for a cross-encoder whose scores are
    ``scores`` (by document index). Knobs break the protocol; ``generative`` answers FastAPI's 404 for every route."""

    scores: tuple[float, ...] = (0.1, 0.9, 0.3)
    generative: bool = False
    unsorted: bool = False
    drop_index: bool = False
    score_offset: float = 0.0  # /score disagrees with /rerank by this much
    top_n_skips_best: bool = False  # a top_n answer starts at the second best document
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content) if request.content else {}
        path = request.url.path
        self.requests.append({"path": path, **payload})
        routes = ("/rerank", "/v1/rerank", "/v2/rerank", "/score", "/v1/score")
        if self.generative or path not in routes:
            return httpx.Response(404, json={"detail": "Not Found"})
        documents = payload["documents"]
        if path.endswith("score"):
            data = [
                {"index": i, "object": "score", "score": self.scores[i] + self.score_offset}
                for i in range(len(documents))
            ]
            return httpx.Response(
                200, json={"id": "s", "object": "list", "model": "m-1", "data": data, "usage": _usage(30, 0)}
            )
        order = sorted(range(len(documents)), key=lambda i: -self.scores[i])
        if self.unsorted:
            order = list(reversed(order))
        top_n = payload.get("top_n") or len(documents)
        if payload.get("top_n") and self.top_n_skips_best:
            order = order[1:]
        results = [
            {"index": i, "document": {"text": documents[i]}, "relevance_score": self.scores[i]} for i in order[:top_n]
        ]
        if self.drop_index:
            del results[0]["index"]
        return httpx.Response(
            200,
            json={"id": "r", "model": "m-1", "usage": {"prompt_tokens": 30, "total_tokens": 30}, "results": results},
        )
