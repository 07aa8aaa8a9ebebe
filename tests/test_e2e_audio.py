"""End to end against real vLLM (CPU build): tiny-whisper transcribes through the audio probe; a text model in audio
cells gets honest failure codes, never a pass and never a crash."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.codes import Code
from harness.probes import PROBES, audio, audio_chat
from harness.probes.base import ProbeContext, ProbeResult
from harness.verdicts import Verdict
from harness.zoo.audio import WHISPER_ANSWER

pytestmark = pytest.mark.e2e

DEFAULTS = (
    "defaults: {flags: {max-model-len: 512, gpu-memory-utilization: 0.2}, env: {VLLM_CPU_KVCACHE_SPACE: '1'},"
    " timeouts: {boot: 600, probe: 120}, semantic: false}\n"
)
# Whisper's decoder has 448 positions: vLLM refuses a larger --max-model-len.
WHISPER_MATRIX = (
    DEFAULTS
    + "models:\n  - id: zoo:tiny-whisper\n    use_cases: [audio, audio_chat]\n    flags: {max-model-len: 448}\n"
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


@pytest.fixture(scope="module")
def whisper(registered: None, engine_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """tiny-whisper's audio and audio_chat cells through the runner: one boot."""
    started = time.monotonic()
    outcomes = _run_cells(WHISPER_MATRIX, tmp_path_factory.mktemp("whisper"), engine_python)
    print(
        f"tiny-whisper cells: {time.monotonic() - started:.1f} s; "
        + "; ".join(f"{name}: {o.verdict.value} {o.code} {o.timings}" for name, o in outcomes.items())
    )
    return outcomes


def test_tiny_whisper_passes_the_audio_probe(whisper: dict[str, Any]) -> None:
    """tiny-whisper's audio cell is PASS on checks that ran: its exact transcript in json, text and verbose_json."""
    outcome = whisper["audio"]
    assert outcome.verdict is Verdict.PASS, outcome.message
    checks = {check.name: check for check in outcome.checks}
    assert WHISPER_ANSWER in checks["transcript"].detail
    assert {"format_text", "format_verbose_json", "text_nonempty"} <= set(checks)
    assert "1 segments" in checks["format_verbose_json"].detail
    assert outcome.timings["probe_s"] > 0 and outcome.timings["boot_s"] > 0


def test_tiny_whisper_in_an_audio_chat_cell_never_boots_for_chat(whisper: dict[str, Any]) -> None:
    """A transcription-only Whisper has no chat template: its audio_chat cell fails at pre-flight, not as a pass."""
    outcome = whisper["audio_chat"]
    assert (outcome.verdict, outcome.code) == (Verdict.FAIL, Code.NO_CHAT_TEMPLATE), outcome.message


@pytest.fixture(scope="module")
def chat_ok_probes(
    registered: None, engine_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ProbeResult]:
    """The audio and audio_chat probes run against one real chat-ok server (pre-flight would stop the cells)."""
    from harness.server import VllmServer
    from harness.zoo import build_member

    base = tmp_path_factory.mktemp("chat-ok-audio")
    path = build_member("chat-ok", base / "zoo")
    server = VllmServer(
        engine_python=engine_python,
        model_path=path,
        name="chat-ok",
        flags={"max-model-len": 512, "gpu-memory-utilization": 0.2},
        env={"VLLM_CPU_KVCACHE_SPACE": "1"},
        run_dir=base,
        boot_timeout=600,
        run_id="e2e-audio",
    )
    with server:
        ctx = ProbeContext(
            client=server.client(timeout=120),
            model=server.served_model_name,
            semantic=False,
            timeout=120,
            end_of_turn="<|im_end|>",
            eos_token_ids=(),
            eos_mismatch_predicted=False,
            model_dir=path,
            base_url=server.base_url,
            api_key=server.api_key,
        )
        results = {audio.USE_CASE: audio.probe(ctx), audio_chat.USE_CASE: audio_chat.probe(ctx)}
        alive = server.alive()
    print(
        f"chat-ok boot {server.boot_seconds:.1f} s; "
        + "; ".join(f"{name}: {r.code} {r.timings} {r.message[:200]}" for name, r in results.items())
    )
    assert alive, "the engine died under the audio probes"
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
