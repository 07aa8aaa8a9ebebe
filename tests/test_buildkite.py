"""The Buildkite recipe (.buildkite/pipeline.yml) carries history.sqlite from one build to the next, so the gate of
build 2 sees what build 1 added; the plan's JSON is what its shards run. The steps' commands are run here as the
agent runs them (`bash -e -c`, after Buildkite's `$$` interpolation), with stand-ins for vllm-compat and
buildkite-agent."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / ".buildkite" / "pipeline.yml"
HEADER = "SQLite format 3\x00"

# vllm-compat as the steps call it: every call logged; `history add` appends "run <build>" to the history file;
# `gate` logs the history it was given and what that file held; exit codes from GATE_EXIT / ADD_EXIT.
FAKE_VLLM_COMPAT = r"""#!/usr/bin/env bash
echo "$*" >> "$LOG"
case "$1" in
  plan) while [ $# -gt 0 ]; do [ "$1" = --out ] && printf '{"include": []}\n' > "$2"; shift; done ;;
  merge) mkdir -p merged ;;
  run) while [ $# -gt 0 ]; do [ "$1" = --run-dir ] && mkdir -p "$2"; shift; done ;;
  gate)
    if [[ " $* " == *" --history history.sqlite "* ]]; then echo "gate saw: $(tr -d '\0' < history.sqlite)" >> "$LOG"
    else echo "gate saw: no history" >> "$LOG"; fi
    exit "${GATE_EXIT:-0}" ;;
  history)
    [ "${ADD_EXIT:-0}" = 0 ] || exit "$ADD_EXIT"
    [ -f "$3" ] || printf 'SQLite format 3\0' > "$3"
    printf ' run%s' "$BUILDKITE_BUILD_NUMBER" >> "$3" ;;
