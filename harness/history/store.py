"""The history store: every added run's cells with their key, verdict and figures, in one SQLite file.

SQLite from the standard library: one file (default ``reports/history.sqlite``) that needs no server, can be kept as a
CI artifact or on a data branch, and answers the two questions history is asked -- "this cell's last N results on this
machine" and "the run before this one" -- from an index. The schema is versioned with ``PRAGMA user_version`` and
upgraded by ``MIGRATIONS`` (one SQL script per version, applied in order in one transaction); a file from a newer
harness is refused with ``HistoryError``. Adding a run is idempotent by run id: the second ``add`` of a run is a no-op.
Each cell's full record is kept as JSON beside its columns, so pages can show checks, evidence and findings long after
the run directory is gone.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.history.keys import METRICS, HistoryKey, compile_cache_of, figures, gpu_label, key_of, server_of
from harness.logs import read_tail_before_teardown
from harness.results import CellRecord, EnvironmentRecord, RunResults, now_iso
from harness.verdicts import Verdict

DEFAULT_HISTORY = Path("reports/history.sqlite")
LOG_TAIL_LINES = 30

_METRIC_COLUMNS = ", ".join(f"{m} REAL" for m in METRICS)
MIGRATIONS: tuple[str, ...] = (
    # 1: runs and their cells; cells indexed by (cell_id, gpu, run_at): a cell's comparable history in order.
    f"""
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        run_at TEXT NOT NULL,
        added_at TEXT NOT NULL,
        run_dir TEXT,
        gpu TEXT NOT NULL,
        vllm_version TEXT,
        harness_version TEXT,
        environment TEXT
    );
    CREATE INDEX runs_by_gpu_time ON runs (gpu, run_at, run_id);
    CREATE TABLE cells (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        cell_id TEXT NOT NULL,
        run_at TEXT NOT NULL,
        model TEXT NOT NULL,
        profile TEXT NOT NULL,
        use_case TEXT NOT NULL,
        model_id TEXT NOT NULL,
        revision TEXT,
        vllm_version TEXT,
        vllm_commit TEXT,
        flags TEXT,
        flags_hash TEXT,
        gpu TEXT NOT NULL,
        harness_version TEXT,
        verdict TEXT NOT NULL,
        code TEXT,
        required INTEGER NOT NULL,
        message TEXT NOT NULL,
        {_METRIC_COLUMNS},
        log_tail TEXT,
        record TEXT NOT NULL,
        PRIMARY KEY (run_id, cell_id)
    );
    CREATE INDEX cells_by_cell ON cells (cell_id, gpu, run_at, run_id);
    """,
    # 2: whether a live endpoint (not a boot of the run's) answered the cell, so every view can label it, and the
    # state of its boot's torch.compile cache (warm, cold, disabled), so boot times compare like with like; the rows
    # written before are filled from the record each keeps.
    """
    ALTER TABLE cells ADD COLUMN live INTEGER NOT NULL DEFAULT 0;
    UPDATE cells SET live = (json_extract(record, '$.server.external') IS NOT NULL);
    ALTER TABLE cells ADD COLUMN compile_cache TEXT;
    UPDATE cells SET compile_cache = json_extract(record, '$.server.compile_cache');
    """,
)


MIGRATIONS_COUNT = len(MIGRATIONS)  # the schema version a file this harness writes carries


class HistoryError(Exception):
    """A history file this harness cannot use: one line saying what, and the fix."""


@dataclass(frozen=True)
class RunRow:
    run_id: str
    run_at: str
    added_at: str
    run_dir: str | None
    gpu: str
    vllm_version: str | None
    harness_version: str | None
    environment: EnvironmentRecord | None


@dataclass(frozen=True)
class Entry:
    """One cell's result in one run, as history holds it (the full record: ``HistoryStore.record``)."""

    run_id: str
    run_at: str
    key: HistoryKey
    model: str
    profile: str
    use_case: str
    verdict: Verdict
    code: str | None
    required: bool
    message: str
    figures: Mapping[str, float | None]
    log_tail: str | None
    live: bool = False  # a live endpoint answered it (harness.live_cells): not a boot of that run's
    compile_cache: str | None = None  # its boot's torch.compile cache: warm, cold, disabled; None when unknown

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "run_at": self.run_at,
            "cell_id": self.key.cell_id,
            "model": self.model,
            "profile": self.profile,
            "use_case": self.use_case,
            "model_id": self.key.model_id,
            "revision": self.key.revision,
            "vllm_version": self.key.vllm_version,
            "vllm_commit": self.key.vllm_commit,
            "flags": self.key.flags,
            "flags_hash": self.key.flags_hash,
            "gpu": self.key.gpu,
            "harness_version": self.key.harness_version,
            "verdict": self.verdict.value,
            "code": self.code,
            "required": self.required,
            "message": self.message,
            "figures": dict(self.figures),
            "live": self.live,
            "compile_cache": self.compile_cache,
        }


