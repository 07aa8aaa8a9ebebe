"""tools: one function tool with tool_choice "auto": the call is parsed, named, valid against its schema, streamed
identically, and the model answers the tool's result.

vLLM refuses tool_choice "auto" with HTTP 400 unless the server runs with ``--enable-auto-tool-choice
--tool-call-parser NAME``: that is TOOL_FLAGS, and the failed check names the flags to add (and the parser the chat
template suggests). A zoo model is a bigram: after the tool result it calls the tool again, so the round trip
accepts a further well-formed call as the answer; a real model (semantic) must answer in text that uses the result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from harness.probes.base import (
    SEED,
    ProbeContext,
    ProbeResult,
    Recorder,
    RequestFailed,
    check_usage,
    record_stream_timings,
    run_probe,
)
from harness.probes.streams import StreamRead, read_stream, usage_of

T = TypeVar("T")

USE_CASE = "tools"
MAX_TOKENS = 256  # a real model's call is ~30 tokens; some think first
TOOL_NAME = "get_weather"
PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "The city, e.g. Paris"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city"],
}
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "Get the current weather in a city.",
        "parameters": PARAMETERS,
    },
}
QUESTION = "What is the weather like in Paris right now? Use the get_weather tool."
QUESTION_CITY = "paris"
TOOL_RESULT: dict[str, Any] = {"city": "Paris", "temperature": 22, "unit": "celsius", "condition": "sunny"}
RESULT_WORDS = ("22", "sunny")  # a real model's answer after the tool result mentions one of them
# Tool-call markup by which a chat template (and so the model) names its format -> vLLM's tool-call parser for it.
PARSER_HINTS: tuple[tuple[str, str], ...] = (
    ("<function=", "qwen3_xml"),
    ("<tool_call>", "hermes"),
    ("[TOOL_CALLS]", "mistral"),
    ("<|python_tag|>", "llama3_json"),
)


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


# ---------------------------------------------------------------------------------------------------------------------
# pure helpers


def schema_errors(value: Any, schema: Mapping[str, Any], path: str = "arguments") -> list[str]:
    """What in ``value`` breaks ``schema``: the JSON Schema subset tool definitions use (type, enum, properties,
    required, additionalProperties: false, items). Empty when it holds."""
    kinds = schema.get("type")
    if kinds is not None:
        names = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_is_type(value, name) for name in names):
            return [f"{path}: expected {'|'.join(names)}, got {_json_kind(value)} {json.dumps(value)[:60]}"]
    errors: list[str] = []
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        errors.append(f"{path}: {json.dumps(value)[:60]} is not one of {json.dumps(schema['enum'])}")
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        errors += [f"{path}: missing required {name!r}" for name in schema.get("required", ()) if name not in value]
        for name, item in value.items():
            if name in properties:
                errors += schema_errors(item, properties[name], f"{path}.{name}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected property {name!r}")
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{path}[{index}]")
    return errors


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    python = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}.get(name)
    return python is not None and isinstance(value, python)


def _same(value: Any, option: Any) -> bool:
    return type(value) is type(option) and value == option  # JSON: true is not 1


def _json_kind(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is_type(value, name):
            return name
    return type(value).__name__


def parse_arguments(arguments: str | None) -> tuple[Any, str | None]:
    """The arguments string of a call as JSON, or (None, why not)."""
    if not arguments:
        return None, "empty arguments"
    try:
        return json.loads(arguments), None
    except ValueError as error:
        return None, f"arguments are not JSON ({error}): {arguments[:80]!r}"


def suggest_parser(model_dir: Path | None) -> str | None:
    """The tool-call parser the checkpoint's chat template points to, by its tool-call markup; None if unknown."""
    if model_dir is None:
        return None
    from harness.checkpoint import find_chat_template

    try:
        found = find_chat_template(model_dir)
    except Exception:  # a hint only: an unreadable checkpoint has already been reported by pre-flight
        return None
    text = "" if found is None else (found.tool_text or "") + found.text
    return next((parser for marker, parser in PARSER_HINTS if marker in text), None)


