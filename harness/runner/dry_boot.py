"""The dry boot: vLLM started with ``--load-format dummy`` on the checkpoint's real config, tokenizer and flags, before
any weight byte is fetched, then stopped.

vLLM's dummy loader (vllm/model_executor/model_loader/dummy_loader.py) builds the model from config.json and fills
its parameters with random values instead of reading weight files, so architecture, flag, dtype, quantisation,
parallelism, memory and KV-cache failures show up in the time of a boot, with their root cause, instead of after a
download of up to hundreds of GB. Weight-file failures (names, corruption, missing shards) are not seen by it: the
real boot still decides those.

When it runs (``wants_dry_boot``): always with ``--dry-boot``; else as the matrix's ``dry_boot:`` says; else (the
default) for hub models whose weights are not in the HF cache yet -- a local directory or a zoo member has nothing
to download, so a dry boot would only double its boot time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from harness.checkpoint import CheckpointError, resolve_model
from harness.matrix import ModelSpec
from harness.server import BootError, VllmServer
from harness.zoo import zoo_member_name

DRY_BOOT_FLAGS: Mapping[str, Any] = {"load-format": "dummy"}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


class DryBootError(BootError):
    """The dry boot failed: the cells fail with its diagnosis, and no weight was fetched."""

    stage = "dry_boot"


def weights_cached(model: ModelSpec) -> bool:
    """Whether a hub model's weight files are already in the HF cache (then a dry boot saves nothing)."""
    try:
        path = resolve_model(model.id, revision=model.revision, offline=True)
    except CheckpointError:
        return False  # not even the small files are cached
    return any(p.suffix in WEIGHT_SUFFIXES and p.exists() for p in path.rglob("*"))


def wants_dry_boot(model: ModelSpec, forced: bool) -> bool:
    """``--dry-boot`` forces it; else the matrix's ``dry_boot:``; else hub models whose weights are not cached."""
    if forced:
        return True
    if model.dry_boot is not None:
        return model.dry_boot
    if model.path is not None or zoo_member_name(model.id) is not None:
        return False
    return not weights_cached(model)


def dry_boot(server: VllmServer) -> float:
    """Start ``server`` (the cell's server on ``DRY_BOOT_FLAGS``, named ``<key>-dry-boot`` so it logs apart), stop it,
    and answer the seconds to ready; a failure raises ``DryBootError`` with the diagnosis of its log."""
    started = time.monotonic()
    try:
        server.start()
    except BootError as error:
        raise DryBootError(
            name=error.name,
            exit_code=error.exit_code,
            elapsed=error.elapsed,
            diagnosis=error.diagnosis,
            log_tail=error.log_tail,
            log_path=error.log_path,
            attempts=error.attempts,
        ) from error
    finally:
        if server.running:
            server.stop()
    return server.boot_seconds or time.monotonic() - started


__all__ = ["DRY_BOOT_FLAGS", "DryBootError", "dry_boot", "wants_dry_boot", "weights_cached"]
