"""What the test session cost, printed at its end: wall seconds and vLLM boots per group of tests.

Groups are the end-to-end modules one by one (test_e2e_*.py, and any module whose tests boot vLLM) and everything
else as "unit". Boots are read from the boot ledger every VllmServer appends to (harness/server/ledger.py), whichever
process booted it. The (checkpoint, flags) pairs booted by more than one module are listed: the boots a shared,
session-scoped server could save.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.server.ledger import read_ledger


def _module(nodeid: str) -> str:
    return nodeid.split("::")[0].rsplit("/", 1)[-1]


def group_costs(
    reports: list[pytest.TestReport],
    boots: list[dict[str, Any]],
    shared: Mapping[str, tuple[float, str]] | None = None,
) -> list[tuple[str, float, int, float]]:
    """(group, wall seconds, boots, boot seconds) per group, the slowest first; unit tests as one group. A session
    fixture (``shared``: name -> (seconds, the test whose setup ran it)) is a group of its own, its seconds taken
    from that test's group."""
    booting = {_module(b["test"]) for b in boots if b.get("test")}

    def group_of(nodeid: str) -> str:
        module = _module(nodeid)
        return module if module.startswith("test_e2e") or module in booting else "unit"

    seconds: Counter[str] = Counter()
    for report in reports:
        seconds[group_of(report.nodeid)] += report.duration
    for name, (fixture_seconds, requester) in (shared or {}).items():
        seconds[name] += fixture_seconds
        if requester:
            seconds[group_of(requester)] -= fixture_seconds
    boot_count: Counter[str] = Counter()
    boot_seconds: Counter[str] = Counter()
    for boot in boots:
        module = _module(boot.get("test") or "") or "outside a test"
        boot_count[module] += 1
        boot_seconds[module] += float(boot.get("seconds") or 0)
    groups = set(seconds) | set(boot_count)
    rows = [(g, seconds[g], boot_count[g], boot_seconds[g]) for g in groups]
    return sorted(rows, key=lambda row: -row[1])


def repeated_boots(boots: list[dict[str, Any]]) -> dict[str, list[str]]:
    """(checkpoint, flags) pairs booted by more than one module, with those modules. The engine is part of the pair
    when it is not the default one (the upgrade test boots the same checkpoint on another vLLM version)."""
    by_pair: defaultdict[str, set[str]] = defaultdict(set)
    engines = Counter(str(boot.get("engine", "")) for boot in boots)
    default_engine = engines.most_common(1)[0][0] if engines else ""
    for boot in boots:
        model = Path(str(boot.get("model", ""))).name
        pair = f"{model} {json.dumps(boot.get('flags', {}), sort_keys=True)}"
        engine = str(boot.get("engine", ""))
        if engine != default_engine:
            pair += f" on {Path(engine).parent.parent.name}"
        by_pair[pair].add(_module(boot.get("test") or "") or "outside a test")
    return {pair: sorted(modules) for pair, modules in sorted(by_pair.items()) if len(modules) > 1}


# The modules whose tests must boot their own server although another module boots the same (checkpoint, flags):
# what they test is the boot itself, or something done to that server. Every other module reads a session fixture's
# run or servers (tests/conftest.py: demo_run, chat_ok_stack); a module that boots a copy of those anyway fails the
# session (unexplained_repeats), so a saving, once made, stays made.
OWN_BOOTS: dict[str, str] = {
    "test_e2e_cpu.py": "the marker test proves -m boots only what it selects; the squatted-port test kills its engine",
    "test_e2e_shards.py": "runs the same servers whole and as shards: the comparison is the test",
    "test_e2e_upgrade.py": "runs its matrix on each vLLM version through upgrade-check",
    "test_e2e_deployment.py": "boots the services in order and runs them together: the deployment is the test",
    "test_e2e_history.py": "two runs of checkpoints changed between them",
    "test_e2e_real.py": "boots a GGUF file and a config without architectures, which no matrix of the demo serves",
    "test_e2e_dry_boot.py": "a dry boot with dummy weights is the test",
    "test_reliability_engine.py": "stops its engines with SIGSTOP",
    "test_reliability_interrupts.py": "interrupts its run with signals",
    "test_reliability_results.py": "a run whose results directory fails under it",
    "test_server.py": "the server's own lifecycle (start, stop, leftovers)",
    "test_server_records.py": "the records a boot writes",
    "test_dry_boot.py": "dry boots are the test",
    "test_wheel.py": "the wheel installed outside any checkout runs a real cell: its own boot is the proof",
    "test_pool_errors.py": "the pool's handling of boots that fail",
    "test_fleet_pool.py": "the pool's scheduling of boots",
    "test_deployment_run.py": "the deployment runner's boots",
}


