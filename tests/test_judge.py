"""The matrix's expectations turn raw outcomes into XFAIL / XPASS / FAIL, never into a silent pass."""

from __future__ import annotations

from harness.runner import Outcome
from harness.verdicts import Verdict, judge


def test_failure_with_the_expected_code_is_xfail() -> None:
    """A FAIL whose code the matrix expects becomes XFAIL."""
    assert judge(Outcome(Verdict.FAIL, code="NO_CHAT_TEMPLATE"), "NO_CHAT_TEMPLATE").verdict is Verdict.XFAIL


def test_failure_with_another_code_stays_fail_and_names_the_expectation() -> None:
    """A FAIL with a different code is still FAIL, and the message says what was expected."""
    judged = judge(Outcome(Verdict.FAIL, code="OOM", message="boom"), "NO_CHAT_TEMPLATE")
    assert judged.verdict is Verdict.FAIL
    assert judged.message.startswith("expected NO_CHAT_TEMPLATE, got OOM")


def test_pass_on_a_known_failure_is_xpass() -> None:
    """A PASS where the matrix expects a failure is reported as XPASS (news)."""
    assert judge(Outcome(Verdict.PASS), "STOP_TOKEN").verdict is Verdict.XPASS


def test_errors_and_skips_are_not_excused_by_expectations() -> None:
    """An expectation never turns a harness ERROR or a SKIP into XFAIL."""
    assert judge(Outcome(Verdict.ERROR), "STOP_TOKEN").verdict is Verdict.ERROR
    assert judge(Outcome(Verdict.SKIP), "STOP_TOKEN").verdict is Verdict.SKIP


def test_no_expectation_leaves_the_outcome_alone() -> None:
    """Without an expectation the raw verdict is the verdict."""
    assert judge(Outcome(Verdict.FAIL, code="OOM"), None).verdict is Verdict.FAIL
    assert judge(Outcome(Verdict.PASS), None).verdict is Verdict.PASS
