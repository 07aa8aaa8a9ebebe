"""vllm-compat: tells the truth about which models work on vLLM."""

from __future__ import annotations

__version__ = "0.1.0"
