"""Split a matrix's servers into N shards, balanced by expected cost, the same way on every node.

A server's cells never split: a shard owns whole servers (``Cell.server_key``), so each server boots once, on one
node. The split is longest-processing-time-first: servers sorted by cost, descending, ties by name, each into the
shard with the least cost so far (ties: the lowest shard number). Nothing in it depends on the machine, the clock or
hash order, so every node that computes the plan from the same matrix and costs gets the same shards.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class ShardError(Exception):
    """A bad --shard value or plan: one line naming the value, the rule and the fix."""


@dataclass(frozen=True, order=True)
class ShardId:
    """Shard ``index`` of ``total`` (1-based, as CI systems count jobs: BUILDKITE_PARALLEL_JOB is 0-based, add 1)."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"


def parse_shard(text: str, *, option: str = "--shard") -> ShardId:
    """``"2/4"`` -> ShardId(2, 4); anything else is a ShardError naming the value and the form."""
    found = _SHARD.match(text or "")
    if found is None:
        raise ShardError(f"{option} {text!r}: expected K/N, e.g. {option} 1/4 (shard K of N, 1 <= K <= N)")
    index, total = int(found.group(1)), int(found.group(2))
    if total < 1 or not 1 <= index <= total:
        raise ShardError(
            f"{option} {text!r}: K must be between 1 and N, and N at least 1; e.g. {option} 1/{max(total, 1)}"
        )
    return ShardId(index, total)


@dataclass(frozen=True)
class Shard:
    """One shard of a plan: its servers (in the matrix's order) and their summed expected cost."""

    id: ShardId
    servers: tuple[str, ...]
    cost: float


@dataclass(frozen=True)
class Plan:
    """Every shard of a split, with what the costs were read from."""

    shards: tuple[Shard, ...]
    cost_source: str  # the cost model's constants and how many servers the history knew (harness.shards.costs)
    cost_unit: str  # "s"

    def shard(self, index: int) -> Shard:
        return self.shards[index - 1]

    @property
    def sha256(self) -> str:
        """The assignment of servers to shards: equal on every node that planned alike (merge compares it)."""
        return assignment_sha256({str(s.id): s.servers for s in self.shards})


def assignment_sha256(assignment: Mapping[str, Sequence[str]]) -> str:
    """The sha256 of a split, "K/N" -> its servers, in shard order (``Plan.sha256``; merge checks a recorded split)."""
    ordered = sorted(assignment.items(), key=lambda item: parse_shard(item[0]).index)
    return hashlib.sha256(json.dumps([[k, list(v)] for k, v in ordered], sort_keys=True).encode()).hexdigest()


def partition(costs: Mapping[str, float], total: int, *, order: tuple[str, ...] | None = None) -> tuple[Shard, ...]:
    """``costs`` (server key -> expected cost) split into ``total`` shards, longest first into the lightest shard.

    ``order`` is the matrix's server order, used only to list each shard's servers the way the matrix does (the
    assignment itself never depends on it). A shard may be empty when there are fewer servers than shards."""
    if total < 1:
        raise ShardError(f"shards: {total}: need at least 1")
    loads = [0.0] * total
    owned: list[list[str]] = [[] for _ in range(total)]
    for server in sorted(costs, key=lambda key: (-costs[key], key)):
        lightest = min(range(total), key=lambda i: (loads[i], i))
        loads[lightest] += costs[server]
        owned[lightest].append(server)
    position = {key: i for i, key in enumerate(order or sorted(costs))}
    return tuple(
        Shard(
            id=ShardId(i + 1, total),
            servers=tuple(sorted(owned[i], key=lambda k: (position.get(k, len(position)), k))),
            cost=loads[i],
        )
        for i in range(total)
    )
