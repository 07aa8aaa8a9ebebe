"""End to end on real vLLM (CPU build): a matrix of four zoo servers run whole with `-n 2`, and run as two shards
(`--shard 1/2`, then `--shard 2/2`: one after the other, as two nodes would run them apart, so that the two boots do
not fight over this machine's two cores) then merged, gives the same verdicts, codes and checks cell by cell. The
servers boot with --enforce-eager: whether a boot's compile cache was warm or cold is checked on the demo's boots
(test_e2e_cpu).

Four boots in all (~40-90 s each here): two servers boot in each of the two ways; the other two are failed by
pre-flight (NO_CHAT_TEMPLATE, CONFIG_MISSING) with no boot, so each shard's plan holds a server that boots and cells
that never do.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.results import RunResults, read_results

pytestmark = pytest.mark.e2e

MATRIX = """\
description: four cheap zoo servers, one or two cells each, for the shard/merge round trip
defaults:
  # enforce-eager: the compile is not under test here, and costs ~7.5 s of a ~43 s boot on 2 cores
  flags: {max-model-len: 512, gpu-memory-utilization: 0.2, enforce-eager: true}
  env: {VLLM_CPU_KVCACHE_SPACE: "1"}
  timeouts: {boot: 300, probe: 60}
  semantic: false
models:
  - id: zoo:chat-ok
    use_cases: [chat, completions]
  - id: zoo:no-chat-template
    use_cases: [chat]
    expect: {chat: NO_CHAT_TEMPLATE}
  - id: zoo:tiny-embed
    use_cases: [embeddings]
  - id: zoo:missing-config
    use_cases: [chat]
    expect: {chat: CONFIG_MISSING}
"""
CLI = str(Path(sys.executable).parent / "vllm-compat")


def _start(args: list[str], cwd: Path, engine_python: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "VLLM_COMPAT_ENGINE_PYTHON": str(engine_python)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.Popen([CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _finish(process: subprocess.Popen[str], timeout: float = 900) -> str:
    """The run's output, once it exited 0 (every cell PASS or failing as the matrix expects)."""
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-4000:]
    return out


def _run_args(run_dir: str, *extra: str) -> list[str]:
    return ["run", "--matrix", "matrix.yaml", "--run-dir", run_dir, "--latency-repeats", "0", *extra]


@pytest.fixture(scope="module")
def runs(engine_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunResults]:
    """The whole matrix with -n 2, its two shards run one after the other, and their merge (all read back)."""
    work = tmp_path_factory.mktemp("shards-e2e")
    (work / "matrix.yaml").write_text(MATRIX, encoding="utf-8")
    started = time.monotonic()
    whole = _finish(
        _start(
            _run_args("runs/whole", "--", "--status-file", "whole.md", "-n", "2", "--dist", "loadgroup"),
            work,
            engine_python,
        )
    )
    whole_s = time.monotonic() - started
    outputs = [
        _finish(
            _start(
                _run_args(f"runs/shard{k}", "--shard", f"{k}/2", "--", "--status-file", f"shard{k}.md"),
                work,
                engine_python,
            )
        )
        for k in (1, 2)
    ]
    shards_s = time.monotonic() - started - whole_s
    merged = subprocess.run(
        [CLI, "merge", "runs/shard2", "runs/shard1", "--out", "runs/merged"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert merged.returncode == 0, merged.stdout + merged.stderr
    print(
        f"whole (-n 2): {whole_s:.1f} s; two shards one after the other: {shards_s:.1f} s\n{whole[-1500:]}\n"
        + "\n".join(o[-1500:] for o in outputs)
        + merged.stdout
    )
    return {name: read_results(work / "runs" / name) for name in ("whole", "shard1", "shard2", "merged")}


def _cells(run: RunResults) -> dict[str, tuple[object, ...]]:
    return {c.cell_id: (c.verdict, c.code, tuple((check.name, check.passed) for check in c.checks)) for c in run.cells}


def test_merged_shards_equal_the_whole_run_cell_by_cell(runs: dict[str, RunResults]) -> None:
    """Verdict, code and each check's name and outcome: the merge of the two shards equals the -n 2 run."""
    whole, merged = _cells(runs["whole"]), _cells(runs["merged"])
    assert len(whole) == 5 and merged == whole
    assert whole["chat-ok-default-chat"][0] == "PASS" and whole["missing-config-default-chat"][1] == "CONFIG_MISSING"


def test_each_shard_ran_whole_servers_of_one_split(runs: dict[str, RunResults]) -> None:
    """Each shard ran only its servers (with all their cells), recorded K/N, the matrix and the same plan."""
    one, two = runs["shard1"], runs["shard2"]
    assert one.cells and two.cells
    servers = [{c.cell_id.rsplit("-", 1)[0] for c in run.cells} for run in (one, two)]
    assert not servers[0] & servers[1]
    assert one.environment is not None and two.environment is not None and runs["whole"].environment is not None
    assert (one.environment.shard, two.environment.shard) == ("1/2", "2/2")
    assert one.environment.matrix_sha256 == two.environment.matrix_sha256 == runs["whole"].environment.matrix_sha256
    assert one.environment.shard_plan_sha256 == two.environment.shard_plan_sha256
    assert (one.environment.shard_cost_source or "").startswith("model:")


def test_the_merged_run_names_its_shards_and_has_one_report(runs: dict[str, RunResults]) -> None:
    """The merged environment lists both shards' run ids; STATUS.md counts all five cells."""
    merged = runs["merged"]
    assert merged.environment is not None
    assert [m["shard"] for m in merged.environment.merged_from] == ["1/2", "2/2"]
    status = (merged.run_dir / "STATUS.md").read_text(encoding="utf-8")
    assert "of 5 cells working" in status, status[:400]
