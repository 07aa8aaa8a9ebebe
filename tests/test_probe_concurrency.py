"""The concurrency probe against a fake vLLM: N streams at once, each complete, well-formed and its own."""

from __future__ import annotations

import threading

from harness.checkpoint import ChatTemplateFacts, PreflightFacts
from harness.probes import concurrency
from tests.vllm_api_fake import FakeVllm, failed, fake_context

SPREAD = {f"concurrent_{kind}_{stat}_s" for kind in ("ttft", "e2e") for stat in ("min", "p50", "max")}


def streams(api: FakeVllm) -> list[dict[str, object]]:
    return [r for r in api.requests if r.get("stream")]


def test_simultaneous_streams_pass_and_record_the_spread() -> None:
    """Eight streams that only get past a barrier together all pass; the latency spread is in the timings."""
    api = FakeVllm(barrier=threading.Barrier(8, timeout=5))
    result = concurrency.probe(fake_context(api))
    assert result.passed, result.message
    assert len(streams(api)) == 8
    assert set(result.timings) >= SPREAD
    assert result.timings["concurrent_ttft_min_s"] <= result.timings["concurrent_ttft_max_s"]
    assert [c.name for c in result.checks] == [
        "all_streams_answered",
        "streams_well_formed",
        "distinct_ids",
        "content_in_every_stream",
        "usage_matches_own_prompt",
        "no_stalls",
    ]


def test_streams_option_sets_the_count() -> None:
    """options {streams: 12} sends twelve simultaneous streams, the questions in turn."""
    api = FakeVllm(barrier=threading.Barrier(12, timeout=5))
    result = concurrency.probe(fake_context(api, options={"streams": 12}))
    assert result.passed, result.message
    assert len(streams(api)) == 12


def test_real_model_repeats_its_own_word() -> None:
    """For a real model every stream must repeat its own word; an answer carrying another word fails own_answers."""
    result = concurrency.probe(fake_context(FakeVllm(), semantic=True))
    assert result.passed and "own_answers" in {c.name for c in result.checks}
    wrong = FakeVllm(answer=lambda question: "apple")
    result = concurrency.probe(fake_context(wrong, semantic=True))
    assert failed(result) == ["own_answers"]
    assert result.code == "CONCURRENCY" and "stream 1 ('river'): 'apple'" in result.message


def test_usage_of_another_prompt_fails() -> None:
    """Streams whose usage counts another prompt's tokens fail usage_matches_own_prompt."""
    result = concurrency.probe(fake_context(FakeVllm(usage_off_by=3)))
    assert failed(result) == ["usage_matches_own_prompt"]


def test_shared_ids_fail_distinct_ids() -> None:
    """Eight streams with one response id between them fail distinct_ids."""
    result = concurrency.probe(fake_context(FakeVllm(same_ids=True)))
    assert failed(result) == ["distinct_ids"]
    assert "1 distinct response ids for 8 streams" in result.message


def test_one_failing_stream_fails_with_its_error() -> None:
    """An HTTP 500 on one stream fails all_streams_answered, naming the stream; the other seven are still judged."""
    result = concurrency.probe(fake_context(FakeVllm(failing_stream="orange")))
    assert failed(result) == ["all_streams_answered"]
    assert result.code == "CONCURRENCY"
    assert "7 of 8" in result.message and "stream 7: HTTP 500" in result.message
    assert set(result.timings) >= SPREAD  # the seven that answered


def test_timed_out_stream_is_a_stall() -> None:
    """A stream that times out fails all_streams_answered with PROBE_TIMEOUT."""
    result = concurrency.probe(fake_context(FakeVllm(timeout_stream="river")))
    assert "all_streams_answered" in failed(result)
    assert result.code == "PROBE_TIMEOUT"


def test_base_model_streams_completions() -> None:
    """Pre-flight found no chat template: the streams go to /v1/completions, and usage is checked against them."""
    facts = PreflightFacts(chat_template=ChatTemplateFacts(None, False, None, None, None))
    api = FakeVllm()
    result = concurrency.probe(fake_context(api, facts=facts, semantic=True))
    assert result.passed, result.message
    assert {r["path"] for r in streams(api)} == {"/v1/completions"}


def test_requests_cycle_through_the_words_and_canaries_pad() -> None:
    """asks(n) gives twelve different words, then repeats them; padded, every prompt has its own length."""
    plain = concurrency.asks(14)
    assert len({a.word for a in plain[:12]}) == 12 and plain[12].word == plain[0].word
    assert plain[13].chat_messages() == plain[1].chat_messages()
    padded = concurrency.asks(14, padded=True)
    assert len({len(a.prompt()) for a in padded}) == 14
    assert len({a.chat_messages()[0]["content"] for a in padded}) == 14


def test_canary_prompts_differ_in_length_so_crossing_shows() -> None:
    """For a canary the usage check compares streams of different prompt lengths (said in its detail)."""
    result = concurrency.probe(fake_context(FakeVllm()))
    usage = next(c for c in result.checks if c.name == "usage_matches_own_prompt")
    assert usage.passed and "(8 different prompt lengths)" in usage.detail
