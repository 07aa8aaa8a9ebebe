"""Whether a boot's torch.compile cache was warm or cold, read from the engine log (harness.server.boot_log)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from history_fake import make_run

from harness.history import HistoryStore
from harness.pages import write_site
from harness.results import RunResults
from harness.server import parse_boot_log
from harness.verdicts import Verdict

# Real lines from boots of zoo:chat-ok on this machine's CPU engine (reports/runs/20261130-100335-9aa6): the cache
# entry existed but could not be loaded, so the model was compiled again and saved.
LOAD_FAILURE = (
    "(Worker pid=12969) WARNING 11-30 10:04:57 [decorators.py:333] [backbone] Compiling model again due to a load "
    "failure from /root/.cache/vllm/torch_compile_cache/torch_aot_compile/747f170999e74a9fa6d37501f3119e9aad1bd36372c"
    "20a385522981a2d28d873/rank_0_0/model, reason: 'function' object has no attribute 'finalize_loading'"
)
SAVED = (
    "(Worker pid=12969) INFO 11-30 10:05:03 [decorators.py:743] [backbone] saved AOT compiled function to "
    "/root/.cache/vllm/torch_compile_cache/torch_aot_compile/747f170999e74a9fa6d37501f3119e9aad1bd36372c20a3855229"
    "81a2d28d873/rank_0_0/model"
)
# vLLM 0.32's warm-cache lines, formatted from its sources (decorators.py:319, backends.py:295): this CPU build never
# prints them (its AOT load fails, above; Inductor is off on the CPU), so they are rendered from the format strings
# that test_the_engine_still_prints_these_lines checks in the installed engine.
WARM_AOT = (
    "(Worker pid=7) INFO 11-30 10:04:57 [decorators.py:319] [backbone] Directly load AOT compilation from path "
    "/root/.cache/vllm/torch_compile_cache/torch_aot_compile/abc/rank_0_0/model"
)
WARM_GRAPH = (
    "(Worker_TP0 pid=7) INFO 11-30 10:04:58 [backends.py:295] [backbone] Directly load the compiled graph(s) for "
    "compile range (1, 8192) from the cache, took 1.234 s"
)
DISABLED = "(Worker pid=7) INFO 11-30 10:04:57 [backends.py:1102] [backbone] vLLM's torch.compile cache is disabled."


def test_a_load_failure_then_a_save_is_a_cold_boot_with_the_reason() -> None:
    """The real CPU log: cold, with the load failure (and its reason) as the evidence."""
    phases = parse_boot_log("\n".join([LOAD_FAILURE, SAVED]))
    assert phases.compile_cache == "cold"
    assert phases.compile_cache_evidence is not None
    assert phases.compile_cache_evidence.startswith("Compiling model again due to a load failure")
    assert "finalize_loading" in phases.compile_cache_evidence


def test_a_first_compile_that_saves_is_cold() -> None:
    """A boot with no cache entry yet only saves one: cold."""
    assert parse_boot_log(SAVED).compile_cache == "cold"


def test_direct_loads_are_warm_and_one_compile_makes_it_cold() -> None:
    """Only direct loads: warm; a compile line anywhere among them: cold; the cache disabled: disabled."""
    assert parse_boot_log(WARM_AOT).compile_cache == "warm"
    assert parse_boot_log(f"{WARM_AOT}\n{WARM_GRAPH}").compile_cache == "warm"
    assert parse_boot_log(f"{WARM_GRAPH}\n{SAVED}").compile_cache == "cold"
    assert parse_boot_log(f"{DISABLED}\n{SAVED}").compile_cache == "disabled"


def test_a_boot_that_compiles_nothing_says_nothing() -> None:
    """No compile line at all (an --enforce-eager boot): None, never a guess."""
    text = Path(__file__).with_name("data").joinpath("engine_logs", "tiny-head-dim.log").read_text(encoding="utf-8")
    without = "\n".join(line for line in text.splitlines() if "decorators.py" not in line)
    assert parse_boot_log(without).compile_cache is None


def test_the_recorded_cpu_logs_are_cold() -> None:
    """The CPU engine logs kept under tests/data all compiled: cold."""
    for name in ("chat-ok-boot.log", "cpu-chat-ok-phases.log"):
        text = Path(__file__).with_name("data").joinpath("engine_logs", name).read_text(encoding="utf-8")
        assert parse_boot_log(text).compile_cache == "cold", name


@pytest.fixture(scope="module")
def compilation_sources(engine_python: Path) -> Path:
    """vllm/compilation in the engine environment, found without importing vLLM (an import takes ~20 s here)."""
    script = "import importlib.util, os; print(os.path.dirname(importlib.util.find_spec('vllm').origin))"
    found = subprocess.run([str(engine_python), "-c", script], capture_output=True, text=True, check=True, timeout=60)
    return Path(found.stdout.strip(), "compilation")


@pytest.mark.parametrize(
    ("module", "wording"),
    [
        ("decorators.py", "%sDirectly load AOT compilation from path %s"),
        ("decorators.py", "%sCompiling model again due to a load failure from %s, reason: %s"),
        ("decorators.py", "%ssaved AOT compiled function to %s"),
        ("backends.py", '"%sDirectly load the compiled graph(s) for compile "'),
        ("backends.py", "%sCompiling a graph for compile range %s takes %.2f s"),
        ("backends.py", "%sCache the graph of compile range %s for later use"),
        ("backends.py", "%svLLM's torch.compile cache is disabled."),
    ],
)
def test_the_engine_still_prints_these_lines(compilation_sources: Path, module: str, wording: str) -> None:
    """The installed vLLM's compilation sources still hold each wording the parser reads (a drift fails here)."""
    assert wording in (compilation_sources / module).read_text(encoding="utf-8")


