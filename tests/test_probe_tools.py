"""The tools probe against a mocked OpenAI-compatible API (httpx.MockTransport), its pure helpers, and the zoo's
tool-call member."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import openai
import pytest

from harness import zoo
from harness.checkpoint import preflight
from harness.probes import tools
from harness.probes.base import ProbeContext, ProbeResult
from harness.usecases import UseCase
from harness.zoo import qwen2
from harness.zoo import tools as zoo_tools

# What vLLM 0.32 (CPU) answered, recorded from the real engine serving zoo:tool-call without the tool flags.
TOOL_FLAGS_BODY = json.dumps(  # compact, as vLLM writes it
    {
        "error": {
            "message": '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        }
    },
    separators=(",", ":"),
)
# A real model's answer after the tool result (recorded shape: Qwen2.5-style text).
ROUND_TRIP_TEXT = "It is currently sunny in Paris, with a temperature of 22°C."


@dataclass
class ToolAPI:
    """Answers tool-calling chat requests the way vLLM does, with knobs to break each property."""

    name: str = "get_weather"
    arguments: str = '{"city": "Paris"}'
    finish: str = "tool_calls"
    content: str | None = None
    calls: bool = True  # False: answer in text only
    call_id: str | None = "chatcmpl-tool-1"
    call_type: str = "function"
    stream_name: str | None = None  # default: name
    stream_arguments: list[str] | None = None  # argument deltas; default: arguments in 4-character pieces
    stream_finishes: list[str] | None = None  # default: [finish]
    stream_first_id: bool = True
    round_trip_text: str | None = ROUND_TRIP_TEXT
    round_trip_call: dict[str, Any] | None = None  # a further call (function dict) after the tool result
    status: int | None = None
    body: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        self.requests.append(payload)
        if self.status is not None:
            return httpx.Response(self.status, text=self.body, headers={"content-type": "application/json"})
        if any(m["role"] == "tool" for m in payload["messages"]):
            return self._round_trip(payload)
        if payload.get("stream"):
            return httpx.Response(200, text=self._sse(), headers={"content-type": "text/event-stream"})
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.calls:
            function = {"name": self.name, "arguments": self.arguments}
            message["tool_calls"] = [{"id": self.call_id, "type": self.call_type, "function": function}]
        return self._answer(payload, message, self.finish)

    def _answer(self, payload: dict[str, Any], message: dict[str, Any], finish: str) -> httpx.Response:
        choice = {"index": 0, "message": message, "finish_reason": finish}
        usage = {"prompt_tokens": 180, "completion_tokens": 9, "total_tokens": 189}
        body = {"id": "c-1", "object": "chat.completion", "created": 1, "model": payload["model"], "choices": [choice]}
        return httpx.Response(200, json=body | {"usage": usage})

    def _round_trip(self, payload: dict[str, Any]) -> httpx.Response:
        message: dict[str, Any] = {"role": "assistant", "content": self.round_trip_text}
        if self.round_trip_call is not None:
            message["tool_calls"] = [{"id": "chatcmpl-tool-2", "type": "function", "function": self.round_trip_call}]
        return self._answer(payload, message, "tool_calls" if self.round_trip_call else "stop")

    def _sse(self) -> str:
        args = self.stream_arguments
        if args is None:
            args = [self.arguments[i : i + 4] for i in range(0, len(self.arguments), 4)]
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        if self.content:
            deltas.append({"content": self.content})
        if self.calls:
            first: dict[str, Any] = {
                "index": 0,
                "type": "function",
                "function": {"name": self.stream_name or self.name},
            }
            if self.stream_first_id:
                first["id"] = self.call_id
            deltas.append({"tool_calls": [first]})
            deltas += [{"tool_calls": [{"index": 0, "function": {"arguments": piece}}]} for piece in args]
        finishes: list[str | None] = [None] * len(deltas)
        for i, reason in enumerate(self.stream_finishes if self.stream_finishes is not None else [self.finish]):
            finishes[len(deltas) - 1 - i] = reason
        chunks: list[dict[str, Any]] = [
            {"choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}
            for delta, reason in zip(deltas, finishes, strict=True)
        ]
        chunks.append({"choices": [], "usage": {"prompt_tokens": 180, "completion_tokens": 9, "total_tokens": 189}})
        events = [
            json.dumps({"id": "s-1", "object": "chat.completion.chunk", "created": 1, "model": "m", **c})
            for c in chunks
        ]
        return "".join(f"data: {event}\n\n" for event in events) + "data: [DONE]\n\n"


def context(api: ToolAPI, **overrides: Any) -> ProbeContext:
    # cast: openai may type its http_client as its own httpx flavour (httpx2); the public httpx.Client works.
    http_client = cast(Any, httpx.Client(transport=httpx.MockTransport(api)))
    client = openai.OpenAI(base_url="http://engine.test/v1", api_key="k", max_retries=0, http_client=http_client)
    options: dict[str, Any] = {
        "client": client,
        "model": "tool-call-01234567",
        "semantic": False,
        "timeout": 5.0,
        "end_of_turn": "<|im_end|>",
        "eos_token_ids": (510,),
        "eos_mismatch_predicted": False,
        "flags": {"enable-auto-tool-choice": True, "tool-call-parser": "hermes"},
    }
    return ProbeContext(**(options | overrides))


def failed(result: ProbeResult) -> list[str]:
    return [check.name for check in result.checks if not check.passed]


def hermes_template_dir(tmp_path: Path) -> Path:
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": qwen2.CHAT_TEMPLATE}))
    return tmp_path


# ---------------------------------------------------------------------------------------------------------------------
# the probe


def test_tools_passes_when_the_call_is_parsed_streamed_and_answered() -> None:
    """A well-behaved tool-calling server passes every check, asked with one tool, tool_choice auto and greedy
    sampling, and the round trip sends the call back with a tool message carrying its id."""
    api = ToolAPI()
    result = tools.probe(context(api))
    assert result.passed, result.message
    assert result.code is None
    names = {c.name for c in result.checks}
    assert {"tool_calls", "call_parses", "call_names_tool", "arguments_match_schema", "finish_tool_calls"} <= names
    assert {"stream_well_formed", "stream_agrees", "round_trip_answer"} <= names
    assert result.usage == {"prompt_tokens": 180, "completion_tokens": 9, "total_tokens": 189}
    assert {"probe_s", "first_content_s", "e2e_s"} <= set(result.timings)
    assert len(api.requests) == 3
    for request in api.requests:
        assert request["tools"] == [tools.WEATHER_TOOL]
        assert request["tool_choice"] == "auto"
        assert request["temperature"] == 0 and request["seed"] is not None
    assert api.requests[1]["stream"] is True
    assistant, tool = api.requests[2]["messages"][1:]
    assert assistant["tool_calls"][0]["id"] == tool["tool_call_id"] == "chatcmpl-tool-1"
    assert assistant["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert json.loads(tool["content"])["temperature"] == 22


def test_stream_reassembles_argument_deltas_by_index() -> None:
    """Arguments streamed one character at a time, with other whitespace, reassemble into the same parsed call."""
    api = ToolAPI(stream_arguments=list('{ "city" :"Paris" }'))
    result = tools.probe(context(api))
    assert result.passed, result.message


def test_stream_with_other_arguments_fails_stream_agrees() -> None:
    """A streamed call whose arguments differ from the plain call fails stream_agrees, showing both."""
    result = tools.probe(context(ToolAPI(stream_arguments=['{"city": ', '"Lyon"}'])))
    assert failed(result) == ["stream_agrees"]
    assert "Lyon" in result.message and result.code == "PROBE_FAILED"


def test_stream_with_another_name_fails_stream_agrees() -> None:
    """A streamed call naming another function fails stream_agrees."""
    result = tools.probe(context(ToolAPI(stream_name="get_time")))
    assert failed(result) == ["stream_agrees"]


def test_stream_without_id_or_with_two_finishes_is_malformed() -> None:
    """A first tool-call delta without an id, or two finish_reasons, fail stream_well_formed."""
    assert "stream_well_formed" in failed(tools.probe(context(ToolAPI(stream_first_id=False))))
    result = tools.probe(context(ToolAPI(stream_finishes=["tool_calls", "tool_calls"])))
    assert "stream_well_formed" in failed(result)


def test_text_answer_fails_tool_calls_and_says_so() -> None:
    """An answer in words instead of a call fails tool_calls and stops the probe there."""
    result = tools.probe(context(ToolAPI(calls=False, content="I cannot check the weather.", finish="stop")))
    assert failed(result) == ["tool_calls"]
    assert "answered in text" in result.message
    assert "call_parses" not in {c.name for c in result.checks}


def test_call_left_as_text_points_at_the_parser(tmp_path: Path) -> None:
    """Tool-call markup left in the content (the parser did not read it) fails tool_calls naming the parser and the
    one the template suggests."""
    raw = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    ctx = context(
        ToolAPI(calls=False, content=raw, finish="stop"),
        flags={"enable-auto-tool-choice": True, "tool-call-parser": "mistral"},
        model_dir=hermes_template_dir(tmp_path),
    )
    result = tools.probe(ctx)
    assert failed(result) == ["tool_calls"]
    assert "'mistral' does not read it" in result.message and "suggests 'hermes'" in result.message


def test_call_cut_at_the_length_limit_says_raise_max_model_len() -> None:
    """A call cut by the length limit (the tool definitions filled the context) says to raise max-model-len."""
    raw = '<tool_call>\n{"name": "get_weather", "arguments": '
    result = tools.probe(context(ToolAPI(calls=False, content=raw, finish="length")))
    assert failed(result) == ["tool_calls"]
    assert "length limit" in result.message and "max-model-len" in result.message


def test_arguments_that_are_not_json_fail_call_parses() -> None:
    """Arguments that do not parse as JSON fail call_parses (and the stream cannot agree on a parse either)."""
    result = tools.probe(context(ToolAPI(arguments='{"city": Paris}')))
    assert "call_parses" in failed(result)
    assert "arguments_match_schema" not in {c.name for c in result.checks}


def test_wrong_name_fails_call_names_tool() -> None:
    """A call to a function that was not offered fails call_names_tool."""
    result = tools.probe(context(ToolAPI(name="get_time")))
    assert failed(result) == ["call_names_tool"]


@pytest.mark.parametrize(
    "arguments",
    ['{"unit": "celsius"}', '{"city": 75001}', '{"city": "Paris", "unit": "kelvin"}', '["Paris"]'],
)
def test_arguments_against_the_schema_fail_arguments_match_schema(arguments: str) -> None:
    """Arguments without the required city, with a city that is no string, a unit outside the enum, or no object
    fail arguments_match_schema."""
    result = tools.probe(context(ToolAPI(arguments=arguments)))
    assert failed(result) == ["arguments_match_schema"]


def test_call_without_id_or_function_type_fails_call_well_formed() -> None:
    """A call with no id fails call_well_formed."""
    result = tools.probe(context(ToolAPI(call_id="")))
    assert "call_well_formed" in failed(result)


def test_finish_reason_other_than_tool_calls_fails() -> None:
    """A parsed call whose finish_reason is 'stop' fails finish_tool_calls."""
    result = tools.probe(context(ToolAPI(finish="stop")))
    assert failed(result) == ["finish_tool_calls"]


def test_missing_tool_flags_is_tool_flags_with_the_fix(tmp_path: Path) -> None:
    """vLLM's HTTP 400 for tool_choice auto without the flags is TOOL_FLAGS, and the message names both flags and the
    parser the chat template suggests."""
    api = ToolAPI(status=400, body=TOOL_FLAGS_BODY)
    result = tools.probe(context(api, flags={"max-model-len": 512}, model_dir=hermes_template_dir(tmp_path)))
    assert failed(result) == ["request"]
    assert result.code == "TOOL_FLAGS"
    assert "enable-auto-tool-choice: true" in result.message
    assert "tool-call-parser: hermes" in result.message
    assert "--enable-auto-tool-choice --tool-call-parser hermes" in result.message
    assert len(api.requests) == 1


def test_tool_flags_fix_without_a_known_template_asks_for_the_parser() -> None:
    """Without a recognisable template the fix leaves the parser as a placeholder and says where to look."""
    fix = tools.tool_flags_fix({}, None)
    assert "tool-call-parser: <parser>" in fix and "docs" in fix


def test_other_http_errors_keep_their_own_code() -> None:
    """An HTTP 500 is HTTP_ERROR, without a tool-flags fix."""
    result = tools.probe(context(ToolAPI(status=500, body='{"error": {"message": "boom"}}')))
    assert result.code == "HTTP_ERROR"
    assert "enable-auto-tool-choice" not in result.message


def test_round_trip_without_an_answer_fails() -> None:
    """A round trip answered with neither content nor a call fails round_trip_answer."""
    result = tools.probe(context(ToolAPI(round_trip_text="")))
    assert failed(result) == ["round_trip_answer"]


def test_zoo_round_trip_accepts_a_further_well_formed_call() -> None:
    """For a zoo model (not semantic) a further well-formed call answers the round trip; a malformed one does not."""
    call = {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert tools.probe(context(ToolAPI(round_trip_text=None, round_trip_call=call))).passed
    bad = {"name": "get_weather", "arguments": "{"}
    result = tools.probe(context(ToolAPI(round_trip_text=None, round_trip_call=bad)))
    assert failed(result) == ["round_trip_answer"]


def test_semantic_checks_are_lenient_about_the_city_and_use_of_the_result() -> None:
    """A real model passes with city 'Paris, France' and an answer that uses the result; it fails asking about
    London, or answering the result with another call."""
    ok = ToolAPI(arguments='{"city": "Paris, France", "unit": "celsius"}')
    assert tools.probe(context(ok, semantic=True)).passed
    london = ToolAPI(arguments='{"city": "London"}', stream_arguments=['{"city": "London"}'])
    assert failed(tools.probe(context(london, semantic=True))) == ["answer"]
    again = ToolAPI(round_trip_text=None, round_trip_call={"name": "get_weather", "arguments": '{"city": "Paris"}'})
    assert failed(tools.probe(context(again, semantic=True))) == ["round_trip_answer"]
    vague = ToolAPI(round_trip_text="Let me know if you need anything else.")
    assert failed(tools.probe(context(vague, semantic=True))) == ["round_trip_answer"]


# ---------------------------------------------------------------------------------------------------------------------
# pure helpers


@pytest.mark.parametrize(
    ("value", "schema", "expected"),
    [
        ({"city": "Paris"}, tools.PARAMETERS, []),
        ({"city": "Paris", "unit": "fahrenheit"}, tools.PARAMETERS, []),
        ({}, tools.PARAMETERS, ["arguments: missing required 'city'"]),
        ({"city": True}, tools.PARAMETERS, ["arguments.city: expected string, got boolean true"]),
        (
            {"city": "P", "x": 1},
            {**tools.PARAMETERS, "additionalProperties": False},
            ["arguments: unexpected property 'x'"],
        ),
        (True, {"type": "integer"}, ["arguments: expected integer, got boolean true"]),
        (3, {"type": ["number", "null"]}, []),
        (1, {"enum": [True]}, ["arguments: 1 is not one of [true]"]),
        ([1, "a"], {"type": "array", "items": {"type": "integer"}}, ['arguments[1]: expected integer, got string "a"']),
    ],
)
def test_schema_errors_name_the_path_and_the_rule(value: Any, schema: dict[str, Any], expected: list[str]) -> None:
    """The validator reports each violation of type, enum, required, additionalProperties and items at its path."""
    assert tools.schema_errors(value, schema) == expected


def test_parser_is_suggested_from_the_templates_markup(tmp_path: Path) -> None:
    """A <tool_call> template suggests hermes, [TOOL_CALLS] mistral; no template or no markup suggests nothing."""
    assert tools.suggest_parser(hermes_template_dir(tmp_path)) == "hermes"
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "[TOOL_CALLS]{{ messages }}"}))
    assert tools.suggest_parser(tmp_path) == "mistral"
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    assert tools.suggest_parser(tmp_path) is None
    assert tools.suggest_parser(None) is None


# ---------------------------------------------------------------------------------------------------------------------
# the zoo member


@pytest.fixture(scope="module")
def member(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("zoo-tools")
    zoo_tools.MEMBERS["tool-call"].build(directory)
    return directory


def _digest(path: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(path.iterdir())}


def test_tool_call_member_is_deterministic_small_and_leaves_chat_ok_alone(member: Path, tmp_path: Path) -> None:
    """Building tool-call again gives identical bytes under 5 MB, and chat-ok's tokenizer is not changed by it."""
    again = tmp_path / "again"
    again.mkdir()
    zoo_tools.MEMBERS["tool-call"].build(again)
    assert _digest(again) == _digest(member)
    assert 0 < sum(f.stat().st_size for f in member.iterdir()) < 5 * 1024 * 1024
    chat_ok = tmp_path / "chat-ok"
    chat_ok.mkdir()
    zoo.MEMBERS["chat-ok"].build(chat_ok)
    assert (chat_ok / "tokenizer.json").read_text() == qwen2.chat_tokenizer_json()
    assert (member / "tokenizer.json").read_text() != qwen2.chat_tokenizer_json()


