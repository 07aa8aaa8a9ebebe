"""Verdicts, and the one rule that turns a raw outcome into a verdict given the matrix's expectation.

A verdict is compared as a ``Verdict`` member (``outcome.verdict is Verdict.PASS``), never as a string; it is a
``StrEnum`` only so that it is written to results.jsonl and printed as its plain name.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar


class Verdict(StrEnum):
    PASS = "PASS"  # a probe ran and every check held
    FAIL = "FAIL"  # with a root-cause code and evidence
    ERROR = "ERROR"  # the harness itself broke
    SKIP = "SKIP"  # with a reason
    XFAIL = "XFAIL"  # failed with the code the matrix expected
    XPASS = "XPASS"  # passed although the matrix expected a failure: news, reported as a failure of the run
    NOT_RUN = "NOT RUN"  # an interrupted run (Ctrl-C, CI cancel) never reached it: recorded, never a pass


class Judged(Protocol):
    """What ``judge`` needs of an outcome: a dataclass (it is copied with ``dataclasses.replace``) with these fields.
    The runner's ``Outcome`` is one; a protocol keeps this module free of the runner (no import cycle)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def verdict(self) -> Verdict: ...

    @property
    def code(self) -> str | None: ...

    @property
    def message(self) -> str: ...


OutcomeT = TypeVar("OutcomeT", bound=Judged)


def judge(raw: OutcomeT, expected: str | None) -> OutcomeT:
    """Apply the matrix's expectation: a failure with the expected code is XFAIL; a pass where one was expected is
    XPASS (news, never hidden); a failure with another code stays FAIL and says what was expected."""
    if expected is None or raw.verdict in (Verdict.SKIP, Verdict.ERROR, Verdict.NOT_RUN):
        return raw
    if raw.verdict is Verdict.PASS:
        message = f"expected {expected} but every check passed: the known failure is gone (update the matrix)"
        return dataclasses.replace(raw, verdict=Verdict.XPASS, message=message)
    if raw.verdict is Verdict.FAIL and raw.code == expected:
        return dataclasses.replace(raw, verdict=Verdict.XFAIL)
    return dataclasses.replace(raw, message=f"expected {expected}, got {raw.code}: {raw.message}")
