"""Ctrl-C (SIGINT) and a CI cancel (SIGTERM): the run stops, every engine goes, what finished stays recorded.

The first signal raises KeyboardInterrupt in the main thread, wherever it is (a boot's wait loop, a probe's request):
pytest then ends the session the way it ends on Ctrl-C -- fixtures torn down (every server stopped, its process group
killed), sessionfinish run (the cells never reached recorded NOT RUN, the report written) -- and exits INTERRUPTED.
SIGTERM is made to behave the same instead of killing the harness on the spot and leaving its engines (each in its
own session) running. A second signal while that teardown runs does not interrupt the teardown: it SIGKILLs every
engine group this process still holds, at once, and lets the records and the report finish. An xdist controller
forwards the first signal to its workers (they hold the engines), and reaps what they leave (``groups.reap``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psutil

from harness.matrix import Cell
from harness.results import RESULTS_FILE, append_record, read_results
from harness.scope import not_run_record
from harness.server import groups

HANDLED = (signal.SIGINT, signal.SIGTERM)


@dataclass
class InterruptState:
    """What this process received: the first signal (None: none yet), when, and every later one."""

    signum: int | None = None
    at: float | None = None  # time.monotonic() of the first signal
    later: list[int] = field(default_factory=list)
    forward_to_children: bool = False
    say: Callable[[str], None] | None = None  # how to reach the user past pytest's capture (None: stderr's fd)

    @property
    def exit_code(self) -> int | None:
        """The shell's convention for a process ended by a signal: 128 + its number (130 SIGINT, 143 SIGTERM)."""
        return None if self.signum is None else 128 + self.signum


STATE = InterruptState()
_previous: dict[int, object] = {}


def _say(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr closed: the records still say it
        if STATE.say is not None:
            STATE.say(text)
        else:
            os.write(sys.stderr.fileno(), f"\nvllm-compat: {text}\n".encode())


def _forward(signum: int) -> None:
    """An xdist controller's workers hold the engines: give them the signal so they tear down themselves."""
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return
    for child in children:
        try:
            child.send_signal(signum)
        except psutil.Error:
            continue


def _handle(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if STATE.signum is None:
        STATE.signum, STATE.at = signum, time.monotonic()
        groups.set_urgent()
        _say(f"{name}: stopping the run; engines are being stopped, finished cells stay recorded")
        if STATE.forward_to_children:
            _forward(signum)
        raise KeyboardInterrupt(name)
    STATE.later.append(signum)
    killed = groups.kill_live(signal.SIGKILL)
    if STATE.forward_to_children:
        _forward(signum)
    _say(f"{name} again during teardown: SIGKILL to engine group(s) {killed or 'none left'}; finishing the records")


def install(*, forward_to_children: bool = False, say: Callable[[str], None] | None = None) -> bool:
    """Handle SIGINT and SIGTERM this way from now on (main thread only; False elsewhere, where nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    STATE.forward_to_children, STATE.say = forward_to_children, say
    for signum in HANDLED:
        _previous[signum] = signal.signal(signum, _handle)
    return True


def uninstall() -> None:
    """Give the signals back their previous handlers (pytester runs many sessions in one process)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, handler in _previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]
    _previous.clear()


def reset() -> None:
    """Forget what was received (a new session in the same process)."""
    STATE.signum = STATE.at = None
    STATE.later.clear()
    groups.clear_urgent()


def record_not_run(run_dir: Path, run_id: str, planned: Sequence[Cell], signum: int) -> int:
    """Record NOT RUN for every planned cell that has no record in ``run_dir`` yet (the cell being probed when the
    signal came has none: it is not run either); the number recorded."""
    done = {cell.cell_id for cell in read_results(run_dir).cells}
    name = signal.Signals(signum).name
    count = 0
    for cell in planned:
        if cell.id in done:
            continue
        message = f"not run: the run was interrupted ({name}) before this cell finished"
        append_record(run_dir / RESULTS_FILE, not_run_record(cell, run_id, message))
        done.add(cell.id)
        count += 1
    return count


__all__ = ["STATE", "InterruptState", "install", "record_not_run", "reset", "uninstall"]
