"""What the installed vLLM says about GPUs and flags, asked of the engine environment and cached per vLLM version.

Pre-flight against a GPU predicts vLLM's refusals without a GPU, so every rule comes from the engine itself, never
from a table in the harness:

- quantisation: ``get_quantization_config(m).get_min_capability()`` for every method in ``QUANTIZATION_METHODS``
  (vllm/model_executor/layers/quantization/__init__.py); vllm/config/vllm.py ``_get_quantization_config`` refuses a
  capability below it ("The quantization method ... is not supported for the current GPU").
- dtype: ``CudaPlatform.supported_dtypes`` and ``check_if_supports_dtype`` (vllm/platforms/cuda.py) and
  ``_resolve_auto_dtype`` / ``_FLOAT16_NOT_SUPPORTED_MODELS`` (vllm/config/model.py), run in the engine for each
  compute capability with the platform's capability answered by the script (no GPU needed: the CPU build imports
  ``vllm.platforms.cuda`` once its compiled ``vllm._C_stable_libtorch`` is stood in for, which these pure methods
  never call).
- parsers: ``ToolParserManager.list_registered()`` and ``ReasoningParserManager.list_registered()``, the lists
  vllm/entrypoints/launchers/launcher.py ``validate_api_server_args`` checks ``--tool-call-parser`` and
  ``--reasoning-parser`` against.
- LoRA: the registered architectures whose class passes ``supports_lora`` (vllm/v1/worker/lora_model_runner_mixin.py
  raises "does not support LoRA yet" otherwise); classes that do not import in this engine are listed apart. Per
  LoRA architecture its class's ``packed_modules_mapping`` and ``embedding_modules``; ``--max-lora-rank``'s default
  and allowed values (vllm/config/lora.py ``LoRAConfig.max_lora_rank``, ``MaxLoRARanks``).
- memory: ``CacheConfig().gpu_memory_utilization``, the default budget fraction (vllm/config/cache.py).
- kernels: ``torch.cuda.get_arch_list()`` of the engine's torch (empty for a CPU build: then nothing is concluded).

Cached as JSON under ``$VLLM_COMPAT_CACHE/rules/``, keyed by the vLLM distribution and version and the torch version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.engine.answers import cached_engine_answer
from harness.engine.scripts import answer_line
from harness.paths import cache_root

# The compute capabilities the dtype rules are asked for: every one NVIDIA ships that vLLM might meet.
CAPABILITIES = (60, 61, 70, 72, 75, 80, 86, 87, 89, 90, 100, 103, 110, 120, 121)
CONFIG_DTYPES = ("bfloat16", "float16", "float32")

_RULES_SCRIPT = (
    """
import sys, types
out = {}
from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS, get_quantization_config
quant = {}
for method in QUANTIZATION_METHODS:
    try:
        quant[method] = int(get_quantization_config(method).get_min_capability())
    except Exception as error:
        quant[method] = None
out["quant_min_capability"] = quant
import torch
# The CPU build ships no vllm._C_stable_libtorch; the methods asked below are pure Python and never call it.
try:
    import vllm._C_stable_libtorch
except ImportError:
    sys.modules["vllm._C_stable_libtorch"] = types.ModuleType("vllm._C_stable_libtorch")
