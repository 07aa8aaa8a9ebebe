"""Whether the installed vLLM serves GGUF checkpoints, and which GGML types, asked of the engine and cached per version.

vLLM 0.32.0 has no GGUF code in tree (nothing under vllm/ reads a GGUF: a ``.gguf`` path reaches
``maybe_override_with_speculators`` -> ``PreTrainedConfig.get_config_dict``, which fails with "It looks like the config
file at '...gguf' is not a valid JSON file"). GGUF moved to the out-of-tree ``vllm-gguf-plugin``: an entry point in
the ``vllm.general_plugins`` group that vLLM's ``load_general_plugins()`` runs in every process (filtered by
``VLLM_PLUGINS``). Its ``register()`` adds the ``gguf`` quantization method, load format and config parser, and
patches ``EngineArgs.create_model_config`` so that a GGUF reference (``*.gguf``, a file starting with the GGUF magic,
``repo:QUANT``, ``dir:QUANT``) is loaded with them, the config and tokenizer coming from ``--tokenizer`` (else the
GGUF's directory). Its linear layers handle the ggml types in its ``UNQUANTIZED_TYPES | DEQUANT_TYPES`` and refuse
others ("Unsupported GGUF quantization type"); its kernels are CUDA (``_C_gguf``) and Triton, so a CPU engine boots
and dies at the first forward pass ("Could not run '_C_gguf::ggml_dequantize' with arguments from the 'CPU'
backend").

So the script asks the engine, after ``load_general_plugins()``, exactly those things: is ``gguf`` a registered
quantization method, load format and config parser; which weight types the GGUF linear method takes (in tree for an
older vLLM, else the plugin's); does ``_C_gguf::ggml_dequantize`` have a CPU kernel; which device the platform is.
Cached under ``$VLLM_COMPAT_CACHE/gguf/`` by vLLM version and the plugin's version ("none" when absent), so
installing the plugin asks again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.engine.answers import cached_engine_answer
from harness.engine.scripts import answer_line
from harness.paths import cache_root

GGUF_PLUGIN = "vllm-gguf-plugin"

_GGUF_SCRIPT = """
import importlib, importlib.metadata as md
out = {}
out["plugins"] = sorted(f"{ep.name}={ep.value}" for ep in md.entry_points(group="vllm.general_plugins"))
in_tree = None
for name in ("vllm.model_executor.layers.quantization.gguf", "vllm.transformers_utils.gguf_utils"):
    try:
        importlib.import_module(name)
        in_tree = name
        break
    except Exception:
        pass
out["in_tree"] = in_tree
from vllm.plugins import load_general_plugins
load_general_plugins()
from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS, get_quantization_config
out["quantization_method"] = "gguf" in QUANTIZATION_METHODS
try:
    out["min_capability"] = int(get_quantization_config("gguf").get_min_capability())
except Exception:
    out["min_capability"] = None
try:
    from vllm.model_executor.model_loader import _LOAD_FORMAT_TO_MODEL_LOADER
    out["load_format"] = "gguf" in _LOAD_FORMAT_TO_MODEL_LOADER
except Exception:
    out["load_format"] = None
try:
    from vllm.transformers_utils.config import get_config_parser
    get_config_parser("gguf")
    out["config_parser"] = True
except Exception:
    out["config_parser"] = False
types = None
for name in ("vllm_gguf_plugin.quantization.utils", "vllm.model_executor.layers.quantization.gguf"):
    try:
        module = importlib.import_module(name)
        types = sorted(t.name for t in set(module.UNQUANTIZED_TYPES) | set(module.DEQUANT_TYPES))
        break
    except Exception:
        pass
out["weight_types"] = types
import torch
cpu_kernel = None
for name in ("vllm_gguf_plugin.ops", "vllm._custom_ops"):
    try:
        importlib.import_module(name)
    except Exception:
        pass
