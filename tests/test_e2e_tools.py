"""The tools probe against real vLLM (the CPU build) on zoo:tool-call: with the tool flags it passes; without them
vLLM refuses tool_choice "auto" and the probe says TOOL_FLAGS with the fix. Two boots, one after the other."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.codes import Code
from harness.runner import CellRunner, Outcome
from harness.verdicts import Verdict

pytestmark = pytest.mark.e2e

DEFAULTS = (
    "defaults: {flags: {max-model-len: 512, gpu-memory-utilization: 0.2}, env: {VLLM_CPU_KVCACHE_SPACE: '1'},"
    " timeouts: {boot: 600, probe: 60}, semantic: false}\n"
)
# The zoo tokenizer is mostly bytes: the tool definitions make a ~510-token prompt, so this member needs 1024.
WITH_FLAGS = (
    "  - id: zoo:tool-call\n    use_cases: [tools, chat]\n"
    "    flags: {enable-auto-tool-choice: true, tool-call-parser: hermes, max-model-len: 1024}\n"
)
WITHOUT_FLAGS = (
    "  - id: zoo:tool-call\n    name: tool-call-no-flags\n    use_cases: [tools]\n    expect: {tools: TOOL_FLAGS}\n"
)


@dataclass(frozen=True)
class Ran:
    outcomes: dict[str, Outcome]  # cell id -> outcome


@pytest.fixture(scope="module")
def registered() -> Iterator[None]:
    """The tools probe, registered here until the lead adds it to PROBES (zoo:tool-call is in the zoo)."""
    from harness.probes import PROBES, tools

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(PROBES, tools.USE_CASE, tools.probe)
        yield


def _run(engine_python: Path, directory: Path, models: str) -> Ran:
    """Run every cell of a one-model matrix, the zoo built under ``directory``; the runner stops the server after
    its last cell."""
    from harness.matrix import load_matrix

    matrix_file = directory / "matrix.yaml"
    matrix_file.write_text(DEFAULTS + "models:\n" + models)
    cells = load_matrix(matrix_file).cells
    runner = CellRunner(
        run_id=directory.name, run_dir=directory / "run", engine_python=engine_python, offline=True, boot_timeout=None
    )
    runner.plan(cells)
    outcomes: dict[str, Outcome] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLLM_COMPAT_CACHE", str(directory / "cache"))  # engine_python is resolved already
        try:
            for cell in cells:
                outcomes[cell.id] = runner.run(cell)
        finally:
            runner.close()
    return Ran(outcomes)


@pytest.fixture(scope="module")
def with_flags(registered: None, engine_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    return _run(engine_python, tmp_path_factory.mktemp("tools-flags"), WITH_FLAGS)


@pytest.fixture(scope="module")
def without_flags(registered: None, engine_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    return _run(engine_python, tmp_path_factory.mktemp("tools-no-flags"), WITHOUT_FLAGS)


def test_tool_call_with_hermes_flags_passes_every_tools_check(with_flags: Ran) -> None:
    """With --enable-auto-tool-choice --tool-call-parser hermes, the tools probe passes every check on the real
    engine (parsed call, schema, finish_reason, stream reassembly, round trip) within a few seconds."""
    outcome = with_flags.outcomes["tool-call-default-tools"]
    assert (outcome.verdict, outcome.code) == (Verdict.PASS, None), outcome.message
    checks = {c.name: c for c in outcome.checks}
    assert {"tool_calls", "arguments_match_schema", "finish_tool_calls", "stream_agrees", "round_trip_answer"} <= set(
        checks
    )
    assert "further well-formed call" in checks["round_trip_answer"].detail  # the bigram calls again
    assert outcome.timings["probe_s"] < 30


def test_tool_call_without_tools_answers_its_raw_call_as_chat(with_flags: Ran) -> None:
    """Without tools in the request, the same server answers chat with the raw hermes call: the member's answer."""
    outcome = with_flags.outcomes["tool-call-default-chat"]
    assert outcome.verdict is Verdict.PASS, outcome.message


def test_tool_call_without_flags_is_tool_flags_with_the_fix(without_flags: Ran) -> None:
    """Without the tool flags vLLM answers HTTP 400; the cell is the expected TOOL_FLAGS failure, and the message
    names both flags and the hermes parser the template suggests."""
    outcome = without_flags.outcomes["tool-call-no-flags-default-tools"]
    assert (outcome.verdict, outcome.code) == (Verdict.XFAIL, Code.TOOL_FLAGS), outcome.message
    assert "HTTP 400" in outcome.message
    assert "enable-auto-tool-choice: true" in outcome.message
    assert "tool-call-parser: hermes" in outcome.message
