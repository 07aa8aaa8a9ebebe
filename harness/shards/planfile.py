"""A plan file (``vllm-compat plan --json --out FILE``) read back by a shard: ``run --plan FILE --shard K/N``.

Every shard must run the split the plan job made, not one it computes again: the shards see what the plan job does
not (HF_TOKEN, hub file sizes, another history file), so costs, and with them the split, can differ from node to
node. The file is the plan's JSON as `plan --json` prints it (a GitHub Actions ``strategy.matrix``), so the plan job
computes the split once and the same bytes feed both the job matrix and each shard.

It is checked before anything runs: the matrix it was made from (its sha256), the shard count, that every server of
the matrix is in exactly one shard and no shard names a server the matrix lacks, and that the plan's sha256 is the
assignment's (an edited or torn file is refused). Each error is one line naming the file, the rule, the value and
the fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.matrix import Matrix
from harness.shards.costs import servers_of
from harness.shards.partition import Plan, Shard, ShardError, ShardId


@dataclass(frozen=True)
class PlannedShard:
    """What one shard runs by the plan file: its servers, and the plan's sha256 and cost source it records."""

    id: ShardId
    servers: tuple[str, ...]
    plan_sha256: str
    cost_source: str
    # the whole split, "K/N" -> servers: recorded so that merge can name a missing shard's cells
    assignment: dict[str, tuple[str, ...]]


def _entries(path: Path) -> list[Mapping[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ShardError(
            f"--plan {path}: no such file; pass the file `vllm-compat plan --json --out FILE` wrote"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ShardError(
            f"--plan {path}: not a plan's JSON ({error}); write it with `vllm-compat plan --json`"
        ) from None
    entries = data.get("include") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ShardError(
            f'--plan {path}: expected {{"include": [one object per shard]}}, got {type(data).__name__}; '
            "write it with `vllm-compat plan --json`"
        )
    return entries


def _field(path: Path, entry: Mapping[str, Any], key: str, kind: type) -> Any:
    value = entry.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ShardError(
            f"--plan {path}: shard entry {entry.get('shard', '?')!r}: {key}: expected {kind.__name__}, got {value!r}; "
            "write the file with `vllm-compat plan --json`"
        )
    return value


def read_plan(path: Path, matrix: Matrix) -> Plan:
    """The plan in ``path``, checked against ``matrix`` (ShardError naming the file and the rule otherwise)."""
    entries = _entries(path)
    shards: list[Shard] = []
    shas: set[str] = set()
    for entry in entries:
        index, total = _field(path, entry, "index", int), _field(path, entry, "total", int)
        servers = _field(path, entry, "servers", list)
        if not all(isinstance(s, str) for s in servers):
            raise ShardError(f"--plan {path}: shard {index}/{total}: servers: expected server keys, got {servers!r}")
        matrix_sha = _field(path, entry, "matrix_sha256", str)
        if matrix_sha != matrix.sha256:
            raise ShardError(
                f"--plan {path}: made from another matrix (matrix_sha256 {matrix_sha[:12]}..., {matrix.path} is "
                f"{matrix.sha256[:12]}...); plan again from this matrix, or run with the matrix the plan was made from"
            )
        shas.add(_field(path, entry, "plan_sha256", str))
        shards.append(Shard(ShardId(index, total), tuple(servers), float(entry.get("expected_cost") or 0.0)))
    totals = {s.id.total for s in shards}
    indices = sorted(s.id.index for s in shards)
    if len(totals) != 1 or indices != list(range(1, len(shards) + 1)) or totals != {len(shards)}:
        listed = ", ".join(str(s.id) for s in shards)
        raise ShardError(f"--plan {path}: shards {listed}: expected 1/N .. N/N, each once; plan again")
    shards.sort(key=lambda s: s.id.index)
    owners: dict[str, str] = {}
    for shard in shards:
        for key in shard.servers:
            if key in owners:
                raise ShardError(f"--plan {path}: server {key} is in shards {owners[key]} and {shard.id}; plan again")
            owners[key] = str(shard.id)
    known = set(servers_of(matrix))
    unknown, unplanned = sorted(set(owners) - known), sorted(known - set(owners))
    if unknown or unplanned:
        said = "; ".join(
            part
            for part in (
                f"servers the matrix lacks: {', '.join(unknown)}" if unknown else "",
                f"servers of the matrix in no shard: {', '.join(unplanned)}" if unplanned else "",
            )
            if part
        )
        raise ShardError(f"--plan {path}: does not cover {matrix.path} ({said}); plan again from this matrix")
    source = str(entries[0].get("cost_source") or "unknown")
    plan = Plan(tuple(shards), source, str(entries[0].get("cost_unit") or ""))
    if shas != {plan.sha256}:
        raise ShardError(
            f"--plan {path}: plan_sha256 {', '.join(sorted(shas))} is not the sha256 of the servers it assigns "
            f"({plan.sha256}): the file was edited or mixes plans; write it again with `vllm-compat plan --json`"
        )
    return plan


def planned_shard(path: Path, matrix: Matrix, shard: ShardId) -> PlannedShard:
    """Shard ``shard`` of the plan in ``path``: its servers, exactly as the plan assigns them."""
    plan = read_plan(path, matrix)
    total = len(plan.shards)
    if shard.total != total:
        raise ShardError(
            f"--shard {shard}: the plan {path} has {total} shard(s); pass --shard K/{total} (or plan for {shard.total})"
        )
    mine = plan.shard(shard.index)
    assignment = {str(s.id): tuple(s.servers) for s in plan.shards}
    return PlannedShard(shard, mine.servers, plan.sha256, f"plan file {path.name}: {plan.cost_source}", assignment)


__all__ = ["PlannedShard", "planned_shard", "read_plan"]
