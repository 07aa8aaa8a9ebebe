"""results.jsonl: one JSON line per cell, per server boot and per run environment, appended as soon as known.

Each line is written with a single ``write`` on a file opened in append mode and flushed to disk, so xdist workers
can share the file and a crash loses nothing already written.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.jsonl"


class Verdict(StrEnum):
    PASS = "PASS"  # a probe ran and every check held
    FAIL = "FAIL"  # with a root-cause code and evidence
    ERROR = "ERROR"  # the harness itself broke
    SKIP = "SKIP"  # with a reason
    XFAIL = "XFAIL"  # failed with the code the matrix expected
    XPASS = "XPASS"  # passed although the matrix expected a failure: news, reported as a failure of the run


def new_run_id() -> str:
    """Sortable by time, unique across machines: 20261121-201530-3fa2."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def append_record(path: Path, record: Mapping[str, Any]) -> None:
    line = json.dumps(record, default=str, sort_keys=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every well-formed line; a line cut short by a crash is skipped, never fatal."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for text in handle:
            text = text.strip()
            if not text:
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


@dataclass
class RunResults:
    """What one run directory holds, grouped by record kind."""

    run_dir: Path
    environment: dict[str, Any] = field(default_factory=dict)
    servers: list[dict[str, Any]] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {v.value: 0 for v in Verdict}
        for cell in self.cells:
            counts[cell["verdict"]] = counts.get(cell["verdict"], 0) + 1
        return counts


def read_results(run_dir: Path) -> RunResults:
    results = RunResults(run_dir=run_dir)
    latest: dict[str, dict[str, Any]] = {}
    servers: dict[str, dict[str, Any]] = {}
    for record in iter_records(run_dir / RESULTS_FILE):
        kind = record.get("kind")
        if kind == "environment":
            results.environment = record
        elif kind == "server":
            # A server has a line at boot and one at teardown: the later one adds to the earlier, never erases it.
            servers.setdefault(record["server_key"], {}).update({k: v for k, v in record.items() if v is not None})
        elif kind == "cell":
            latest[record["cell_id"]] = record  # a re-run cell (pytest --lf into the same dir) keeps its last verdict
    results.servers = list(servers.values())
    results.cells = list(latest.values())
    return results


class Stopwatch:
    """Wall-clock start/finish stamps plus a monotonic duration for one cell."""

    def __init__(self) -> None:
        self.started_at = now_iso()
        self._t0 = time.monotonic()

    def elapsed(self) -> float:
        return round(time.monotonic() - self._t0, 3)