esac
"""
FAKE_AGENT = r"""#!/usr/bin/env bash
# buildkite-agent artifact download PATTERN DEST: this build's artifacts only (what Buildkite gives without --build)
[ "$1 $2" = "artifact download" ] || exit 2
shopt -s nullglob
found=("$ARTIFACTS"/$3)
[ ${#found[@]} -gt 0 ] || { echo "no artifacts match $3" >&2; exit 1; }
cp "${found[@]}" "$4"
"""


def _pipeline() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(PIPELINE.read_text(encoding="utf-8"))
    return loaded


def _step(key: str) -> dict[str, Any]:
    (step,) = [s for s in _pipeline()["steps"] if s.get("key") == key]
    return step


def _interpolated(command: str) -> str:
    """What the agent runs: Buildkite interpolates the pipeline at upload, `$$` becoming a literal `$`."""
    return command.replace("$$", "$")


@pytest.fixture
def agent(tmp_path: Path) -> dict[str, str]:
    """PATH with the stand-ins, a persistent history directory and an artifact store for one build."""
    if shutil.which("flock") is None:
        pytest.skip("flock (util-linux) is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("vllm-compat", FAKE_VLLM_COMPAT), ("buildkite-agent", FAKE_AGENT)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(stat.S_IRWXU)
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "VLLM_COMPAT_HISTORY_DIR": str(tmp_path / "persistent"),
        "BUILDKITE_PIPELINE_SLUG": "nightly",
        "BUILDKITE_BRANCH": "main",
        "LOG": str(tmp_path / "log"),
        "SHARDS": "4",
    }


def _build(tmp_path: Path, env: dict[str, str], number: int, **extra: str) -> subprocess.CompletedProcess[str]:
    """One build's merge step in a fresh checkout, with one shard's tarball as this build's artifact."""
    checkout = tmp_path / f"build{number}"
    shutil.copytree(ROOT / ".buildkite", checkout / ".buildkite")
    artifacts = tmp_path / f"artifacts{number}"
    (artifacts / "shard-0").mkdir(parents=True)
    subprocess.run(["tar", "czf", "shard-0.tgz", "shard-0"], cwd=artifacts, check=True)
    shutil.rmtree(artifacts / "shard-0")
    run_env = {**env, "ARTIFACTS": str(artifacts), "BUILDKITE_BUILD_NUMBER": str(number), **extra}
    command = _interpolated(_step("merge")["command"])
    return subprocess.run(["bash", "-e", "-c", command], cwd=checkout, env=run_env, capture_output=True, text=True)


def _saved(tmp_path: Path) -> str:
    return (tmp_path / "persistent" / "nightly" / "main" / "history.sqlite").read_text().replace("\x00", "")


def test_the_history_reaches_the_next_builds_gate(tmp_path: Path, agent: dict[str, str]) -> None:
    """Build 1 gates without history and saves its run; build 2, in a fresh checkout, gates against build 1's run
    and saves both; a gate that blocks still keeps its night; a failed `history add` saves nothing."""
    first = _build(tmp_path, agent, 1)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "this build starts it" in first.stdout
    second = _build(tmp_path, agent, 2)
    assert second.returncode == 0, second.stdout + second.stderr
    gates = [line for line in Path(agent["LOG"]).read_text().splitlines() if line.startswith("gate saw")]
    assert gates == ["gate saw: no history", "gate saw: SQLite format 3 run1"]
    assert _saved(tmp_path) == "SQLite format 3 run1 run2"

    blocked = _build(tmp_path, agent, 3, GATE_EXIT="1")
    assert blocked.returncode == 1 and _saved(tmp_path) == "SQLite format 3 run1 run2 run3"
    broken = _build(tmp_path, agent, 4, ADD_EXIT="3")
    assert broken.returncode == 3 and _saved(tmp_path) == "SQLite format 3 run1 run2 run3"


def test_a_saved_history_that_cannot_be_read_stops_the_build_before_the_gate(
    tmp_path: Path, agent: dict[str, str]
) -> None:
    """A history file that is not SQLite (a torn copy) is an error, not "no history yet": nothing is gated or
    saved over it."""
    saved = tmp_path / "persistent" / "nightly" / "main" / "history.sqlite"
    saved.parent.mkdir(parents=True)
    saved.write_bytes(b"")
    done = _build(tmp_path, agent, 1)
    assert done.returncode == 1 and "cannot be read as a history" in done.stderr
    log = Path(agent["LOG"])
    assert saved.read_bytes() == b"" and (not log.exists() or "gate" not in log.read_text())


def test_the_pipeline_plans_once_and_every_shard_runs_the_plan_file(tmp_path: Path, agent: dict[str, str]) -> None:
    """The plan step (on the history agents, with the saved history for costs) writes plan.json as an artifact;
    each shard downloads it and runs `--plan plan.json --shard K/N` with K counted from 1."""
    plan, shards, merge = _step("plan"), _step("shards"), _step("merge")
    assert plan["agents"] == merge["agents"] == {"queue": "vllm-compat-history"}
    assert plan["artifact_paths"] == ["plan.json"] and shards["depends_on"] == "plan"
    assert shards["parallelism"] == int(_pipeline()["env"]["SHARDS"])
    saved = tmp_path / "persistent" / "nightly" / "main" / "history.sqlite"
    saved.parent.mkdir(parents=True)
    saved.write_bytes(HEADER.encode() + b" run1")
    checkout = tmp_path / "plan"
    shutil.copytree(ROOT / ".buildkite", checkout / ".buildkite")
    env = {**agent, "ARTIFACTS": str(checkout)}
    subprocess.run(["bash", "-e", "-c", _interpolated(plan["command"])], cwd=checkout, env=env, check=True)
    assert (checkout / "plan.json").is_file()
    shard_dir = tmp_path / "shard"
    shard_dir.mkdir()
    env |= {"BUILDKITE_PARALLEL_JOB": "1", "BUILDKITE_PARALLEL_JOB_COUNT": "4"}
    subprocess.run(["bash", "-e", "-c", _interpolated(shards["command"])], cwd=shard_dir, env=env, check=True)
    calls = Path(agent["LOG"]).read_text().splitlines()
    assert calls[0] == "plan --matrix matrix.yaml --shards 4 --history history.sqlite --out plan.json"
    assert calls[1] == "run --matrix matrix.yaml --plan plan.json --shard 2/4 --run-dir shard-1"
    assert (shard_dir / "plan.json").is_file() and (shard_dir / "shard-1.tgz").is_file()
