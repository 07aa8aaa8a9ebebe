"""The reasoning probe against a fake vLLM: it passes only where the reasoning and the content come back apart."""

from __future__ import annotations

from harness.probes import PROBES, reasoning
from harness.zoo.reasoning import CONTENT_TEXT, REASONING_TEXT, THINK_ANSWER, UNKNOWN_TAGS
from tests.vllm_api_fake import FakeReasoner, failed, fake_context


def test_separated_answer_passes_plain_and_streamed() -> None:
    """Reasoning in ``reasoning``, the answer in ``content``, streamed as separate deltas: every check holds."""
    result = reasoning.probe(fake_context(FakeReasoner()))
    assert result.passed, result.message
    assert {"reasoning_present", "content_present", "no_tags_in_content", "stream_apart", "stream_agrees"} <= {
        c.name for c in result.checks
    }
    assert PROBES["reasoning"] is reasoning.probe


def test_older_field_name_is_read() -> None:
    """A vLLM that still says ``reasoning_content`` passes, and the check names the field that answered."""
    result = reasoning.probe(fake_context(FakeReasoner(field_name="reasoning_content")))
    assert result.passed, result.message
    assert "reasoning_content" in next(c.detail for c in result.checks if c.name == "reasoning_present")


def test_no_parser_with_tags_in_content_is_a_leak() -> None:
    """No reasoning field and <think> tags in the content (no --reasoning-parser): REASONING_LEAK naming the fix."""
    api = FakeReasoner(reasoning=None, content="<think>hm</think>Paris")
    result = reasoning.probe(fake_context(api))
    assert failed(result) == ["reasoning_present"]
    assert result.code == "REASONING_LEAK"
    assert "reasoning-parser" in result.message and "<think>" in result.message


def test_no_reasoning_at_all_is_missing() -> None:
    """No reasoning field and no tags (a model that never thinks): REASONING_MISSING."""
    result = reasoning.probe(fake_context(FakeReasoner(reasoning=None, content="Paris")))
    assert result.code == "REASONING_MISSING"


def test_everything_taken_as_reasoning_is_missing_content() -> None:
    """A parser that never saw its end tag returns all as reasoning and empty content: REASONING_MISSING."""
    result = reasoning.probe(fake_context(FakeReasoner(content="", finish="length")))
    assert "content_present" in failed(result)
    assert result.code == "REASONING_MISSING"
    assert "cut at max_tokens" in result.message


def test_unknown_tags_in_content_leak() -> None:
    """A parser that does not know the model's <reasoning> tags leaves them in the content: REASONING_LEAK."""
    api = FakeReasoner(reasoning="x", content="<reasoning>thinking</reasoning>Hello")
    result = reasoning.probe(fake_context(api))
    assert "no_tags_in_content" in failed(result)
    assert result.code == "REASONING_LEAK"


def test_stream_that_mixes_them_fails() -> None:
    """Plain answers apart but the stream sends the reasoning as content: stream_apart fails with REASONING_LEAK."""
    result = reasoning.probe(fake_context(FakeReasoner(stream_content_only=True)))
    assert failed(result) == ["stream_apart", "stream_agrees"]
    assert result.code == "REASONING_LEAK"


def test_zoo_answer_must_split_exactly() -> None:
    """For a zoo member the reasoning and content are the scripted parts; a different split fails split_exact."""
    good = FakeReasoner(reasoning=REASONING_TEXT, content=CONTENT_TEXT)
    assert reasoning.probe(fake_context(good, expected_answer=THINK_ANSWER)).passed
    wrong = FakeReasoner(reasoning=REASONING_TEXT + CONTENT_TEXT, content="model.")
    result = reasoning.probe(fake_context(wrong, expected_answer=THINK_ANSWER))
    assert "split_exact" in failed(result)


def test_expected_split_reads_any_tag_pair() -> None:
    """The scripted answer splits at its own tags, <think> or <reasoning>."""
    assert reasoning.expected_split(THINK_ANSWER) == (REASONING_TEXT.strip(), CONTENT_TEXT.strip())
    assert reasoning.expected_split(UNKNOWN_TAGS.answer) == (REASONING_TEXT.strip(), CONTENT_TEXT.strip())
    assert reasoning.expected_split("plain") is None


def test_semantic_content_must_answer() -> None:
    """A real model's content must name Paris."""
    assert reasoning.probe(fake_context(FakeReasoner(content="Paris."), semantic=True)).passed
    result = reasoning.probe(fake_context(FakeReasoner(content="Lyon."), semantic=True))
    assert failed(result) == ["answer"]
