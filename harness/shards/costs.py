"""What each server of a matrix is expected to cost, for balancing shards: history's seconds, else weight bytes.

In order of preference, the first that knows at least one server of the matrix:

1. ``history``: the latest recorded boot + probe seconds of the server's cells (harness.history), from ``--history``
   or ``reports/history.sqlite`` when it exists;
2. ``weight bytes``: a hub model's weight files as the hub lists them (the same on every node, whatever its cache
   holds; a cached snapshot's safetensors headers when the hub may not be asked), a local or zoo checkpoint's
   safetensors headers -- never downloading weights;
3. ``constant``: every server costs the same.

Servers the chosen source does not know are given the mean of those it knows (said in the source text), so seconds
and bytes never mix. A server whose cells all go to external endpoints boots nothing and costs 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.checkpoint import CheckpointError, expected_weight_bytes, list_files, resolve_model
from harness.history import DEFAULT_HISTORY, HistoryError, HistoryStore
from harness.matrix import Cell, Matrix, ModelSpec

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


@dataclass(frozen=True)
class Costs:
    """Expected cost per server key, the unit, and what it was read from (said with the plan)."""

    by_server: Mapping[str, float]
    source: str
    unit: str


def servers_of(matrix: Matrix) -> dict[str, tuple[Cell, ...]]:
    """The matrix's servers (server key -> its cells), in the matrix's order."""
    out: dict[str, list[Cell]] = {}
    for cell in matrix.cells:
        out.setdefault(cell.server_key, []).append(cell)
    return {key: tuple(cells) for key, cells in out.items()}


def history_path(given: Path | None, project_dir: Path) -> Path | None:
    """The history file to read costs from: the one given, else <project>/reports/history.sqlite if it exists."""
    if given is not None:
        return given
    default = project_dir / DEFAULT_HISTORY
    return default if default.is_file() else None


def estimate_costs(matrix: Matrix, *, history: Path | None = None, offline: bool = True) -> Costs:
    """Each server's expected cost from the first source that knows any of them (the module docstring's order)."""
    servers = servers_of(matrix)
    booted = {key: cells for key, cells in servers.items() if any(c.endpoint is None for c in cells)}
    if history is not None:
        seconds = _history_seconds(history, booted)
        if seconds:
            return _filled(servers, booted, seconds, f"history ({history})", "s")
    weights = {key: size for key, cells in booted.items() if (size := _weight_bytes(cells[0].model, offline))}
    if weights:
        return _filled(servers, booted, weights, "weight bytes (safetensors headers)", "bytes")
    return Costs(
        {key: (1.0 if key in booted else 0.0) for key in servers}, "constant (no history, no weights)", "server"
    )


def _filled(
    servers: Mapping[str, tuple[Cell, ...]],
    booted: Mapping[str, object],
    known: Mapping[str, float],
    source: str,
    unit: str,
) -> Costs:
    """Known costs, the mean of them for the booted servers the source does not know, 0 for those that boot nothing."""
    mean = sum(known.values()) / len(known)
    missing = [key for key in booted if key not in known]
    by_server = {key: float(known.get(key, mean if key in booted else 0.0)) for key in servers}
    if missing:
        source += f"; {len(missing)} of {len(booted)} servers unknown to it, counted at the mean ({mean:,.1f} {unit})"
    return Costs(by_server, source, unit)


def _history_seconds(path: Path, servers: Mapping[str, tuple[Cell, ...]]) -> dict[str, float]:
    """Latest boot + probe seconds per server from the history file; {} when it cannot be read."""
    try:
        with HistoryStore.open(path, create=False) as store:
            latest = {}
            for entry in store.everything():  # ordered by time within each cell: the last one wins
                latest[entry.key.cell_id] = entry
            out: dict[str, float] = {}
            for key, cells in servers.items():
                entries = [latest[c.id] for c in cells if c.id in latest]
                if not entries:
                    continue
                boot = max((e.figures.get("boot_s") or 0.0 for e in entries), default=0.0)
                probe = 0.0
                for entry in entries:
                    record = store.record(entry.run_id, entry.key.cell_id)
                    timings = record.timings if record is not None else {}
                    probe += float(timings.get("probe_s") or (0.0 if boot else timings.get("cell_s") or 0.0))
                out[key] = round(boot + probe, 3)
            return {key: value for key, value in out.items() if value > 0}
    except (HistoryError, OSError, ValueError):
        return {}


def _weight_bytes(model: ModelSpec, offline: bool) -> int | None:
    """The checkpoint's weight bytes. A hub model: the hub's file sizes (the same answer on every node, whatever its
    cache holds), else the headers of a cached snapshot; a local or zoo checkpoint: its safetensors headers."""
    try:
        if model.source == "hub":
            path = resolve_model(model.id, revision=model.revision, offline=offline)
            listing = list_files(model.id, path, model.revision, offline)
            sizes = [s for name, s in listing.files.items() if name.endswith(WEIGHT_SUFFIXES) and s]
            if sizes:
                return sum(sizes)
        else:
            path = model.path if model.path is not None else resolve_model(model.id, offline=True)
        return expected_weight_bytes(path) or None
    except (CheckpointError, OSError, ValueError):
        return None