# Wall seconds of the slowest units of work, measured in a `make test` rehearsal on the 2-core machine (2026-12-07,
# two workers, fresh cache): the order `make test` hands them to its workers, longest first. A unit not listed counts
# as a unit test (a few seconds) and goes after these.
MEASURED_SECONDS: dict[str, float] = {
    "shared-servers": 1160.0,  # the demo run, the chat-ok stack and the modules that read them
    "test_e2e_upgrade.py": 243.0,
    "test_e2e_deployment.py": 171.0,
    "test_e2e_history.py": 162.0,
    "test_e2e_shards.py": 159.0,
    "test_reliability_interrupts.py": 117.0,
    "test_wheel.py": 80.0,
    "test_reliability_engine.py": 75.0,
    "test_e2e_real.py": 63.0,
    "test_engine_rules.py": 61.0,
    "test_zoo.py": 55.0,
    "test_e2e_dry_boot.py": 18.0,
}


def expected_seconds(group: str) -> float:
    """How long a unit of work (an xdist group: a module's file name, or a shared group) is expected to take."""
    return MEASURED_SECONDS.get(group, 0.0)


def unexplained_repeats(repeated: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """For each repeated pair, the modules that booted it although they could have read a session fixture's."""
    found = {}
    for pair, modules in repeated.items():
        needless = [m for m in modules if m not in OWN_BOOTS and not m.startswith("fixture:")]
        if needless:
            found[pair] = needless
    return found


def is_vllm(engine_python: str) -> bool:
    """A boot of real vLLM, not of a unit test's stand-in engine: its environment has vLLM installed."""
    environment = Path(engine_python).parent.parent
    return any(environment.glob("lib/python3*/site-packages/vllm/__init__.py"))


def vllm_boots(ledger: Path) -> list[dict[str, Any]]:
    return [b for b in read_ledger(ledger) if is_vllm(str(b.get("engine", "")))]


def print_costs(
    terminal: Any,
    ledger: Path,
    reports: list[pytest.TestReport],
    shared: Mapping[str, tuple[float, str]] | None = None,
    workers: int = 1,
) -> None:
    everything = read_ledger(ledger)
    boots = [b for b in everything if is_vllm(str(b.get("engine", "")))]
    terminal.section("session costs: wall seconds and vLLM boots per group")
    if workers > 1:
        terminal.write_line(
            f"({workers} xdist workers: each group's seconds are its own wall time; side by side they add up to more "
            "than the session's)"
        )
    if len(boots) < len(everything):
        terminal.write_line(f"({len(everything) - len(boots)} boots of stand-in engines in unit tests not counted)")
    terminal.write_line(f"{'group':<40} {'seconds':>9} {'boots':>6} {'boot s':>8}")
    for group, seconds, count, boot_s in group_costs(reports, boots, shared):
        terminal.write_line(f"{group:<40} {seconds:9.1f} {count:6d} {boot_s:8.1f}")
    failed = sum(1 for b in boots if not b.get("ok"))
    terminal.write_line(f"{len(boots)} vLLM boots in all ({failed} failed, as some tests intend)")
    repeated = repeated_boots(boots)
    if repeated:
        terminal.write_line(f"{len(repeated)} (checkpoint, flags) pairs booted by more than one module:")
        for pair, modules in repeated.items():
            terminal.write_line(f"  {pair[:100]}: {', '.join(modules)}")
    needless = unexplained_repeats(repeated)
    for pair, modules in needless.items():
        terminal.write_line(
            f"FAILED: {', '.join(modules)} booted {pair[:80]} again: read the session fixture's server or run "
            "(tests/conftest.py), or say in session_costs.OWN_BOOTS why it must boot its own",
            red=True,
        )
