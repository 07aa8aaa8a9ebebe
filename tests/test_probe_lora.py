"""The lora probe against a fake vLLM (tests/vllm_api_fake.py): adapters listed under the base, answering as
themselves, an unknown adapter refused; each way a server gets it wrong fails its own check with LORA_SERVING."""

from __future__ import annotations

from harness.probes import PROBES
from harness.probes.lora import UNKNOWN_ADAPTER, configured_adapters, probe
from tests.vllm_api_fake import FakeVllm, failed, fake_context

ADAPTER_ANSWER = " from the tiny zoo model."
FLAGS = {"enable-lora": True, "lora-modules": ["zoo-lora=zoo:lora-canary"]}


def _healthy() -> FakeVllm:
    return FakeVllm(adapters={"zoo-lora": ADAPTER_ANSWER})


def _context(api: FakeVllm, **overrides: object) -> object:
    return fake_context(api, flags=FLAGS, lora_answers={"zoo-lora": ADAPTER_ANSWER}, **overrides)


def test_healthy_server_passes_every_check() -> None:
    """A vLLM that lists the adapter under the base, applies it and refuses an unknown name passes all checks."""
    api = _healthy()
    result = probe(_context(api))  # type: ignore[arg-type]
    assert result.passed, result.message
    names = [c.name for c in result.checks]
    assert names == [
        "base_listed",
        "adapters_configured",
        "adapter_listed:zoo-lora",
        "base_answers",
        "adapter_answers:zoo-lora",
        "adapter_applied:zoo-lora",
        "unknown_adapter_refused",
    ]
    assert [r.get("model") for r in api.requests if r["path"] == "/v1/chat/completions"] == [
        "m-1",
        "zoo-lora",
        UNKNOWN_ADAPTER,
    ]
    assert PROBES["lora"] is probe


def test_adapter_loaded_but_not_applied_fails_with_both_answers() -> None:
    """An adapter that answers as the base fails adapter_applied with LORA_SERVING, quoting both answers."""
    api = FakeVllm(adapters={"zoo-lora": ADAPTER_ANSWER}, adapters_ignored=True)
    result = probe(_context(api))  # type: ignore[arg-type]
    assert failed(result) == ["adapter_applied:zoo-lora"]
    assert result.code == "LORA_SERVING"
    assert "Paris is the capital of France." in result.evidence


def test_unlisted_adapter_and_wrong_parent_fail_the_listing() -> None:
    """/v1/models without the adapter, or with another parent, fails adapter_listed."""
    unlisted = probe(_context(FakeVllm(adapters={"zoo-lora": ADAPTER_ANSWER}, unlisted_adapters=True)))  # type: ignore[arg-type]
    assert failed(unlisted) == ["adapter_listed:zoo-lora"]
    assert "does not list the adapter 'zoo-lora'" in unlisted.message
    orphan = probe(_context(FakeVllm(adapters={"zoo-lora": ADAPTER_ANSWER}, adapter_parent="other")))  # type: ignore[arg-type]
    assert failed(orphan) == ["adapter_listed:zoo-lora"]
    assert "parent 'other'" in orphan.message


def test_unknown_adapter_answered_fails() -> None:
    """A server that answers a model name it does not serve (a proxy routing anything to the base) fails
    unknown_adapter_refused; a refusal with another status or text fails it too."""
    lax = probe(_context(FakeVllm(adapters={"zoo-lora": ADAPTER_ANSWER}, unknown_model_status=None)))  # type: ignore[arg-type]
    assert failed(lax) == ["unknown_adapter_refused"]
    assert lax.code == "LORA_SERVING"
    crash = probe(_context(FakeVllm(adapters={"zoo-lora": ADAPTER_ANSWER}, unknown_model_status=500)))  # type: ignore[arg-type]
    assert failed(crash) == ["unknown_adapter_refused"]
    assert "HTTP 500" in crash.message


def test_vllm_400_refusal_is_accepted() -> None:
    """vLLM's refusal as HTTP 400 (versions that answered a bad LoRA name so) passes as well as 404."""
    result = probe(_context(FakeVllm(adapters={"zoo-lora": ADAPTER_ANSWER}, unknown_model_status=400)))  # type: ignore[arg-type]
    assert result.passed, result.message


def test_adapter_without_known_answer_is_not_held_to_one() -> None:
    """An adapter of unknown behaviour (no lora_answers entry) may answer as its base: no adapter_applied check."""
    api = FakeVllm(adapters={"zoo-lora": "Paris is the capital of France."})
    result = probe(fake_context(api, flags=FLAGS))
    assert result.passed, result.message
    assert "adapter_applied:zoo-lora" not in [c.name for c in result.checks]


def test_live_endpoint_adapters_come_from_the_model_list() -> None:
    """Without lora-modules (a live endpoint), the adapters are those /v1/models lists under the base; none at all
    fails adapters_configured with LORA_ADAPTER."""
    api = FakeVllm(adapters={"a": "x", "b": "y"})
    result = probe(fake_context(api))
    assert result.passed, result.message
    assert {"adapter_answers:a", "adapter_answers:b"} <= {c.name for c in result.checks}
    bare = probe(fake_context(FakeVllm()))
    assert failed(bare) == ["adapters_configured"]
    assert bare.code == "LORA_ADAPTER"


def test_completions_for_a_model_without_chat_template() -> None:
    """Without a chat template (pre-flight facts), base and adapter are asked on /v1/completions."""
    from harness.checkpoint import PreflightFacts

    api = _healthy()
    result = probe(_context(api, facts=PreflightFacts()))  # type: ignore[arg-type]
    assert result.passed, result.message
    assert {r["path"] for r in api.requests} == {"/v1/models", "/v1/completions"}


def test_lora_modules_flag_forms() -> None:
    """configured_adapters reads vLLM's NAME=PATH and JSON forms, a single string or a list."""
    forms = {
        "lora-modules": ["a=/x", '{"name": "b", "path": "/y", "base_model_name": "m"}'],
    }
    assert configured_adapters(fake_context(FakeVllm(), flags=forms)) == ["a", "b"]
    assert configured_adapters(fake_context(FakeVllm(), flags={"lora-modules": "c=zoo:lora-canary"})) == ["c"]
