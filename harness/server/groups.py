"""The engine process groups alive now, known twice: in this process and as files in the run directory.

Every vLLM the harness boots leads its own process group (``start_new_session``), so a signal to the harness never
reaches it: teardown must. ``VllmServer`` registers each group when it starts and forgets it once stopped. The
in-process list lets a second Ctrl-C kill every group at once while the first one's teardown is still running; the
files (``<run dir>/.engines/<pgid>``, holding the leader's pid and start time) let another process -- the xdist
controller whose workers were killed before they finished, or the next ``atexit`` -- reap what a dead process left,
without ever signalling a recycled pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import psutil

ENGINES_DIR = ".engines"
# On an interrupt, how long a stopping engine gets between SIGTERM and SIGKILL (a normal stop gives it STOP_GRACE_S).
INTERRUPT_GRACE_S = 5.0

_lock = threading.Lock()
_live: dict[int, Path | None] = {}  # pgid -> its registry file
_urgent = threading.Event()


def register(pgid: int, run_dir: Path | None) -> None:
    """Remember the group led by ``pgid`` (also as a file under ``run_dir/.engines`` when a run directory is given)."""
    marker: Path | None = None
    if run_dir is not None:
        with contextlib.suppress(OSError, psutil.Error):
            folder = run_dir / ENGINES_DIR
            folder.mkdir(parents=True, exist_ok=True)
            marker = folder / str(pgid)
            marker.write_text(f"{pgid} {psutil.Process(pgid).create_time()}\n", encoding="utf-8")
    with _lock:
        _live[pgid] = marker


def forget(pgid: int) -> None:
    """The group is stopped: drop it from both lists."""
    with _lock:
        marker = _live.pop(pgid, None)
    if marker is not None:
        with contextlib.suppress(OSError):
            marker.unlink()


def live() -> list[int]:
    with _lock:
        return sorted(_live)


def set_urgent() -> None:
    """An interrupt arrived: stops from now on give INTERRUPT_GRACE_S, not the normal grace."""
    _urgent.set()


def urgent() -> bool:
    return _urgent.is_set()


def clear_urgent() -> None:
    """A new session in the same process (pytester): stops get their normal grace again."""
    _urgent.clear()


def kill_live(sig: int = signal.SIGKILL) -> list[int]:
    """Send ``sig`` to every group this process still holds; the groups signalled."""
    hit = []
    for pgid in live():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
            hit.append(pgid)
    return hit


REAP_WAIT_S = 5.0  # SIGKILL is not refused; this only waits for the kernel to take the processes away


def _wait_gone(pgid: int, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        members = []
        for process in psutil.process_iter(["status"]):
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                    members.append(process.pid)
        if not members:
            return
        time.sleep(0.05)


def reap(run_dir: Path) -> list[int]:
    """SIGKILL the groups that ``run_dir``'s registry still lists and whose leader is the process registered (same
    pid and start time); remove their files. The groups killed."""
    folder = run_dir / ENGINES_DIR
    killed: list[int] = []
    if not folder.is_dir():
        return killed
    for marker in sorted(folder.iterdir()):
        try:
            pid_text, created = marker.read_text(encoding="utf-8").split()
            pgid = int(pid_text)
            leader = psutil.Process(pgid)
            same = abs(leader.create_time() - float(created)) < 0.01
        except (OSError, ValueError, psutil.Error):
            same = False  # gone already (or never ours): nothing to kill
            pgid = -1
        if same:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
                killed.append(pgid)
                _wait_gone(pgid, REAP_WAIT_S)
        with contextlib.suppress(OSError):
            marker.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()
    return killed


__all__ = [
    "ENGINES_DIR",
    "INTERRUPT_GRACE_S",
    "clear_urgent",
    "forget",
    "kill_live",
    "live",
    "reap",
    "register",
    "set_urgent",
    "urgent",
]