def test_tool_call_member_preflight_reports_nothing(member: Path) -> None:
    """Pre-flight for chat, completions, stop_tokens and tools finds nothing, as expected_codes says, and sees a
    template that renders tools."""
    cases = [UseCase.CHAT, UseCase.COMPLETIONS, UseCase.STOP_TOKENS, UseCase.TOOLS]
    report = preflight(str(member), use_cases=cases, engine_python=None)
    assert {f.code for f in report.findings} == set(zoo_tools.MEMBERS["tool-call"].expected_codes) == set()
    assert report.facts.chat_template is not None
    assert report.facts.chat_template.supports_tools is True
    assert report.facts.chat_template.end_of_turn == "<|im_end|>"


def test_tool_call_member_greedy_walk_is_the_hermes_call_then_im_end(member: Path) -> None:
    """From the newline that ends every prompt, the member's bigram walks the tool call's tokens, then <|im_end|>."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(member / "tokenizer.json"))
    config = json.loads((member / "config.json").read_text())
    vocab = zoo_tools.tool_vocab()
    head = qwen2.bigram_head(vocab.chain, vocab.end_id, config["vocab_size"], config["hidden_size"])
    embed, lm_head = head["model.embed_tokens.weight"], head["lm_head.weight"]
    token = tokenizer.encode("<|im_start|>assistant\n", add_special_tokens=False).ids[-1]
    walked: list[int] = []
    for _ in range(20):
        hidden = embed[token] / np.sqrt(np.mean(embed[token] ** 2) + 1e-6)  # the final RMSNorm
        token = int(np.argmax(lm_head @ hidden))
        walked.append(token)
        if token == vocab.end_id:
            break
    assert walked[-1] == config["eos_token_id"] == tokenizer.token_to_id("<|im_end|>")
    assert tokenizer.decode(walked[:-1], skip_special_tokens=True) == zoo_tools.TOOL_CALL_ANSWER
    parsed = json.loads(zoo_tools.TOOL_CALL_ANSWER.removeprefix("<tool_call>").removesuffix("</tool_call>"))
    assert parsed == {"name": zoo_tools.TOOL_CALL_NAME, "arguments": zoo_tools.TOOL_CALL_ARGUMENTS}
    assert tools.schema_errors(parsed["arguments"], tools.PARAMETERS) == []
    assert parsed["name"] == tools.TOOL_NAME


def test_tool_call_member_declares_its_answer() -> None:
    """The member's expected_answer is the raw hermes call (what chat and completions return without tools)."""
    member = zoo_tools.MEMBERS["tool-call"]
    assert member.expected_answer == zoo_tools.TOOL_CALL_ANSWER
    assert member.expected_codes == frozenset()
    assert zoo.ZOO_VERSION == "1"
