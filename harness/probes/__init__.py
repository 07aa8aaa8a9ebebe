"""One probe per use case: ``PROBES[use_case](ProbeContext) -> ProbeResult``."""

from __future__ import annotations

from collections.abc import Callable

from harness.probes import (
    audio,
    audio_chat,
    chat,
    completions,
    embeddings,
    image_generation,
    stop_tokens,
    tools,
    tts,
    video,
    vision,
)
from harness.probes.base import Check, EngineUnreachable, ProbeContext, ProbeResult

PROBES: dict[str, Callable[[ProbeContext], ProbeResult]] = {
    chat.USE_CASE: chat.probe,
    completions.USE_CASE: completions.probe,
    stop_tokens.USE_CASE: stop_tokens.probe,
    tools.USE_CASE: tools.probe,
    vision.USE_CASE: vision.probe,
    video.USE_CASE: video.probe,
    embeddings.USE_CASE: embeddings.probe,
    audio.USE_CASE: audio.probe,
    audio_chat.USE_CASE: audio_chat.probe,
    tts.USE_CASE: tts.probe,
    image_generation.USE_CASE: image_generation.probe,
}

__all__ = ["PROBES", "Check", "EngineUnreachable", "ProbeContext", "ProbeResult"]
