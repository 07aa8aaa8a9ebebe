"""The plugin's report: over a results file it cannot read one line in the summary, never an INTERNALERROR; with a
history file, the new failures since its previous run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from history_fake import make_run

from harness.history import HistoryStore
from harness.results import SCHEMA_VERSION
from harness.verdicts import Verdict

pytest_plugins = ["pytester"]

MATRIX = """
models:
  - id: zoo:missing-config
    use_cases: [chat]
    expect: {chat: CONFIG_MISSING}
"""


def test_a_run_dir_holding_a_newer_schema_gets_a_one_line_reason_and_no_report(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """Appending to a run directory a newer harness wrote: the cells still run, the summary says why there is no
    report (file, version, fix) and no STATUS.md is written."""
    pytester.makefile(".yaml", matrix=MATRIX)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    newer = {"schema_version": SCHEMA_VERSION + 1, "kind": "cell", "cell_id": "x"}
    (run_dir / "results.jsonl").write_text(json.dumps(newer) + "\n")
    status = tmp_path / "STATUS.md"
    result = pytester.runpytest_subprocess(
        "--matrix", "matrix.yaml", "--run-dir", str(run_dir), "--status-file", str(status)
    )
    result.assert_outcomes(xfailed=1)
    result.stdout.fnmatch_lines(
        [f"vllm-compat: no report: {run_dir / 'results.jsonl'}:1: schema_version {SCHEMA_VERSION + 1} is newer*"]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert not status.exists()


def test_status_names_the_new_failures_against_the_history_file(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """With --history holding an earlier run on this machine where the cell passed, STATUS.md lists it among the
    problems as a new failure since that run."""
    pytester.makefile(".yaml", matrix=MATRIX)
    with HistoryStore.open(tmp_path / "history.sqlite") as store:
        store.add(make_run("r0", 0, {"missing-config|default|chat": Verdict.PASS}))
    status = tmp_path / "STATUS.md"
    result = pytester.runpytest_subprocess(
        "--matrix", "matrix.yaml", "--run-dir", str(tmp_path / "run"), "--status-file", str(status),
        "--history", str(tmp_path / "history.sqlite"),
    )  # fmt: skip
    result.assert_outcomes(xfailed=1)
    text = status.read_text(encoding="utf-8")
    new = text.index("New failures since run `r0`")
    assert new < text.index("☑️ XFAIL `CONFIG_MISSING` missing-config-default-chat") < text.index("## Model × use case")
