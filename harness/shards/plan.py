"""A matrix's split into N shards with their expected costs: for `vllm-compat plan` and for `--shard K/N`.

The JSON form is a GitHub Actions ``strategy.matrix`` (``{"include": [...]}``, one entry per shard), so a plan job
can print it and the shard jobs fan out over it with ``fromJSON``.
"""

from __future__ import annotations

from typing import Any

from harness.matrix import Matrix
from harness.shards.costs import Costs, servers_of
from harness.shards.partition import Plan, partition


def make_plan(matrix: Matrix, total: int, costs: Costs) -> Plan:
    """The matrix's servers in ``total`` shards, balanced on ``costs``."""
    order = tuple(servers_of(matrix))
    return Plan(partition(costs.by_server, total, order=order), costs.source, costs.unit)


def _cost_text(value: float, unit: str) -> str:
    if unit == "bytes":
        return f"{value / 2**20:,.1f} MiB of weights"
    if unit == "s":
        return f"{value:,.1f} s"
    return f"{value:g} server(s)"


def plan_json(plan: Plan, matrix: Matrix) -> dict[str, Any]:
    """``{"include": [{"shard": "1/4", "index": 1, "total": 4, "servers": [...], "cells": 7, "expected_cost": ...,
    "cost_unit": "s", "cost_source": ..., "matrix_sha256": ..., "plan_sha256": ...}, ...]}``."""
    servers = servers_of(matrix)
    return {
        "include": [
            {
                "shard": str(shard.id),
                "index": shard.id.index,
                "total": shard.id.total,
                "servers": list(shard.servers),
                "cells": sum(len(servers[key]) for key in shard.servers),
                "expected_cost": round(shard.cost, 3),
                "cost_unit": plan.cost_unit,
                "cost_source": plan.cost_source,
                "matrix_sha256": matrix.sha256,
                "plan_sha256": plan.sha256,
            }
            for shard in plan.shards
        ]
    }


def plan_lines(plan: Plan, matrix: Matrix) -> list[str]:
    """The plan for a person: one line per shard with its cost and servers, and what the costs came from."""
    servers = servers_of(matrix)
    lines = [f"{matrix.path}: {len(servers)} servers in {len(plan.shards)} shards; costs from {plan.cost_source}"]
    for shard in plan.shards:
        cells = sum(len(servers[key]) for key in shard.servers)
        names = ", ".join(shard.servers) or "(none: fewer servers than shards)"
        lines.append(f"  shard {shard.id}: {_cost_text(shard.cost, plan.cost_unit)}, {cells} cells: {names}")
    return lines
