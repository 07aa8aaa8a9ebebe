"""`vllm-compat run`: the main job -- pytest over suites/ with the plugin, then the report."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli import UsageError

HELP = "run the matrix (or the built-in demo) through the suites and write the report"


def suites_dir() -> Path:
    """suites/ beside the harness package: this is run from a checkout (pip install -e .)."""
    return Path(__file__).resolve().parents[2] / "suites"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--matrix", help="matrix file (default: matrix.yaml at the repository root)")
    source.add_argument("--demo", action="store_true", help="the built-in demo matrix over the zoo (CPU engine)")
    parser.add_argument("--engine-python", help="python of the engine environment")
    parser.add_argument("--run-dir", help="default reports/runs/<run-id>")
    parser.add_argument("--boot-timeout", type=float)
    parser.add_argument("--latency-repeats", type=int, help="requests per working text cell (default 3, 0: none)")
    parser.add_argument("--offline", action="store_true", help="never contact the hub")
    parser.add_argument("-m", dest="markexpr", help="only these use cases, e.g. -m 'chat or vision'")
    parser.add_argument("-k", dest="keyword", help="only cells whose id matches, e.g. -k qwen")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: passed to pytest as they are")


def run(args: argparse.Namespace) -> int:
    import pytest

    suites = suites_dir()
    if not suites.is_dir():
        raise UsageError(f"{suites}: suites/ not found; run from a checkout installed with `pip install -e .`")
    argv = [str(suites), "-p", "no:cacheprovider"]
    for option in ("matrix", "engine_python", "run_dir", "boot_timeout", "latency_repeats"):
        value = getattr(args, option)
        if value is not None:
            argv += [f"--{option.replace('_', '-')}", str(value)]
    if args.demo:
        argv.append("--demo")
    if args.offline:
        argv.append("--offline")
    if args.markexpr:
        argv += ["-m", args.markexpr]
    if args.keyword:
        argv += ["-k", args.keyword]
    extra = [a for a in args.pytest_args if a != "--"]
    return int(pytest.main(argv + extra))
