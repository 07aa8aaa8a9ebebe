"""The gate never allows what was not judged: absent required cells, cells that vanished since the baseline, NOT RUN
cells that worked before, an empty run; and it says when it has no matrix to read tolerances from."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from history_fake import make_run
from records_fake import cell, environment

from harness.cli import main
from harness.gate import RUN_CASE, decide, decide_with_history
from harness.history import HistoryStore
from harness.results import RunResults, append_record, read_results
from harness.scope import scope_of
from harness.verdicts import Verdict

P, F, N = Verdict.PASS, Verdict.FAIL, Verdict.NOT_RUN
MATRIX = "models:\n  - {id: zoo:chat-ok, name: m, use_cases: [chat, completions], required: [chat, completions]}\n"


def _matrix(tmp_path: Path, text: str = MATRIX) -> Path:
    path = tmp_path / "matrix.yaml"
    path.write_text(text)
    return path


def _run_dir(tmp_path: Path, name: str, cells: dict[str, Verdict], **env: object) -> Path:
    run_dir = tmp_path / name
    append_record(run_dir / "results.jsonl", environment(run_id=name, **env))
    for key, verdict in cells.items():
        append_record(run_dir / "results.jsonl", cell(key, verdict, run_id=name, required=True))
    return run_dir


def _cases(run_dir: Path) -> dict[str | None, ET.Element]:
    return {case.get("name"): case for case in ET.parse(run_dir / "gate.junit.xml").getroot().iter("testcase")}


def test_a_required_cell_absent_from_the_run_blocks_as_not_run_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run -m chat` on a matrix requiring chat and completions: the gate exits 1 naming completions NOT RUN/MISSING."""
    matrix = _matrix(tmp_path)
    run_dir = _run_dir(tmp_path, "r", {"m|default|chat": P}, matrix=str(matrix))
    assert main(["gate", str(run_dir)]) == 1
    assert "BLOCK m-default-completions: required, but NOT RUN: absent from this run (MISSING)" in (
        capsys.readouterr().out
    )
    assert "| ❌ `m-default-completions` | NOT RUN (MISSING) |" in (run_dir / "gate.md").read_text()
    case = _cases(run_dir)["m-default-completions"]
    assert case.find("failure") is not None
    assert {p.get("name"): p.get("value") for p in case.iter("property")}["missing"] == "true"


def test_a_deployment_run_is_judged_against_its_deployment_not_the_matrix_models(tmp_path: Path) -> None:
    """The scope of a --deployment run is its services' cells: the matrix's own model cells are not expected."""
    matrix = _matrix(
        tmp_path,
        MATRIX + "deployments:\n  stack:\n    services:\n      - {name: chat, model: m, use_cases: [chat]}\n",
    )
    from harness.matrix import load_matrix

    loaded = load_matrix(matrix)
    run = read_results(_run_dir(tmp_path, "r", {"stack.chat|default|chat": P}, matrix=str(matrix)))
    scope = scope_of(loaded, run)
    assert set(scope.cells or {}) == {"stack.chat-default-chat"}
    assert decide(run, scope=scope).passed


def test_a_cell_that_worked_in_the_baseline_and_is_absent_now_blocks(tmp_path: Path) -> None:
    """Not required, PASS in the baseline run, no record now: MISSING blocks (and only reports when the matrix
    no longer has it)."""
    before = make_run("r1", 0, {"m|default|chat": P, "m|default|tools": P})
    now = make_run("r2", 1, {"m|default|chat": P})
    decision = decide(now, before)
    (blocker,) = decision.blockers
    assert blocker.cell_id == "m-default-tools"
    assert "worked in the baseline (PASS in run r1), absent from this run (MISSING)" in blocker.reason
    assert decision.missing == 1
    from harness.matrix import load_matrix

    only_chat = load_matrix(_matrix(tmp_path, "models:\n  - {id: zoo:chat-ok, name: m, use_cases: [chat]}\n"))
    removed = decide(now, before, scope=scope_of(only_chat, now))
    assert removed.passed and removed.cells[-1].notes == ("no longer in the matrix: not expected in this run",)


def test_a_cell_that_worked_in_history_and_is_absent_or_not_run_now_blocks(tmp_path: Path) -> None:
    """Against the history, a cell that worked on this machine before blocks when it is absent or NOT RUN now."""
    with HistoryStore.open(tmp_path / "h.sqlite") as store:
        store.add(make_run("r1", 0, {"m|default|chat": P, "m|default|tools": P, "m|default|completions": P}))
        decision = decide_with_history(make_run("r2", 1, {"m|default|chat": P, "m|default|completions": N}), store)
    reasons = {b.cell_id: b.reason for b in decision.blockers}
    assert set(reasons) == {"m-default-tools", "m-default-completions"}
    assert "absent from this run (MISSING)" in reasons["m-default-tools"]
    assert reasons["m-default-completions"].startswith("worked before (PASS), NOT RUN now")


def test_a_run_with_no_cells_blocks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty run (a crashed shard, a killed worker before the first cell) is never an allowed rollout."""
    run_dir = _run_dir(tmp_path, "empty", {})
    assert not decide(RunResults(run_dir=run_dir)).passed
    assert main(["gate", str(run_dir)]) == 1
    assert f"BLOCK {RUN_CASE}: the run recorded no cells" in capsys.readouterr().out
    assert _cases(run_dir)[RUN_CASE].find("failure") is not None


def test_the_gate_says_when_it_has_no_tolerances_and_takes_them_from_matrix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recorded matrix path absent where the gate runs is said plainly; --matrix brings its `gate:` tolerances."""
    matrix = _matrix(tmp_path, "models:\n  - {id: zoo:chat-ok, name: m, use_cases: [chat], gate: {ttft_p50: 10%}}\n")
    before = make_run("r1", 0, {"m|default|chat": P}, ttft=0.015)
    now = make_run("r2", 1, {"m|default|chat": P}, ttft=0.03)
    dirs = []
    for run in (before, now):
        run_dir = tmp_path / run.environment.run_id if run.environment else tmp_path
        append_record(run_dir / "results.jsonl", environment(run_id=run_dir.name, matrix="/elsewhere/matrix.yaml"))
        for record in run.cells:
            append_record(run_dir / "results.jsonl", record)
        for server in run.servers:
            append_record(run_dir / "results.jsonl", server)
        dirs.append(run_dir)
    assert main(["gate", str(dirs[1]), "--baseline", str(dirs[0])]) == 0
    out = capsys.readouterr().out
    assert "gate: no matrix: /elsewhere/matrix.yaml (recorded by the run) is not here" in out
    assert "no `gate:` tolerances apply" in out and "pass --matrix FILE" in out
    assert (
        "⚠️ **no matrix: /elsewhere/matrix.yaml (recorded by the run) is not here" in (dirs[1] / "gate.md").read_text()
    )
    assert main(["gate", str(dirs[1]), "--baseline", str(dirs[0]), "--matrix", str(matrix)]) == 1
    assert "tolerance 10%" in capsys.readouterr().out
