"""The boot ledger counts every vLLM boot of a session, and the session's costs are grouped from it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from session_costs import group_costs, repeated_boots, unexplained_repeats

from harness.server.ledger import LEDGER_TEST_VAR, LEDGER_VAR, read_ledger, record_boot


def test_a_boot_is_one_line_with_its_test_and_nothing_is_written_unasked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the variable set each boot appends its checkpoint, flags, seconds and test; unset, no file appears."""
    ledger = tmp_path / "boots.jsonl"
    monkeypatch.delenv(LEDGER_VAR, raising=False)
    record_boot(Path("/e/bin/python"), Path("/m/chat-ok"), {"max-model-len": 512}, 40.0, ok=True)
    assert not ledger.exists()
    monkeypatch.setenv(LEDGER_VAR, str(ledger))
    monkeypatch.delenv(LEDGER_TEST_VAR, raising=False)
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/test_e2e_cpu.py::test_demo (setup)")
    record_boot(Path("/e/bin/python"), Path("/m/chat-ok"), {"max-model-len": 512}, 40.0, ok=True)
    # a `vllm-compat run` under a test runs its own pytest: the outer test's name wins over the inner suite's
    monkeypatch.setenv(LEDGER_TEST_VAR, "tests/test_e2e_real.py::test_gguf")
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "harness/suites/test_chat.py::test_chat[x] (call)")
    record_boot(Path("/e/bin/python"), Path("/m/tiny-head-dim"), {}, 12.5, ok=False)
    boots = read_ledger(ledger)
    assert [b["model"] for b in boots] == ["/m/chat-ok", "/m/tiny-head-dim"]
    assert boots[0]["test"] == "tests/test_e2e_cpu.py::test_demo" and boots[0]["flags"] == {"max-model-len": 512}
    assert boots[1]["ok"] is False and boots[1]["test"] == "tests/test_e2e_real.py::test_gguf"


def _report(nodeid: str, seconds: float) -> pytest.TestReport:
    return cast(pytest.TestReport, SimpleNamespace(nodeid=nodeid, duration=seconds))


def test_costs_group_e2e_modules_and_name_boots_repeated_across_modules() -> None:
    """Each booting module is its own group with its boots; a pair booted by two modules is listed with both."""
    boots: list[dict[str, Any]] = [
        {"model": "/z/chat-ok", "flags": {"a": 1}, "seconds": 40, "ok": True, "test": "tests/test_e2e_cpu.py::t"},
        {"model": "/x/chat-ok", "flags": {"a": 1}, "seconds": 50, "ok": True, "test": "tests/test_e2e_audio.py::t"},
        {"model": "/z/embed", "flags": {}, "seconds": 30, "ok": True, "test": "tests/test_e2e_cpu.py::t"},
    ]
    reports = [_report("tests/test_e2e_cpu.py::t", 300), _report("tests/test_matrix.py::m", 2), _report("x.py::y", 1)]
    rows = {group: (seconds, count, boot_s) for group, seconds, count, boot_s in group_costs(reports, boots)}
    assert rows["test_e2e_cpu.py"] == (300, 2, 70) and rows["unit"] == (3, 0, 0)
    assert rows["test_e2e_audio.py"] == (0, 1, 50)
    assert repeated_boots(boots) == {'chat-ok {"a": 1}': ["test_e2e_audio.py", "test_e2e_cpu.py"]}


def test_a_session_fixture_is_a_group_of_its_own_taken_from_the_test_that_ran_it() -> None:
    """The demo run booted in the setup of an audio test: its seconds and boots are its own group, not audio's."""
    demo = "fixture:demo_run"
    boots: list[dict[str, Any]] = [
        {"model": "/z/chat-ok", "flags": {}, "seconds": 40, "ok": True, "test": demo},
        {"model": "/z/whisper", "flags": {}, "seconds": 45, "ok": True, "test": demo},
    ]
    reports = [_report("tests/test_e2e_audio.py::t", 700), _report("tests/test_e2e_tools.py::t", 0.1)]
    shared = {demo: (650.0, "tests/test_e2e_audio.py::t")}
    rows = {group: (seconds, count) for group, seconds, count, _ in group_costs(reports, boots, shared)}
    assert rows[demo] == (650, 2) and rows["test_e2e_audio.py"] == (50, 0) and rows["test_e2e_tools.py"] == (0.1, 0)


def test_a_module_that_boots_a_copy_of_a_shared_server_is_named() -> None:
    """chat-ok booted by the demo fixture and again by the tools module is needless; by the shards module (which
    must boot its own) it is not; on another engine version it is another pair."""
    demo = "fixture:demo_run"
    boots: list[dict[str, Any]] = [
        {"model": "/z/chat-ok", "flags": {"a": 1}, "engine": "/e/new/bin/python", "test": demo},
        {"model": "/z/chat-ok", "flags": {"a": 1}, "engine": "/e/new/bin/python", "test": demo},
        {
            "model": "/y/chat-ok",
            "flags": {"a": 1},
            "engine": "/e/new/bin/python",
            "test": "tests/test_e2e_shards.py::t",
        },
        {"model": "/y/chat-ok", "flags": {"a": 1}, "engine": "/e/new/bin/python", "test": "tests/test_e2e_tools.py::t"},
        {
            "model": "/u/chat-ok",
            "flags": {"a": 1},
            "engine": "/e/old/bin/python",
            "test": "tests/test_e2e_vision.py::t",
        },
    ]
    repeated = repeated_boots(boots)
    assert repeated == {'chat-ok {"a": 1}': [demo, "test_e2e_shards.py", "test_e2e_tools.py"]}
    assert unexplained_repeats(repeated) == {'chat-ok {"a": 1}': ["test_e2e_tools.py"]}
