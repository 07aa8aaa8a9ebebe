"""A shard runs the plan job's split (``--plan FILE``), not one it computes again from the costs it sees; the file is
checked against the matrix before anything runs, and the run records the plan's sha256."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.matrix import load_matrix
from harness.results import read_results
from harness.shards import Plan, ShardError, ShardId, estimate_costs, make_plan, partition, plan_json, planned_shard

BIN = Path(sys.executable).parent


def _matrix(tmp_path: Path, names: tuple[str, ...] = ("a", "b", "c")) -> Path:
    """Local checkpoints without weight files: every node that splits by itself sees constant costs."""
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text('{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}')
    path = tmp_path / "matrix.yaml"
    path.write_text("models:\n" + "".join(f"  - {{id: ./{n}, use_cases: [chat, completions]}}\n" for n in names))
    return path


def _plan_file(tmp_path: Path, matrix_path: Path, costs: dict[str, float], total: int) -> tuple[Path, Plan]:
    """The plan a plan job made from costs a shard does not see (hub sizes: ``a`` is heavy)."""
    matrix = load_matrix(matrix_path)
    plan = Plan(partition(costs, total, order=tuple(costs)), "weight bytes (hub sizes)", "bytes")
    out = tmp_path / "plan.json"
    out.write_text(json.dumps(plan_json(plan, matrix)))
    return out, plan


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pytest", "-p", "vllm_compat", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)]
    return subprocess.run([*argv, *args], capture_output=True, text=True, cwd=tmp_path, check=False)


def _collected(done: subprocess.CompletedProcess[str]) -> set[str]:
    return {line.split("[", 1)[1].rstrip("]") for line in done.stdout.splitlines() if "[" in line}


def test_a_shard_runs_exactly_the_servers_the_plan_file_gives_it(tmp_path: Path) -> None:
    """The plan job put the heavy server alone in shard 1; a shard that split by itself would take a and c, with
    --plan it takes a alone, and shard 2 takes b and c."""
    path = _matrix(tmp_path)
    plan_path, plan = _plan_file(tmp_path, path, {"a-default": 10.0, "b-default": 1.0, "c-default": 1.0}, 2)
    own = make_plan(load_matrix(path), 2, estimate_costs(load_matrix(path)))
    assert set(own.shard(1).servers) == {"a-default", "c-default"}  # what the shard would run without the file
    assert plan.shard(1).servers == ("a-default",)
    first = _pytest(tmp_path, "--matrix", str(path), "--shard", "1/2", "--plan", str(plan_path), "--collect-only", "-q")
    second = _pytest(
        tmp_path, "--matrix", str(path), "--shard", "2/2", "--plan", str(plan_path), "--collect-only", "-q"
    )
    assert first.returncode == 0 and second.returncode == 0, first.stdout + first.stderr + second.stdout
    assert _collected(first) == {"a-default-chat", "a-default-completions"}
    assert _collected(second) == {f"{s}-default-{u}" for s in "bc" for u in ("chat", "completions")}


def test_the_run_records_the_plan_files_sha256(tmp_path: Path) -> None:
    """The environment line of a --plan run carries the plan's sha256 and says the split came from the file."""
    path = _matrix(tmp_path, ("a", "b"))
    plan_path, plan = _plan_file(tmp_path, path, {"a-default": 5.0, "b-default": 1.0}, 3)
    assert plan.shard(3).servers == ()
    done = _pytest(
        tmp_path, "--matrix", str(path), "--shard", "3/3", "--plan", str(plan_path), "--run-dir", str(tmp_path / "r")
    )
    assert done.returncode == 5, done.stdout + done.stderr  # no tests ran: the plan gives shard 3 nothing
    environment = read_results(tmp_path / "r").environment
    assert environment is not None and environment.shard == "3/3"
    assert environment.shard_plan_sha256 == plan.sha256
    assert environment.shard_cost_source == "plan file plan.json: weight bytes (hub sizes)"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ("matrix", "made from another matrix"),
        ("servers", "is not the sha256 of the servers it assigns"),
        ("drop", "servers of the matrix in no shard: c-default"),
        ("total", "plan.json has 2 shard(s); pass --shard K/2"),
        ("garbage", "not a plan's JSON"),
    ],
)
def test_a_plan_file_that_does_not_fit_is_refused_in_one_line(tmp_path: Path, change: str, says: str) -> None:
    """Another matrix, an edited assignment, a server left out, another shard count, a torn file: exit 4, one line
    naming the file and the fix, nothing run."""
    path = _matrix(tmp_path)
    plan_path, _ = _plan_file(tmp_path, path, {"a-default": 10.0, "b-default": 1.0, "c-default": 1.0}, 2)
    data = json.loads(plan_path.read_text())
    shard = "1/2"
    if change == "matrix":
        path.write_text(path.read_text() + "# edited after the plan\n")
    elif change == "servers":
        data["include"][0]["servers"] = ["b-default"]
        data["include"][1]["servers"] = ["a-default", "c-default"]
    elif change == "drop":
        data["include"][1]["servers"] = ["b-default"]
    elif change == "total":
        shard = "1/3"
    if change == "garbage":
        plan_path.write_text('{"include": [')
    else:
        plan_path.write_text(json.dumps(data))
    done = _pytest(tmp_path, "--matrix", str(path), "--shard", shard, "--plan", str(plan_path), "--collect-only")
    assert done.returncode == 4, done.stdout + done.stderr
    said = [line for line in (done.stdout + done.stderr).splitlines() if "--plan" in line or "--shard" in line]
    assert said and says in said[0] and "Traceback" not in done.stdout + done.stderr


def test_plan_needs_a_shard_to_run(tmp_path: Path) -> None:
    """--plan without --shard is a usage error naming what is missing."""
    path = _matrix(tmp_path)
    plan_path, _ = _plan_file(tmp_path, path, {"a-default": 1.0, "b-default": 1.0, "c-default": 1.0}, 2)
    done = _pytest(tmp_path, "--matrix", str(path), "--plan", str(plan_path), "--collect-only")
    assert done.returncode == 4 and "needs --shard K/N" in done.stdout + done.stderr


def test_plan_out_writes_the_json_it_prints_and_run_passes_plan_on(tmp_path: Path) -> None:
    """`plan --json --out F` prints exactly what F holds, F reads back as the same plan, and `run --plan F` hands the
    file to pytest."""
    path = _matrix(tmp_path)
    out = tmp_path / "reports" / "plan.json"
    done = subprocess.run(
        [str(BIN / "vllm-compat"), "plan", "--matrix", str(path), "--shards", "2", "--json", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert json.loads(done.stdout) == json.loads(out.read_text())
    read = planned_shard(out, load_matrix(path), ShardId(2, 2))
    assert read.plan_sha256 == json.loads(out.read_text())["include"][1]["plan_sha256"]
    from harness.cli import build_parser
    from harness.commands.run import pytest_argv

    argv = pytest_argv(build_parser().parse_args(["run", "--shard", "2/2", "--plan", str(out)]), tmp_path)
    assert argv[argv.index("--plan") + 1] == str(out)
    data = json.loads(out.read_text())
    data["include"] = data["include"][:1]
    out.write_text(json.dumps(data))
    with pytest.raises(ShardError, match="expected 1/N"):
        planned_shard(out, load_matrix(path), ShardId(1, 2))
