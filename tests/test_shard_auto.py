"""`--shard auto`: K/N from Buildkite, a Kubernetes Indexed Job, a Slurm array; GitHub and ambiguity refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.shards import ShardError, ShardId, resolve_shard, shard_from_ci

CLI = str(Path(sys.executable).parent / "vllm-compat")


def _environ(**ci: str) -> dict[str, str]:
    """This process's environment without any CI system's shard variables (the tests may run under one), plus ``ci``."""
    ours = ("GITHUB_ACTIONS", "BUILDKITE", "JOB_COMPLETION_INDEX", "SLURM_", "VLLM_COMPAT_SHARDS")
    return {k: v for k, v in os.environ.items() if not k.startswith(ours)} | ci


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"BUILDKITE_PARALLEL_JOB": "0", "BUILDKITE_PARALLEL_JOB_COUNT": "4"}, ShardId(1, 4)),
        ({"BUILDKITE_PARALLEL_JOB": "3", "BUILDKITE_PARALLEL_JOB_COUNT": "4"}, ShardId(4, 4)),
        ({"JOB_COMPLETION_INDEX": "2", "VLLM_COMPAT_SHARDS": "3"}, ShardId(3, 3)),
        # sbatch --array=0-3
        (
            {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3"}
            | {"SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_STEP": "1"},
            ShardId(1, 4),
        ),
        # sbatch --array=1-4 (no SLURM_ARRAY_TASK_STEP: one)
        (
            {"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"}
            | {"SLURM_ARRAY_TASK_COUNT": "4"},
            ShardId(4, 4),
        ),
        # sbatch --array=1-7:2 runs 1, 3, 5, 7: task 5 is the third of four
        (
            {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "7"}
            | {"SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_STEP": "2"},
            ShardId(3, 4),
        ),
    ],
)
def test_auto_reads_the_shard_from_the_ci_system(environ: dict[str, str], expected: ShardId) -> None:
    """Each system's variables give K/N, 0-based indexes and Slurm index values turned into a 1-based position."""
    assert shard_from_ci(environ | {"PATH": "/usr/bin"}) == expected
    assert resolve_shard("auto", environ) == expected and resolve_shard(" AUTO ", environ) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GITHUB_ACTIONS": "true"}, r"GitHub Actions puts no matrix value.*--shard \$\{\{ matrix.shard \}\}/"),
        ({}, r"no CI shard variables found.*pass --shard K/N"),
        ({"BUILDKITE_PARALLEL_JOB": "1"}, r"BUILDKITE_PARALLEL_JOB_COUNT is not; .*parallelism: N"),
        ({"JOB_COMPLETION_INDEX": "1"}, r"set VLLM_COMPAT_SHARDS to the Job's completions"),
        ({"SLURM_ARRAY_TASK_ID": "1"}, r"SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_MAX, SLURM_ARRAY_TASK_COUNT not"),
        (
            {"BUILDKITE_PARALLEL_JOB": "0", "BUILDKITE_PARALLEL_JOB_COUNT": "2", "SLURM_ARRAY_TASK_ID": "1"},
            r"more than one system.*Buildkite \(BUILDKITE_PARALLEL_JOB=0\); a Slurm job array",
        ),
        # --array=1,2,9: three tasks, no single step: no position to read
        (
            {"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "9"}
            | {"SLURM_ARRAY_TASK_COUNT": "3"},
            r"not one range with one step",
        ),
        ({"BUILDKITE_PARALLEL_JOB": "4", "BUILDKITE_PARALLEL_JOB_COUNT": "4"}, r"not shard K of N"),
        ({"JOB_COMPLETION_INDEX": "x", "VLLM_COMPAT_SHARDS": "3"}, r"JOB_COMPLETION_INDEX='x' is not a whole number"),
        (
            {"BUILDKITE_PARALLEL_JOB": "0", "BUILDKITE_PARALLEL_JOB_COUNT": "4", "VLLM_COMPAT_SHARDS": "3"},
            r"VLLM_COMPAT_SHARDS=3 but Buildkite says 4",
        ),
    ],
)
def test_auto_refuses_what_it_cannot_read_with_the_fix(environ: dict[str, str], message: str) -> None:
    """GitHub (no variables), none, a missing count, two systems, an index list, out of range: one line and a fix."""
    with pytest.raises(ShardError, match=message):
        shard_from_ci(environ)


def test_vllm_compat_run_shard_auto_is_a_usage_error_without_a_ci_job(tmp_path: Path) -> None:
    """`vllm-compat run --shard auto` on GitHub Actions exits 4 (usage) with the line to pass, no traceback."""
    matrix = tmp_path / "matrix.yaml"
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}", encoding="utf-8")
    matrix.write_text("models:\n  - id: ./m\n    use_cases: [chat]\n", encoding="utf-8")
    environ = _environ(GITHUB_ACTIONS="true")
    done = subprocess.run(
        [CLI, "run", "--matrix", str(matrix), "--shard", "auto", "--run-dir", str(tmp_path / "run"), "--offline"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environ,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 4, output[-2000:]
    assert "GitHub Actions puts no matrix value" in output and "Traceback" not in output


def test_plan_shards_auto_takes_the_count_from_the_ci_job(tmp_path: Path) -> None:
    """`vllm-compat plan --demo --shards auto` under Buildkite parallelism 2 prints two shards."""
    environ = _environ(BUILDKITE_PARALLEL_JOB="1", BUILDKITE_PARALLEL_JOB_COUNT="2")
    done = subprocess.run(
        [CLI, "plan", "--demo", "--shards", "auto", "--offline"], capture_output=True, text=True, env=environ
    )
    assert done.returncode == 0, done.stderr
    assert "in 2 shards" in done.stdout and "shard 2/2" in done.stdout
    refused = subprocess.run(
        [CLI, "plan", "--demo", "--shards", "auto"], capture_output=True, text=True, env=_environ()
    )
    assert refused.returncode == 2 and "no CI shard variables found" in refused.stderr
    assert "Traceback" not in refused.stderr
