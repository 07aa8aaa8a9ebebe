"""History: the store (schema, migrations, idempotent add), the key's changes in words, and the transitions."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from history_fake import make_run

from harness.checkpoint import resolved_revision
from harness.cli import main
from harness.history import (
    METRICS,
    MIGRATIONS_COUNT,
    HistoryError,
    HistoryStore,
    PerfStatus,
    Transition,
    compare,
)
from harness.matrix import GATE_METRICS
from harness.results import append_record
from harness.verdicts import Verdict

P, F = Verdict.PASS, Verdict.FAIL
CHAT = "m|default|chat"


def _store(tmp_path: Path, *runs: object) -> Path:
    db = tmp_path / "history.sqlite"
    with HistoryStore.open(db) as store:
        for run in runs:
            store.add(run)  # type: ignore[arg-type]
    return db


def _latest(db: Path, cell_id: str = "m-default-chat"):  # type: ignore[no-untyped-def]
    with HistoryStore.open(db) as store:
        latest = store.latest()
        assert latest is not None
        return compare(store, latest).by_cell()[cell_id]


def test_add_is_idempotent_by_run_id_and_the_schema_is_versioned(tmp_path: Path) -> None:
    """The second add of a run writes nothing; a new file carries the latest schema version."""
    db = tmp_path / "h.sqlite"
    with HistoryStore.open(db) as store:
        run = make_run("r1", 0, {CHAT: P})
        assert store.add(run) is True
        assert store.add(run) is False
        assert [r.run_id for r in store.runs()] == ["r1"]
        assert len(store.cells("r1")) == 1
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == MIGRATIONS_COUNT


def test_a_newer_schema_or_a_foreign_file_is_refused_in_one_line(tmp_path: Path) -> None:
    """A history written by a newer harness, or a file that is not SQLite, raises HistoryError with the fix."""
    db = tmp_path / "h.sqlite"
    connection = sqlite3.connect(db)
    connection.execute(f"PRAGMA user_version = {MIGRATIONS_COUNT + 1}")
    connection.close()
    with pytest.raises(HistoryError, match="newer than this vllm-compat reads"), HistoryStore.open(db):
        pass
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database at all, " * 100)
    with pytest.raises(HistoryError, match="not a history file"), HistoryStore.open(junk):
        pass


def test_new_failure_names_what_changed_in_the_key(tmp_path: Path) -> None:
    """PASS then FAIL is a NEW FAILURE naming the revision, vLLM and flag changes between the two runs."""
    before = make_run("r1", 0, {CHAT: P}, revision="a1b2c3d" + "0" * 33, vllm="0.31.1")
    after = make_run(
        "r2",
        1,
        {CHAT: (F, "CONFIG_MISSING")},
        revision="d4e5f6a" + "0" * 33,
        vllm="0.32.0",
        flags={"max-model-len": 1024, "enforce-eager": True},
    )
    change = _latest(_store(tmp_path, before, after))
    assert change.transition is Transition.NEW_FAILURE
    assert change.changes == (
        "revision a1b2c3d -> d4e5f6a",
        "vLLM 0.31.1 -> 0.32.0",
        "flags: +enforce-eager, max-model-len 512 -> 1024",
    )
    assert change.summary().startswith("m-default-chat: NEW FAILURE PASS -> FAIL CONFIG_MISSING -- revision")


def test_fixed_recurring_and_flaky(tmp_path: Path) -> None:
    """FAIL then PASS is FIXED; FAIL FAIL keeps its streak start and last working run; two flips in five is FLAKY."""
    assert _latest(_store(tmp_path / "a", make_run("r1", 0, {CHAT: F}), make_run("r2", 1, {CHAT: P}))).transition is (
        Transition.FIXED
    )
    runs = [make_run(f"r{i}", i, {CHAT: v}) for i, v in enumerate([P, P, P, F, F, F])]
    recurring = _latest(_store(tmp_path / "b", *runs))
    assert recurring.transition is Transition.RECURRING
    assert (recurring.streak_start, recurring.last_working, recurring.flips) == ("r3", "r2", 1)
    runs = [make_run(f"r{i}", i, {CHAT: v}) for i, v in enumerate([P, F, P, P, F])]
    flaky = _latest(_store(tmp_path / "c", *runs))
    assert flaky.transition is Transition.FLAKY and flaky.was is Transition.NEW_FAILURE and flaky.recent_flips == 3


def test_skips_neither_break_nor_fix_and_missing_and_new_cells_are_named(tmp_path: Path) -> None:
    """A SKIP between two passes is not a flip; a cell gone from the latest run is MISSING; a new one NEW CELL."""
    other = "m|default|tools"
    db = _store(
        tmp_path,
        make_run("r1", 0, {CHAT: P, other: P}),
        make_run("r2", 1, {CHAT: Verdict.SKIP, other: P}),
        make_run("r3", 2, {CHAT: P, "n|default|chat": F}),
    )
    with HistoryStore.open(db) as store:
        latest = store.latest()
        assert latest is not None
        changes = compare(store, latest).by_cell()
    assert changes["m-default-chat"].transition is Transition.STILL_WORKING
    assert changes["m-default-tools"].transition is Transition.MISSING
    assert changes["n-default-chat"].transition is Transition.NEW_CELL


def test_results_on_another_machine_are_not_comparable(tmp_path: Path) -> None:
    """A GPU box's earlier FAIL says nothing about the CPU run: the cell is NEW CELL there."""
    from harness.results import GpuRecord

    gpu_run = make_run("r1", 0, {CHAT: F}, gpus=(GpuRecord(0, "NVIDIA L4", 24 * 2**30),))
    assert _latest(_store(tmp_path, gpu_run, make_run("r2", 1, {CHAT: P}))).transition is Transition.NEW_CELL