for op in ("_C_gguf::ggml_dequantize", "_C::ggml_dequantize"):
    try:
        if torch._C._dispatch_has_kernel_for_dispatch_key(op, "CPU"):
            cpu_kernel = True
            break
        cpu_kernel = False
    except Exception:
        pass
out["cpu_kernel"] = cpu_kernel
try:
    from vllm.platforms import current_platform
    out["device_type"] = str(current_platform.device_type)
except Exception:
    out["device_type"] = None
""" + answer_line("out")

CACHE_SCHEMA = 2  # bump when _GGUF_SCRIPT reports more: older cache files are then asked again


@dataclass(frozen=True)
class GgufSupport:
    """What the installed vLLM does with a GGUF checkpoint."""

    distribution: str
    vllm_version: str
    plugin_version: str | None  # vllm-gguf-plugin's version, None when it is not installed
    plugins: tuple[str, ...]  # the vllm.general_plugins entry points, "name=module:function"
    in_tree: str | None  # the module of an in-tree GGUF implementation (older vLLM), None for 0.32
    quantization_method: bool  # "gguf" registered after load_general_plugins()
    load_format: bool | None
    config_parser: bool
    weight_types: frozenset[str] | None  # the ggml types the GGUF linear method takes; None: not answered
    cpu_kernel: bool | None  # whether ggml_dequantize has a CPU kernel; None: the op is not registered at all
    device_type: str | None  # "cpu", "cuda", ...
    min_capability: int | None  # GGUFConfig.get_min_capability() (60 in the plugin 0.0.5); None: not answered
    cached: bool
    seconds: float

    @property
    def label(self) -> str:
        return f"{self.distribution} {self.vllm_version}"

    @property
    def serves_gguf(self) -> bool:
        """A GGUF reference is loaded at all: the config parser, load format and quantization method exist."""
        return self.quantization_method and self.config_parser and self.load_format is not False

    @property
    def dies_on_cpu(self) -> bool:
        """A CPU engine whose GGUF kernels have no CPU implementation: it boots, the first forward pass raises."""
        return self.device_type == "cpu" and self.cpu_kernel is not True


def gguf_cache_dir() -> Path:
    return cache_root() / "gguf"


def load_gguf_support(python: Path, *, refresh: bool = False, timeout: float = 300.0) -> GgufSupport:
    """The engine's GGUF support: from the cache when it has this vLLM and plugin version, else asked (~20 s)."""
    answer = cached_engine_answer(
        python,
        _GGUF_SCRIPT,
        directory=gguf_cache_dir(),
        depends_on=GGUF_PLUGIN,
        schema=CACHE_SCHEMA,
        purpose="read vLLM's GGUF support",
        answer_name="vLLM's GGUF support",
        refresh=refresh,
        timeout=timeout,
    )
    return gguf_support_from_json(
        answer.data,
        answer.distribution,
        answer.vllm_version,
        answer.versions.get(GGUF_PLUGIN),
        cached=answer.cached,
        seconds=answer.seconds(),
    )


def gguf_support_from_json(
    data: dict[str, Any],
    distribution: str,
    version: str,
    plugin_version: str | None,
    *,
    cached: bool = True,
    seconds: float = 0.0,
) -> GgufSupport:
    """The typed answer from the engine's JSON (also how tests build one)."""
    types = data.get("weight_types")
    return GgufSupport(
        distribution=distribution,
        vllm_version=version,
        plugin_version=plugin_version,
        plugins=tuple(data.get("plugins", ())),
        in_tree=data.get("in_tree"),
        quantization_method=bool(data.get("quantization_method")),
        load_format=data.get("load_format"),
        config_parser=bool(data.get("config_parser")),
        weight_types=frozenset(types) if isinstance(types, list) else None,
        cpu_kernel=data.get("cpu_kernel"),
        device_type=data.get("device_type"),
        min_capability=data.get("min_capability"),
        cached=cached,
        seconds=round(seconds, 3),
    )


__all__ = ["GGUF_PLUGIN", "GgufSupport", "gguf_cache_dir", "gguf_support_from_json", "load_gguf_support"]
