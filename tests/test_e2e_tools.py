"""The tools probe against real vLLM (the CPU build), read from the session's demo run: zoo:tool-call served with the
tool flags passes; zoo:chat-ok, whose template renders hermes tool calls, served without them is refused tool_choice
"auto" by vLLM and the probe says TOOL_FLAGS with the fix. No boot of its own: both servers are the demo's."""

from __future__ import annotations

import pytest
from shared_runs import DemoRun

from harness.codes import Code
from harness.verdicts import Verdict

pytestmark = pytest.mark.e2e


def test_tool_call_with_hermes_flags_passes_every_tools_check(demo_run: DemoRun) -> None:
    """With --enable-auto-tool-choice --tool-call-parser hermes, the tools probe passes every check on the real
    engine (parsed call, schema, finish_reason, stream reassembly, round trip) within a few seconds."""
    cell = demo_run.cell("tool-call-default-tools")
    assert (cell.verdict, cell.code) == (Verdict.PASS, None), cell.message
    assert demo_run.server(cell.cell_id).flags.get("tool-call-parser") == "hermes"
    checks = {c.name: c for c in cell.checks}
    assert {"tool_calls", "arguments_match_schema", "finish_tool_calls", "stream_agrees", "round_trip_answer"} <= set(
        checks
    )
    assert "further well-formed call" in checks["round_trip_answer"].detail  # the bigram calls again
    assert cell.timings["probe_s"] < 30


def test_tool_call_without_tools_answers_its_raw_call_as_chat(demo_run: DemoRun) -> None:
    """Without tools in the request, the same server answers chat with the raw hermes call: the member's answer."""
    cell = demo_run.cell("tool-call-default-chat")
    assert cell.verdict is Verdict.PASS, cell.message
    assert demo_run.server(cell.cell_id) == demo_run.server("tool-call-default-tools")  # one boot for both cells


def test_tool_call_without_flags_is_tool_flags_with_the_fix(demo_run: DemoRun) -> None:
    """Without the tool flags vLLM answers HTTP 400; the cell is the expected TOOL_FLAGS failure, and the message
    names both flags and the hermes parser the template suggests."""
    cell = demo_run.cell("chat-ok-default-tools")
    assert "enable-auto-tool-choice" not in demo_run.server(cell.cell_id).flags
    assert (cell.verdict, cell.code) == (Verdict.XFAIL, Code.TOOL_FLAGS), cell.message
    assert "HTTP 400" in cell.message
    assert "enable-auto-tool-choice: true" in cell.message
    assert "tool-call-parser: hermes" in cell.message
