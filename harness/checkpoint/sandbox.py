"""Run a function on a stranger's input in a child process bounded in time and memory.

A chat template is code from whoever wrote the checkpoint. The jinja2 sandbox stops it reaching Python internals,
but not looping for ever or building a string of gigabytes: two nested loops grew ``check`` until the kernel killed
it, minutes later. Here the work runs in ``python -c`` with ``RLIMIT_AS`` (address space) and ``RLIMIT_CPU`` set by
the child itself before it reads its input, and the parent kills it at a wall-clock bound. Input and output are JSON
over stdin/stdout; the function is named ``module:function`` and imported in the child, so this module imports
none of its callers.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any

MiB = 1024 * 1024


@dataclass(frozen=True)
class Bounds:
    """What a bounded run may use: seconds of wall clock (and of CPU), bytes of address space."""

    wall_s: float = 15.0
    memory_bytes: int = 512 * MiB

    def describe(self) -> str:
        return f"{self.wall_s:g} s wall clock, {self.memory_bytes // MiB} MiB address space"


# The bounds pre-flight renders chat templates under: real templates render in milliseconds in a ~40 MiB process.
TEMPLATE_BOUNDS = Bounds()


class BoundExceeded(Exception):
    """The child ran past its time or memory bound, or died; ``what`` says which, with the bound."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


_CHILD = (
    "import sys; from harness.checkpoint.sandbox import child; child(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))"
)


def run_bounded(target: str, payload: Mapping[str, Any], bounds: Bounds = TEMPLATE_BOUNDS) -> dict[str, Any]:
    """``target(payload)`` (``"package.module:function"``, returning a JSON-able dict) in a bounded child.

    Raises BoundExceeded when the child overruns ``bounds`` or dies without an answer."""
    argv = [sys.executable, "-c", _CHILD, target, str(bounds.wall_s), str(bounds.memory_bytes)]
    try:
        done = subprocess.run(
            argv, input=json.dumps(payload), capture_output=True, text=True, timeout=bounds.wall_s, check=False
        )
    except subprocess.TimeoutExpired as error:  # subprocess.run has killed the child
        raise BoundExceeded(f"did not finish within {bounds.wall_s:g} s (bounds: {bounds.describe()})") from error
    if done.returncode == 0:
        try:
            answer = json.loads(done.stdout)
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            return answer
    last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
    how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
    raise BoundExceeded(f"the bounded process died ({how}: {last}; bounds: {bounds.describe()})")


def child(target: str, wall_s: float, memory_bytes: int) -> None:
    """The child's side: limit itself, then read the payload, run ``target`` and print its answer as JSON."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    cpu = int(wall_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    module, _, function = target.partition(":")
    payload = json.loads(sys.stdin.read())
    answer = getattr(import_module(module), function)(payload)
    sys.stdout.write(json.dumps(answer))


__all__ = ["TEMPLATE_BOUNDS", "BoundExceeded", "Bounds", "run_bounded"]
