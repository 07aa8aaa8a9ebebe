"""Client-side latency with vllm bench serve's definitions, over streams served by httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import httpx
import openai
import pytest

from harness.measure import latency
from harness.measure.latency import NoTokenError, RequestTiming, measure_stream, percentile, summarise


class FakeClock:
    """perf_counter replacement: each stream event advances it by a scripted step, so timings are exact."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _sse(events: list[dict[str, Any]]) -> list[bytes]:
    return [f"data: {json.dumps(event)}\n\n".encode() for event in events] + [b"data: [DONE]\n\n"]


class _Stream(httpx.SyncByteStream):
    """Yields one SSE event at a time, moving the fake clock forward before each by the given gap."""

    def __init__(self, chunks: list[bytes], gaps: list[float], clock: FakeClock) -> None:
        self.chunks, self.gaps, self.clock = chunks, gaps, clock

    def __iter__(self) -> Iterator[bytes]:
        for chunk, gap in zip(self.chunks, self.gaps, strict=False):
            self.clock.now += gap
            yield chunk


def _client(events: list[dict[str, Any]], gaps: list[float], clock: FakeClock, seen: list[Any]) -> openai.OpenAI:
    chunks = _sse(events)
    gaps = gaps + [0.0] * (len(chunks) - len(gaps))

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_Stream(chunks, gaps, clock))

    # cast: openai types http_client as its own httpx flavour (httpx2); a public httpx.Client works at runtime.
    http_client = cast(Any, httpx.Client(transport=httpx.MockTransport(handler)))
    return openai.OpenAI(base_url="http://test/v1", api_key="k", max_retries=0, http_client=http_client)


def _completion(text: str, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "text_completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "text": text, "finish_reason": finish}],
    }


def _chat(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _usage(completion_tokens: int, prompt_tokens: int = 5, chat: bool = False) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": 0,
        "model": "m",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The latency module's perf_counter, replaced by a clock the streams move."""
    fake = FakeClock()
    monkeypatch.setattr(latency, "_clock", fake)
    return fake


def test_completion_stream_timings_follow_vllm_bench(clock: FakeClock) -> None:
    """TTFT is send->first choices chunk, ITL the gaps between choices chunks, E2E ends at the last choices chunk."""
    events = [_completion("He"), _completion("llo"), _completion(" you"), _completion("", "length"), _usage(4)]
    seen: list[Any] = []
    client = _client(events, [0.5, 0.1, 0.2, 0.3, 7.0], clock, seen)  # the usage chunk comes 7 s late
    timing = measure_stream(client, "m", "hi", 4, ignore_eos=True)
    assert timing.ttft_s == pytest.approx(0.5)
    assert timing.itl_s == pytest.approx((0.1, 0.2, 0.3))
    assert timing.e2e_s == pytest.approx(1.1)  # not 8.1: the usage chunk carries no token
    assert timing.output_tokens == 4
    assert timing.tokens_from_usage is True
    assert timing.tpot_s == pytest.approx((1.1 - 0.5) / 3)
    assert timing.text == "Hello you"
    assert timing.finish_reason == "length"


def test_request_body_asks_for_usage_and_ignore_eos(clock: FakeClock) -> None:
    """The request streams with include_usage, the given max_tokens and, when asked, vLLM's ignore_eos."""
    seen: list[Any] = []
    client = _client([_completion("a"), _usage(1)], [0.1], clock, seen)
    measure_stream(client, "m", "hi", 7, ignore_eos=True)
    body = seen[0]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 7
    assert body["ignore_eos"] is True


def test_chat_role_chunk_counts_as_first_token(clock: FakeClock) -> None:
    """For chat, as in vllm bench, the role-only first chunk (empty content) is what TTFT measures."""
    events = [
        _chat({"role": "assistant", "content": ""}),
        _chat({"content": "Hi"}),
        _chat({"content": " there"}),
        _chat({"content": ""}, "stop"),
        _usage(3, chat=True),
    ]
    seen: list[Any] = []
    client = _client(events, [0.4, 0.05, 0.1, 0.1], clock, seen)
    timing = measure_stream(client, "m", [{"role": "user", "content": "hi"}], 16)
    assert seen[0]["max_completion_tokens"] == 16
    assert "ignore_eos" not in seen[0]
    assert timing.ttft_s == pytest.approx(0.4)
    assert timing.itl_s == pytest.approx((0.05, 0.1, 0.1))
    assert timing.e2e_s == pytest.approx(0.65)
    assert timing.text == "Hi there"
    assert timing.output_tokens == 3


def test_without_usage_tokens_are_counted_as_text_chunks(clock: FakeClock) -> None:
    """A stream without a usage chunk counts chunks with text, and says the count is not from usage."""
    events = [_completion("a"), _completion(""), _completion("b"), _completion("c", "stop")]
    timing = measure_stream(_client(events, [0.1, 0.1, 0.1, 0.1], clock, []), "m", "p", 8)
    assert timing.output_tokens == 3
    assert timing.tokens_from_usage is False


def test_stream_without_choices_is_an_error(clock: FakeClock) -> None:
    """A stream that ends with no choices chunk fails like vllm bench's 'Never received a valid chunk'."""
    with pytest.raises(NoTokenError, match="no TTFT"):
        measure_stream(_client([_usage(0)], [0.1], clock, []), "m", "p", 8)


def _timing(start: float, ttft: float, e2e: float, tokens: int, itl: tuple[float, ...] = ()) -> RequestTiming:
    return RequestTiming(start, ttft, e2e, itl, tokens, True, 1, "", "length")


def test_one_token_has_no_tpot() -> None:
    """TPOT is undefined for a single output token and is left out of the TPOT statistics, as in vllm bench."""
    one = _timing(0.0, 0.2, 0.2, 1)
    assert one.tpot_s is None
    summary = summarise([one, _timing(1.0, 0.1, 0.5, 5, (0.1, 0.1, 0.1, 0.1))])
    assert summary["tpot_s"]["n"] == 1
    assert summary["tpot_s"]["p50"] == pytest.approx(0.1)


def test_summary_pools_itls_and_spans_the_run() -> None:
    """ITLs are pooled over requests, and throughput is all output tokens over first start to last end."""
    timings = [_timing(10.0, 0.1, 1.0, 10, (0.1,) * 9), _timing(11.0, 0.3, 1.0, 10, (0.05,) * 9)]
    summary = summarise(timings)
    assert summary["itl_s"]["n"] == 18
    assert summary["ttft_s"]["mean"] == pytest.approx(0.2)
    assert summary["output_tokens_per_s"] == pytest.approx(20 / 2.0)
    assert summary["requests"] == 2


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1.0], 50, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([1.0, 2.0, 3.0, 4.0], 90, 3.7),
        ([4.0, 1.0, 3.0, 2.0, 10.0], 99, 9.76),
    ],
)
def test_percentile_matches_numpy_linear(values: list[float], q: float, expected: float) -> None:
    """Percentiles interpolate linearly between ranks, like numpy.percentile's default that vllm bench uses."""
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_matches_numpy_itself() -> None:
    """On an irregular sample the percentile equals numpy.percentile to float precision."""
    numpy = pytest.importorskip("numpy")
    values = [0.013, 0.5, 0.021, 0.7, 0.0001, 0.3, 0.3, 0.9]
    for q in (1, 25, 50, 75, 90, 99):
        assert percentile(values, q) == pytest.approx(float(numpy.percentile(values, q)))
