"""A cell's verdict with everything the report shows about it, and the matrix's expectation applied to it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from harness.findings import Finding
from harness.probes import Check
from harness.results import Verdict


@dataclass(frozen=True)
class Outcome:
    """A cell's verdict with everything the report shows about it."""

    verdict: Verdict
    code: str | None = None
    message: str = ""
    evidence: str = ""
    checks: tuple[Check, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    server: dict[str, Any] | None = None
    log_tail: str | None = None
    findings: tuple[Finding, ...] = ()
    latency: dict[str, Any] | None = None  # client percentiles + /metrics deltas, for working text cells


def judge(raw: Outcome, expected: str | None) -> Outcome:
    """Apply the matrix's expectation: a failure with the expected code is XFAIL; a pass where one was expected is
    XPASS (news, never hidden); a failure with another code stays FAIL and says what was expected."""
    if expected is None or raw.verdict in (Verdict.SKIP, Verdict.ERROR):
        return raw
    if raw.verdict is Verdict.PASS:
        message = f"expected {expected} but every check passed: the known failure is gone (update the matrix)"
        return replace(raw, verdict=Verdict.XPASS, message=message)
    if raw.verdict is Verdict.FAIL and raw.code == expected:
        return replace(raw, verdict=Verdict.XFAIL)
    return replace(raw, message=f"expected {expected}, got {raw.code}: {raw.message}")
