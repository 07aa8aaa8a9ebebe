"""results.jsonl: typed, versioned records appended one per line, read back grouped; the report renders them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from records_fake import cell, environment, server

from harness.cli import main
from harness.codes import Code
from harness.findings import Finding, Severity
from harness.report import headline, render_status, write_reports
from harness.results import (
    SCHEMA_VERSION,
    CellServer,
    CheckRecord,
    GpuRecord,
    ResultsError,
    ServerOutcome,
    append_record,
    read_records,
    read_results,
)
from harness.usecases import UseCase
from harness.verdicts import Verdict

DATA = Path(__file__).parent / "data" / "results"
# Written by hand from the dict literals of the runner before records were typed (no schema_version): a booted and
# stopped server, a failed boot, cells of every verdict, a re-run cell and a line cut short at the end.
V1_HANDMADE = DATA / "v1_handmade.jsonl"
# `make demo` run by the harness before records were typed, and the STATUS.md it renders to: rendered by that harness
# then, and re-rendered only where the layout changed on purpose (the use case summary, problems and grouped grid);
# every verdict, figure and evidence in it is that run's.
V1_DEMO = DATA / "v1_demo.jsonl"
V1_DEMO_STATUS = DATA / "v1_demo_STATUS.md"
V1_DEMO_RUN_DIR = "/tmp/before-demo/run"


def _run_dir(tmp_path: Path, source: Path) -> Path:
    shutil.copy(source, tmp_path / "results.jsonl")
    return tmp_path


def test_a_line_cut_short_by_a_crash_is_skipped_and_the_rest_survives(tmp_path: Path) -> None:
    """A truncated last line does not make the earlier records unreadable."""
    path = tmp_path / "results.jsonl"
    append_record(path, cell("m|default|chat", Verdict.PASS))
    with path.open("a") as handle:
        handle.write('{"kind": "cell", "cell_id": "m-default-comp')
    results = read_results(tmp_path)
    assert [c.cell_id for c in results.cells] == ["m-default-chat"]


def test_server_records_merge_boot_and_teardown_lines(tmp_path: Path) -> None:
    """The teardown line adds to the boot line of the same server instead of replacing it."""
    path = tmp_path / "results.jsonl"
    append_record(path, server("m-default", ServerOutcome.READY, boot_s=31.5, port=9, boot_phases={"api_up": True}))
    append_record(path, server("m-default", ServerOutcome.STOPPED, leftover_pids=()))
    (merged,) = read_results(tmp_path).servers
    assert (merged.boot_s, merged.outcome, merged.leftover_pids) == (31.5, ServerOutcome.STOPPED, ())
    assert merged.boot_phases == {"api_up": True}


def test_a_rerun_cell_keeps_its_last_verdict(tmp_path: Path) -> None:
    """A cell written twice into one run directory (pytest --lf) is read with its last verdict."""
    path = tmp_path / "results.jsonl"
    append_record(path, cell("m|default|chat", Verdict.FAIL, Code.OOM))
    append_record(path, cell("m|default|chat", Verdict.PASS))
    (only,) = read_results(tmp_path).cells
    assert (only.verdict, only.code) == (Verdict.PASS, None)


def test_headline_counts_only_passes_as_working(tmp_path: Path) -> None:
    """XFAIL and SKIP cells are not working; the headline says how many are and what else happened."""
    path = tmp_path / "results.jsonl"
    append_record(path, cell("a|default|chat", Verdict.PASS))
    append_record(path, cell("b|default|chat", Verdict.XFAIL, Code.NO_CHAT_TEMPLATE))
    append_record(path, cell("c|default|chat", Verdict.FAIL, Code.STOP_TOKEN))
    append_record(path, cell("d|default|tools", Verdict.SKIP))
    text = headline(read_results(tmp_path))
    assert text.startswith("**1 of 4 cells working**")
    assert "1 failing as the matrix expects" in text
    assert "1 unexpected" in text


def test_status_shows_each_failure_with_code_evidence_and_failed_checks(tmp_path: Path) -> None:
    """A failing cell gets its own section naming the code, the evidence and the check that did not hold."""
    path = tmp_path / "results.jsonl"
    append_record(path, environment(engine_versions={"vllm": "0.32.0"}))
    append_record(path, cell("a|default|chat", Verdict.PASS))
    append_record(
        path,
        cell(
            "b|default|stop_tokens",
            Verdict.FAIL,
            Code.STOP_TOKEN,
            message="stop token '<|im_end|>' not honoured",
            evidence="finish_reason='length' after 256 tokens",
            checks=(CheckRecord("finish_reason", False, "length, expected stop"),),
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
    append_record(run_dir / "results.jsonl", cell("a|default|chat", Verdict.PASS))
    published = write_reports(run_dir, status_path=tmp_path / "reports" / "STATUS.md")
    assert published.read_text() == (run_dir / "STATUS.md").read_text()
    assert "1 of 1 cells working" in published.read_text()


def test_records_are_one_json_object_per_line_with_the_schema_version(tmp_path: Path) -> None:
    """Every appended record is exactly one parseable line that says its schema version and kind."""
    path = tmp_path / "results.jsonl"
    append_record(path, cell("m|default|chat", Verdict.FAIL, message="two\nlines"))
    append_record(path, server("m-default", ServerOutcome.READY))
    append_record(path, environment())
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 3
    assert lines[0]["message"] == "two\nlines"
    assert [(line["schema_version"], line["kind"]) for line in lines] == [
        (SCHEMA_VERSION, "cell"),
        (SCHEMA_VERSION, "server"),
        (SCHEMA_VERSION, "environment"),
    ]


def test_a_stream_that_arrived_in_one_burst_is_flagged_not_trusted(tmp_path: Path) -> None:
    """When client TTFT is about E2E the report says the client figures do not describe the engine."""
    latency = {
        "client": {"ttft_s": {"p50": 0.060}, "tpot_s": {"p50": 0.0001}, "e2e_s": {"p50": 0.062}},
        "server": {"ttft_s.mean": 0.006, "tpot_s.mean": 0.0016},
    }
    append_record(
        tmp_path / "results.jsonl",
        cell("a|default|chat", Verdict.PASS, timings={"probe_s": 0.2}, latency=latency),
    )
    text = render_status(read_results(tmp_path))
    assert "arrived in one burst" in text
    assert "| 6.0 ms | 1.6 ms |" in text


def test_a_concurrency_cell_shows_its_spread_under_load(tmp_path: Path) -> None:
    """A concurrency cell's latency row gives the p50 over its simultaneous streams and their min and max."""
    timings = {
        "probe_s": 13.0,
        "concurrent_ttft_min_s": 0.5,
        "concurrent_ttft_p50_s": 1.25,
        "concurrent_ttft_max_s": 2.0,
        "concurrent_e2e_min_s": 9.0,
        "concurrent_e2e_p50_s": 11.0,
        "concurrent_e2e_max_s": 13.0,
    }
    append_record(tmp_path / "results.jsonl", cell("a|default|concurrency", Verdict.PASS, timings=timings))
    text = render_status(read_results(tmp_path))
    row = next(line for line in text.splitlines() if line.startswith("| a-default-concurrency | PASS | 1250.0 ms"))
    assert "| 11000.0 ms |" in row
    assert "under load, the p50 over simultaneous streams; TTFT min 500.0 ms, max 2000.0 ms; E2E min 9000.0 ms" in row


