"""structured_output: ``response_format`` json_schema and json_object answers obey their constraint, because the
engine enforced it, not because the model happened to write JSON.

The json_schema request asks "What is the capital of France?" under a schema whose only allowed city is "Lyon" and
which requires an oddly named key ("zq_code", three digits) the question never mentions. A server that ignores
response_format answers "Paris" (or prose): ``schema_enforced`` fails with that answer as evidence. The json_object
request asks for a sentence, not JSON, so only an enforced JSON mode makes the answer a JSON object.

Measured offline with the engine's xgrammar and the zoo checkpoints (transformers, greedy): SmolLM2-135M-Instruct
answers the schema with {"city": "Lyon", "zq_code": "201"} in 26 tokens, the random-weights chat-ok canary with
{"city":"Lyon","zq_code":"000"}; both answer the choice ("Lyon") and the regex ("197-BJ", "000-AA") and stop.

Where the server's /openapi.json lists vLLM's own request fields (``structured_outputs`` since 0.10; ``guided_choice``
/ ``guided_regex`` before), a choice and a regex constraint are checked too (``guided_choice``, ``guided_regex``).
vLLM 0.32.0 picks the backend with ``--structured-outputs-config.backend`` (auto, xgrammar, guidance, outlines,
lm-format-enforcer; vllm/config/structured_outputs.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from harness.probes.base import SEED, ProbeContext, ProbeResult, Recorder, run_probe, short
from harness.probes.server_api import chat_request_fields
from harness.probes.streams import usage_of

USE_CASE = "structured_output"
CODE = "STRUCTURED_OUTPUT"
MAX_TOKENS = 64

QUESTION = "What is the capital of France?"
ENFORCED_CITY = "Lyon"  # the schema's only allowed value: the question leads anywhere but here
ODD_KEY = "zq_code"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "enum": [ENFORCED_CITY]},
        ODD_KEY: {"type": "string", "pattern": "^[0-9]{3}$"},
    },
    "required": ["city", ODD_KEY],
    "additionalProperties": False,
}
# Not a request for JSON: a server that ignores json_object answers with prose.
JSON_OBJECT_PROMPT = "Write one short sentence about Paris."
CHOICES = ("Lyon", "Marseille")  # neither is the answer the question leads to
REGEX = "[0-9]{3}-[A-Z]{2}"


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


def _ask(ctx: ProbeContext, prompt: str, **extra: Any) -> Any:
    return ctx.client.chat.completions.create(
        model=ctx.model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=MAX_TOKENS,
        temperature=0,
        seed=SEED,
        timeout=ctx.timeout,
        **extra,
    )


def _answer(rec: Recorder, answer: Any) -> tuple[str, str | None]:
    if not answer.choices:
        return "", None
    usage = usage_of(answer.usage)
    for key, value in (usage or {}).items():
        rec.usage[key] = rec.usage.get(key, 0) + value
    return answer.choices[0].message.content or "", answer.choices[0].finish_reason


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "city_answer", "schema": SCHEMA, "strict": True}}
    answer = rec.request("json_schema_request", lambda: _ask(ctx, QUESTION, response_format=response_format))
    text, finish = _answer(rec, answer)
    parsed = _parse(rec, "json_schema_parses", text, finish)
    if parsed is not None:
        problems = violations(parsed, SCHEMA)
        rec.check(
            "json_schema_valid",
            not problems,
            "the answer validates against the schema" if not problems else f"{'; '.join(problems)} in {short(text)!r}",
            code=CODE,
            evidence=text,
        )
        city = parsed.get("city") if isinstance(parsed, dict) else None
        rec.check(
            "schema_enforced",
            city == ENFORCED_CITY,
            f"asked {QUESTION!r} under a schema that allows only city {ENFORCED_CITY!r}: got {ENFORCED_CITY!r}"
            if city == ENFORCED_CITY
            else f"asked {QUESTION!r} under a schema that allows only city {ENFORCED_CITY!r}: got city {city!r}, so "
            "the engine did not enforce response_format (the model wrote what the question led to)",
            code=CODE,
            evidence=text,
        )
    _finish_stop(rec, "json_schema_finish_stop", finish, text)

    answer = rec.request(
        "json_object_request", lambda: _ask(ctx, JSON_OBJECT_PROMPT, response_format={"type": "json_object"})
    )
    text, finish = _answer(rec, answer)
    _json_object(rec, text, finish)
    _guided(ctx, rec)


def _json_object(rec: Recorder, text: str, finish: str | None) -> None:
    """JSON mode for a prompt that asks for a sentence: the answer must be a JSON object. Any object is allowed, so
    a model may never close one (the grammar keeps it inside until max_tokens: random-weights canaries do, and
    SmolLM2-135M-Instruct writes {"Paris": "Paris", ...} on, measured with xgrammar's own logits processor); an
    answer cut there still shows the engine enforced JSON where a free model writes prose."""
    asked = f"asked {JSON_OBJECT_PROMPT!r} with response_format json_object"
    if not text.lstrip().startswith("{"):
        detail = f"{asked}: got {short(text, 120)!r}, not a JSON object: the engine did not enforce JSON mode"
        rec.check("json_object_enforced", False, detail, code=CODE, evidence=text)
        return
    if finish == "length":
        detail = f"{asked}: a JSON object cut at max_tokens={MAX_TOKENS} (never closed): {short(text, 80)!r}"
        rec.check("json_object_enforced", True, detail)
        return
    try:
        parsed = json.loads(text)
    except ValueError as error:
        detail = f"{asked}: finish_reason={finish!r} but not JSON: {error}: {short(text, 120)!r}"
        rec.check("json_object_enforced", False, detail, code=CODE, evidence=text)
        return
    rec.check(
        "json_object_enforced",
        isinstance(parsed, dict),
        f"{asked}: a JSON {_kind(parsed)}, finish_reason={finish!r}: {short(text, 80)!r}",
        code=CODE,
        evidence=text,
    )


def _guided(ctx: ProbeContext, rec: Recorder) -> None:
    """vLLM's own constraints, in the request fields this server's version names (none: not checked)."""
    fields = rec.request("request_fields", lambda: chat_request_fields(ctx))
    if fields is None:
        return
    choice: dict[str, Any]
    regex: dict[str, Any]
    if "structured_outputs" in fields:
        via = "structured_outputs"
        choice = {"structured_outputs": {"choice": list(CHOICES)}}
        regex = {"structured_outputs": {"regex": REGEX}}
    elif "guided_choice" in fields and "guided_regex" in fields:
        via = "guided_"
        choice, regex = {"guided_choice": list(CHOICES)}, {"guided_regex": REGEX}
    else:
        return
    answer = rec.request("guided_choice_request", lambda: _ask(ctx, QUESTION, extra_body=choice))
    text, finish = _answer(rec, answer)
    rec.check(
        "guided_choice",
        text in CHOICES and finish == "stop",
        f"{via} choice {list(CHOICES)} for {QUESTION!r}: got {text!r}, finish_reason={finish!r}"
        + ("" if text in CHOICES else ": the engine did not enforce the choice"),
        code=CODE,
        evidence=text,
    )
    answer = rec.request("guided_regex_request", lambda: _ask(ctx, QUESTION, extra_body=regex))
    text, finish = _answer(rec, answer)
    matched = re.fullmatch(REGEX, text) is not None
    rec.check(
        "guided_regex",
        matched and finish == "stop",
        f"{via} regex {REGEX!r} for {QUESTION!r}: got {text!r}, finish_reason={finish!r}"
        + ("" if matched else ": the engine did not enforce the regex"),
        code=CODE,
        evidence=text,
    )


def _parse(rec: Recorder, name: str, text: str, finish: str | None) -> Any:
    """The answer as JSON, or None after a failed check (with the finish_reason: 'length' means cut short)."""
    try:
        parsed = json.loads(text)
    except ValueError as error:
        cut = " (cut short at max_tokens)" if finish == "length" else ""
        rec.check(
            name,
            False,
            f"asked {QUESTION!r} with response_format json_schema: not JSON{cut}: {error}: {short(text, 120)!r}",
            code=CODE,
            evidence=text,
        )
        return None
    rec.check(name, True, f"parses as JSON: {short(text, 80)!r}")
    return parsed


def _finish_stop(rec: Recorder, name: str, finish: str | None, text: str) -> None:
    rec.check(
        name,
        finish == "stop",
        f"finish_reason={finish!r}"
        + ("" if finish == "stop" else f" (max_tokens={MAX_TOKENS}): the constrained answer never ended"),
        code=CODE,
        evidence=text,
    )


def _kind(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def violations(value: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """Where ``value`` breaks ``schema``, for the JSON Schema subset the probe uses (type, enum, const, pattern,
    properties, required, additionalProperties: false, items); [] when it conforms."""
    problems: list[str] = []
    expected = schema.get("type")
    if expected is not None and _kind(value) != expected and not (expected == "integer" and _is_int(value)):
        return [f"{path}: expected {expected}, got {_kind(value)} {short(json.dumps(value), 40)}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        problems.append(f"{path}: {value!r} is not {schema['const']!r}")
    if "pattern" in schema and isinstance(value, str) and re.search(schema["pattern"], value) is None:
        problems.append(f"{path}: {value!r} does not match {schema['pattern']!r}")
    if isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties", {})
        problems += [f"{path}: required key {key!r} missing" for key in schema.get("required", ()) if key not in value]
        if schema.get("additionalProperties") is False:
            problems += [f"{path}: key {key!r} not allowed" for key in value if key not in properties]
        for key, sub in properties.items():
            if key in value:
                problems += violations(value[key], sub, f"{path}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            problems += violations(item, schema["items"], f"{path}[{index}]")
    return problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
