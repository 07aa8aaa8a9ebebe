"""A cell a live endpoint answered keeps its label in every view: the pages, `history show`, a deployment's section
and verdict line (where a live service never counts as working), and the history file that feeds them."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from deployment_fake import deployment, service
from history_fake import make_run
from records_fake import cell

from harness.cli import main
from harness.deploy import service_verdicts, verdict_line
from harness.history import HistoryStore
from harness.matrix import LIVE_LABEL
from harness.pages import write_site
from harness.report import render_status
from harness.results import CellServer, RunResults
from harness.verdicts import Verdict

LIVE = CellServer(key="endpoint", external={"base_url": "http://10.0.0.5:8000/v1", "model": "m"})


def _live_run(run_id: str, minute: int) -> RunResults:
    """A run whose only cell passed on a live endpoint."""
    run = make_run(run_id, minute, {"m|default|chat": Verdict.PASS})
    run.cells = [replace(c, server=LIVE) for c in run.cells]
    return run


def test_the_pages_label_a_live_cell_in_the_headline_grid_and_cell_page(tmp_path: Path) -> None:
    """A run whose only cell is a live PASS does not read as a plain "1 of 1 cells working"."""
    with HistoryStore.open(tmp_path / "h.sqlite") as store:
        store.add(_live_run("r1", 0))
        index = write_site(store, tmp_path / "site").read_text()
    assert f"1 of 1 cells working (1 answered by a {LIVE_LABEL}, 1 of them working)" in index
    grid = index[index.index('id="grid"') :]
    assert f'<span class="live" title="{LIVE_LABEL}">live</span>' in grid
    listed = (tmp_path / "site" / "usecases" / "chat.html").read_text()
    assert f'<span class="live">({LIVE_LABEL})</span>' in listed
    page = (tmp_path / "site" / "cells" / "m-default-chat.html").read_text()
    assert f'<span class="live" id="live">({LIVE_LABEL})</span>' in page


def test_history_show_labels_a_live_cell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`history show CELL` and the transitions of `history show` name the live endpoint."""
    db = tmp_path / "h.sqlite"
    with HistoryStore.open(db) as store:
        store.add(_live_run("r1", 0))
        failed = _live_run("r2", 1)
        failed.cells = [replace(c, verdict=Verdict.FAIL) for c in failed.cells]
        store.add(failed)
    assert main(["history", "--history", str(db), "show", "m-default-chat"]) == 0
    assert f"r1  PASS  ({LIVE_LABEL})" in capsys.readouterr().out
    assert main(["history", "--history", str(db), "show"]) == 0
    assert f"m-default-chat: NEW FAILURE PASS -> FAIL -- nothing in the key changed; answered by a {LIVE_LABEL}" in (
        capsys.readouterr().out
    )


def test_rows_written_before_the_live_column_are_labelled_from_their_record(tmp_path: Path) -> None:
    """A history file of schema 1 is migrated: its live cells read as live, the others not, and each boot's
    compile-cache state is read from the record the row keeps."""
    db = tmp_path / "h.sqlite"
    warm = make_run("r2", 1, {"m|default|tools": Verdict.PASS})
    warm.cells = [replace(c, server=replace(c.server, compile_cache="warm")) for c in warm.cells if c.server]
    with HistoryStore.open(db) as store:
        store.add(_live_run("r1", 0))
        store.add(warm)
    connection = sqlite3.connect(db)
    connection.executescript(
        "ALTER TABLE cells DROP COLUMN live; ALTER TABLE cells DROP COLUMN compile_cache; PRAGMA user_version = 1;"
    )
    connection.close()
    with HistoryStore.open(db) as store:
        assert [(e.key.cell_id, e.live, e.compile_cache) for e in store.everything()] == [
            ("m-default-chat", True, None),
            ("m-default-tools", False, "warm"),
        ]


def test_a_live_deployment_service_is_labelled_and_never_counted_working(tmp_path: Path) -> None:
    """A service only a live endpoint answered: "1 of 2 services working", named as live, in the line and table."""
    record = deployment(service("agent", 1), service("hosted", 2, booted=False, evidence=LIVE_LABEL))
    cells = [
        cell("stack.agent|default|chat", Verdict.PASS),
        cell("stack.hosted|default|chat", Verdict.PASS, server=LIVE),
    ]
    verdicts = service_verdicts(record, cells)
    assert [(v.working, v.live) for v in verdicts] == [(True, False), (False, True)]
    line = verdict_line(record, verdicts)
    assert line.startswith("**deployment `stack`: 1 of 2 services working**")
    assert f"1 answered by a {LIVE_LABEL}, not counted as working: hosted (its cells passed)" in line
    assert "failing on" not in line
    status = render_status(RunResults(run_dir=tmp_path, cells=cells, deployments=[record]))
    assert f"| hosted | hosted | 🔌 {LIVE_LABEL}, not counted |" in status
    assert f"**2 of 2 cells working** · 1 answered by a {LIVE_LABEL}" in status