def test_the_cell_page_shows_the_compile_cache_next_to_the_boot_time(tmp_path: Path) -> None:
    """A cell whose server booted cold says so beside its boot time on its page (history keeps it in the cell
    record)."""
    run = make_run("r1", 0, {"m|default|chat": Verdict.PASS})
    run.cells[:] = [replace(c, server=replace(c.server, compile_cache="cold")) for c in run.cells if c.server]
    with HistoryStore.open(tmp_path / "history.sqlite") as store:
        store.add(run)
        index = write_site(store, tmp_path / "site")
    page = (index.parent / "cells" / "m-default-chat.html").read_text(encoding="utf-8")
    assert re.search(r"<th>boot</th><td>40\.00 s \(cold compile cache\)</td>", page)


def _boot(run_id: str, minute: int, seconds: float, cache: str) -> RunResults:
    """A run whose one cell booted in ``seconds`` with its compile cache ``cache``."""
    run = make_run(run_id, minute, {"m|default|chat": Verdict.PASS})
    run.cells = [
        replace(c, timings={"boot_s": seconds}, server=replace(c.server, compile_cache=cache))
        for c in run.cells
        if c.server is not None
    ]
    return run


def test_history_and_the_gate_compare_boot_times_warm_with_warm_and_cold_with_cold(tmp_path: Path) -> None:
    """A cold boot after warm ones is no boot regression; a slow warm boot after warm ones is, named as warm."""
    from harness.gate import decide_with_history

    tolerance = {"m": {"boot_s": 0.10}}
    with HistoryStore.open(tmp_path / "h.sqlite") as store:
        for minute, seconds in enumerate((40.0, 41.0, 40.5)):
            store.add(_boot(f"w{minute}", minute, seconds, "warm"))
        cold = _boot("c9", 9, 75.0, "cold")
        slow = _boot("w9", 9, 75.0, "warm")
        assert decide_with_history(cold, store, tolerances=tolerance).passed
        blocked = decide_with_history(slow, store, tolerances=tolerance)
    (blocker,) = blocked.blockers
    assert blocker.reason.startswith("boot (s), warm compile cache 40.5 s -> 75.0 s (+85%")
