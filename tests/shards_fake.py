"""Shard runs of a real matrix split by the real plan, written as records (no boot): for merge and the nightly."""

from __future__ import annotations

from pathlib import Path

from records_fake import cell, environment

from harness.matrix import load_matrix
from harness.results import RESULTS_FILE, append_record
from harness.shards import estimate_costs, make_plan, servers_of
from harness.verdicts import Verdict


def write_matrix(directory: Path, models: tuple[str, ...] = ("a", "b", "c")) -> Path:
    """matrix.yaml of local checkpoints (a config.json each), chat required, completions not: two cells a server."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for name in models:
        (directory / name).mkdir(exist_ok=True)
        (directory / name / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}', encoding="utf-8")
        entries.append(f"  - id: ./{name}\n    use_cases: [chat, completions]\n    required: [chat]\n")
    path = directory / "matrix.yaml"
    path.write_text("models:\n" + "".join(entries), encoding="utf-8")
    return path


def shard_runs(root: Path, matrix_path: Path, total: int, present: tuple[int, ...]) -> list[Path]:
    """The run directories of shards ``present`` (1-based) of ``total``: each its plan's servers' cells, PASS, with
    the environment a `run --shard K/N` writes (shard, split and its sha256, matrix path and sha256)."""
    matrix = load_matrix(matrix_path)
    plan = make_plan(matrix, total, estimate_costs(matrix))
    split = {str(s.id): s.servers for s in plan.shards}
    servers = servers_of(matrix)
    dirs = []
    for index in present:
        run_dir = root / f"run-shard-{index}"
        fields = {
            "run_id": f"shard{index}",
            "matrix": str(matrix_path),
            "matrix_sha256": matrix.sha256,
            "shard": f"{index}/{total}",
            "shard_plan_sha256": plan.sha256,
            "shard_plan": split,
            "hostname": f"node{index}",
        }
        append_record(run_dir / RESULTS_FILE, environment(**fields))
        for key in plan.shard(index).servers:
            for c in servers[key]:
                record_id = f"{c.model.name}|{c.profile}|{c.use_case.value}"
                append_record(
                    run_dir / RESULTS_FILE, cell(record_id, Verdict.PASS, run_id=f"shard{index}", required=c.required)
                )
        dirs.append(run_dir)
    return dirs


def cells_of_shard(matrix_path: Path, total: int, index: int) -> set[str]:
    """The cell ids the plan gives shard ``index`` of ``total``."""
    matrix = load_matrix(matrix_path)
    plan = make_plan(matrix, total, estimate_costs(matrix))
    servers = servers_of(matrix)
    return {c.id for key in plan.shard(index).servers for c in servers[key]}
