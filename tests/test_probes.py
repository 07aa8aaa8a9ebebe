"""Probe logic against a mocked OpenAI-compatible API (httpx.MockTransport): every check can fail for its reason."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import openai
import pytest

from harness.probes import PROBES, chat, completions, stop_tokens
from harness.probes.base import EngineUnreachable, ProbeContext, ProbeResult

NO_TEMPLATE = (
    "As of transformers v4.44, default chat template is no longer allowed, so you must provide a chat template "
    "if the tokenizer does not define one."
)


@dataclass
class FakeAPI:
    """Answers chat and completion requests the way vLLM does, with knobs to break each property."""

    text: str = "Paris."
    finish: str = "stop"
    usage: tuple[int, int, int] = (12, 3, 15)
    stream_text: str | None = None  # default: same as text
    stream_finish: list[str] | None = None
    stream_usage: tuple[int, int, int] | None = None
    stream_ids: list[str] | None = None
    stream_role: str = "assistant"
    status: int | None = None
    body: str = ""
    error: Exception | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.error is not None:
            raise self.error
        payload = json.loads(request.content)
        self.requests.append({"path": request.url.path, **payload})
        if self.status is not None:
            return httpx.Response(self.status, text=self.body, headers={"content-type": "application/json"})
        is_chat = request.url.path.endswith("/chat/completions")
        if payload.get("stream"):
            return httpx.Response(200, text=self._sse(is_chat), headers={"content-type": "text/event-stream"})
        p, c, t = self.usage
        if is_chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": self.text},
                "finish_reason": self.finish,
            }
        else:
            choice = {"index": 0, "text": self.text, "finish_reason": self.finish}
        return httpx.Response(
            200,
            json={
                "id": "cmpl-1",
                "object": "chat.completion" if is_chat else "text_completion",
                "created": 1,
                "model": payload["model"],
                "choices": [choice],
                "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": t},
            },
        )

    def _sse(self, is_chat: bool) -> str:
        text = self.text if self.stream_text is None else self.stream_text
        pieces = [text[i : i + 2] for i in range(0, len(text), 2)] or [""]
        finishes: list[str | None] = [None] * len(pieces)
        for i, reason in enumerate(self.stream_finish if self.stream_finish is not None else [self.finish]):
            finishes[len(pieces) - 1 - i] = reason
        ids = self.stream_ids or ["s-1"] * (len(pieces) + 2)
        kind = "chat.completion.chunk" if is_chat else "text_completion"
        chunks: list[dict[str, Any]] = []
        if is_chat:
            delta = {"role": self.stream_role, "content": ""}
            chunks.append({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        for piece, finish in zip(pieces, finishes, strict=True):
            body = {"delta": {"content": piece}} if is_chat else {"text": piece}
            chunks.append({"choices": [{"index": 0, **body, "finish_reason": finish}]})
        p, c, t = self.stream_usage or self.usage
        chunks.append({"choices": [], "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": t}})
        events = []
        for chunk_id, chunk in zip(ids, chunks, strict=False):
            events.append(json.dumps({"id": chunk_id, "object": kind, "created": 1, "model": "m", **chunk}))
        return "".join(f"data: {event}\n\n" for event in events) + "data: [DONE]\n\n"


def context(api: FakeAPI | httpx.MockTransport, **overrides: Any) -> ProbeContext:
    transport = api if isinstance(api, httpx.MockTransport) else httpx.MockTransport(api)
    # cast: openai may type its http_client as its own httpx flavour (httpx2); the public httpx.Client works.
    http_client = cast(Any, httpx.Client(transport=transport))
    client = openai.OpenAI(base_url="http://engine.test/v1", api_key="k", max_retries=0, http_client=http_client)
    options: dict[str, Any] = {
        "client": client,
        "model": "chat-ok-01234567",
        "semantic": False,
        "timeout": 5.0,
        "end_of_turn": "<|im_end|>",
        "eos_token_ids": (151643,),
        "eos_mismatch_predicted": False,
    }
    return ProbeContext(**(options | overrides))


def failed(result: ProbeResult) -> list[str]:
    return [check.name for check in result.checks if not check.passed]


def test_probes_registry() -> None:
    """PROBES maps use cases, and only use cases, to the probe of the module named after them."""
    import importlib

    from harness.usecases import ALL_USE_CASES

    assert {"chat", "completions", "stop_tokens"} <= set(PROBES) <= set(ALL_USE_CASES)
    for use_case, probe in PROBES.items():
        assert probe is importlib.import_module(f"harness.probes.{use_case}").probe


def test_empty_result_never_passes() -> None:
    """A result without checks is not a pass."""
    result = ProbeResult(use_case="chat", checks=(), code=None, message="", evidence="", usage={}, timings={})
    assert not result.passed


def test_chat_passes_when_everything_agrees() -> None:
    """A well-behaved chat server passes every check, with usage and timings recorded."""
    api = FakeAPI(text="Hello from the tiny zoo model.")
    result = chat.probe(context(api, expected_answer="Hello from the tiny zoo model."))
    assert result.passed, result.message
    assert result.code is None
    assert {"role_assistant", "usage_consistent", "answer", "stream_agrees", "stream_well_formed"} <= {
        c.name for c in result.checks
    }
    assert {"system_turn", "multi_turn"} <= {c.name for c in result.checks}
    assert result.usage == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    assert {"probe_s", "first_content_s", "e2e_s"} <= set(result.timings)
    assert all(r["temperature"] == 0 and r["seed"] is not None for r in api.requests)
    assert [r["messages"][0]["role"] for r in api.requests][2] == "system"
    assert [m["role"] for m in api.requests[3]["messages"]] == ["user", "assistant", "user"]
    assert api.requests[1]["stream_options"] == {"include_usage": True}


def test_chat_stream_disagreement_fails() -> None:
    """A streamed answer that differs from the plain one fails stream_agrees with PROBE_FAILED."""
    result = chat.probe(context(FakeAPI(stream_text="Lyon.")))
    assert failed(result) == ["stream_agrees"]
    assert result.code == "PROBE_FAILED"
    assert "Lyon" in result.message


def test_chat_bad_usage_fails() -> None:
    """Usage whose total is not prompt + completion fails usage_consistent."""
    result = chat.probe(context(FakeAPI(usage=(12, 3, 99))))
    assert "usage_consistent" in failed(result)


def test_chat_zero_completion_tokens_fails() -> None:
    """Zero completion tokens fail usage_consistent."""
    result = chat.probe(context(FakeAPI(usage=(12, 0, 12))))
    assert "usage_consistent" in failed(result)


def test_chat_malformed_stream_fails() -> None:
    """Chunks with different ids or two finish_reasons fail stream_well_formed."""
    result = chat.probe(context(FakeAPI(stream_finish=["stop", "stop"])))
    assert "stream_well_formed" in failed(result)
    result = chat.probe(context(FakeAPI(stream_ids=["a", "b", "b", "b", "b"])))
    assert "stream_well_formed" in failed(result)


def test_chat_stream_usage_disagreement_fails() -> None:
    """Stream usage that differs from the plain answer's usage fails stream_agrees."""
    result = chat.probe(context(FakeAPI(stream_usage=(12, 4, 16))))
    assert failed(result) == ["stream_agrees"]