# -- round trips: what is written is what is read -----------------------------------------------------------------
def test_a_cell_record_round_trips_with_every_typed_part(tmp_path: Path) -> None:
    """A cell with checks, findings, its server, timings and latency reads back equal to what was written."""
    record = cell(
        "m|default|chat",
        Verdict.XFAIL,
        Code.ENGINE_DIED,
        expected=Code.ENGINE_DIED,
        required=True,
        message="the engine died",
        evidence="killed",
        checks=(CheckRecord("http_200", True, "HTTP 200"), CheckRecord("answer", False, "'Lyon' | not 'Paris'")),
        findings=(Finding(Code.EOS_MISMATCH, Severity.WARNING, "eos", "config.json: eos_token_id"),),
        timings={"boot_s": 39.1, "probe_s": 0.8, "cell_s": 41.0},
        latency={"client": {"ttft_s": {"p50": 0.2}}, "server": {"ttft_s.mean": 0.1}},
        server=CellServer(key="m-default", port=8000, vllm_version="0.32.0", log="/l.log", cause=Code.PROC_KILLED),
        log_tail="line one\nline two",
        started_at="2026-11-30T09:00:00.000+00:00",
        finished_at="2026-11-30T09:00:41.000+00:00",
    )
    append_record(tmp_path / "results.jsonl", record)
    (read,) = read_records(tmp_path / "results.jsonl")
    assert read == record
    assert read.verdict is Verdict.XFAIL
    assert read.use_case is UseCase.CHAT
    assert read.server is not None and read.server.cause is Code.PROC_KILLED


