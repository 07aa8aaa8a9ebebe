"""`vllm-compat run` from a user's repository: the suites shipped in the package run under the harness's own pytest
configuration, the repository's pytest configuration and conftest never apply, and reports/ lands where it was run.

Pre-flight-only cells (zoo:missing-config), so nothing boots; tests/test_wheel.py does the same from an installed wheel
with a real boot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MATRIX = """
models:
  - id: zoo:missing-config
    use_cases: [chat, completions]
    expect: {chat: CONFIG_MISSING, completions: CONFIG_MISSING}
"""


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_ADDOPTS", "PYTEST_PLUGINS"}}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A user's repository whose pytest settings and conftest would break the suites if pytest applied them."""
    repository = tmp_path / "repository"
    repository.mkdir()
    (repository / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option\npython_files = check_*.py\n")
    (repository / "conftest.py").write_text('raise RuntimeError("this conftest.py must not be loaded")\n')
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "matrix.yaml").write_text(MATRIX)
    return repository


def test_run_ignores_the_repository_pytest_configuration_and_reports_there(repository: Path) -> None:
    """The cells run from the package's suites, and the run directory and STATUS.md land in ./reports."""
    done = _run(repository, "--matrix", str(repository.parent / "elsewhere" / "matrix.yaml"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (results,) = (repository / "reports" / "runs").glob("*/results.jsonl")
    cells = [r for r in map(json.loads, results.read_text().splitlines()) if r["kind"] == "cell"]
    assert sorted((c["cell_id"], c["verdict"]) for c in cells) == [
        ("missing-config-default-chat", "XFAIL"),
        ("missing-config-default-completions", "XFAIL"),
    ]
    assert (repository / "reports" / "STATUS.md").is_file()
    assert "PytestAssertRewriteWarning" not in done.stdout


def test_run_without_a_matrix_says_where_it_looked(repository: Path) -> None:
    """No --matrix and no matrix.yaml in the current directory: exit 4 with one line naming the path and the fix."""
    done = _run(repository)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert f"{repository / 'matrix.yaml'}: no matrix file (the default); pass --matrix PATH or --demo" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "entry", [["-m", "harness.cli"], ["-c", "from harness.cli import main; raise SystemExit(main())"]]
)
def test_a_usage_mistake_exits_2_in_one_line_however_the_cli_is_started(tmp_path: Path, entry: list[str]) -> None:
    """A command's UsageError exits 2 with one line and no traceback, under `python -m harness.cli` too."""
    done = subprocess.run(
        [sys.executable, *entry, "merge", str(tmp_path / "no-such-run"), "--out", str(tmp_path / "merged")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "no results.jsonl" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
