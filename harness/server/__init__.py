"""Stage 3, the server: one vLLM OpenAI-compatible server per (model, flag profile), started by us, provably ours
(our process, our port, our API key, our run-unique served name), stopped with its whole process group.

Modules:
- ``argv``: THE list of harness-owned vLLM flags, and matrix flags -> vLLM's command line.
- ``server``: ``VllmServer`` (boot, readiness, squatter detection, teardown) and ``BootError`` with the diagnosis.
- ``boot_log``: boot phases read from the engine log (weights, KV cache, engine init).
- ``groups``: the engine process groups alive now (in this process and as files in the run directory): what an
  interrupt must kill, and what a dead process left to reap.
"""

from __future__ import annotations

from harness.server import groups
from harness.server.argv import HARNESS_OWNED_FLAGS, flags_to_argv, thaw
from harness.server.boot_log import BootPhases, parse_boot_log
from harness.server.server import BootError, VllmServer, free_port

__all__ = [
    "HARNESS_OWNED_FLAGS",
    "BootError",
    "BootPhases",
    "VllmServer",
    "flags_to_argv",
    "free_port",
    "groups",
    "parse_boot_log",
    "thaw",
]
