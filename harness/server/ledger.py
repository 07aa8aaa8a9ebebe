"""The boot ledger: one JSON line per vLLM boot, appended to the file ``$VLLM_COMPAT_BOOT_LEDGER`` names.

Boots are the expensive unit of every run (35-90 s each on 2 cores), and they happen in child processes (``vllm-compat
run`` under a test, xdist workers): a file every process appends to is the one place where all of them can be
counted. The harness's own test session sets the variable and prints, per test module, the boots and their seconds,
and the (checkpoint, flags) pairs booted by more than one module -- the boots a shared server could save. Unset, nothing
is written. Secrets never reach it: the harness's own flags (the API key among them) are not recorded.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LEDGER_VAR = "VLLM_COMPAT_BOOT_LEDGER"
LEDGER_TEST_VAR = "VLLM_COMPAT_BOOT_LEDGER_TEST"


def record_boot(engine_python: Path, model_path: Path, flags: Mapping[str, Any], seconds: float, ok: bool) -> None:
    """Append one boot to the ledger, if one is asked for; never fails the boot it records."""
    target = os.environ.get(LEDGER_VAR)
    if not target:
        return
    line = {
        "engine": str(engine_python),
        "model": str(model_path),
        "flags": {str(k): v for k, v in sorted(flags.items(), key=lambda item: str(item[0]))},
        "seconds": round(seconds, 2),
        "ok": ok,
        # The test that caused the boot: the outer session names it in LEDGER_TEST_VAR (a `vllm-compat run` under a
        # test runs pytest itself, which overwrites PYTEST_CURRENT_TEST with its own suites' names).
        "test": (os.environ.get(LEDGER_TEST_VAR) or os.environ.get("PYTEST_CURRENT_TEST", "")).split(" ")[0],
        "pid": os.getpid(),
    }
    with contextlib.suppress(OSError, TypeError, ValueError), open(target, "a", encoding="utf-8") as ledger:
        fcntl.flock(ledger, fcntl.LOCK_EX)
        ledger.write(json.dumps(line, default=str) + "\n")


def read_ledger(path: Path) -> list[dict[str, Any]]:
    """Every whole line of a ledger (a torn last line is skipped)."""
    boots: list[dict[str, Any]] = []
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                boots.append(json.loads(line))
    return boots


__all__ = ["LEDGER_TEST_VAR", "LEDGER_VAR", "read_ledger", "record_boot"]
