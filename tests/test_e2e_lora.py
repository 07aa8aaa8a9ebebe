"""The lora use case against real vLLM (the CPU build): chat-ok served with zoo:lora-canary passes every lora check
(the adapter listed under the base, its own answer, an unknown name refused), and the rank-32 adapter at the default
--max-lora-rank fails in pre-flight with LORA_RANK, expected, without a boot. One boot."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.codes import Code
from harness.runner import CellRunner, Outcome
from harness.verdicts import Verdict

pytestmark = pytest.mark.e2e

MATRIX = (
    "defaults: {flags: {max-model-len: 512, gpu-memory-utilization: 0.2}, env: {VLLM_CPU_KVCACHE_SPACE: '1'},"
    " timeouts: {boot: 600, probe: 60}, semantic: false}\n"
    "models:\n"
    "  - id: zoo:chat-ok\n    name: chat-ok-lora\n    use_cases: [lora, chat]\n"
    "    flags: {enable-lora: true, lora-modules: [zoo-lora=zoo:lora-canary]}\n"
    "  - id: zoo:chat-ok\n    name: chat-ok-lora-over-rank\n    use_cases: [lora]\n"
    "    flags: {enable-lora: true, lora-modules: [zoo-lora=zoo:lora-rank-32]}\n"
    "    expect: {lora: LORA_RANK}\n"
)


@pytest.fixture(scope="module")
def outcomes(engine_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    from harness.matrix import load_matrix

    directory = tmp_path_factory.mktemp("lora")
    (directory / "matrix.yaml").write_text(MATRIX)
    cells = load_matrix(directory / "matrix.yaml").cells
    runner = CellRunner(
        run_id=directory.name, run_dir=directory / "run", engine_python=engine_python, offline=True, boot_timeout=None
    )
    runner.plan(cells)
    found: dict[str, Outcome] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLLM_COMPAT_CACHE", str(directory / "cache"))
        try:
            for cell in cells:
                found[cell.id] = runner.run(cell)
        finally:
            runner.close()
    return found


def test_canary_adapter_passes_every_lora_check(outcomes: dict[str, Outcome]) -> None:
    """On the real engine the adapter is listed with chat-ok as parent, answers " from the tiny zoo model." where
    the base says "Hello from the tiny zoo model.", and an unknown adapter name gets vLLM's 404."""
    outcome = outcomes["chat-ok-lora-default-lora"]
    assert (outcome.verdict, outcome.code) == (Verdict.PASS, None), outcome.message
    checks = {c.name: c for c in outcome.checks}
    assert {"adapter_listed:zoo-lora", "adapter_applied:zoo-lora", "unknown_adapter_refused"} <= set(checks)
    assert "HTTP 404" in checks["unknown_adapter_refused"].detail


def test_the_base_answers_as_itself_beside_the_adapter(outcomes: dict[str, Outcome]) -> None:
    """The chat cell on the same LoRA-enabled server still gives chat-ok's own answer."""
    outcome = outcomes["chat-ok-lora-default-chat"]
    assert outcome.verdict is Verdict.PASS, outcome.message


def test_over_rank_adapter_is_refused_before_a_boot(outcomes: dict[str, Outcome]) -> None:
    """The rank-32 adapter at the default --max-lora-rank 16 is the expected LORA_RANK from pre-flight, with the
    fix, and no server was booted for it."""
    outcome = outcomes["chat-ok-lora-over-rank-default-lora"]
    assert (outcome.verdict, outcome.code, outcome.stage) == (Verdict.XFAIL, Code.LORA_RANK, "preflight")
    assert "--max-lora-rank 32" in outcome.message
