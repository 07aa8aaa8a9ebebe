"""Gate v2: the history as baseline, per-model tolerances beyond noise, the Markdown summary and JUnit XML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from history_fake import make_run
from records_fake import cell, environment

from harness.cli import main
from harness.gate import decide, decide_with_history, junit, markdown
from harness.history import HistoryStore
from harness.results import append_record
from harness.verdicts import Verdict

P, F = Verdict.PASS, Verdict.FAIL
CHAT = "m|default|chat"


def _history(tmp_path: Path, ttfts: list[float]) -> Path:
    db = tmp_path / "history.sqlite"
    with HistoryStore.open(db) as store:
        for index, ttft in enumerate(ttfts):
            store.add(make_run(f"r{index}", index, {CHAT: P}, ttft=ttft))
    return db


def test_a_cell_that_worked_in_history_and_breaks_blocks_naming_the_change(tmp_path: Path) -> None:
    """Against the history, PASS before and FAIL now blocks, saying what changed in the key."""
    db = _history(tmp_path, [0.015, 0.015])
    now = make_run("r9", 9, {CHAT: (F, "CONFIG_MISSING")}, revision="d4e5f6a" + "0" * 33)
    with HistoryStore.open(db) as store:
        decision = decide_with_history(now, store)
    (blocker,) = decision.blockers
    assert "regressed: PASS before, now FAIL CONFIG_MISSING; changed: revision a1b2c3d -> d4e5f6a" in blocker.reason


def test_tolerances_block_only_beyond_threshold_and_noise(tmp_path: Path) -> None:
    """ttft_p50: 10% blocks a steady cell's +30%, not a noisy cell's, and not a figure without a tolerance."""
    tolerance = {"m": {"ttft_p50": 0.10}}
    steady = _history(tmp_path / "s", [0.0150, 0.0151, 0.0149])
    noisy = _history(tmp_path / "n", [0.010, 0.020, 0.012])
    now = make_run("r9", 9, {CHAT: P}, ttft=0.0195)
    with HistoryStore.open(steady) as store:
        assert not decide_with_history(now, store, tolerances=tolerance).passed
        assert decide_with_history(now, store).passed  # no tolerance: reported, not blocking
    with HistoryStore.open(noisy) as store:
        assert decide_with_history(now, store, tolerances=tolerance).passed


def test_markdown_and_junit_carry_verdict_code_vllm_and_revision() -> None:
    """One testcase per cell, failing when it blocks, with the cell's verdict, code, vLLM version and revision."""
    before = make_run("r1", 0, {CHAT: P, "m|default|tools": P})
    now = make_run("r2", 1, {CHAT: (F, "STOP_TOKEN"), "m|default|tools": P}, vllm="0.33.0")
    decision = decide(now, before)
    suite = ET.fromstring(junit(decision, "r2")).find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["m-default-chat"].iter("property")}
    assert props["verdict"] == "FAIL" and props["code"] == "STOP_TOKEN" and props["vllm_version"] == "0.33.0"
    assert props["revision"] == "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0"
    assert cases["m-default-chat"].find("failure") is not None and cases["m-default-tools"].find("failure") is None
    text = markdown(decision, "r2")
    assert text.startswith("## vllm-compat gate: ❌ BLOCK") and "vLLM 0.32.0 -> 0.33.0" in text


