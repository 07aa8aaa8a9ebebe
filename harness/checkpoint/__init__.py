"""checkpoint (being assembled by its owner): fetch + pre-flight without a GPU."""

from __future__ import annotations

from harness.checkpoint.preflight import CheckpointError, PreflightReport, fetch_weights, preflight, resolve_model

__all__ = ["CheckpointError", "PreflightReport", "fetch_weights", "preflight", "resolve_model"]
