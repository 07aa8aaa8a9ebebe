"""Shards: one matrix split over several nodes and joined back into one run.

- ``auto``: ``--shard auto``, the shard K/N read from the CI system running the job (Buildkite, a Kubernetes
  Indexed Job, a Slurm array; GitHub Actions passes its matrix on the command line).
- ``partition``: ``ShardId`` (``--shard K/N``), ``partition`` (longest-processing-time-first, by server, the same on
  every node), ``Plan``.
- ``costs``: each server's expected seconds: a boot (history's, else an overhead plus its weight bytes' load time),
  each cell's probe (history's, else a constant per use case), ~0 for cells known to fail pre-flight.
- ``plan``: the split of a matrix, as text and as a GitHub Actions ``strategy.matrix``.
- ``planfile``: that JSON read back by a shard (``--plan FILE``), so every shard runs the plan job's split.
- ``merge``: join the shards' run directories into one run, refusing runs that are not parts of one split; a shard
  that left no results has its cells recorded NOT RUN.
"""

from __future__ import annotations

from harness.shards.auto import resolve_shard, shard_from_ci
from harness.shards.costs import Costs, estimate_costs, history_path, servers_of
from harness.shards.merge import (
    Merged,
    MergeError,
    MissingShard,
    ShardRun,
    check_shards,
    merge_runs,
    missing_shards,
)
from harness.shards.partition import Plan, Shard, ShardError, ShardId, parse_shard, partition
from harness.shards.plan import make_plan, plan_json, plan_lines
from harness.shards.planfile import PlannedShard, planned_shard, read_plan

__all__ = [
    "Costs",
    "MergeError",
    "Merged",
    "MissingShard",
    "Plan",
    "PlannedShard",
    "Shard",
    "ShardError",
    "ShardId",
    "ShardRun",
    "check_shards",
    "estimate_costs",
    "history_path",
    "make_plan",
    "merge_runs",
    "missing_shards",
    "parse_shard",
    "partition",
    "plan_json",
    "plan_lines",
    "planned_shard",
    "read_plan",
    "resolve_shard",
    "servers_of",
    "shard_from_ci",
]
