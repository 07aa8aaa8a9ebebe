"""A cell's verdict with everything the report shows about it (the matrix's expectation is applied by
``harness.verdicts.judge``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.findings import Finding
from harness.probes import Check
from harness.results import CellServer
from harness.verdicts import Verdict


@dataclass(frozen=True)
class Outcome:
    """A cell's verdict with everything the report shows about it."""

    verdict: Verdict
    code: str | None = None
    message: str = ""
    evidence: str = ""
    checks: tuple[Check, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    server: CellServer | None = None  # the server that answered (ours or an external endpoint)
    log_tail: str | None = None
    findings: tuple[Finding, ...] = ()
    latency: dict[str, Any] | None = None  # client percentiles + /metrics deltas, for working text cells
    stage: str | None = None  # which stage caught a failure: preflight, fetch, dry_boot, boot or probe
