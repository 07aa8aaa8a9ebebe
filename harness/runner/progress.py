"""Progress the way users expect: a live rich spinner with the boot phase on a terminal, plain lines elsewhere (CI).

Everything is shown from inside a running test, so the plugin hands in `uncaptured`, a context in which output
reaches the real terminal past pytest's capture (hub download bars included).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from rich.console import Console
from rich.markup import escape


class Progress:
    def __init__(
        self,
        write_line: Callable[[str], None] = print,
        *,
        uncaptured: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
        live: bool = False,
        console: Console | None = None,
    ) -> None:
        self._write_line = write_line
        self._uncaptured = uncaptured
        self.live = live
        self._console = console

    def line(self, text: str) -> None:
        """A permanent line: milestones and verdicts."""
        self._write_line(text)

    @contextlib.contextmanager
    def visible(self) -> Iterator[None]:
        """Let other libraries' progress (huggingface_hub's download bars) reach the terminal."""
        with self._uncaptured():
            yield

    @contextlib.contextmanager
    def activity(self, title: str) -> Iterator[Callable[[str], None]]:
        """A long step with phases: on a terminal one spinner line updated in place with the phase and the seconds
        spent; elsewhere one plain line per phase."""
        if not self.live:
            yield lambda phase: self.line(f"{title}: {phase}")
            return
        started = time.monotonic()
        title = escape(title)  # "[server-key]" would otherwise be read as rich markup and vanish
        with self._uncaptured():
            console = self._console or Console()
            with console.status(title) as status:

                def show(phase: str) -> None:
                    status.update(f"{title}: {phase} [dim]({time.monotonic() - started:.0f} s)[/]")

                yield show