def test_cli_writes_the_step_summary_and_junit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gate --history` exits 1 on a regression, appends its summary to $GITHUB_STEP_SUMMARY, writes JUnit XML."""
    dirs = []
    for index, verdict in enumerate([P, F]):
        run_dir = tmp_path / f"run{index}"
        run_id = f"2026113{index}-000000-abcd"
        append_record(run_dir / "results.jsonl", environment(run_id=run_id))
        append_record(run_dir / "results.jsonl", cell(CHAT, verdict, run_id=run_id, started_at=f"2026-11-3{index}"))
        dirs.append(run_dir)
    db = str(tmp_path / "h.sqlite")
    assert main(["history", "--history", db, "add", str(dirs[0])]) == 0
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert main(["gate", str(dirs[1]), "--history", db]) == 1
    assert "BLOCK m-default-chat: regressed" in capsys.readouterr().out
    assert "## vllm-compat gate: ❌ BLOCK" in summary.read_text()
    assert ET.parse(dirs[1] / "gate.junit.xml").getroot().tag == "testsuites"
    assert main(["gate", str(dirs[0]), "--history", db]) == 0
    assert main(["gate", str(dirs[1]), "--history", str(tmp_path / "none.sqlite")]) == 2
    with pytest.raises(SystemExit) as both:  # argparse: --baseline and --history exclude each other
        main(["gate", str(dirs[1]), "--history", db, "--baseline", str(dirs[0])])
    assert both.value.code == 2


def test_matrix_gate_tolerances_are_percentages_of_known_figures(tmp_path: Path) -> None:
    """`gate: {ttft_p50: 10%, peak_vram: 5%}` reads as fractions; an unknown figure or a bare number is refused."""
    from harness.matrix import MatrixError, load_matrix

    matrix = tmp_path / "matrix.yaml"
    entry = "models:\n  - id: zoo:chat-ok\n    use_cases: [chat]\n    gate: {%s}\n"
    matrix.write_text(entry % "ttft_p50: 10%, peak_vram: 5%")
    assert dict(load_matrix(matrix).models[0].gate) == {"ttft_p50": 0.10, "peak_vram": 0.05}
    matrix.write_text(entry % "ttft: 10%")
    with pytest.raises(MatrixError, match=r"matrix.yaml:4: models\[0\].gate.ttft: unknown figure.*ttft_p50"):
        load_matrix(matrix)
    matrix.write_text(entry % "ttft_p50: 10")
    with pytest.raises(MatrixError, match=re.escape("expected a percentage, got 10; fix: write e.g. '10%'")):
        load_matrix(matrix)


def test_confirm_reruns_a_regressed_cell_and_a_pass_makes_it_flaky(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--confirm re-runs only the regressed cells through `vllm-compat run -k`; one that passes is FLAKY, not blocking.

    The re-run here is a stand-in that writes the re-run's results (tests/test_e2e_history.py does it on vLLM)."""
    import subprocess

    import harness.commands.gate as gate_command

    matrix = tmp_path / "matrix.yaml"
    matrix.write_text("models:\n  - {id: zoo:chat-ok, name: m, use_cases: [chat, tools]}\n")
    before, now = tmp_path / "before", tmp_path / "now"
    for run_dir, verdict in ((before, P), (now, F)):
        append_record(run_dir / "results.jsonl", environment(run_id=run_dir.name, matrix=str(matrix)))
        append_record(run_dir / "results.jsonl", cell(CHAT, verdict, run_id=run_dir.name))
        append_record(run_dir / "results.jsonl", cell("m|default|tools", F, run_id=run_dir.name))
    calls: list[list[str]] = []

    def rerun(command: list[str], check: bool) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        confirm_dir = Path(command[command.index("--run-dir") + 1])
        append_record(confirm_dir / "results.jsonl", cell(CHAT, P, run_id="confirm"))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(gate_command.subprocess, "run", rerun)
    assert main(["gate", str(now), "--baseline", str(before), "--confirm"]) == 0
    (command,) = calls
    assert command[command.index("-k") + 1] == "m-default-chat"  # tools failed before too: not re-run
    assert "FLAKY m-default-chat" in capsys.readouterr().out
    flaky = ET.parse(now / "gate.junit.xml").getroot().find(".//testcase[@name='m-default-chat']")
    assert flaky is not None and flaky.find("failure") is None
    assert {p.get("name"): p.get("value") for p in flaky.iter("property")}["flaky"] == "true"


def test_one_baseline_run_lets_the_threshold_decide_but_thin_history_does_not(tmp_path: Path) -> None:
    """Against a named baseline run a bounded +30% blocks; against a history of one run it is unconfirmed."""
    tolerance = {"m": {"ttft_p50": 0.10}}
    before = make_run("r1", 0, {CHAT: P}, ttft=0.015)
    now = make_run("r9", 9, {CHAT: P}, ttft=0.0195)
    assert not decide(now, before, tolerances=tolerance).passed
    with HistoryStore.open(_history(tmp_path, [0.015])) as store:
        assert decide_with_history(now, store, tolerances=tolerance).passed
