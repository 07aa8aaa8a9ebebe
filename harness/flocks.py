"""Lock files that die with their process: the flock primitives the GPU leases (fleet) and the CPU core sets (server)
share. The kernel drops a flock when its holder's last descriptor closes, so a crashed holder frees what it held."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def open_lock_file(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def try_flock(fd: int, mode: int) -> bool:
    """Take ``mode`` (fcntl.LOCK_EX / LOCK_SH) on ``fd`` without waiting: False when another holder has it."""
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def live_files(root: Path, pattern: str) -> Iterator[Path]:
    """The files under ``root`` matching ``pattern`` that a live process keeps locked; a file nobody locks belongs
    to a process that died (its flock went with it), and is removed."""
    for path in root.glob(pattern):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            if try_flock(fd, fcntl.LOCK_EX):
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            yield path
        finally:
            os.close(fd)


__all__ = ["live_files", "open_lock_file", "try_flock"]
