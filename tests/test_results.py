"""results.jsonl: append-only records, read back grouped; the report renders them honestly."""

from __future__ import annotations

import json
from pathlib import Path

from harness.report import headline, render_status, write_reports
from harness.results import append_record, read_results


def _cell(cell_id: str, verdict: str, code: str | None = None, **extra: object) -> dict[str, object]:
    model, profile, use_case = cell_id.split("|")
    return {
        "kind": "cell",
        "cell_id": f"{model}-{profile}-{use_case}",
        "model": model,
        "profile": profile,
        "use_case": use_case,
        "verdict": verdict,
        "code": code,
        "message": extra.pop("message", ""),
        "evidence": extra.pop("evidence", ""),
        "checks": extra.pop("checks", []),
        **extra,
    }


def test_a_line_cut_short_by_a_crash_is_skipped_and_the_rest_survives(tmp_path: Path) -> None:
    """A truncated last line does not make the earlier records unreadable."""
    path = tmp_path / "results.jsonl"
    append_record(path, _cell("m|default|chat", "PASS"))
    with path.open("a") as handle:
        handle.write('{"kind": "cell", "cell_id": "m-default-comp')
    results = read_results(tmp_path)
    assert [c["cell_id"] for c in results.cells] == ["m-default-chat"]


def test_server_records_merge_boot_and_teardown_lines(tmp_path: Path) -> None:
    """The teardown line adds to the boot line of the same server instead of replacing it."""
    path = tmp_path / "results.jsonl"
    append_record(path, {"kind": "server", "server_key": "m-default", "outcome": "ready", "boot_s": 31.5, "port": 9})
    append_record(path, {"kind": "server", "server_key": "m-default", "outcome": "stopped", "leftover_pids": []})
    (server,) = read_results(tmp_path).servers
    assert (server["boot_s"], server["outcome"], server["leftover_pids"]) == (31.5, "stopped", [])


def test_headline_counts_only_passes_as_working(tmp_path: Path) -> None:
    """XFAIL and SKIP cells are not working; the headline says how many are and what else happened."""
    path = tmp_path / "results.jsonl"
    append_record(path, _cell("a|default|chat", "PASS"))
    append_record(path, _cell("b|default|chat", "XFAIL", "NO_CHAT_TEMPLATE"))
    append_record(path, _cell("c|default|chat", "FAIL", "STOP_TOKEN"))
    append_record(path, _cell("d|default|tools", "SKIP"))
    text = headline(read_results(tmp_path))
    assert text.startswith("**1 of 4 cells working**")
    assert "1 failing as the matrix expects" in text
    assert "1 unexpected" in text


def test_status_shows_each_failure_with_code_evidence_and_failed_checks(tmp_path: Path) -> None:
    """A failing cell gets its own section naming the code, the evidence and the check that did not hold."""
    path = tmp_path / "results.jsonl"
    append_record(path, {"kind": "environment", "run_id": "r1", "engine_versions": {"vllm": "0.32.0"}, "gpus": []})
    append_record(path, _cell("a|default|chat", "PASS"))
    append_record(
        path,
        _cell(
            "b|default|stop_tokens",
            "FAIL",
            "STOP_TOKEN",
            message="stop token '<|im_end|>' not honoured",
            evidence="finish_reason='length' after 256 tokens",
            checks=[{"name": "finish_reason", "passed": False, "detail": "length, expected stop"}],
        ),
    )
    text = render_status(read_results(tmp_path))
    assert "### b-default-stop_tokens: FAIL `STOP_TOKEN`" in text
    assert "finish_reason='length' after 256 tokens" in text
    assert "check `finish_reason` failed: length, expected stop" in text
    assert "| a | default | ✅ PASS |" in text
    assert "vLLM 0.32.0" in text


def test_write_reports_publishes_the_same_text_in_both_places(tmp_path: Path) -> None:
    """The run directory's STATUS.md and the published one are identical."""
    run_dir = tmp_path / "run"
    append_record(run_dir / "results.jsonl", _cell("a|default|chat", "PASS"))
    published = write_reports(run_dir, status_path=tmp_path / "reports" / "STATUS.md")
    assert published.read_text() == (run_dir / "STATUS.md").read_text()
    assert "1 of 1 cells working" in published.read_text()


def test_records_are_one_json_object_per_line(tmp_path: Path) -> None:
    """Every appended record is exactly one parseable line."""
    path = tmp_path / "results.jsonl"
    append_record(path, {"kind": "cell", "message": "two\nlines"})
    lines = path.read_text().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["message"] == "two\nlines"


def test_a_stream_that_arrived_in_one_burst_is_flagged_not_trusted(tmp_path: Path) -> None:
    """When client TTFT is about E2E the report says the client figures do not describe the engine."""
    latency = {
        "client": {"ttft_s": {"p50": 0.060}, "tpot_s": {"p50": 0.0001}, "e2e_s": {"p50": 0.062}},
        "server": {"ttft_s.mean": 0.006, "tpot_s.mean": 0.0016},
    }
    append_record(
        tmp_path / "results.jsonl", _cell("a|default|chat", "PASS", timings={"probe_s": 0.2}, latency=latency)
    )
    text = render_status(read_results(tmp_path))
    assert "arrived in one burst" in text
    assert "| 6.0 ms | 1.6 ms |" in text