def tool_flags_fix(flags: Mapping[str, Any], model_dir: Path | None) -> str:
    """The matrix flags that make vLLM accept tool_choice "auto"."""
    given = flags.get("tool-call-parser")
    parser = given or suggest_parser(model_dir)
    if parser is None:
        shown, why = "<parser>", " (the model's parser: see vLLM's tool calling docs, e.g. hermes for <tool_call>)"
    else:
        shown, why = str(parser), "" if given else " (the chat template's tool-call markup suggests it)"
    return (
        f"fix: add `enable-auto-tool-choice: true` and `tool-call-parser: {shown}` to the cell's flags{why}, i.e. "
        f"vllm serve --enable-auto-tool-choice --tool-call-parser {shown}"
    )


# ---------------------------------------------------------------------------------------------------------------------
# the probe


def _create(ctx: ProbeContext, messages: Sequence[Mapping[str, Any]], **extra: Any) -> Any:
    create: Callable[..., Any] = ctx.client.chat.completions.create  # plain dicts, not openai's TypedDicts
    return create(
        model=ctx.model,
        messages=messages,
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        max_tokens=MAX_TOKENS,
        temperature=0,
        seed=SEED,
        timeout=ctx.timeout,
        **extra,
    )


def _request(ctx: ProbeContext, rec: Recorder, step: str, call: Callable[[], T]) -> T:
    """rec.request, with the fix added to a TOOL_FLAGS refusal."""
    try:
        return rec.request(step, call)
    except RequestFailed:
        last = rec.checks[-1] if rec.checks else None
        if rec.code == "TOOL_FLAGS" and last is not None and last.name == step:
            rec.checks[-1] = replace(last, detail=f"{last.detail}; {tool_flags_fix(ctx.flags, ctx.model_dir)}")
        raise


def _id_and_type(call: Any) -> list[str]:
    return (["no id"] if not call.id else []) + ([f"type={call.type!r}"] if call.type != "function" else [])


def call_problems(call: Any) -> list[str]:
    """What is wrong with one non-streamed tool call: id, type, name, JSON arguments, schema. Empty when well-formed."""
    problems = _id_and_type(call)
    name = call.function.name if call.function else None
    if name != TOOL_NAME:
        problems.append(f"name={name!r}, expected {TOOL_NAME!r}")
    arguments, why = parse_arguments(call.function.arguments if call.function else None)
    problems += [why] if why is not None else schema_errors(arguments, PARAMETERS)
    return problems


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    question = [{"role": "user", "content": QUESTION}]
    answer = _request(ctx, rec, "request", lambda: _create(ctx, question))
    if not rec.check("one_choice", bool(answer.choices), f"{len(answer.choices or [])} choices"):
        return
    choice = answer.choices[0]
    message = choice.message
    usage = usage_of(answer.usage)
    rec.usage.update(usage or {})
    check_usage(rec, "usage_consistent", usage)
    calls = list(message.tool_calls or ())
    content = message.content or ""
    if not rec.check("tool_calls", bool(calls), f"{len(calls)} tool call(s)" if calls else _why_no_call(ctx, answer)):
        return
    call = calls[0]
    name = call.function.name if call.function else None
    raw = call.function.arguments if call.function else None
    arguments, why = parse_arguments(raw)
    shape = [f"call {i}: {p}" for i, c in enumerate(calls) for p in _id_and_type(c)]
    rec.check(
        "call_well_formed", not shape, "; ".join(shape) or f"{len(calls)} call(s), each with an id, type function"
    )
    rec.check("call_names_tool", name == TOOL_NAME, f"name={name!r}, expected {TOOL_NAME!r}")
    if rec.check("call_parses", why is None, why or f"arguments={raw!r}"):
        errors = schema_errors(arguments, PARAMETERS)
        rec.check("arguments_match_schema", not errors, "; ".join(errors) or f"arguments={raw!r} match the schema")
    rec.check("finish_tool_calls", choice.finish_reason == "tool_calls", f"finish_reason={choice.finish_reason!r}")
    if ctx.semantic:
        city = str(arguments.get("city", "")) if isinstance(arguments, dict) else ""
        rec.check("answer", QUESTION_CITY in city.lower(), f"city={city!r}, expected Paris")

    def streamed() -> StreamRead:
        sent = time.perf_counter()
        chunks = _create(ctx, question, stream=True, stream_options={"include_usage": True})
        # The tools probe judges the calls, not the usage chunk (parsers differ in whether they send one).
        return read_stream(iter(chunks), sent, chat=True, expect_usage=False)

    stream = _request(ctx, rec, "stream_request", streamed)
    record_stream_timings(rec, stream)
    rec.check(
        "stream_well_formed",
        not stream.problems,
        "; ".join(stream.problems) or f"{stream.chunks} chunks, one id, one finish_reason, calls with id and name",
    )
    _compare_stream(rec, calls, content, choice.finish_reason, stream)

    turn = [
        *question,
        {
            "role": "assistant",
            "content": message.content,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.function.name, "arguments": c.function.arguments},
                }
                for c in calls
            ],
        },
        *(
            {"role": "tool", "tool_call_id": c.id, "content": json.dumps(TOOL_RESULT | {"city": _city(arguments)})}
            for c in calls
        ),
    ]
    reply = _request(ctx, rec, "round_trip_request", lambda: _create(ctx, turn))
    _check_round_trip(ctx, rec, reply)


