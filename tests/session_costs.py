"""What the test session cost, printed at its end: wall seconds and vLLM boots per group of tests.

Groups are the end-to-end modules one by one (test_e2e_*.py, and any module whose tests boot vLLM) and everything
else as "unit". Boots are read from the boot ledger every VllmServer appends to (harness/server/ledger.py), whichever
process booted it. The (checkpoint, flags) pairs booted by more than one module are listed: the boots a shared,
session-scoped server could save.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from harness.server.ledger import read_ledger


def _module(nodeid: str) -> str:
    return nodeid.split("::")[0].rsplit("/", 1)[-1]


def group_costs(reports: list[pytest.TestReport], boots: list[dict[str, Any]]) -> list[tuple[str, float, int, float]]:
    """(group, wall seconds, boots, boot seconds) per group, the slowest first; unit tests as one group."""
    booting = {_module(b["test"]) for b in boots if b.get("test")}
    seconds: Counter[str] = Counter()
    for report in reports:
        module = _module(report.nodeid)
        group = module if module.startswith("test_e2e") or module in booting else "unit"
        seconds[group] += report.duration
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
    """(checkpoint, flags) pairs booted by more than one module, with those modules."""
    by_pair: defaultdict[str, set[str]] = defaultdict(set)
    for boot in boots:
        model = Path(str(boot.get("model", ""))).name
        pair = f"{model} {json.dumps(boot.get('flags', {}), sort_keys=True)}"
        by_pair[pair].add(_module(boot.get("test") or "") or "outside a test")
    return {pair: sorted(modules) for pair, modules in sorted(by_pair.items()) if len(modules) > 1}


def is_vllm(engine_python: str) -> bool:
    """A boot of real vLLM, not of a unit test's stand-in engine: its environment has vLLM installed."""
    environment = Path(engine_python).parent.parent
    return any(environment.glob("lib/python3*/site-packages/vllm/__init__.py"))


def print_costs(terminal: Any, ledger: Path, reports: list[pytest.TestReport]) -> None:
    everything = read_ledger(ledger)
    boots = [b for b in everything if is_vllm(str(b.get("engine", "")))]
    terminal.section("session costs: wall seconds and vLLM boots per group")
    if len(boots) < len(everything):
        terminal.write_line(f"({len(everything) - len(boots)} boots of stand-in engines in unit tests not counted)")
    terminal.write_line(f"{'group':<40} {'seconds':>9} {'boots':>6} {'boot s':>8}")
    for group, seconds, count, boot_s in group_costs(reports, boots):
        terminal.write_line(f"{group:<40} {seconds:9.1f} {count:6d} {boot_s:8.1f}")
    failed = sum(1 for b in boots if not b.get("ok"))
    terminal.write_line(f"{len(boots)} vLLM boots in all ({failed} failed, as some tests intend)")
    repeated = repeated_boots(boots)
    if repeated:
        terminal.write_line(f"{len(repeated)} (checkpoint, flags) pairs booted by more than one module:")
        for pair, modules in repeated.items():
            terminal.write_line(f"  {pair[:100]}: {', '.join(modules)}")
