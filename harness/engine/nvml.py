"""The one NVML opener: the pynvml module initialised, or None when this machine has no NVIDIA GPU to ask.

No library (nvidia-ml-py not installed), no driver and a broken install all mean the same here: no NVIDIA GPU, and
every figure NVML would give is reported as ``NO_GPU``, never as a made-up zero. NVML counts its initialisations, so
every successful ``nvml_init`` is paired with exactly one ``nvml_shutdown``: an extra shutdown would close NVML under
another user in this process (a second server's sampler). Standard library only at import: pynvml is loaded on use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

NO_GPU = "n/a (no NVIDIA GPU)"


def pynvml_module() -> Any:
    """The pynvml module, or None when nvidia-ml-py is not installed."""
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def nvml_init(module: Any = None) -> Any:
    """``module`` (default: pynvml) after ``nvmlInit()``, or None when there is no library or no driver.

    Tests pass a stand-in module with the same functions."""
    nvml = module if module is not None else pynvml_module()
    if nvml is None:
        return None
    try:
        nvml.nvmlInit()
    except Exception:  # NVMLError: no driver / library; anything else from a broken install means the same here
        return None
    return nvml


def nvml_shutdown(nvml: Any) -> None:
    """Undo one successful ``nvml_init``; an error while closing changes nothing for the caller."""
    with contextlib.suppress(Exception):
        nvml.nvmlShutdown()


@contextlib.contextmanager
def open_nvml(module: Any = None) -> Iterator[Any]:
    """``with open_nvml() as nvml:`` -- the initialised module (None without a GPU), shut down on leaving."""
    nvml = nvml_init(module)
    try:
        yield nvml
    finally:
        if nvml is not None:
            nvml_shutdown(nvml)


__all__ = ["NO_GPU", "nvml_init", "nvml_shutdown", "open_nvml", "pynvml_module"]