def _why_no_call(ctx: ProbeContext, answer: Any) -> str:
    choice = answer.choices[0]
    content = choice.message.content or ""
    said = f"no tool_calls; finish_reason={choice.finish_reason!r}, content={content[:120]!r}"
    if choice.finish_reason == "length":
        prompt = answer.usage.prompt_tokens if answer.usage else "?"
        return (
            f"{said}: cut at the length limit (prompt {prompt} tokens with the tool definitions); raise max-model-len"
        )
    if any(marker in content for marker, _ in PARSER_HINTS) or "{" in content:
        parser = ctx.flags.get("tool-call-parser")
        hint = suggest_parser(ctx.model_dir)
        better = f"; the chat template suggests {hint!r}" if hint and hint != parser else ""
        return f"{said}: a tool call written as text: the tool-call-parser {parser!r} does not read it{better}"
    return f"{said}: the model answered in text instead of calling the tool"


def _city(arguments: Any) -> str:
    city = arguments.get("city") if isinstance(arguments, dict) else None
    return city if isinstance(city, str) and city else str(TOOL_RESULT["city"])


def _compare_stream(rec: Recorder, calls: list[Any], content: str, finish: str | None, stream: StreamRead) -> None:
    plain = [(c.function.name, parse_arguments(c.function.arguments)[0]) for c in calls]
    streamed = [(c.name, parse_arguments(c.arguments)[0]) for _, c in sorted(stream.calls.items())]
    same_calls = plain == streamed
    same_finish = stream.finish_reasons[-1:] == [finish]
    same_content = stream.text.strip() == content.strip()
    rec.check(
        "stream_agrees",
        same_calls and same_finish and same_content,
        "streamed and non-streamed calls are identical"
        if same_calls and same_finish and same_content
        else f"calls {plain} vs streamed {streamed} (raw {[c.arguments for c in stream.calls.values()]}); finish "
        f"{finish!r} vs {stream.finish_reasons}; content {content[:60]!r} vs {stream.text[:60]!r}",
    )


def _check_round_trip(ctx: ProbeContext, rec: Recorder, reply: Any) -> None:
    if not rec.check("round_trip_choice", bool(reply.choices), f"{len(reply.choices or [])} choices"):
        return
    message = reply.choices[0].message
    text = message.content or ""
    further = list(message.tool_calls or ())
    if ctx.semantic:
        # A real model read the result: it answers in words that use it.
        uses = any(word in text.lower() for word in RESULT_WORDS)
        rec.check(
            "round_trip_answer",
            bool(text.strip()) and uses,
            f"content={text[:120]!r}, expected it to use the tool result (mention {' or '.join(RESULT_WORDS)})",
        )
        return
    # A zoo model (a bigram) calls the tool again: a further well-formed call is an answer too.
    problems = [f"call {i}: {p}" for i, c in enumerate(further) for p in call_problems(c)]
    if problems:
        detail = "; ".join(problems)
    elif text.strip():
        detail = f"content={text[:80]!r}"
    elif further:
        detail = f"{len(further)} further well-formed call(s)"
    else:
        detail = "neither content nor a tool call after the tool result"
    rec.check("round_trip_answer", (bool(text.strip()) or bool(further)) and not problems, detail)
