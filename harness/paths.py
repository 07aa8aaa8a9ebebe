"""The one cache root of the harness, and the hub cache it reads: every cached thing lives below these.

``$VLLM_COMPAT_CACHE``, else ``$XDG_CACHE_HOME/vllm-compat``, else ``~/.cache/vllm-compat``. Read at call time, never
at import: tests and users change the environment between calls.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_VAR = "VLLM_COMPAT_CACHE"


def user_cache_home() -> Path:
    """``$XDG_CACHE_HOME``, else ``~/.cache`` (the XDG base directory rule huggingface_hub and vLLM follow too)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()


def cache_root() -> Path:
    """Where engines, the engine registry cache and the zoo live."""
    explicit = os.environ.get(CACHE_VAR)
    return Path(explicit).expanduser() if explicit else user_cache_home() / "vllm-compat"


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment at call time (huggingface_hub reads it once, at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return user_cache_home() / "huggingface" / "hub"


__all__ = ["CACHE_VAR", "cache_root", "hub_cache_dir", "user_cache_home"]
