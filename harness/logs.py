"""The one log tail: the last lines of an engine log or of a child's stderr, as evidence in errors and records.

Engine logs can grow large (a chatty engine, a long run): the tail of a file is read from its end in a bounded
window, never by reading the whole file.
"""

from __future__ import annotations

import os
from pathlib import Path

TAIL_WINDOW_BYTES = 256 * 1024  # enough for 40 lines of even vLLM's longest (config dumps run to a few kB a line)


def tail_lines(text: str, lines: int) -> list[str]:
    """The last ``lines`` non-trailing lines of ``text``."""
    return text.rstrip("\n").splitlines()[-lines:] if lines > 0 else []


def read_tail(path: Path | None, lines: int) -> str | None:
    """The last ``lines`` lines of the file at ``path`` (None when there is no such file)."""
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
    return "\n".join(tail_lines(text, lines))


def one_line_tail(text: str, lines: int = 3) -> str:
    """A child's stderr summarised on one line for an error message: its last lines joined with ' | '."""
    return " | ".join(tail_lines(text.strip(), lines))


__all__ = ["one_line_tail", "read_tail", "tail_lines"]
