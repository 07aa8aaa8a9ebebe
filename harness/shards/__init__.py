"""Shards: one matrix split over several nodes and joined back into one run.

- ``partition``: ``ShardId`` (``--shard K/N``), ``partition`` (longest-processing-time-first, by server, the same on
  every node), ``Plan``.
- ``costs``: each server's expected cost: history's boot + probe seconds, else weight bytes, else a constant.
- ``plan``: the split of a matrix, as text and as a GitHub Actions ``strategy.matrix``.
- ``planfile``: that JSON read back by a shard (``--plan FILE``), so every shard runs the plan job's split.
- ``merge``: join the shards' run directories into one run, refusing runs that are not one whole split.
"""

from __future__ import annotations

from harness.shards.costs import Costs, estimate_costs, history_path, servers_of
from harness.shards.merge import Merged, MergeError, ShardRun, check_shards, merge_runs
from harness.shards.partition import Plan, Shard, ShardError, ShardId, parse_shard, partition
from harness.shards.plan import make_plan, plan_json, plan_lines
from harness.shards.planfile import PlannedShard, planned_shard, read_plan

__all__ = [
    "Costs",
    "MergeError",
    "Merged",
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
    "parse_shard",
    "partition",
    "plan_json",
    "plan_lines",
    "planned_shard",
    "read_plan",
    "servers_of",
]
