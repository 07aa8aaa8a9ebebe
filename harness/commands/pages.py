"""`vllm-compat pages [--history DB] [--out DIR] [--run RUN_ID]`: write the static status site from the history."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli import UsageError
from harness.history import HistoryError, HistoryStore

HELP = "write the status pages (index, a page per cell and per run) from the history file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--history", default="reports/history.sqlite", help="the history file (default: %(default)s)")
    parser.add_argument("--out", default="reports/pages", help="where to write the site (default: %(default)s)")
    parser.add_argument("--run", help="the run the index shows (default: the latest in history)")


def run(args: argparse.Namespace) -> int:
    from harness.pages import write_site

    try:
        with HistoryStore.open(Path(args.history), create=False) as store:
            if args.run and store.run(args.run) is None:
                raise UsageError(f"--run {args.run}: not in {args.history}; `vllm-compat history show` lists runs")
            if store.latest() is None:
                raise UsageError(f"{args.history}: no runs yet; add one with `vllm-compat history add RUN_DIR`")
            index = write_site(store, Path(args.out), args.run)
    except HistoryError as error:
        raise UsageError(str(error)) from None
    print(f"pages: open file://{index.resolve()}")
    return 0