from vllm.platforms.cuda import CudaPlatform
from vllm.platforms.interface import DeviceCapability
import vllm.config.model as model_config
names = {torch.bfloat16: "bfloat16", torch.float16: "float16", torch.float32: "float32"}
no_fp16 = sorted(getattr(model_config, "_FLOAT16_NOT_SUPPORTED_MODELS", {}))
out["float16_unsupported_model_types"] = no_fp16
dtype = {}
for cap in CAPABILITIES:
    CudaPlatform.get_device_capability = classmethod(lambda cls, device_id=0, c=cap: DeviceCapability(c // 10, c % 10))
    CudaPlatform.get_device_name = classmethod(lambda cls, device_id=0: "GPU")
    platform = CudaPlatform()
    entry = {"supported": [names.get(d, str(d)) for d in platform.supported_dtypes]}
    try:
        CudaPlatform.check_if_supports_dtype(torch.bfloat16)
        entry["bfloat16_error"] = None
    except ValueError as error:
        entry["bfloat16_error"] = str(error)
    saved = model_config.current_platform
    model_config.current_platform = platform
    auto = {}
    try:
        for kind, model_type in (("any", "llama"), ("no_float16", no_fp16[0] if no_fp16 else "llama")):
            for pooling in (False, True):
                for config_dtype in (torch.bfloat16, torch.float16, torch.float32):
                    resolved = model_config._resolve_auto_dtype(model_type, config_dtype, is_pooling_model=pooling)
                    key = f"{kind}/{'pooling' if pooling else 'generate'}/{names[config_dtype]}"
                    auto[key] = names.get(resolved, str(resolved))
    finally:
        model_config.current_platform = saved
    entry["auto"] = auto
    dtype[str(cap)] = entry
out["dtype"] = dtype
from vllm.tool_parsers.abstract_tool_parser import ToolParserManager
import vllm.tool_parsers
from vllm.reasoning.abs_reasoning_parsers import ReasoningParserManager
import vllm.reasoning
out["tool_parsers"] = sorted(ToolParserManager.list_registered())
out["reasoning_parsers"] = sorted(ReasoningParserManager.list_registered())
from vllm.model_executor.models import ModelRegistry
from vllm.model_executor.models.interfaces import supports_lora
lora, unknown, lora_modules = [], [], {}
for arch in sorted(ModelRegistry.get_supported_archs()):
    try:
        cls = ModelRegistry._try_load_model_cls(arch)
    except Exception:
        cls = None
    if cls is None:
        unknown.append(arch)
    elif supports_lora(cls):
        lora.append(arch)
        try:
            packed = dict(getattr(cls, "packed_modules_mapping", {}) or {})
            packed = {str(k): [str(m) for m in v] for k, v in packed.items()}
            embedding = sorted(str(m) for m in dict(getattr(cls, "embedding_modules", {}) or {}))
            lora_modules[arch] = {"packed": packed, "embedding": embedding}
        except Exception:
            pass
out["lora_architectures"] = lora
out["lora_unknown"] = unknown
out["lora_modules"] = lora_modules
try:
    import dataclasses, typing
    import vllm.config.lora as lora_config
    defaults = {f.name: f.default for f in dataclasses.fields(lora_config.LoRAConfig)}
    out["max_lora_rank_default"] = int(defaults["max_lora_rank"])
    out["max_lora_ranks"] = sorted(int(r) for r in typing.get_args(getattr(lora_config, "MaxLoRARanks", None)) or ())
except Exception:
    out["max_lora_rank_default"] = None
    out["max_lora_ranks"] = []
try:
    from vllm.config.cache import CacheConfig
    out["gpu_memory_utilization"] = float(CacheConfig().gpu_memory_utilization)
except Exception:
    out["gpu_memory_utilization"] = None
out["torch_cuda"] = torch.version.cuda
out["cuda_arch_list"] = list(torch.cuda.get_arch_list())
"""
    + answer_line("out")
).replace("CAPABILITIES", repr(CAPABILITIES))

CACHE_SCHEMA = 2  # bump when _RULES_SCRIPT reports more: older cache files are then asked again


@dataclass(frozen=True)
class DtypeRule:
    """vLLM's dtype behaviour on one compute capability."""

    supported: tuple[str, ...]  # CudaPlatform.supported_dtypes, preferred first
    bfloat16_error: str | None  # check_if_supports_dtype(bfloat16)'s ValueError, None when bfloat16 is fine
    auto: dict[str, str]  # "<any|no_float16>/<generate|pooling>/<config dtype>" -> what --dtype auto resolves to


@dataclass(frozen=True)
class LoraModules:
    """What an architecture's vLLM class says of its LoRA modules."""

    packed: dict[str, tuple[str, ...]]  # qkv_proj -> (q_proj, k_proj, v_proj)
    embedding: tuple[str, ...]  # embed_tokens, lm_head where the class takes LoRA on them


@dataclass(frozen=True)
class EngineRules:
    distribution: str
    vllm_version: str
    quant_min_capability: dict[str, int | None]  # None: the method's config could not be built in this engine
    float16_unsupported_model_types: frozenset[str]
    dtype: dict[int, DtypeRule]
    tool_parsers: frozenset[str]
    reasoning_parsers: frozenset[str]
    lora_architectures: frozenset[str]
    lora_unknown: frozenset[str]  # registered, but the class did not import here: LoRA support unknown
    # per LoRA-capable architecture: its class's packed_modules_mapping and embedding_modules (vLLM expands a packed
    # module into these names when it checks an adapter's target modules: vllm/lora/worker_manager.py _load_adapter)
    lora_modules: dict[str, LoraModules]
    max_lora_rank_default: int | None  # LoRAConfig.max_lora_rank's default (16 in 0.32); None: not answered
    max_lora_ranks: tuple[int, ...]  # the values --max-lora-rank accepts (vllm/config/lora.py MaxLoRARanks)
    gpu_memory_utilization: float | None  # CacheConfig's default (0.92 in 0.32); None: not answered
    torch_cuda: str | None  # None: a CPU build of torch
    cuda_arch_list: tuple[str, ...]  # e.g. ("sm_80", "sm_90"); empty for a CPU build
    cached: bool
    seconds: float

    @property
    def label(self) -> str:
        return f"{self.distribution} {self.vllm_version}"

    def dtype_rule(self, capability: int) -> DtypeRule | None:
        """The rule asked for ``capability``, else the nearest capability below it that was asked (same family)."""
        known = [c for c in self.dtype if c <= capability]
        return self.dtype[max(known)] if known else None

    def resolve_auto_dtype(self, capability: int, config_dtype: str, model_type: str | None, pooling: bool) -> str:
        """What ``--dtype auto`` becomes on ``capability`` for a checkpoint stored in ``config_dtype``."""
        rule = self.dtype_rule(capability)
        if rule is None:
            return config_dtype
        kind = "no_float16" if model_type in self.float16_unsupported_model_types else "any"
        return rule.auto.get(f"{kind}/{'pooling' if pooling else 'generate'}/{config_dtype}", config_dtype)


def rules_cache_dir() -> Path:
    return cache_root() / "rules"


def load_rules(python: Path, *, refresh: bool = False, timeout: float = 600.0) -> EngineRules:
    """The engine's GPU and flag rules: from the cache when it has this version, else asked (about 30 s here)."""
    answer = cached_engine_answer(
        python,
        _RULES_SCRIPT,
        directory=rules_cache_dir(),
        depends_on="torch",
        schema=CACHE_SCHEMA,
        purpose="read vLLM's GPU rules",
        answer_name="vLLM's GPU rules",
        refresh=refresh,
        timeout=timeout,
    )
    return rules_from_json(
        answer.data, answer.distribution, answer.vllm_version, cached=answer.cached, seconds=answer.seconds()
    )


def rules_from_json(
    data: dict[str, Any], distribution: str, version: str, *, cached: bool = True, seconds: float = 0.0
) -> EngineRules:
    """The typed rules from the engine's JSON answer (also how tests build rules from a saved answer)."""
    dtype = {
        int(cap): DtypeRule(tuple(entry["supported"]), entry.get("bfloat16_error"), dict(entry.get("auto", {})))
        for cap, entry in data.get("dtype", {}).items()
    }
    return EngineRules(
        distribution=distribution,
        vllm_version=version,
        quant_min_capability={
            str(k): (int(v) if v is not None else None) for k, v in data["quant_min_capability"].items()
        },
        float16_unsupported_model_types=frozenset(data.get("float16_unsupported_model_types", ())),
        dtype=dtype,
        tool_parsers=frozenset(data.get("tool_parsers", ())),
        reasoning_parsers=frozenset(data.get("reasoning_parsers", ())),
        lora_architectures=frozenset(data.get("lora_architectures", ())),
        lora_unknown=frozenset(data.get("lora_unknown", ())),
        lora_modules={
            str(arch): LoraModules(
                {str(k): tuple(v) for k, v in (entry.get("packed") or {}).items()}, tuple(entry.get("embedding") or ())
            )
            for arch, entry in (data.get("lora_modules") or {}).items()
        },
        max_lora_rank_default=data.get("max_lora_rank_default"),
        max_lora_ranks=tuple(int(r) for r in data.get("max_lora_ranks") or ()),
        gpu_memory_utilization=data.get("gpu_memory_utilization"),
        torch_cuda=data.get("torch_cuda"),
        cuda_arch_list=tuple(data.get("cuda_arch_list", ())),
        cached=cached,
        seconds=round(seconds, 3),
    )


__all__ = [
    "CAPABILITIES",
    "DtypeRule",
    "EngineRules",
    "LoraModules",
    "load_rules",
    "rules_cache_dir",
    "rules_from_json",
]
