"""The lora use case against real vLLM (the CPU build), read from the session's demo run (no boot of its own):
chat-ok served with zoo:lora-canary passes every lora check (the adapter listed under the base, its own answer, an
unknown name refused), the base still answers as itself on that server, and the rank-32 adapter at the default
--max-lora-rank fails in pre-flight with LORA_RANK, expected, without a boot."""

from __future__ import annotations

import pytest
from shared_runs import DemoRun

from harness.codes import Code
from harness.verdicts import Verdict

pytestmark = pytest.mark.e2e


def test_canary_adapter_passes_every_lora_check(demo_run: DemoRun) -> None:
    """On the real engine the adapter is listed with chat-ok as parent, answers " from the tiny zoo model." where
    the base says "Hello from the tiny zoo model.", and an unknown adapter name gets vLLM's 404."""
    cell = demo_run.cell("chat-ok-lora-default-lora")
    assert (cell.verdict, cell.code) == (Verdict.PASS, None), cell.message
    assert demo_run.server(cell.cell_id).flags.get("enable-lora") is True
    checks = {c.name: c for c in cell.checks}
    assert {"adapter_listed:zoo-lora", "adapter_applied:zoo-lora", "unknown_adapter_refused"} <= set(checks)
    assert "HTTP 404" in checks["unknown_adapter_refused"].detail


def test_the_base_answers_as_itself_beside_the_adapter(demo_run: DemoRun) -> None:
    """The chat cell on the same LoRA-enabled server still gives chat-ok's own answer."""
    cell = demo_run.cell("chat-ok-lora-default-chat")
    assert cell.verdict is Verdict.PASS, cell.message
    assert demo_run.server(cell.cell_id) == demo_run.server("chat-ok-lora-default-lora")


def test_over_rank_adapter_is_refused_before_a_boot(demo_run: DemoRun) -> None:
    """The rank-32 adapter at the default --max-lora-rank 16 is the expected LORA_RANK from pre-flight, with the
    fix, and no server was booted for it."""
    cell = demo_run.cell("chat-ok-lora-over-rank-default-lora")
    assert (cell.verdict, cell.code, cell.stage) == (Verdict.XFAIL, Code.LORA_RANK, "preflight")
    assert "--max-lora-rank 32" in cell.message
    assert cell.server is None
