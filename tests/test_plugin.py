"""The pytest plugin, driven through pytester: ids, markers, selection, verdicts without a boot, usage errors, and the
suites shipped in the package collected from a directory that has none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# A suite of the user's own, collected only when its path is given.
SUITE = """
from harness.plugin import run_cell
USE_CASE = "{use_case}"
def test_{use_case}(cell, cell_runner):
    run_cell(cell, cell_runner)
"""
RAISES = 'raise RuntimeError("this conftest.py must not be loaded")\n'
MATRIX = """
defaults: {timeouts: {boot: 60, probe: 30}}
models:
  - id: zoo:missing-config
    use_cases: [chat, completions]
    expect: {chat: CONFIG_MISSING, completions: CONFIG_MISSING}
  - id: zoo:chat-ok
    use_cases: [chat]
"""


@pytest.fixture
def suites(pytester: pytest.Pytester) -> pytest.Pytester:
    """A directory with a matrix and no suites: `--matrix` with no path collects the ones shipped in the package."""
    pytester.makefile(".yaml", matrix=MATRIX)
    return pytester


def _records(run_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def test_cells_get_readable_ids_and_a_marker_per_use_case(suites: pytest.Pytester) -> None:
    """Cell ids read <name>-<profile>-<use case>, and -m selects one use case's cells only."""
    result = suites.runpytest_subprocess("--matrix", "matrix.yaml", "--collect-only", "-q", "-m", "completions")
    result.stdout.fnmatch_lines(["test_completions.py::test_completions[[]missing-config-default-completions[]]"])
    assert "missing-config-default-chat" not in result.stdout.str()
    assert "stop_tokens" not in result.stdout.str()


def test_markers_are_registered_with_a_description(suites: pytest.Pytester) -> None:
    """Every use case is a registered marker, so --strict-markers accepts `-m vision`."""
    result = suites.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.vision: cells of the vision use case*pytest -m vision*"])


def test_preflight_failures_are_xfail_and_no_server_boots(suites: pytest.Pytester, tmp_path: Path) -> None:
    """Cells failed by pre-flight with their expected code are XFAIL, recorded, and reported; nothing boots."""
    run_dir = tmp_path / "run"
    result = suites.runpytest_subprocess(
        "--matrix", "matrix.yaml", "-m", "not chat or chat", "-k", "missing-config",
        "--run-dir", str(run_dir), "--status-file", str(tmp_path / "STATUS.md"),
    )  # fmt: skip
    result.assert_outcomes(xfailed=2)
    records = _records(run_dir)
    cells = {r["cell_id"]: r for r in records if r["kind"] == "cell"}
    assert {c["verdict"] for c in cells.values()} == {"XFAIL"}
    assert {c["code"] for c in cells.values()} == {"CONFIG_MISSING"}
    assert not [r for r in records if r["kind"] == "server"]
    assert "0 of 2 cells working" in (tmp_path / "STATUS.md").read_text()


def test_a_probe_cell_without_an_engine_is_an_error_never_a_pass(suites: pytest.Pytester, tmp_path: Path) -> None:
    """With no engine environment a cell that needs a server is ERROR and says how to build one."""
    result = suites.runpytest_subprocess(
        "--matrix", "matrix.yaml", "-k", "chat-ok", "--engine-python", str(tmp_path / "no-such-python"),
        "--run-dir", str(tmp_path / "run"), "--status-file", str(tmp_path / "STATUS.md"),
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ERROR (harness) no engine environment*vllm-compat engine build*"])
    (cell,) = [r for r in _records(tmp_path / "run") if r["kind"] == "cell"]
    assert cell["verdict"] == "ERROR"


def test_a_malformed_matrix_is_a_one_line_usage_error(pytester: pytest.Pytester) -> None:
    """An unknown use case stops the run with file:line and no traceback."""
    pytester.makefile(".yaml", matrix="models:\n  - id: zoo:chat-ok\n    use_cases: [chat, telepathy]\n")
    result = pytester.runpytest_subprocess("--matrix", "matrix.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*matrix.yaml:3*telepathy*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_xdist_workers_share_one_run_and_the_controller_writes_the_report(
    suites: pytest.Pytester, tmp_path: Path
) -> None:
    """With -n 2 --dist loadgroup every worker writes into one run directory under one run id, the environment line
    is written once, and the controller renders STATUS.md."""
    run_dir = tmp_path / "run"
    result = suites.runpytest_subprocess(
        "--matrix", "matrix.yaml", "-k", "missing-config", "-n", "2", "--dist", "loadgroup",
        "--run-dir", str(run_dir), "--status-file", str(tmp_path / "STATUS.md"),
    )  # fmt: skip
    result.assert_outcomes(xfailed=2)
    records = _records(run_dir)
    assert [r["kind"] for r in records].count("environment") == 1
    assert len({r["run_id"] for r in records}) == 1
    assert (tmp_path / "STATUS.md").is_file()


def test_the_shipped_suites_are_collected_without_loading_a_stray_conftest(suites: pytest.Pytester) -> None:
    """With --matrix and no path, every cell comes from the package's suites, and no conftest.py outside them (here the
    current directory's, which raises) is loaded."""
    suites.makeconftest(RAISES)
    result = suites.runpytest_subprocess("--matrix", "matrix.yaml", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    assert sorted(line for line in result.stdout.lines if "::" in line) == [
        "test_chat.py::test_chat[chat-ok-default-chat]",
        "test_chat.py::test_chat[missing-config-default-chat]",
        "test_completions.py::test_completions[missing-config-default-completions]",
    ]


def test_a_path_given_is_collected_instead_of_the_shipped_suites(suites: pytest.Pytester) -> None:
    """A user's own suite passed as a path is what runs; the package's suites are not added to it."""
    suites.mkdir("mine")
    (suites.path / "mine" / "test_chat.py").write_text(SUITE.format(use_case="chat"))
    result = suites.runpytest_subprocess("mine", "--matrix", "matrix.yaml", "--collect-only", "-q")
    assert [line for line in result.stdout.lines if "::" in line] == [
        "mine/test_chat.py::test_chat[missing-config-default-chat]",
        "mine/test_chat.py::test_chat[chat-ok-default-chat]",
    ]


def test_without_a_matrix_file_here_the_run_is_a_one_line_usage_error(pytester: pytest.Pytester) -> None:
    """No --matrix, no --demo and no matrix.yaml in the project directory: one line that says what to pass."""
    pytester.makepyfile(test_chat=SUITE.format(use_case="chat"))
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        [f"*{pytester.path / 'matrix.yaml'}: no matrix file (the default)*--matrix PATH or --demo*"]
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_a_named_engine_version_that_is_not_built_stops_the_run_with_the_build_command(
    suites: pytest.Pytester, tmp_path: Path
) -> None:
    """--engine-version naming an unbuilt vLLM ends the run as a usage error that says how to build that version."""
    result = suites.runpytest_subprocess(
        "--matrix", "matrix.yaml", "-k", "chat-ok", "--engine-version", "0.1.0",
        "--run-dir", str(tmp_path / "run"), "--status-file", str(tmp_path / "STATUS.md"),
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*no engine environment for vLLM 0.1.0 (named by --engine-version)*"])
    result.stdout.fnmatch_lines(["*vllm-compat engine build --vllm 0.1.0*"])
