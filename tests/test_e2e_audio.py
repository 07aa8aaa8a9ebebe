"""End to end against real vLLM (CPU build): tiny-whisper transcribes through the audio probe (the session's demo
run boots it); a text model in audio cells gets honest failure codes, never a pass and never a crash (asked of the
session's chat-ok server). No boot of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_stack import Stack
from shared_runs import DemoRun

from harness.codes import Code
from harness.probes import PROBES, audio, audio_chat
from harness.probes.base import ProbeContext, ProbeResult
from harness.verdicts import Verdict
from harness.zoo.audio import WHISPER_ANSWER

pytestmark = pytest.mark.e2e

DEFAULTS = (
    "defaults: {flags: {max-model-len: 512, gpu-memory-utilization: 0.2, enforce-eager: true},"
    " env: {VLLM_CPU_KVCACHE_SPACE: '1'}, timeouts: {boot: 600, probe: 120}, semantic: false}\n"
)
# Whisper's decoder has 448 positions: vLLM refuses a larger --max-model-len.
WHISPER_CHAT_MATRIX = (
    DEFAULTS + "models:\n  - id: zoo:tiny-whisper\n    use_cases: [audio_chat]\n    flags: {max-model-len: 448}\n"
)
CHAT_OK_MATRIX = DEFAULTS + "models:\n  - id: zoo:chat-ok\n    use_cases: [audio, audio_chat]\n"


@pytest.fixture(scope="module")
def registered() -> Iterator[None]:
    """The audio probes, registered as the lead's PROBES lines will (no-ops once they are); the zoo has the member."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(PROBES, audio.USE_CASE, audio.probe)
        patch.setitem(PROBES, audio_chat.USE_CASE, audio_chat.probe)
        yield


def _run_cells(matrix_text: str, base: Path, engine_python: Path) -> dict[str, Any]:
    from harness.matrix import load_matrix
    from harness.runner import CellRunner

    (base / "matrix.yaml").write_text(matrix_text)
    cells = load_matrix(base / "matrix.yaml").cells
    runner = CellRunner(
        run_id="e2e-audio", run_dir=base / "run", engine_python=engine_python, offline=True, boot_timeout=None
    )
    runner.plan(cells)
    try:
        return {cell.use_case.value: runner.run(cell) for cell in cells}
    finally:
        runner.close()


def test_tiny_whisper_passes_the_audio_probe(demo_run: DemoRun) -> None:
    """tiny-whisper's audio cell is PASS on checks that ran: its exact transcript in json, text and verbose_json."""
    cell = demo_run.cell("tiny-whisper-default-audio")
    assert cell.verdict is Verdict.PASS, cell.message
    checks = {check.name: check for check in cell.checks}
    assert WHISPER_ANSWER in checks["transcript"].detail
    assert {"format_text", "format_verbose_json", "text_nonempty"} <= set(checks)
    assert "1 segments" in checks["format_verbose_json"].detail
    assert cell.timings["probe_s"] > 0 and cell.timings["boot_s"] > 0


def test_tiny_whisper_in_an_audio_chat_cell_never_boots_for_chat(
    registered: None, engine_python: Path, tmp_path: Path
) -> None:
    """A transcription-only Whisper has no chat template: its audio_chat cell fails at pre-flight, not as a pass."""
    outcome = _run_cells(WHISPER_CHAT_MATRIX, tmp_path, engine_python)["audio_chat"]
    assert (outcome.verdict, outcome.code) == (Verdict.FAIL, Code.NO_CHAT_TEMPLATE), outcome.message
    assert outcome.server is None


@pytest.fixture(scope="module")
def chat_ok_probes(registered: None, chat_ok_stack: Stack) -> dict[str, ProbeResult]:
    """The audio and audio_chat probes run against the session's real chat-ok server (pre-flight would stop the
    cells)."""
    server = chat_ok_stack.agent
    ctx = ProbeContext(
        client=server.client(timeout=120),
        model=server.served_model_name,
        semantic=False,
        timeout=120,
        end_of_turn="<|im_end|>",
        eos_token_ids=(),
        eos_mismatch_predicted=False,
        model_dir=server.model_path,
        base_url=server.base_url,
        api_key=server.api_key,
    )
    results = {audio.USE_CASE: audio.probe(ctx), audio_chat.USE_CASE: audio_chat.probe(ctx)}
    print("; ".join(f"{name}: {r.code} {r.timings} {r.message[:200]}" for name, r in results.items()))
    assert server.alive(), "the engine died under the audio probes"
    return results


def test_text_model_in_an_audio_cell_is_wrong_task(chat_ok_probes: dict[str, ProbeResult]) -> None:
    """A text model's server has no transcription route: the audio probe fails WRONG_TASK with the 404 as evidence."""
    result = chat_ok_probes["audio"]
    assert not result.passed and result.code == "WRONG_TASK", result.message
    assert "404" in result.evidence and "/v1/audio/transcriptions" in result.evidence


def test_text_model_given_audio_in_chat_fails_honestly(chat_ok_probes: dict[str, ProbeResult]) -> None:
    """A text model answers the text-only question, then vLLM refuses the input_audio part (HTTP 400 'is not a
    multimodal model'): WRONG_TASK, no pass, no crash."""
    result = chat_ok_probes["audio_chat"]
    assert not result.passed
    assert [c.name for c in result.checks if not c.passed] == ["request"]
    assert result.code == "WRONG_TASK", result.message
    assert "HTTP 400" in result.message and "is not a multimodal model" in result.evidence


def test_text_model_audio_cells_stop_at_pre_flight(registered: None, engine_python: Path, tmp_path: Path) -> None:
    """In a matrix, chat-ok's audio cells fail at pre-flight as WRONG_TASK (a text-only architecture per vLLM's
    registry) without booting a server."""
    outcomes = _run_cells(CHAT_OK_MATRIX, tmp_path, engine_python)
    for outcome in outcomes.values():
        assert (outcome.verdict, outcome.code) == (Verdict.FAIL, Code.WRONG_TASK), outcome.message
        assert outcome.server is None
