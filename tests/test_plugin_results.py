"""The plugin's report over a results file it cannot read: one line in the summary, never an INTERNALERROR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.results import SCHEMA_VERSION

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
