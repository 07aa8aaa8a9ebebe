"""`vllm-compat diagnose LOGFILE`: the root cause of a failed boot, a dead engine or an HTTP error body.

The answer names the decisive line of the log and, when the engine environment's vLLM printed it, the source site
(module and function) it came from: the installed vLLM's source is read once per version and cached
(harness/diagnose/sites.py), and the messages of the other versions already cached are read too, then those of every
published release (shipped with the harness: harness/diagnose/releases.py), so a machine without an engine
environment still knows vLLM's messages. ``--no-sites``: the hand-written signatures and the log's structure only.
Exit code 0 whenever the file could be read (OTHER is an answer too: "no known signature"); 2 when it cannot.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.cli import UsageError
from harness.codes import describe
from harness.diagnose import Diagnosis, SiteIndex, diagnose
from harness.diagnose.releases import with_releases
from harness.diagnose.sites import cache_path, installed_vllm, load_sites, site_packages_of, with_cached_versions
from harness.engine.env import resolve_engine_python

HELP = "explain an engine log (or an HTTP error body): root-cause code, evidence line, vLLM source site"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logfile", type=Path, help="the engine's log file, or a file holding an HTTP error body")
    parser.add_argument("--exit-code", type=int, help="the engine's exit code (negative: killed by that signal)")
    parser.add_argument("--json", action="store_true", help='print {"code", "evidence", "line"} as JSON')
    parser.add_argument(
        "--explain",
        action="store_true",
        help='with --json: also "site", the other "causes" (strongest first) and the "alternative"',
    )
    parser.add_argument("--engine-python", help="the engine environment whose vLLM source to read (default: cached)")
    parser.add_argument("--engine-version", help="the vLLM version of the cached engine environment to read")
    parser.add_argument("--no-sites", action="store_true", help="do not read vLLM's source: signatures only")


def run(args: argparse.Namespace) -> int:
    path: Path = args.logfile
    sites = None if args.no_sites else with_releases(_sites(args.engine_python, args.engine_version))
    try:
        # newline="": only "\n" ends a line, as grep -n counts; the file is read in chunks, never whole
        with path.open(encoding="utf-8", errors="replace", newline="") as stream:
            result = diagnose(stream, exit_code=args.exit_code, sites=sites)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    if args.json:
        print(json.dumps(result.to_json(explain=args.explain)))
    else:
        print(_human(path, result, sites))
    return 0


def _sites(engine_python: str | None, engine_version: str | None) -> SiteIndex | None:
    """The engine's sites: named by --engine-python/--engine-version (a usage error when absent), else the default
    engine's when one is built, else None."""
    python = resolve_engine_python(engine_python, engine_version)
    named = engine_python is not None or engine_version is not None
    if python is None:
        if named:
            raise UsageError(
                f"no engine environment for vLLM {engine_version}: build it with `vllm-compat engine build "
                f"--version {engine_version}`, or pass --no-sites"
            )
        return None
    site_packages = site_packages_of(python)
    found = installed_vllm(site_packages) if site_packages is not None else None
    if site_packages is None or found is None:
        if named:
            raise UsageError(f"the engine environment of {python} has no vLLM installed: pass another, or --no-sites")
        return None
    if not cache_path(*found).is_file():
        print(f"reading the source of {found[0]} {found[1]} once (cached for next time)...", file=sys.stderr)
    return with_cached_versions(load_sites(site_packages))


def _human(path: Path, result: Diagnosis, sites: SiteIndex | None) -> str:
    where = f"{path}:{result.line}" if result.line is not None else str(path)
    lines = [f"{result.code} ({describe(result.code)})", f"  {where}: {result.evidence}"]
    if result.confidence is not None:
        lines.append(f"  confidence: {result.confidence} ({result.basis})")
    if result.site is not None:
        lines.append(f"  source site: {result.site}")
    elif sites is None:
        lines.append("  source site: not looked up (--no-sites)")
    if result.alternative is not None:
        other = result.alternative
        lines.append(f"  or: {other.code} ({describe(other.code)}), as the same line proves: {other.why}")
    for cause in result.causes:
        at = f"{path}:{cause.line}" if cause.line is not None else str(path)
        by = f" ({cause.process})" if cause.process else ""
        lines.append(f"  also: {cause.code} at {at}{by}: {cause.evidence[:120]}")
    return "\n".join(lines)
