"""Ask the installed engine for a rule pre-flight needs, or say that it could not be asked (never silently ok)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from harness.checkpoint.report import FindingList
from harness.engine import EngineError
from harness.findings import Severity

Answer = TypeVar("Answer")

NO_ENGINE = "no engine environment found (run `vllm-compat engine build`, or pass --engine-python)"


def ask_engine(python: Path | None, load: Callable[[Path], Answer], out: FindingList, unanswered: str) -> Answer | None:
    """``load(python)``'s answer; without an engine, or when it cannot answer, an ENGINE_UNKNOWN warning saying what
    was left unjudged (``unanswered``) and why, and None: the checks that need the answer are skipped, and said so."""
    try:
        if python is None:
            raise EngineError(NO_ENGINE)
        return load(python)
    except EngineError as error:
        out.add("ENGINE_UNKNOWN", Severity.WARNING, f"{unanswered}: {error}", "engine environment")
        return None


__all__ = ["NO_ENGINE", "ask_engine"]
