"""The pre-deployment gate: required cells must pass, and nothing that passed before may regress."""

from __future__ import annotations

from pathlib import Path

import pytest
from records_fake import cell

from harness.cli import main
from harness.gate import decide
from harness.results import RunResults, append_record, read_results
from harness.verdicts import Verdict


def _run(tmp_path: Path, name: str, cells: dict[str, tuple[Verdict, bool]]) -> Path:
    """A run directory with one cell per "model|profile|use_case" key."""
    run_dir = tmp_path / name
    for key, (verdict, required) in cells.items():
        append_record(run_dir / "results.jsonl", cell(key, verdict, required=required))
    return run_dir


def test_a_required_xfail_blocks_the_rollout(tmp_path: Path) -> None:
    """An expected failure is still a failure for a required cell."""
    decision = decide(read_results(_run(tmp_path, "r", {"m|default|chat": (Verdict.XFAIL, True)})))
    assert not decision.passed
    assert decision.blockers[0].cell_id == "m-default-chat"


def test_a_regression_from_the_baseline_blocks_even_when_not_required(tmp_path: Path) -> None:
    """A cell that passed in the baseline and fails now blocks, required or not."""
    base = read_results(
        _run(tmp_path, "b", {"m|default|chat": (Verdict.PASS, False), "m|default|tools": (Verdict.FAIL, False)})
    )
    now = read_results(
        _run(tmp_path, "n", {"m|default|chat": (Verdict.FAIL, False), "m|default|tools": (Verdict.FAIL, False)})
    )
    decision = decide(now, base)
    assert [b.cell_id for b in decision.blockers] == ["m-default-chat"]
    assert decision.compared == 2


def test_all_required_passing_allows(tmp_path: Path) -> None:
    """Required cells that pass and no regression: the gate allows the rollout."""
    run = _run(tmp_path, "r", {"m|default|chat": (Verdict.PASS, True), "m|default|vision": (Verdict.XFAIL, False)})
    assert decide(read_results(run)).passed
    assert decide(RunResults(run_dir=run)).required == 0


def test_cli_exit_codes_follow_the_decision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`vllm-compat gate` exits 0 to allow, 1 to block and 2 for a directory without results."""
    allow = _run(tmp_path, "ok", {"m|default|chat": (Verdict.PASS, True)})
    block = _run(tmp_path, "bad", {"m|default|chat": (Verdict.FAIL, True)})
    assert main(["gate", str(allow)]) == 0
    assert main(["gate", str(block)]) == 1
    assert "BLOCK m-default-chat" in capsys.readouterr().out
    assert main(["gate", str(tmp_path / "missing")]) == 2
