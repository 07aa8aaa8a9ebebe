"""The one way the harness asks the engine environment something: run a Python script in the engine python.

vLLM pins torch and transformers, so it never shares the harness's interpreter; every question about it (package
versions, the model registry, the eos ids vLLM computes, vLLM's own requirements at build time) is a short script run
as ``<engine python> -c SCRIPT ARGS...``. The script prints its answer as one line, ``RESULT_MARKER`` followed by JSON,
because importing vLLM logs to stdout: the answer is the last line carrying the marker, whatever else was printed.

Standard library only: ``python -m harness.engine.env build`` runs before anything else is installed.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.logs import one_line_tail

RESULT_MARKER = "VLLM_COMPAT_RESULT "


class EngineError(RuntimeError):
    """The engine python could not be asked (missing, broken, or vLLM not installed in it)."""


def answer_line(payload: str) -> str:
    """The Python statement a script ends with to hand ``payload`` (an expression) back as JSON."""
    return f"print({RESULT_MARKER!r} + __import__('json').dumps({payload}))"


def run_engine_script(
    python: Path,
    script: str,
    *args: str,
    purpose: str,
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
) -> Any:
    """Run ``script`` in the engine ``python`` with ``args`` and return the JSON it answered with.

    ``purpose`` completes "engine python P could not ...", e.g. "list vLLM's registry". ``env`` is added to this
    process's environment. Raises EngineError naming the python, the exit status and the tail of stderr when the
    python cannot start, times out, or exits without an answer line."""
    try:
        done = subprocess.run(
            [str(python), "-c", script, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, **env} if env is not None else None,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EngineError(f"engine python {python} could not run to {purpose}: {error}") from error
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                return json.loads(line.removeprefix(RESULT_MARKER))
            except ValueError as error:
                raise EngineError(f"engine python {python} answered with broken JSON to {purpose}: {error}") from error
    raise EngineError(
        f"engine python {python} could not {purpose} (exit {done.returncode}): {one_line_tail(done.stderr)}"
    )


__all__ = ["RESULT_MARKER", "EngineError", "answer_line", "run_engine_script"]