def test_chat_wrong_role_fails() -> None:
    """A stream whose first delta is not the assistant role fails stream_role_assistant."""
    result = chat.probe(context(FakeAPI(stream_role="user")))
    assert "stream_role_assistant" in failed(result)


def test_chat_expected_answer_is_exact() -> None:
    """A zoo model's answer must equal the expected greedy answer exactly."""
    result = chat.probe(
        context(FakeAPI(text="Hello from the tiny zoo"), expected_answer="Hello from the tiny zoo model.")
    )
    assert failed(result) == ["answer"]


@dataclass
class ConversationalAPI(FakeAPI):
    """A real model's behaviour: answers from the conversation it is given (unless told to forget part of it)."""

    ignores_system: bool = False
    sees_last_turn_only: bool = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        messages = json.loads(request.content).get("messages") or []
        if self.ignores_system:
            messages = [m for m in messages if m["role"] != "system"]
        if self.sees_last_turn_only:
            messages = messages[-1:]
        seen = " ".join(m["content"] for m in messages)
        if "Your name is Zorblax" in seen:
            self.text = "I'm Zorblax."
        elif "secret word is banana" in seen:
            self.text = "The secret word is banana."
        else:
            self.text = "The capital is PARIS!" if "France" in seen else "I do not know."
        return super().__call__(request)


def test_chat_semantic_answer_is_lenient() -> None:
    """A real model passes when the answer mentions Paris in any form and fails otherwise."""
    assert chat.probe(context(ConversationalAPI(), semantic=True)).passed
    assert "answer" in failed(chat.probe(context(FakeAPI(text="London."), semantic=True)))


def test_chat_semantic_checks_catch_a_dropped_system_turn_and_dropped_earlier_turns() -> None:
    """A real model whose template loses the system prompt, or every turn before the last, fails by name."""
    assert failed(chat.probe(context(ConversationalAPI(ignores_system=True), semantic=True))) == ["system_obeyed"]
    lost = chat.probe(context(ConversationalAPI(sees_last_turn_only=True), semantic=True))
    assert failed(lost) == ["system_obeyed", "uses_earlier_turn"]
    assert "expected it to mention 'banana'" in lost.message


def test_chat_no_chat_template_http_400() -> None:
    """vLLM's 400 for a model without a chat template is a failed check coded NO_CHAT_TEMPLATE."""
    body = json.dumps({"error": {"message": NO_TEMPLATE, "type": "BadRequestError", "param": None, "code": 400}})
    result = chat.probe(context(FakeAPI(status=400, body=body)))
    assert not result.passed
    assert result.code == "NO_CHAT_TEMPLATE"
    assert failed(result) == ["request"]
    assert "HTTP 400" in result.message
    assert "default chat template is no longer allowed" in result.evidence


