"""The one log tail: the last lines of an engine log or of a child's stderr, as evidence in errors and records.

Engine logs can grow large (a chatty engine, a long run): the tail of a file is read from its end in a bounded
window, never by reading the whole file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

TAIL_WINDOW_BYTES = 256 * 1024  # enough for 40 lines of even vLLM's longest (config dumps run to a few kB a line)
# The first line of a server's teardown: vLLM 0.32.0 tags its shutdown steps "[shutdown]" (vllm/v1/engine/core.py:
# "[shutdown] EngineCore: trigger received signal=SIGTERM", entrypoints/launchers/launcher.py), uvicorn says
# "Shutting down", older engines name the signal. What follows (vLLM's "AsyncLLM output_handler failed" traceback as
# the engine goes away) is the stop the harness asked for, not the cell's story.
TEARDOWN = re.compile(r"\[shutdown\]|^INFO:\s+Shutting down\b|received signal=?\s*SIG(TERM|INT)|Received SIG(TERM|INT)")


def tail_lines(text: str, lines: int) -> list[str]:
    """The last ``lines`` non-trailing lines of ``text``."""
    return text.rstrip("\n").splitlines()[-lines:] if lines > 0 else []


def teardown_start(lines: list[str]) -> int | None:
    """The index of the first teardown line (``TEARDOWN``), or None when there is none."""
    return next((i for i, line in enumerate(lines) if TEARDOWN.search(line)), None)


def read_tail_before_teardown(path: Path | None, lines: int) -> str | None:
    """A stopped server's log as evidence: the last ``lines`` lines before its teardown began (the boot's end and
    the requests), then at most ``lines`` lines of the teardown; the plain tail when the log has no teardown."""
    text = _window(path)
    if text is None:
        return None
    all_lines = text.rstrip("\n").splitlines()
    start = teardown_start(all_lines)
    if start is None:
        return "\n".join(tail_lines(text, lines))
    return "\n".join(all_lines[max(0, start - lines) : start + lines])


def read_tail(path: Path | None, lines: int) -> str | None:
    """The last ``lines`` lines of the file at ``path`` (None when there is no such file)."""
    text = _window(path)
    return None if text is None else "\n".join(tail_lines(text, lines))


def _window(path: Path | None) -> str | None:
    """The end of the file at ``path`` in a bounded window, its first (probably cut) line dropped."""
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_WINDOW_BYTES))
            data = handle.read()
    except (FileNotFoundError, IsADirectoryError):
        return None
    text = data.decode("utf-8", errors="replace")
    if size > TAIL_WINDOW_BYTES:
        text = text.split("\n", 1)[-1]  # the window's first line is probably cut: drop it
    return text


def one_line_tail(text: str, lines: int = 3) -> str:
    """A child's stderr summarised on one line for an error message: its last lines joined with ' | '."""
    return " | ".join(tail_lines(text.strip(), lines))


__all__ = ["TEARDOWN", "one_line_tail", "read_tail", "read_tail_before_teardown", "tail_lines", "teardown_start"]
