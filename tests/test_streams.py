"""The one stream reader: both first-token clocks under their own names, tool-call reassembly, shape problems."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace as NS
from typing import Any

from harness.probes.streams import read_stream


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, int] | None = None) -> Any:
    choices = [] if delta is None else [NS(delta=NS(**{"role": None, "content": None, **delta}), finish_reason=finish)]
    return NS(id="c1", choices=choices, usage=NS(**usage) if usage else None)


def _ticks(start: float = 0.0, step: float = 0.1) -> Iterator[float]:
    now = start
    while True:
        now += step
        yield now


def test_role_only_first_chunk_starts_vllm_bench_ttft_but_not_first_content() -> None:
    """vLLM's role-only first chat chunk is vllm bench's TTFT point; the first visible text comes a chunk later."""
    chunks = [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Hel"}),
        _chunk({"content": "lo"}, finish="stop"),
        _chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}),
    ]
    clock = _ticks()
    read = read_stream(chunks, 0.0, chat=True, clock=lambda: next(clock))
    assert read.first_choice_at == 0.1
    assert read.first_content_at == 0.2
    assert read.first_content_s == 0.2
    assert read.last_choice_at == 0.30000000000000004  # the usage-only chunk never ends vllm bench's E2E
    assert read.e2e_s > read.last_choice_at  # the probes' end is the exhausted stream
    assert read.text == "Hello" and read.role == "assistant" and read.text_chunks == 2
    assert len(read.choice_gaps) == 2
    assert read.usage == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert read.problems == []


def test_tool_call_deltas_are_reassembled_by_index_and_a_nameless_call_is_a_problem() -> None:
    """Argument deltas concatenate per index; a call that never got a name is reported, and usage is optional."""

    def call(index: int, id_: str | None, name: str | None, arguments: str) -> Any:
        return NS(index=index, id=id_, type="function" if id_ else None, function=NS(name=name, arguments=arguments))

    chunks = [
        _chunk({"tool_calls": [call(0, "call_1", "get_weather", '{"ci')]}),
        _chunk({"tool_calls": [call(0, None, None, 'ty": "Paris"}')]}),
        _chunk({"tool_calls": [call(1, "call_2", None, "{}")]}, finish="tool_calls"),
    ]
    read = read_stream(chunks, 0.0, chat=True, expect_usage=False)
    assert read.calls[0].name == "get_weather" and read.calls[0].arguments == '{"city": "Paris"}'
    assert read.first_content_at is not None  # a tool-call delta is content the user's agent sees
    assert read.problems == ["tool call 1 has no name"]


def test_an_empty_stream_has_every_shape_problem() -> None:
    """No chunks: no finish_reason and no usage chunk either."""
    read = read_stream([], 0.0, chat=False)
    assert read.problems == [
        "no chunks",
        "0 finish_reasons [] (need 1)",
        "no usage chunk despite stream_options.include_usage",
    ]