def test_unknown_http_error_is_http_error() -> None:
    """An HTTP error body with no known signature is coded HTTP_ERROR."""
    result = completions.probe(context(FakeAPI(status=500, body='{"error": {"message": "boom"}}')))
    assert result.code == "HTTP_ERROR"
    assert not result.passed


def test_connection_refused_raises_engine_unreachable() -> None:
    """A refused connection is EngineUnreachable, not a probe failure."""
    api = FakeAPI(error=httpx.ConnectError("Connection refused"))
    with pytest.raises(EngineUnreachable) as caught:
        chat.probe(context(api))
    assert caught.value.use_case == "chat"


def test_real_closed_port_raises_engine_unreachable() -> None:
    """A request to a port nobody listens on raises EngineUnreachable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
    ctx = context(FakeAPI())
    ctx = ProbeContext(**{**ctx.__dict__, "client": client})
    with pytest.raises(EngineUnreachable):
        stop_tokens.probe(ctx)


def test_timeout_is_a_failed_check() -> None:
    """A request that times out is a failed check with the PROBE_TIMEOUT code, not a pass and not an exception."""
    result = completions.probe(context(FakeAPI(error=httpx.ReadTimeout("slow"))))
    assert not result.passed
    assert result.code == "PROBE_TIMEOUT"
    assert failed(result) == ["request"]


def test_completions_pass_and_disagreement() -> None:
    """Completions pass when plain and streamed agree, and fail stream_agrees when they do not."""
    api = FakeAPI(text=" Paris, of course.")
    ok = completions.probe(context(api, semantic=True))
    assert ok.passed, ok.message
    assert api.requests[0]["path"] == "/v1/completions"
    assert "prompt" in api.requests[0]
    assert {"first_content_s", "e2e_s", "probe_s"} <= set(ok.timings)
    bad = completions.probe(context(FakeAPI(text=" Paris", stream_text=" Rome")))
    assert failed(bad) == ["stream_agrees"]


def test_completions_expected_answer_prefix() -> None:
    """A zoo model's completion starts with the expected greedy answer."""
    ctx_ok = context(FakeAPI(text=" Hello from the tiny zoo model."), expected_answer="Hello from the tiny zoo model.")
    assert completions.probe(ctx_ok).passed
    ctx_bad = context(FakeAPI(text=" Goodbye"), expected_answer="Hello from the tiny zoo model.")
    assert failed(completions.probe(ctx_bad)) == ["answer"]


def test_stop_tokens_pass() -> None:
    """A short answer that ends with finish_reason stop passes."""
    api = FakeAPI(text="Hello there.", usage=(20, 4, 24))
    result = stop_tokens.probe(context(api))
    assert result.passed, result.message
    assert api.requests[0]["max_tokens"] == stop_tokens.MAX_TOKENS


def test_stop_tokens_length_finish_is_stop_token() -> None:
    """Running to max_tokens is STOP_TOKEN, naming the end-of-turn token and the active eos ids."""
    api = FakeAPI(text="Hello." * 200, finish="length", usage=(20, 256, 276))
    result = stop_tokens.probe(context(api))
    assert result.code == "STOP_TOKEN"
    assert set(failed(result)) == {"finish_reason_stop", "under_max_tokens"}
    assert result.message.startswith(
        "finish_reason_stop: stop token '<|im_end|>' not honoured: finish_reason='length' after 256 tokens; "
        "eos ids {151643}"
    )
    assert "EOS_MISMATCH" not in result.message


def test_stop_tokens_cites_predicted_eos_mismatch() -> None:
    """When pre-flight predicted EOS_MISMATCH the stop-token failure says so."""
    api = FakeAPI(text="x", finish="length", usage=(20, 256, 276))
    result = stop_tokens.probe(context(api, eos_mismatch_predicted=True))
    assert result.code == "STOP_TOKEN"
    assert "pre-flight predicted this (EOS_MISMATCH" in result.message


def test_stop_tokens_literal_special_token_is_stop_token() -> None:
    """An end-of-turn marker in the answer text is STOP_TOKEN even when the finish reason is stop."""
    api = FakeAPI(text="Hello.<|im_end|>\n<|im_start|>user", usage=(20, 9, 29))
    result = stop_tokens.probe(context(api))
    assert failed(result) == ["no_literal_special_tokens"]
    assert result.code == "STOP_TOKEN"
    assert "'<|im_end|>'" in result.message


@pytest.mark.parametrize("token", ["<|eot_id|>", "</s>", "<end_of_turn>", "<|endoftext|>"])
def test_stop_tokens_detects_each_family(token: str) -> None:
    """Llama, Mistral, Gemma and GPT-style end markers are all detected as literal text."""
    result = stop_tokens.probe(context(FakeAPI(text=f"Hi{token}", usage=(20, 3, 23))))
    assert result.code == "STOP_TOKEN"
