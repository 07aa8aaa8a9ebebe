"""`vllm-compat diagnose LOGFILE`: the root cause of a failed boot, a dead engine or an HTTP error body.

Exit code 0 whenever the file could be read (OTHER is an answer too: "no known signature"); 2 when it cannot.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.cli import UsageError
from harness.codes import describe
from harness.diagnose import diagnose

HELP = "explain an engine log (or an HTTP error body): root-cause code, evidence line"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logfile", type=Path, help="the engine's log file, or a file holding an HTTP error body")
    parser.add_argument("--exit-code", type=int, help="the engine's exit code (negative: killed by that signal)")
    parser.add_argument("--json", action="store_true", help='print {"code", "evidence", "line"} as JSON')


def run(args: argparse.Namespace) -> int:
    path: Path = args.logfile
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    result = diagnose(text, exit_code=args.exit_code)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        where = f"{path}:{result.line}" if result.line is not None else str(path)
        print(f"{result.code} ({describe(result.code)})\n  {where}: {result.evidence}")
    return 0
