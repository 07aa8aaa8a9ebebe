"""The serving use cases production teams verify next, end to end on the CPU engine, read from the session's demo run
(no boot of its own): structured output, long context and concurrency on the control canary and on SmolLM2 (real
weights); reasoning separated by vLLM's deepseek_r1 parser, and a parser refused for a tokenizer without its tags;
rerank and score on a tiny cross-encoder, and a generative model's server asked to rerank."""

from __future__ import annotations

import pytest
from shared_runs import DemoRun

from harness.codes import Code
from harness.verdicts import Verdict

pytestmark = pytest.mark.e2e


def _passed(demo_run: DemoRun, cell_id: str, *names: str) -> dict[str, str]:
    """The cell is PASS and each named check ran and passed: name -> detail."""
    cell = demo_run.cell(cell_id)
    assert (cell.verdict, cell.code) == (Verdict.PASS, None), cell.message
    checks = {c.name: c for c in cell.checks}
    for name in names:
        assert name in checks and checks[name].passed, (name, checks.get(name))
    return {name: checks[name].detail for name in names}


@pytest.mark.parametrize("model", ["chat-ok", "smollm2-135m-instruct"])
def test_structured_output_is_enforced_by_the_engine(demo_run: DemoRun, model: str) -> None:
    """The schema holds where the prompt argues against it: vLLM's structured output, not the model, decided."""
    _passed(demo_run, f"{model}-default-structured_output", "json_schema_valid", "schema_enforced")


@pytest.mark.parametrize("model", ["chat-ok", "smollm2-135m-instruct", "gemma3-270m"])
def test_long_context_accepts_the_limit_and_refuses_past_it(demo_run: DemoRun, model: str) -> None:
    """A request at max-model-len is accepted, one past it gets vLLM's 400 (the server lives on)."""
    _passed(demo_run, f"{model}-default-long_context", "at_limit_accepted", "past_limit_refused")


def test_a_real_model_recalls_the_needle_far_back(demo_run: DemoRun) -> None:
    """SmolLM2 answers a fact placed hundreds of tokens back in a prompt near its served context."""
    _passed(demo_run, "smollm2-135m-instruct-default-long_context", "needle_recalled")


@pytest.mark.parametrize("model", ["chat-ok", "smollm2-135m-instruct", "gemma3-270m"])
def test_concurrent_streams_all_complete_independently(demo_run: DemoRun, model: str) -> None:
    """Eight simultaneous streams each finish with content, distinct ids and their own prompt's usage; none stalls."""
    _passed(demo_run, f"{model}-default-concurrency", "all_streams_answered", "no_stalls", "usage_matches_own_prompt")


@pytest.mark.parametrize("model", ["smollm2-135m-instruct", "gemma3-270m"])
def test_real_models_answer_each_stream_with_its_own_answer(demo_run: DemoRun, model: str) -> None:
    """Under load a real model still answers each stream's own question (random weights cannot be judged so)."""
    _passed(demo_run, f"{model}-default-concurrency", "own_answers")


def test_reasoning_is_kept_apart_from_the_answer_plain_and_streamed(demo_run: DemoRun) -> None:
    """zoo:think with --reasoning-parser deepseek_r1: its thinking in the reasoning field, its answer in content,
    no <think> tag leaked, and the streamed deltas keep the two apart."""
    assert demo_run.server("think-default-reasoning").flags.get("reasoning-parser") == "deepseek_r1"
    details = _passed(
        demo_run,
        "think-default-reasoning",
        "reasoning_present",
        "content_present",
        "no_tags_in_content",
        "split_exact",
        "stream_apart",
    )
    assert "<think>" not in details["content_present"]


def test_a_parser_whose_tags_the_tokenizer_lacks_is_refused_before_a_boot(demo_run: DemoRun) -> None:
    """think-tags-unknown: the engine's own deepseek_r1 parser cannot find its tokens; pre-flight says so with
    vLLM's message, and no server boots."""
    cell = demo_run.cell("think-tags-unknown-default-reasoning")
    assert (cell.verdict, cell.code) == (Verdict.XFAIL, Code.REASONING_TOKENS), cell.message
    assert cell.server is None
    assert "think" in (cell.message + cell.evidence).lower()


def test_rerank_and_score_on_a_cross_encoder(demo_run: DemoRun) -> None:
    """tiny-rerank: /rerank sorted with indices and scores, top_n honoured, /score agreeing with rerank."""
    _passed(demo_run, "tiny-rerank-default-rerank", "rerank_protocol", "top_n", "score_agrees")


def test_a_generative_model_asked_to_rerank_is_wrong_task_with_vllms_answer(demo_run: DemoRun) -> None:
    """chat-ok's server has no rerank route: WRONG_TASK with the engine's 404 as evidence, on the same boot."""
    cell = demo_run.cell("chat-ok-default-rerank")
    assert (cell.verdict, cell.code) == (Verdict.XFAIL, Code.WRONG_TASK), cell.message
    assert "404" in cell.message + cell.evidence
    assert cell.server is not None and cell.server.key == demo_run.cell("chat-ok-default-chat").server.key
