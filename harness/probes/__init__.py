"""Stage 4, the probes: one module per use case, ``PROBES[use_case](ProbeContext) -> ProbeResult``; a verdict is
earned only by a probe that ran against a server.

Modules: ``base`` (the frozen result with named checks, the context, request plumbing), ``streams`` (the one reader of
streamed answers, shared with the latency measurement), ``multimodal`` (what the vision, video and audio_chat probes
share), one module per use case (chat, completions, stop_tokens, tools, vision, video, audio, audio_chat, embeddings,
tts, image_generation, structured_output, long_context, concurrency, reasoning, rerank, lora), ``server_api`` (vLLM's
/tokenize and /openapi.json beside the OpenAI API), and ``inputs/`` (the media and speech the harness makes itself). Two
probes of a server rather than a use case, for live endpoints (servers this run did not start): ``identity`` (/v1/models
must list the model; /version, /metrics recorded) and ``swaps`` (several models behind one URL, asked alternately: the
first request after a switch against the next).
"""

from __future__ import annotations

from collections.abc import Callable

from harness.probes import (
    audio,
    audio_chat,
    chat,
    completions,
    concurrency,
    embeddings,
    image_generation,
    long_context,
    lora,
    reasoning,
    rerank,
    stop_tokens,
    structured_output,
    tools,
    tts,
    video,
    vision,
)
from harness.probes.base import Check, EngineUnreachable, ProbeContext, ProbeResult
from harness.probes.identity import Identity, Listed, Refusal, check_identity, server_root
from harness.probes.streams import StreamRead, read_stream
from harness.probes.swaps import SwapTiming, measure_swaps, request_kind, swap_order

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
    structured_output.USE_CASE: structured_output.probe,
    long_context.USE_CASE: long_context.probe,
    concurrency.USE_CASE: concurrency.probe,
    reasoning.USE_CASE: reasoning.probe,
    rerank.USE_CASE: rerank.probe,
    lora.USE_CASE: lora.probe,
}

__all__ = [
    "PROBES",
    "Check",
    "EngineUnreachable",
    "Identity",
    "Listed",
    "ProbeContext",
    "ProbeResult",
    "Refusal",
    "StreamRead",
    "SwapTiming",
    "check_identity",
    "measure_swaps",
    "read_stream",
    "request_kind",
    "server_root",
    "swap_order",
]
