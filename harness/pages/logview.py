"""The engine log tail as a cell page shows it: the part that explains the verdict in view, the rest folded.

A working cell's tail ends with the server's teardown, which the harness itself asked for after the cell's last
request; vLLM 0.32.0 logs its shutdown steps tagged "[shutdown]" (vllm/v1/engine/core.py, launcher.py) and then, as
its output handler loses the dead engine, "AsyncLLM output_handler failed" with an EngineDeadError traceback
(vllm/v1/engine/async_llm.py). Under a PASS that reads like an error, so from the first teardown line on
(``harness.logs.TEARDOWN``) the tail is folded away, labelled as teardown. A failing cell's tail is centred on the
decisive line diagnose found (the record's evidence), with the lines far from it folded; a failure whose evidence is
not in the tail is shown whole, teardown included: a failure's log is never hidden on a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.logs import teardown_start
from harness.verdicts import Verdict

CONTEXT_LINES = 8  # shown on either side of the decisive line
FAILING = frozenset({Verdict.FAIL, Verdict.ERROR, Verdict.XFAIL})
_TRIMMED = "..."  # diagnose trims long evidence lines with this
_EXCEPTION_NAME = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt):\s*")
MIN_NEEDLE = 16  # shorter evidence does not single out one line


@dataclass(frozen=True)
class LogView:
    """A tail in three parts: ``shown`` in view (``mark``: the decisive line's index in it), ``before`` and
    ``after`` folded, with ``after_label`` saying what the folded end is."""

    before: tuple[str, ...]
    shown: tuple[str, ...]
    after: tuple[str, ...]
    mark: int | None = None
    after_label: str = ""


def _decisive(lines: list[str], evidence: str) -> int | None:
    """The index of the first line holding the evidence (diagnose's message of that line, maybe trimmed); else of
    the first line quoting its message without the exception's name, as vLLM's "Worker failed with error '...'"
    quotes the worker's error when the original line has scrolled out of the tail."""
    needle = evidence.strip().splitlines()[0].strip() if evidence.strip() else ""
    if needle.endswith(_TRIMMED):
        needle = needle[: -len(_TRIMMED)]
    for candidate in (needle, _EXCEPTION_NAME.sub("", needle, count=1)):
        if len(candidate) >= MIN_NEEDLE:
            found = next((i for i, line in enumerate(lines) if candidate in line), None)
            if found is not None:
                return found
    return None


def log_view(tail: str | None, verdict: Verdict, evidence: str = "") -> LogView | None:
    """How to show ``tail`` on the page of a cell with ``verdict`` and diagnose's ``evidence``; None: no tail."""
    if not tail or not tail.strip():
        return None
    lines = tail.rstrip("\n").splitlines()
    if verdict in FAILING:
        found = _decisive(lines, evidence)
        if found is None:
            return LogView((), tuple(lines), ())
        start, end = max(0, found - CONTEXT_LINES), min(len(lines), found + CONTEXT_LINES + 1)
        later = len(lines) - end
        return LogView(
            tuple(lines[:start]),
            tuple(lines[start:end]),
            tuple(lines[end:]),
            found - start,
            f"{later} later line{'s' if later != 1 else ''}",
        )
    teardown = teardown_start(lines)
    if teardown is None:
        return LogView((), tuple(lines), ())
    folded = len(lines) - teardown
    return LogView(
        (),
        tuple(lines[:teardown]),
        tuple(lines[teardown:]),
        None,
        f"teardown: {folded} line{'s' if folded != 1 else ''} after the harness stopped the server, "
        "vLLM's shutdown messages included (not part of the verdict)",
    )


__all__ = ["CONTEXT_LINES", "LogView", "log_view"]
