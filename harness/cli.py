"""`vllm-compat`: one subcommand per module in harness.commands.

Exit codes: 0 ok, 1 the thing checked failed (error findings, failing cells), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from harness import __version__

# subcommand -> module in harness.commands exposing HELP, add_arguments(parser) and run(args) -> int
COMMANDS: dict[str, str] = {
    "check": "harness.commands.check",
    "zoo": "harness.commands.zoo",
    "diagnose": "harness.commands.diagnose",
    "run": "harness.commands.run",
    "report": "harness.commands.report",
    "gate": "harness.commands.gate",
    "engine": "harness.commands.engine",
    "history": "harness.commands.history",
    "pages": "harness.commands.pages",
    "upgrade-check": "harness.commands.upgrade",
    "plan": "harness.commands.plan",
    "merge": "harness.commands.merge",
    "probe": "harness.commands.probe",
    "gpus": "harness.commands.gpus",
}


class UsageError(Exception):
    """A user mistake: printed as one line, exit code 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vllm-compat", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"vllm-compat {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits 2 on usage errors
    try:
        code: int = args._run(args)
    except UsageError as error:
        print(f"vllm-compat {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    # `python -m harness.cli` loads this file twice, as __main__ and as harness.cli (where the commands import
    # UsageError from): the imported module's main catches the UsageError they raise, so a usage mistake exits 2.
    from harness.cli import main as imported_main

    sys.exit(imported_main())