_ENTRY_COLUMNS = (
    "run_id, run_at, cell_id, model, profile, use_case, model_id, revision, vllm_version, vllm_commit, flags, gpu, "
    "harness_version, verdict, code, required, message, " + ", ".join(METRICS) + ", log_tail, live, compile_cache"
)


@functools.lru_cache(maxsize=1024)
def _flags(text: str) -> Mapping[str, Any]:
    # The same few flag sets repeat over thousands of rows: parse each once; read-only, since it is shared.
    return MappingProxyType(json.loads(text))


def _entry(row: Sequence[Any]) -> Entry:
    (run_id, run_at, cell_id, model, profile, use_case, model_id, revision, version, commit, flags, gpu, harness) = row[
        :13
    ]
    verdict, code, required, message = row[13:17]
    values = row[17 : 17 + len(METRICS)]
    return Entry(
        run_id=run_id,
        run_at=run_at,
        key=HistoryKey(
            cell_id=cell_id,
            model_id=model_id,
            revision=revision,
            vllm_version=version,
            vllm_commit=commit,
            flags=_flags(flags) if flags is not None else None,
            gpu=gpu,
            harness_version=harness,
        ),
        model=model,
        profile=profile,
        use_case=use_case,
        verdict=Verdict(verdict),
        code=code,
        required=bool(required),
        message=message,
        figures=dict(zip(METRICS, values, strict=True)),
        log_tail=row[-3],
        live=bool(row[-2]),
        compile_cache=row[-1],
    )


def entries_of(run: RunResults) -> list[Entry]:
    """A run's cells as history entries, without adding them (the gate judges a run that is not in history yet)."""
    at = run_at(run)
    run_id = run_id_of(run) if run.cells else ""
    out = []
    for cell in run.cells:
        server = server_of(run, cell)
        out.append(
            Entry(
                run_id=run_id,  # merged shards count as one run: the environment's run id
                run_at=at,
                key=key_of(cell, server, run.environment),
                model=cell.model,
                profile=cell.profile,
                use_case=cell.use_case.value,
                verdict=cell.verdict,
                code=cell.code,
                required=cell.required,
                message=cell.message,
                figures=figures(cell, server),
                log_tail=cell.log_tail,
                live=cell.live,
                compile_cache=compile_cache_of(cell, server),
            )
        )
    return out


def run_at(run: RunResults) -> str:
    """When the run started: its earliest cell or server stamp; a run id's own timestamp when none was written."""
    stamps = [c.started_at for c in run.cells if c.started_at] + [s.started_at for s in run.servers if s.started_at]
    if stamps:
        return min(stamps)
    if run.environment is None and not run.cells:
        return ""
    run_id = run_id_of(run)
    day, _, clock = run_id.partition("-")
    if len(day) == 8 and clock[:6].isdigit():
        return f"{day[:4]}-{day[4:6]}-{day[6:]}T{clock[:2]}:{clock[2:4]}:{clock[4:6]}.000+00:00"
    return run_id