def test_perf_is_flagged_only_beyond_threshold_and_spread(tmp_path: Path) -> None:
    """+30% within a noisy cell's own spread is noisy; +30% on a steady cell is a regression; +5% is nothing."""
    noisy = [make_run(f"r{i}", i, {CHAT: P}, ttft=t) for i, t in enumerate([0.010, 0.020, 0.012, 0.018, 0.0135])]
    noisy.append(make_run("r9", 9, {CHAT: P}, ttft=0.0195))
    delta = _latest(_store(tmp_path / "a", *noisy)).perf
    assert [(d.metric, d.status) for d in delta] == [("ttft_p50", PerfStatus.NOISY)]
    steady = [make_run(f"r{i}", i, {CHAT: P}, ttft=t) for i, t in enumerate([0.0150, 0.0151, 0.0149, 0.0150])]
    steady.append(make_run("r9", 9, {CHAT: P}, ttft=0.0195))
    (regression,) = _latest(_store(tmp_path / "b", *steady)).perf
    assert regression.status is PerfStatus.REGRESSION and regression.baseline == pytest.approx(0.015)
    assert "threshold 10%" in regression.text()
    small = [make_run("r1", 0, {CHAT: P}, ttft=0.0150), make_run("r2", 1, {CHAT: P}, ttft=0.0157)]
    assert _latest(_store(tmp_path / "c", *small)).perf == ()


def test_the_matrix_gate_figures_are_the_ones_history_keeps() -> None:
    """A `gate:` tolerance can only name a figure history records."""
    assert tuple(GATE_METRICS) == tuple(METRICS)


def test_resolved_revision_is_the_snapshot_commit_or_a_content_hash(tmp_path: Path) -> None:
    """A hub snapshot directory resolves to its commit; a local one to a hash that follows its files, not mtimes."""
    snapshot = tmp_path / "models--x--y" / "snapshots" / ("f" * 40)
    snapshot.mkdir(parents=True)
    assert resolved_revision(snapshot) == "f" * 40
    local = tmp_path / "local"
    local.mkdir()
    (local / "config.json").write_text('{"architectures": ["Qwen2ForCausalLM"]}')
    (local / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + b"\x00" * 64)
    first = resolved_revision(local)
    assert first is not None and first.startswith("content:")
    os.utime(local / "config.json", (0, 0))
    assert resolved_revision(local) == first
    (local / "config.json").unlink()
    assert resolved_revision(local) != first
    assert resolved_revision(None) is None


def test_cli_add_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`history add` reads run directories (twice: skipped), `history show [CELL] [--json]` prints the history."""
    from records_fake import cell, environment

    dirs = []
    for index, verdict in enumerate([P, F]):
        run_dir = tmp_path / f"run{index}"
        run_id = f"2026113{index}-000000-abcd"
        append_record(run_dir / "results.jsonl", environment(run_id=run_id))
        append_record(
            run_dir / "results.jsonl", cell(CHAT, verdict, run_id=run_id, resolved_revision=f"content:{index}")
        )
        dirs.append(str(run_dir))
    db = str(tmp_path / "h.sqlite")
    assert main(["history", "--history", db, "add", *dirs]) == 0
    assert main(["history", "--history", db, "add", dirs[0]]) == 0
    assert "already in history, skipped" in capsys.readouterr().out
    assert main(["history", "--history", db, "show"]) == 0
    assert "m-default-chat: NEW FAILURE PASS -> FAIL -- revision content:0 -> content:1" in capsys.readouterr().out
    assert main(["history", "--history", db, "show", "m-default-chat", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [e["verdict"] for e in shown] == ["PASS", "FAIL"]
    assert main(["history", "--history", db, "add", dirs[0], str(tmp_path / "empty")]) == 0  # skipped, with why
    assert "empty/results.jsonl: no results here" in capsys.readouterr().err
    assert main(["history", "--history", db, "add", str(tmp_path / "empty")]) == 2
    assert main(["history", "--history", db, "show", "nope"]) == 2
    assert main(["history", "--history", str(tmp_path / "none.sqlite"), "show"]) == 2


def test_a_known_failure_that_stays_known_is_not_news(tmp_path: Path) -> None:
    """XFAIL with the same code twice is STILL EXPECTED (not in the panel); with another code it is RECURRING."""
    x = Verdict.XFAIL
    same = _store(
        tmp_path / "a", make_run("r1", 0, {CHAT: (x, "STOP_TOKEN")}), make_run("r2", 1, {CHAT: (x, "STOP_TOKEN")})
    )
    assert _latest(same).transition is Transition.STILL_EXPECTED
    other = _store(
        tmp_path / "b", make_run("r1", 0, {CHAT: (x, "STOP_TOKEN")}), make_run("r2", 1, {CHAT: (F, "HTTP_ERROR")})
    )
    assert _latest(other).transition is Transition.RECURRING


def test_with_too_few_earlier_results_a_change_is_unconfirmed(tmp_path: Path) -> None:
    """+30% after two earlier results is UNCONFIRMED (spread unknown), never a regression."""
    runs = [make_run("r1", 0, {CHAT: P}, ttft=0.015), make_run("r2", 1, {CHAT: P}, ttft=0.015)]
    (delta,) = _latest(_store(tmp_path, *runs, make_run("r3", 2, {CHAT: P}, ttft=0.0195))).perf
    assert delta.status is PerfStatus.UNCONFIRMED and "only 2 earlier result(s)" in delta.text()
