"""``python -m harness.engine build|where``: ``vllm-compat engine`` with the standard library only (no rich, no
pytest), for building the engine environment before anything else of the harness is installed."""

from __future__ import annotations

import argparse
import sys

from harness.commands import engine as command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.engine", description=command.HELP)
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
