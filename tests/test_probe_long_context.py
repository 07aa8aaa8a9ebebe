"""The long_context probe against a fake vLLM: exact lengths from /tokenize, the limit accepted, one past it refused."""

from __future__ import annotations

import json
from pathlib import Path

from harness.checkpoint import PreflightFacts
from harness.probes import long_context
from tests.vllm_api_fake import BOS, FakeVllm, failed, fake_context


def completions(api: FakeVllm) -> list[dict[str, object]]:
    return [r for r in api.requests if r["path"] == "/v1/completions"]


def test_healthy_server_passes_with_exact_lengths() -> None:
    """At the limit, prompt + max_tokens == max_model_len exactly; past it, max_model_len + 1 tokens, refused."""
    api = FakeVllm(max_model_len=300)
    result = long_context.probe(fake_context(api, flags={"max-model-len": 300}))
    assert result.passed, result.message
    at, past = completions(api)
    assert isinstance(at["prompt"], list) and len(at["prompt"]) + int(str(at["max_tokens"])) == 300
    assert isinstance(past["prompt"], list) and len(past["prompt"]) == 301
    assert at["prompt"][0] == BOS  # the prompt starts as the tokenizer starts one
    assert [c.name for c in result.checks] == [
        "served_max_model_len",
        "context_as_configured",
        "filler_long_enough",
        "at_limit_accepted",
        "past_limit_refused",
    ]
    assert "at_limit_s" in result.timings


def test_prompt_past_the_limit_answered_fails() -> None:
    """A server that answers a prompt past max_model_len (truncating it) fails past_limit_refused, CONTEXT_LIMIT."""
    result = long_context.probe(fake_context(FakeVllm(accept_past_limit=True)))
    assert failed(result) == ["past_limit_refused"]
    assert result.code == "CONTEXT_LIMIT"
    assert "did not refuse" in result.message


def test_server_error_past_the_limit_is_not_a_refusal() -> None:
    """HTTP 500 for a prompt past the limit fails past_limit_refused with HTTP_ERROR and the body as evidence."""
    result = long_context.probe(fake_context(FakeVllm(past_limit_status=500)))
    assert failed(result) == ["past_limit_refused"]
    assert result.code == "HTTP_ERROR"
    assert "maximum context length" in result.evidence


def test_refusal_at_the_limit_fails() -> None:
    """A request whose prompt + max_tokens fits exactly, refused, fails at_limit_accepted with CONTEXT_LIMIT."""
    result = long_context.probe(fake_context(FakeVllm(refuse_at_limit=True)))
    assert "at_limit_accepted" in failed(result)
    assert result.code == "CONTEXT_LIMIT"


def test_served_limit_other_than_the_flag_fails() -> None:
    """max-model-len 4096 asked, 300 served (or /v1/models disagreeing): context_as_configured fails, naming both."""
    result = long_context.probe(fake_context(FakeVllm(), flags={"max-model-len": 4096}))
    assert failed(result) == ["context_as_configured"]
    assert "the max-model-len flag says 4096" in result.message
    result = long_context.probe(fake_context(FakeVllm(listed_max_model_len=512)))
    assert failed(result) == ["context_as_configured"]
    assert "/v1/models says 512" in result.message


def test_config_context_compared_only_without_rope_scaling(tmp_path: Path) -> None:
    """Without a flag the served limit must equal pre-flight's context length, unless config.json scales rope."""
    facts = PreflightFacts(context_length=2048)
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 2048}))
    result = long_context.probe(fake_context(FakeVllm(), facts=facts, model_dir=tmp_path))
    assert failed(result) == ["context_as_configured"] and "config.json says 2048" in result.message
    (tmp_path / "config.json").write_text(json.dumps({"rope_scaling": {"type": "yarn", "factor": 4.0}}))
    result = long_context.probe(fake_context(FakeVllm(), facts=facts, model_dir=tmp_path))
    assert result.passed, result.message


def test_needle_recalled_for_a_real_model() -> None:
    """For a real model the needle prompt has the asked length, starts with the fact and is answered with it."""
    api = FakeVllm(max_model_len=2000)
    result = long_context.probe(fake_context(api, semantic=True, options={"needle_tokens": 500}))
    assert result.passed, result.message
    needle = completions(api)[-1]
    prompt = needle["prompt"]
    assert isinstance(prompt, list) and len(prompt) == 500
    assert prompt.count(BOS) == 1 and prompt[0] == BOS
    assert "needle_recalled" in {c.name for c in result.checks} and "needle_s" in result.timings


def test_needle_missed_fails_with_its_code() -> None:
    """A model that answers another number fails needle_recalled with NEEDLE_MISSED and the answer as evidence."""
    result = long_context.probe(fake_context(FakeVllm(needle_recall=False), semantic=True))
    assert failed(result) == ["needle_recalled"]
    assert result.code == "NEEDLE_MISSED" and "12" in result.evidence


def test_needle_capped_inside_the_context() -> None:
    """A needle length beyond max_model_len is cut to fit: the request stays inside the context."""
    api = FakeVllm(max_model_len=300)
    result = long_context.probe(fake_context(api, semantic=True, options={"needle_tokens": 100_000}))
    assert result.passed, result.message
    prompt = completions(api)[-1]["prompt"]
    assert isinstance(prompt, list) and len(prompt) + long_context.NEEDLE_MAX_TOKENS <= 300


def test_canary_has_no_needle_check() -> None:
    """A random-weights model (not semantic) is not asked the needle question."""
    api = FakeVllm()
    result = long_context.probe(fake_context(api))
    assert "needle_recalled" not in {c.name for c in result.checks}
    assert len(completions(api)) == 2