def test_an_external_endpoint_cell_round_trips(tmp_path: Path) -> None:
    """A cell answered by an external endpoint keeps the endpoint's description and no port or log."""
    external = {"use_case": "tts", "base_url": "http://h/v1", "model": "tts-1", "api_key_env": "KEY"}
    record = cell("m|default|tts", Verdict.PASS, server=CellServer(key="m-default", external=external))
    append_record(tmp_path / "results.jsonl", record)
    assert json.loads((tmp_path / "results.jsonl").read_text())["server"] == {"key": "m-default", "external": external}
    assert list(read_records(tmp_path / "results.jsonl")) == [record]


def test_a_server_record_round_trips(tmp_path: Path) -> None:
    """A failed boot with its code, exit code, log tail and resources reads back equal."""
    record = server(
        "m-default",
        ServerOutcome.BOOT_FAILED,
        code=Code.KV_BUDGET,
        evidence="not enough memory for the KV cache",
        exit_code=1,
        boot_s=30.5,
        log="/l.log",
        log_tail="ValueError: KV",
        version={"version": "0.32.0"},
        resources={"gpu": False, "phases": {"boot": {"rss_bytes": 9}}},
        leftover_pids=(4242,),
    )
    append_record(tmp_path / "results.jsonl", record)
    assert list(read_records(tmp_path / "results.jsonl")) == [record]


def test_an_environment_record_round_trips(tmp_path: Path) -> None:
    """The environment with its GPUs reads back equal, and is the run's environment."""
    record = environment(
        harness_git_sha="abc",
        matrix="/m.yaml",
        matrix_sha256="ea00",
        python="3.11.7",
        cpu_count=16,
        driver="550.54",
        gpus=(GpuRecord(0, "NVIDIA H200", 150_000_000_000),),
        cuda_visible_devices="0",
    )
    append_record(tmp_path / "results.jsonl", record)
    assert read_results(tmp_path).environment == record


# -- files written by other versions ------------------------------------------------------------------------------
def test_a_file_written_before_schema_versions_is_read(tmp_path: Path) -> None:
    """An unversioned results.jsonl (version 1) is read: typed verdicts and codes, servers merged, the re-run cell's
    last verdict, the torn last line skipped."""
    results = read_results(_run_dir(tmp_path, V1_HANDMADE))
    verdicts = {c.cell_id: (c.verdict, c.code) for c in results.cells}
    assert verdicts["chat-ok-default-completions"] == (Verdict.PASS, None)  # re-run: the last line wins
    assert verdicts["no-chat-template-default-chat"] == (Verdict.XFAIL, Code.NO_CHAT_TEMPLATE)
    assert verdicts["tiny-head-dim-default-chat"] == (Verdict.FAIL, Code.ENGINE_DIED)
    assert len(results.cells) == 9  # the torn "chat-ok-default-emb..." line is not among them
    chat = next(c for c in results.cells if c.cell_id == "no-chat-template-default-chat")
    assert chat.findings[1] == Finding(Code.EOS_MISMATCH, Severity.WARNING, "eos", "config.json: eos_token_id")
    booted, failed = results.servers
    assert (booted.outcome, booted.boot_phases is not None, booted.leftover_pids) == (ServerOutcome.STOPPED, True, ())
    assert (failed.outcome, failed.code) == (ServerOutcome.BOOT_FAILED, Code.KV_BUDGET)
    assert results.environment is not None and results.environment.engine_versions["vllm"] == "0.32.0"


