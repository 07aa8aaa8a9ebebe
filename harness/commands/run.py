"""`vllm-compat run`: the main job -- pytest over the suites shipped in harness/suites with the plugin, then the report.

It runs from any directory, in a checkout or with the wheel installed, and the directory it runs from lends pytest
nothing but a place to write:
- ``-c harness/suites/run.ini``: pytest reads that file instead of looking for one, so a user's pytest.ini or
  ``[tool.pytest.ini_options]`` (addopts such as ``--cov`` or ``-x``, ``python_files``, ``filterwarnings = error``)
  cannot change how the suites are collected or run;
- ``--rootdir`` the current directory: pytest would otherwise take the directory of the -c file (inside the installed
  package) as its root, and the plugin writes ``<rootdir>/reports/runs/<run-id>`` and ``<rootdir>/reports/STATUS.md``
  and reads the default ``<rootdir>/matrix.yaml``: the run's output lands where it was started, as at the repository
  root before;
- ``--confcutdir`` the suites directory: no conftest.py above it is loaded, neither a stray one in site-packages or the
  virtualenv nor the user's project conftest (the suites need none);
- ``-p vllm_compat`` names the plugin by its entry point, so the run also works under PYTEST_DISABLE_PLUGIN_AUTOLOAD.
What comes after ``--`` is passed to pytest as it is (``-n 4 --dist loadgroup``, ``--status-file``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import suites

HELP = "run the matrix (or the built-in demo) through the suites and write the report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--matrix", help="matrix file (default: matrix.yaml in the current directory)")
    source.add_argument("--demo", action="store_true", help="the built-in demo matrix over the zoo (CPU engine)")
    parser.add_argument(
        "--deployment",
        metavar="NAME",
        help="verify the matrix's deployment NAME: its services booted in order, probed together, then all at once",
    )
    parser.add_argument("--engine-python", help="python of the engine environment")
    parser.add_argument(
        "--engine-version", help="run on the cached engine of this vLLM version (overrides the matrix's engine.vllm)"
    )
    parser.add_argument("--run-dir", help="default reports/runs/<run-id> in the current directory")
    parser.add_argument("--boot-timeout", type=float)
    parser.add_argument("--latency-repeats", type=int, help="requests per working text cell (default 3, 0: none)")
    parser.add_argument("--offline", action="store_true", help="never contact the hub")
    parser.add_argument(
        "--dry-boot",
        action="store_true",
        help="boot each server on dummy weights before fetching its weights (default: hub models not yet cached)",
    )
    parser.add_argument(
        "--shard",
        metavar="K/N|auto",
        help="only shard K of N (vllm-compat plan shows the split); auto: from the CI job (Buildkite, Kubernetes "
        "Indexed Job, Slurm array)",
    )
    parser.add_argument(
        "--plan",
        metavar="FILE",
        help="with --shard K/N: run the servers this plan file (vllm-compat plan --json --out FILE) gives shard K",
    )
    parser.add_argument("--history", help="history file whose durations balance --shard")
    parser.add_argument("-m", dest="markexpr", help="only these use cases, e.g. -m 'chat or vision'")
    parser.add_argument("-k", dest="keyword", help="only cells whose id matches, e.g. -k qwen")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: passed to pytest as they are")


def pytest_argv(args: argparse.Namespace, cwd: Path) -> list[str]:
    """The pytest command line of one run (the module docstring says why each isolating option is there)."""
    argv = [
        str(suites.DIRECTORY),
        "-p", "vllm_compat",
        "-p", "no:cacheprovider",
        "-c", str(suites.RUN_CONFIG),
        "--rootdir", str(cwd),
        "--confcutdir", str(suites.DIRECTORY),
    ]  # fmt: skip
    named = ("matrix", "engine_python", "engine_version", "run_dir", "boot_timeout", "latency_repeats", "shard")
    for option in (*named, "plan", "deployment", "history"):
        value = getattr(args, option)
        if value is not None:
            argv += [f"--{option.replace('_', '-')}", str(value)]
    if args.demo:
        argv.append("--demo")
    if args.offline:
        argv.append("--offline")
    if args.dry_boot:
        argv.append("--dry-boot")
    if args.markexpr:
        argv += ["-m", args.markexpr]
    if args.keyword:
        argv += ["-k", args.keyword]
    return argv + [a for a in args.pytest_args if a != "--"]


def run(args: argparse.Namespace) -> int:
    """pytest's exit status; 130 / 143 when SIGINT / SIGTERM interrupted the run (the shell's 128 + signal), after
    pytest has stopped every engine and written the records and the report."""
    import pytest

    from harness.runner import interrupts

    status = int(pytest.main(pytest_argv(args, Path.cwd())))
    signalled = interrupts.STATE.exit_code
    return signalled if signalled is not None and status == pytest.ExitCode.INTERRUPTED else status