def run_id_of(run: RunResults) -> str:
    if run.environment is not None:
        return run.environment.run_id
    if run.cells:
        return run.cells[0].run_id
    raise HistoryError(f"{run.run_dir}: no environment and no cell records; nothing to add")


class HistoryStore:
    """An open history file. ``with HistoryStore.open(path) as store: store.add(read_results(run_dir))``."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.db = connection
        self.path = path

    @classmethod
    @contextmanager
    def open(cls, path: Path, *, create: bool = True) -> Iterator[HistoryStore]:
        if not create and not path.is_file():
            raise HistoryError(f"{path}: no history file; add a run first (vllm-compat history add RUN_DIR)")
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path)
        try:
            store = cls(connection, path)
            store._migrate()
            yield store
        finally:
            connection.close()

    def _migrate(self) -> None:
        try:
            version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.DatabaseError as error:
            raise HistoryError(f"{self.path}: not a history file ({error}); pass another --history path") from None
        if version > len(MIGRATIONS):
            raise HistoryError(
                f"{self.path}: history schema {version} is newer than this vllm-compat reads (up to "
                f"{len(MIGRATIONS)}); fix: upgrade vllm-compat (pip install -U vllm-compat)"
            )
        if version == len(MIGRATIONS):
            return
        for number in range(version, len(MIGRATIONS)):  # each script and its version bump commit together
            self.db.executescript("BEGIN;" + MIGRATIONS[number] + f"PRAGMA user_version = {number + 1}; COMMIT;")

    # -- writing ------------------------------------------------------------------------------------------------
    def add(self, run: RunResults) -> bool:
        """Add a run's cells; False (and nothing written) when the run id is already in history."""
        run_id = run_id_of(run)
        if self.db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
            return False
        at = run_at(run)
        environment = run.environment
        gpu = gpu_label(environment)
        rows = []
        versions: set[str] = set()
        for cell in run.cells:
            server = server_of(run, cell)
            key = key_of(cell, server, environment)
            if key.vllm_version:
                versions.add(key.vllm_version)
            values = figures(cell, server)
            tail = cell.log_tail or (
                read_tail_before_teardown(Path(server.log), LOG_TAIL_LINES) if server and server.log else None
            )
            rows.append(
                (
                    run_id,
                    cell.cell_id,
                    at,
                    cell.model,
                    cell.profile,
                    cell.use_case.value,
                    key.model_id,
                    key.revision,
                    key.vllm_version,
                    key.vllm_commit,
                    json.dumps(dict(key.flags), sort_keys=True, default=str) if key.flags is not None else None,
                    key.flags_hash,
                    key.gpu,
                    key.harness_version,
                    cell.verdict.value,
                    cell.code,
                    int(cell.required),
                    cell.message,
                    *(values[m] for m in METRICS),
                    tail,
                    json.dumps(cell.to_json(), default=str),
                    int(cell.live),
                    compile_cache_of(cell, server),
                )
            )
        version = ", ".join(sorted(versions)) or (
            environment.engine_versions.get("vllm") if environment is not None else None
        )
        placeholders = ", ".join("?" * len(rows[0])) if rows else ""
        with self.db:
            self.db.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    at,
                    now_iso(),
                    str(run.run_dir),
                    gpu,
                    version,
                    environment.harness_version if environment is not None else None,
                    json.dumps(environment.to_json(), default=str) if environment is not None else None,
                ),
            )
            if rows:
                columns = (
                    "run_id, cell_id, run_at, model, profile, use_case, model_id, revision, vllm_version, "
                    "vllm_commit, flags, flags_hash, gpu, harness_version, verdict, code, required, message, "
                    + ", ".join(METRICS)
                    + ", log_tail, record, live, compile_cache"
                )
                self.db.executemany(f"INSERT INTO cells ({columns}) VALUES ({placeholders})", rows)
        return True

    # -- reading ------------------------------------------------------------------------------------------------
    def runs(self, gpu: str | None = None) -> list[RunRow]:
        """Every run, oldest first (on one GPU label when given)."""
        where, params = ("WHERE gpu = ?", (gpu,)) if gpu is not None else ("", ())
        rows = self.db.execute(f"SELECT * FROM runs {where} ORDER BY run_at, run_id", params).fetchall()
        return [_run_row(row) for row in rows]

    def run(self, run_id: str) -> RunRow | None:
        row = self.db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return _run_row(row) if row is not None else None

    def latest(self) -> RunRow | None:
        row = self.db.execute("SELECT * FROM runs ORDER BY run_at DESC, run_id DESC LIMIT 1").fetchone()
        return _run_row(row) if row is not None else None

    def previous_run(self, run: RunRow) -> RunRow | None:
        """The run before this one on the same GPU label."""
        return self.run_before(run.gpu, run.run_at, run.run_id)

    def run_before(self, gpu: str, at: str, run_id: str) -> RunRow | None:
        """The last run on this GPU label before (``at``, ``run_id``): also for a run not added to history yet."""
        row = self.db.execute(
            "SELECT * FROM runs WHERE gpu = ? AND (run_at, run_id) < (?, ?) ORDER BY run_at DESC, run_id DESC LIMIT 1",
            (gpu, at, run_id),
        ).fetchone()
        return _run_row(row) if row is not None else None

    def cells(self, run_id: str) -> list[Entry]:
        rows = self.db.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM cells WHERE run_id = ? ORDER BY cell_id", (run_id,)
        ).fetchall()
        return [_entry(row) for row in rows]

    def cell_history(self, cell_id: str, gpu: str | None = None, *, until: RunRow | None = None) -> list[Entry]:
        """A cell's results oldest first: on one GPU label when given, up to and including ``until``'s run."""
        where = ["cell_id = ?"]
        params: list[Any] = [cell_id]
        if gpu is not None:
            where.append("gpu = ?")
            params.append(gpu)
        if until is not None:
            where.append("(run_at, run_id) <= (?, ?)")
            params += [until.run_at, until.run_id]
        rows = self.db.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM cells WHERE {' AND '.join(where)} ORDER BY run_at, run_id", params
        ).fetchall()
        return [_entry(row) for row in rows]

    def histories(self, run: RunRow) -> dict[str, list[Entry]]:
        """Every cell of ``run`` with its comparable history up to it (oldest first), in one query."""
        rows = self.db.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM cells WHERE gpu = ? AND (run_at, run_id) <= (?, ?) "
            "AND cell_id IN (SELECT cell_id FROM cells WHERE run_id = ?) ORDER BY cell_id, run_at, run_id",
            (run.gpu, run.run_at, run.run_id, run.run_id),
        ).fetchall()
        out: dict[str, list[Entry]] = {}
        for row in rows:
            out.setdefault(row[2], []).append(_entry(row))
        return out

    def everything(self) -> list[Entry]:
        """Every cell result of every run, by cell, machine and time (one query: the pages read it once)."""
        rows = self.db.execute(f"SELECT {_ENTRY_COLUMNS} FROM cells ORDER BY cell_id, gpu, run_at, run_id").fetchall()
        return [_entry(row) for row in rows]

    def cell_ids(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT DISTINCT cell_id FROM cells ORDER BY cell_id")]

    def record(self, run_id: str, cell_id: str) -> CellRecord | None:
        """The full cell record as the run wrote it (checks, evidence, findings, latency)."""
        row = self.db.execute("SELECT record FROM cells WHERE run_id = ? AND cell_id = ?", (run_id, cell_id)).fetchone()
        return CellRecord.from_json(json.loads(row[0])) if row is not None else None


def _run_row(row: Sequence[Any]) -> RunRow:
    environment = EnvironmentRecord.from_json(json.loads(row[7])) if row[7] else None
    return RunRow(
        run_id=row[0],
        run_at=row[1],
        added_at=row[2],
        run_dir=row[3],
        gpu=row[4],
        vllm_version=row[5],
        harness_version=row[6],
        environment=environment,
    )
