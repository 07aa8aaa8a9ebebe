"""The engine environment: the virtualenv that holds vLLM, and everything the harness asks of it without a server.

vLLM pins torch and transformers, so it lives in its own virtualenv and the harness only ever runs its python as a
child process. Modules, from the bottom up:

- ``scripts``: ``run_engine_script``, the one way to run a script in the engine python and read its JSON answer.
- ``nvml``: ``open_nvml``, the one NVML opener, and ``NO_GPU``, the text every figure NVML cannot give reads.
- ``env``: build and locate (``resolve_engine_python``) the environment of one vLLM version, its torch pins read from
  that version's published requirements, cached under the harness's cache root per flavour, vLLM version, Python
  version and recipe hash.
- ``installed``: the environments built side by side: list them (size, last use), prune the unwanted ones, and
  hard-link the files a new one has byte-identical to a sibling's (the same torch and CUDA libraries, stored once).
- ``versions``: the package versions installed in it (importlib.metadata, vLLM not imported).
- ``answers``: a script's answer cached per engine version (what ``registry`` and ``rules`` are built on).
- ``registry``: the architectures, model types and chat-template fallbacks the installed vLLM knows, cached per
  vLLM version.
- ``rules``: what the installed vLLM says about GPUs and flags (quantisation methods' minimum capability, dtype
  resolution, parser names, LoRA-capable architectures, the kernels' architectures), cached per vLLM version.
- ``gguf_support``: whether the installed vLLM serves GGUF at all (vLLM 0.32 only through ``vllm-gguf-plugin``, a
  ``vllm.general_plugins`` entry point), which ggml types its GGUF layers take, and whether its kernels run on a CPU,
  cached per vLLM and plugin version.
- ``surface``: the server's command-line options and each architecture's implementation module, cached per vLLM
  version, for comparing two versions.
- ``gpu_specs``: the GPU a pre-flight is judged against: the known-GPU table, ``sm_89:24GiB`` specs, NVML's answer.
- ``environment``: what a run was tested on: engine versions, GPUs and driver, the harness's own version.
- ``__main__``: ``python -m harness.engine build|where|list|prune``, the ``vllm-compat engine`` command without the
  CLI's dependencies.

Standard library only at import (pynvml is loaded on use): ``make`` builds the engine before anything is installed.
"""

from __future__ import annotations

from harness.engine.env import (
    DEFAULT_VLLM_VERSION,
    ENV_VAR,
    Recipe,
    RecipeError,
    build,
    default_engine_python,
    find_environment,
    has_nvidia_gpu,
    recipe_for,
    resolve_engine_python,
    torchvision_for,
)
from harness.engine.environment import environment_record, gpu_inventory, harness_git_sha, recorded_versions
from harness.engine.gguf_support import (
    GGUF_PLUGIN,
    GgufSupport,
    gguf_cache_dir,
    gguf_support_from_json,
    load_gguf_support,
)
from harness.engine.gpu_specs import (
    KNOWN_GPUS,
    GpuSpec,
    GpuSpecError,
    detect_gpu,
    driver_reserve_bytes,
    nvml_reserved_bytes,
    parse_gpu,
    resolve_gpu,
)
from harness.engine.installed import (
    Dedupe,
    InstalledEngine,
    PruneDecision,
    installed_engines,
    plan_prune,
    remove_engine,
    seed_from_sibling,
    share_with_siblings,
)
from harness.engine.nvml import NO_GPU, nvml_init, nvml_shutdown, open_nvml, pynvml_module
from harness.engine.registry import EngineRegistry, Support, load_registry, registry_cache_dir
from harness.engine.rules import DtypeRule, EngineRules, load_rules, rules_cache_dir, rules_from_json
from harness.engine.scripts import EngineError, answer_line, run_engine_script
from harness.engine.surface import EngineSurface, OptionInfo, load_surface, surface_cache_dir, surface_from_json
from harness.engine.versions import engine_versions, vllm_distribution

__all__ = [
    "DEFAULT_VLLM_VERSION",
    "ENV_VAR",
    "GGUF_PLUGIN",
    "KNOWN_GPUS",
    "NO_GPU",
    "Dedupe",
    "DtypeRule",
    "EngineError",
    "EngineRegistry",
    "EngineRules",
    "EngineSurface",
    "GgufSupport",
    "GpuSpec",
    "GpuSpecError",
    "InstalledEngine",
    "OptionInfo",
    "PruneDecision",
    "Recipe",
    "RecipeError",
    "Support",
    "answer_line",
    "build",
    "default_engine_python",
    "detect_gpu",
    "driver_reserve_bytes",
    "engine_versions",
    "environment_record",
    "find_environment",
    "gguf_cache_dir",
    "gguf_support_from_json",
    "gpu_inventory",
    "harness_git_sha",
    "has_nvidia_gpu",
    "installed_engines",
    "load_gguf_support",
    "load_registry",
    "load_rules",
    "load_surface",
    "nvml_init",
    "nvml_reserved_bytes",
    "nvml_shutdown",
    "open_nvml",
    "parse_gpu",
    "plan_prune",
    "pynvml_module",
    "recipe_for",
    "recorded_versions",
    "registry_cache_dir",
    "remove_engine",
    "resolve_engine_python",
    "resolve_gpu",
    "rules_cache_dir",
    "rules_from_json",
    "run_engine_script",
    "seed_from_sibling",
    "share_with_siblings",
    "surface_cache_dir",
    "surface_from_json",
    "torchvision_for",
    "vllm_distribution",
]
