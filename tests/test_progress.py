"""Progress output: plain lines off a terminal, a spinner with the phase on one."""

from __future__ import annotations

import io

from rich.console import Console

from harness.runner.progress import Progress


def test_off_a_terminal_each_phase_is_a_plain_line() -> None:
    """Without a terminal (CI) every phase becomes one line naming the activity."""
    lines: list[str] = []
    progress = Progress(lines.append, live=False)
    with progress.activity("[chat-ok-default] booting") as show:
        show("loading weights")
        show("ready")
    assert lines == ["[chat-ok-default] booting: loading weights", "[chat-ok-default] booting: ready"]


def test_on_a_terminal_the_spinner_keeps_the_bracketed_server_name() -> None:
    """The live spinner shows the server key literally (not eaten as rich markup) and inside the uncaptured context."""
    buffer = io.StringIO()
    entered: list[bool] = []

    class Uncaptured:
        def __enter__(self) -> None:
            entered.append(True)

        def __exit__(self, *exc: object) -> None:
            pass

    console = Console(file=buffer, force_terminal=True, width=100)
    progress = Progress(print, uncaptured=Uncaptured, live=True, console=console)
    with progress.activity("[chat-ok-default] booting") as show:
        show("kv cache")
    assert entered == [True]
    assert "[chat-ok-default] booting" in buffer.getvalue()
