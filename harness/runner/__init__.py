"""The runner: composes the stages for each cell, without pytest (the plugin is its pytest face).

Modules:
- ``cells``: ``CellRunner``, one cell -> pre-flight (once per model) -> server -> probe -> ``Outcome`` -> record.
- ``servers``: ``ServerPool``, boot once, sample memory, stop after the server's last planned cell.
- ``dry_boot``: a boot on dummy weights (``--load-format dummy``) before any weight is fetched, and when it runs.
- ``external``: cells served by a server this run did not start: a live ``endpoint:`` (any use case, identity
  first) or an ``endpoints:`` use case (tts, image_generation); ``probe_endpoint`` for one endpoint without a matrix.
- ``outcome``: ``Outcome``, a cell's verdict with its evidence (``harness.verdicts.judge`` applies the matrix's
  expectation to it).
- ``placement``: a server's GPU lease from the node scheduler (harness.fleet) around its boot; no GPUs: a
  ``PlacementError``, a boot failure of stage "schedule" (GPU_CONTENDED, TP_INDIVISIBLE) before vLLM starts.
- ``progress``: live progress on a terminal (rich), plain lines elsewhere.
- ``interrupts``: SIGINT / SIGTERM: KeyboardInterrupt once (teardown runs), SIGKILL to every engine on a second one,
  NOT RUN records for the cells never reached.
"""

from __future__ import annotations

from harness.runner import interrupts
from harness.runner.cells import CellRunner
from harness.runner.dry_boot import DryBootError, dry_boot, wants_dry_boot
from harness.runner.external import (
    PREFLIGHT_NOT_APPLICABLE,
    EndpointKeyMissing,
    EndpointReport,
    LiveEndpoints,
    ModelUseCase,
    probe_endpoint,
)
from harness.runner.outcome import Outcome
from harness.runner.placement import PlacementError
from harness.runner.progress import Progress
from harness.runner.servers import ServerPool

__all__ = [
    "PREFLIGHT_NOT_APPLICABLE",
    "CellRunner",
    "DryBootError",
    "EndpointKeyMissing",
    "EndpointReport",
    "LiveEndpoints",
    "ModelUseCase",
    "Outcome",
    "PlacementError",
    "Progress",
    "ServerPool",
    "dry_boot",
    "interrupts",
    "probe_endpoint",
    "wants_dry_boot",
]
