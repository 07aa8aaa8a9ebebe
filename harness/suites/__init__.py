"""The use-case suites: one module per use case, whose single test the plugin parametrizes with the matrix's cells.

They ship inside the package, so `vllm-compat run` and `pytest -p vllm_compat --matrix FILE` find them from any
directory, in a checkout or from an installed wheel (harness.plugin adds DIRECTORY to the collection). A suite module
sets ``USE_CASE`` and hands its cell to ``harness.plugin.run_cell``; the verdict is earned in the runner, not here.

This package is a package (it has this ``__init__``) so that pytest imports its modules as ``harness.suites.test_chat``
and never as a bare ``test_chat`` that a user's own test module of the same name would shadow.
"""

from __future__ import annotations

from pathlib import Path

DIRECTORY = Path(__file__).parent
# The pytest configuration `vllm-compat run` passes with -c (see harness.commands.run).
RUN_CONFIG = DIRECTORY / "run.ini"

__all__ = ["DIRECTORY", "RUN_CONFIG"]
