"""`vllm-compat engine build|where`: the engine environment (the virtualenv that holds vLLM)."""

from __future__ import annotations

import argparse
import sys

from harness.engine import ENV_VAR, build, recipe_for, resolve_engine_python

HELP = "build or locate the engine environment (vLLM's own virtualenv)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("build", "where"))
    parser.add_argument("--flavour", choices=("gpu", "cpu"), help="default: gpu when an NVIDIA GPU answers, else cpu")
    parser.add_argument("--force", action="store_true", help="rebuild even when a complete environment exists")
    parser.add_argument("--engine-python", help="with `where`: an explicit engine python to report")


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        print(build(recipe_for(args.flavour), force=args.force))
        return 0
    found = resolve_engine_python(args.engine_python)
    if found is None:
        print(f"no engine environment: run `vllm-compat engine build` or set {ENV_VAR}", file=sys.stderr)
        return 1
    print(found)
    return 0
