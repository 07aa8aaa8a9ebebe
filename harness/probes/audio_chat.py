"""audio_chat: /v1/chat/completions with an ``input_audio`` content part (base64 WAV), as audio chat models take it.

The same question is asked twice, without and with the audio: the audio must really reach the model (more prompt
tokens with it than without), and the answer must be a non-empty assistant message with consistent usage. For real
models (``semantic``) the answer must mention at least ``MIN_KEYWORDS`` of the spoken sentence's content words.
A text-only model answers the text-only question, then vLLM 0.32 refuses the audio part with HTTP 400
"<served name> is not a multimodal model": WRONG_TASK. A transcription-only model (Whisper) has no chat route at all:
HTTP 404, also WRONG_TASK. Never a pass, never a crash.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any

from harness.probes.audio import request, speech
from harness.probes.base import ProbeContext, ProbeResult, Recorder, check_usage, run_probe
from harness.probes.inputs.speech import Speech, normalize
from harness.probes.multimodal import chat_with_content
from harness.probes.streams import usage_of

USE_CASE = "audio_chat"
ENDPOINT = "/v1/chat/completions"
MAX_TOKENS = 48
QUESTION = "Listen to the audio and write down exactly what the speaker says."
KEYWORDS = ("quick", "brown", "fox", "jumps", "lazy", "dog")
MIN_KEYWORDS = 3


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


def audio_part(audio: Speech) -> dict[str, Any]:
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(audio.wav).decode(), "format": "wav"}}


def keywords_heard(text: str) -> list[str]:
    """The sentence's content words found in an answer ("foxes", "jumped" and "fox", "jumps" alike)."""
    stems = {_stem(word) for word in normalize(text)}
    return [word for word in KEYWORDS if _stem(word) in stems]


def _stem(word: str) -> str:
    return re.sub(r"(es|s|ed|ing)$", "", word)


def _create(ctx: ProbeContext, content: list[dict[str, Any]]) -> Any:
    return chat_with_content(ctx, content, MAX_TOKENS)


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    audio = speech()
    rec.check("audio_input", True, f"{audio.seconds:.2f} s, 16 kHz mono WAV from {audio.source}")
    question = {"type": "text", "text": QUESTION}
    without = request(rec, "text_only_request", lambda: _create(ctx, [question]), ENDPOINT)
    base_usage = usage_of(without.usage)

    sent = time.perf_counter()
    answer = request(rec, "request", lambda: _create(ctx, [audio_part(audio), question]), ENDPOINT)
    rec.timings["e2e_s"] = round(time.perf_counter() - sent, 4)
    if not rec.check("one_choice", bool(answer.choices), f"{len(answer.choices or [])} choices"):
        return
    message = answer.choices[0].message
    text = message.content or ""
    usage = usage_of(answer.usage)
    rec.usage.update(usage or {})
    rec.check("role_assistant", message.role == "assistant", f"role={message.role!r}")
    rec.check("content", bool(text.strip()), f"content={text[:80]!r}")
    check_usage(rec, "usage_consistent", usage)
    if usage is not None and base_usage is not None:
        with_audio, text_only = usage["prompt_tokens"], base_usage["prompt_tokens"]
        rec.check(
            "audio_tokens",
            with_audio > text_only,
            f"prompt_tokens {with_audio} with the audio vs {text_only} without"
            + ("" if with_audio > text_only else ": the audio never reached the model"),
        )
    if ctx.semantic:
        if not audio.spoken:
            rec.check("semantic", False, f"not checked: {audio.source}; an answer can only be judged against speech")
            return
        heard = keywords_heard(text)
        rec.check(
            "heard",
            len(heard) >= MIN_KEYWORDS,
            f"{len(heard)} of the words {list(KEYWORDS)} in the answer (need {MIN_KEYWORDS}): {text[:100]!r}",
        )
