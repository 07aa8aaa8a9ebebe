"""Deployments: a stack of services verified as it will run, co-resident on shared GPUs.

Modules:
- ``sequence``: boot the services one after another, each ready before the next (vLLM issue 9198).
- ``concurrent``: the concurrent phase, every service probed at once through the runner's own probes.
- ``run``: ``DeploymentRun``, a deployment's life in one process (hold, boot in order, concurrent phase, stop,
  record).
- ``verdict``: which services work, and which fail because of their neighbours, from the records.
- ``picture``: the memory picture from the records (per-service peak, total against the device, what is left).
- ``timeline``: the boot sequence as seconds from the first boot, and how long all were up together.
"""

from __future__ import annotations

from harness.deploy.concurrent import probe_at_once
from harness.deploy.picture import GpuBudget, MemoryPicture, ServiceMemory, memory_picture, peak_of
from harness.deploy.run import DeploymentRun
from harness.deploy.sequence import BootStep, boot_in_order
from harness.deploy.timeline import BootRow, Timeline, timeline
from harness.deploy.verdict import NEIGHBOUR_CODES, ServiceVerdict, service_verdicts, up_before, verdict_line

__all__ = [
    "NEIGHBOUR_CODES",
    "BootRow",
    "BootStep",
    "DeploymentRun",
    "GpuBudget",
    "MemoryPicture",
    "ServiceMemory",
    "ServiceVerdict",
    "Timeline",
    "boot_in_order",
    "memory_picture",
    "peak_of",
    "probe_at_once",
    "service_verdicts",
    "timeline",
    "up_before",
    "verdict_line",
]
