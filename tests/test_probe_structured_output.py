"""The structured_output probe against a fake vLLM: it passes only where the engine enforced the constraint."""

from __future__ import annotations

from harness.probes import PROBES, structured_output
from harness.probes.structured_output import SCHEMA, violations
from tests.vllm_api_fake import FakeVllm, failed, fake_context


def test_enforcing_server_passes_every_check() -> None:
    """A server that enforces json_schema, json_object, choice and regex passes all checks, the guided ones included."""
    api = FakeVllm()
    result = structured_output.probe(fake_context(api))
    assert result.passed, result.message
    names = {c.name for c in result.checks}
    assert {"json_schema_parses", "json_schema_valid", "schema_enforced", "json_schema_finish_stop"} <= names
    assert "json_object_enforced" in names
    assert {"guided_choice", "guided_regex"} <= names
    assert PROBES["structured_output"] is structured_output.probe


def test_requests_carry_the_constraints_in_this_versions_fields() -> None:
    """json_schema and json_object go in response_format, choice and regex in structured_outputs (vLLM >= 0.10)."""
    api = FakeVllm()
    structured_output.probe(fake_context(api))
    chats = [r for r in api.requests if r["path"] == "/v1/chat/completions"]
    assert chats[0]["response_format"]["json_schema"]["schema"] == SCHEMA
    assert chats[1]["response_format"] == {"type": "json_object"}
    assert chats[2]["structured_outputs"] == {"choice": ["Lyon", "Marseille"]}
    assert chats[3]["structured_outputs"] == {"regex": "[0-9]{3}-[A-Z]{2}"}


def test_older_vllm_gets_guided_fields() -> None:
    """Where /openapi.json lists guided_choice and guided_regex instead, the probe sends those."""
    api = FakeVllm(openapi_fields=("messages", "guided_choice", "guided_regex"))
    result = structured_output.probe(fake_context(api))
    assert result.passed, result.message
    chats = [r for r in api.requests if r["path"] == "/v1/chat/completions"]
    assert chats[2]["guided_choice"] == ["Lyon", "Marseille"] and chats[3]["guided_regex"] == "[0-9]{3}-[A-Z]{2}"


def test_no_openapi_means_no_guided_checks() -> None:
    """Without /openapi.json the probe sends only response_format: no guided check runs, none passes by omission."""
    result = structured_output.probe(fake_context(FakeVllm(openapi_fields=None)))
    assert result.passed, result.message
    assert not {"guided_choice", "guided_regex"} & {c.name for c in result.checks}


def test_ignored_schema_fails_with_evidence() -> None:
    """A server that ignores response_format answers the question: not JSON, STRUCTURED_OUTPUT, answer as evidence."""
    result = structured_output.probe(fake_context(FakeVllm(enforce=False)))
    assert not result.passed
    assert result.code == "STRUCTURED_OUTPUT"
    assert {"json_schema_parses", "json_object_enforced", "guided_choice", "guided_regex"} <= set(failed(result))
    assert "Paris" in result.evidence


def test_json_that_breaks_the_enum_fails_schema_enforced() -> None:
    """JSON the model wrote on its own ({"city": "Paris"}) parses but fails json_schema_valid and schema_enforced."""
    api = FakeVllm(enforce=False, answer=lambda question: '{"city": "Paris"}')
    result = structured_output.probe(fake_context(api))
    assert {"json_schema_valid", "schema_enforced"} <= set(failed(result))
    assert "json_schema_parses" not in failed(result)
    enforced = next(c for c in result.checks if c.name == "schema_enforced")
    assert "got city 'Paris'" in enforced.detail and "did not enforce" in enforced.detail


def test_cut_short_schema_answer_fails_but_a_cut_json_object_shows_enforcement() -> None:
    """A schema answer cut at max_tokens fails parses and finish_stop; a JSON-mode object cut there is still enforced
    JSON (any object is allowed, so a model may never close one)."""
    result = structured_output.probe(fake_context(FakeVllm(unfinished=True)))
    assert {"json_schema_parses", "json_schema_finish_stop"} <= set(failed(result))
    parses = next(c for c in result.checks if c.name == "json_schema_parses")
    assert "cut short at max_tokens" in parses.detail
    json_object = next(c for c in result.checks if c.name == "json_object_enforced")
    assert json_object.passed and "cut at max_tokens" in json_object.detail


def test_json_mode_answer_that_is_not_an_object_fails() -> None:
    """JSON mode answered with a finished array or with broken JSON fails json_object_enforced."""
    for text in ("[1, 2]", "{not json"):
        api = FakeVllm(enforce=False, answer=lambda question, text=text: text if "sentence" in question else "x")
        result = structured_output.probe(fake_context(api))
        check = next(c for c in result.checks if c.name == "json_object_enforced")
        assert not check.passed, text


def test_http_error_fails_the_probe_with_its_body() -> None:
    """An HTTP 400 for response_format is a failed request check carrying vLLM's message."""
    api = FakeVllm(refuse_response_format="xgrammar does not support this schema")
    result = structured_output.probe(fake_context(api))
    assert failed(result) == ["json_schema_request"]
    assert "xgrammar does not support" in result.message


def test_validator_names_each_violation() -> None:
    """The schema subset validator reports the wrong type, the enum, the pattern, a missing and an extra key."""
    assert violations({"city": "Lyon", "zq_code": "123"}, SCHEMA) == []
    problems = violations({"city": "Paris", "zq_code": "12a", "extra": 1}, SCHEMA)
    assert any("'Paris' is not one of ['Lyon']" in p for p in problems)
    assert any("does not match" in p for p in problems)
    assert any("key 'extra' not allowed" in p for p in problems)
    assert violations({"city": "Lyon"}, SCHEMA) == ["$: required key 'zq_code' missing"]
    assert violations(["Lyon"], SCHEMA)[0].startswith("$: expected object, got array")
    assert violations(3, {"type": "integer"}) == [] and violations(True, {"type": "integer"}) != []