def test_a_version_1_probe_ttft_is_read_as_first_content(tmp_path: Path) -> None:
    """A version 1 cell's timings["ttft_s"] (the probe's first visible content) reads as first_content_s; the
    latency blob's ttft_s, vllm bench serve's in both versions, stays."""
    results = read_results(_run_dir(tmp_path, V1_DEMO))
    chat = next(c for c in results.cells if c.cell_id == "chat-ok-default-chat")
    assert "ttft_s" not in chat.timings and chat.timings["first_content_s"] > 0
    assert chat.latency is not None and chat.latency["client"]["ttft_s"]["p50"] > 0


def test_a_demo_run_of_the_unversioned_harness_renders_the_status_that_harness_rendered(tmp_path: Path) -> None:
    """The real demo results.jsonl written before versioning renders exactly the golden STATUS.md."""
    results = read_results(_run_dir(tmp_path, V1_DEMO))
    assert len(results.cells) == 27 and all(isinstance(c.verdict, Verdict) for c in results.cells)
    expected = V1_DEMO_STATUS.read_text(encoding="utf-8")
    expected = expected.replace(f"Results: `{V1_DEMO_RUN_DIR}/", f"Results: `{tmp_path}/")  # the one line naming it
    assert render_status(results) == expected


@pytest.mark.parametrize("source", [V1_HANDMADE, V1_DEMO], ids=["handmade", "demo"])
def test_an_old_file_rewritten_in_the_current_schema_reads_and_renders_the_same(tmp_path: Path, source: Path) -> None:
    """Every record of a version 1 file, written again by this harness, reads back equal and renders the same
    STATUS.md."""
    (tmp_path / "old").mkdir()
    old = read_results(_run_dir(tmp_path / "old", source))
    new_dir = tmp_path / "new"
    for record in read_records(old.run_dir / "results.jsonl"):
        append_record(new_dir / "results.jsonl", record)
    new = read_results(new_dir)
    assert (new.environment, new.servers, new.cells) == (old.environment, old.servers, old.cells)
    old.dropped = []  # the handmade file's torn line is reported when read; rewritten, the file has none
    assert render_status(new).replace(str(new_dir), "RUN") == render_status(old).replace(str(old.run_dir), "RUN")


def _newer(tmp_path: Path) -> Path:
    path = tmp_path / "results.jsonl"
    append_record(path, cell("m|default|chat", Verdict.PASS))
    line = json.loads(path.read_text()) | {"schema_version": SCHEMA_VERSION + 1}
    with path.open("a") as handle:
        handle.write(json.dumps(line) + "\n")
    return path


def test_a_newer_schema_version_is_refused_with_one_line_naming_file_version_and_fix(tmp_path: Path) -> None:
    """A line from a newer harness is refused: one line with the file and line, the version found and the fix."""
    path = _newer(tmp_path)
    with pytest.raises(ResultsError) as raised:
        read_results(tmp_path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:2: schema_version {SCHEMA_VERSION + 1} is newer")
    assert "upgrade vllm-compat" in message


@pytest.mark.parametrize("command", ["report", "gate"])
def test_the_cli_prints_the_refusal_and_exits_2_without_a_traceback(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`vllm-compat report` and `gate` print the one-line refusal and exit 2."""
    path = _newer(tmp_path)
    assert main([command, str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vllm-compat {command}: error: {path}:2: schema_version {SCHEMA_VERSION + 1} is newer")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_a_code_outside_the_vocabulary_is_refused_naming_the_line(tmp_path: Path) -> None:
    """A record whose code this harness does not know is refused, not read as some other code."""
    path = tmp_path / "results.jsonl"
    line = cell("m|default|chat", Verdict.FAIL, Code.OOM).to_json() | {"code": "NEW_CODE"}
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(ResultsError, match=r"results.jsonl:1: 'NEW_CODE' is not a valid Code .*upgrade vllm-compat"):
        read_results(tmp_path)


def test_a_record_without_a_required_field_is_refused_naming_it(tmp_path: Path) -> None:
    """A well-formed line that lacks a field every record has is refused with the field's name."""
    path = tmp_path / "results.jsonl"
    line = cell("m|default|chat", Verdict.PASS).to_json()
    del line["verdict"]
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(ResultsError, match=r"results.jsonl:1: a cell record without 'verdict'"):
        read_results(tmp_path)
