"""audio: speech to text through /v1/audio/transcriptions (the openai client's file upload).

A known sentence spoken by espeak-ng (harness.probes.inputs.speech) is uploaded with the language given explicitly
("en": a model without language detection needs it, and it spares Whisper a detection pass) at temperature 0.
Checks: the json answer's text is a string (non-empty when the audio has words), response_format text and
verbose_json answer too (verbose_json may be refused with HTTP 400 by models without segment timestamps: that is
reported, not failed), the zoo's exact transcript where the member has one, and for real models (``semantic``) a
word error rate at most ``WER_THRESHOLD``. Without espeak-ng the audio is a tone: protocol checks only, and a
semantic cell fails saying so.

A server whose model has no transcription task does not register the route at all: vLLM answers HTTP 404 Not Found,
which is WRONG_TASK here (a text model in an audio cell), not a crash and not a generic HTTP error.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.probes.base import ProbeContext, ProbeResult, Recorder, RequestFailed, error_body, run_probe, short
from harness.probes.inputs.speech import WER_THRESHOLD, Speech, synthesize, word_errors

USE_CASE = "audio"
LANGUAGE = "en"
ENDPOINT = "/v1/audio/transcriptions"
DURATION_TOLERANCE_S = 0.5
T = TypeVar("T")
# HTTP error bodies that say the model cannot take this kind of request (vLLM 0.32's wording for a text model given
# audio in chat). harness.diagnose has no signature for it yet; these make the probes' code right meanwhile.
ROUTE_ABSENT = re.compile(r'^\s*\{\s*"detail"\s*:\s*"Not Found"\s*\}\s*$')
WRONG_TASK_BODIES: tuple[re.Pattern[str], ...] = (re.compile(r"is not a multimodal model"),)


@functools.cache
def speech() -> Speech:
    """The probe's audio, synthesised once per process."""
    return synthesize()


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


def request(rec: Recorder, step: str, call: Callable[[], T], endpoint: str) -> T:
    """``rec.request``, except that the model's refusal of the API is WRONG_TASK: HTTP 404 (the route is absent:
    vLLM registers it only for models whose tasks include it) or a body in ``WRONG_TASK_BODIES``."""
    import openai

    code_before = rec.code
    try:
        return rec.request(step, call)
    except RequestFailed as failed:
        error = failed.__cause__
        if not isinstance(error, openai.APIStatusError) or rec.code not in ("HTTP_ERROR", code_before):
            raise  # diagnose already named a cause (or the request timed out)
        body = error_body(error)
        refusal = next((m for m in WRONG_TASK_BODIES if m.search(body)), None)
        # FastAPI's answer for a route that does not exist; vLLM's "The model `x` does not exist." (also 404) is not.
        route_absent = error.status_code == 404 and ROUTE_ABSENT.search(body) is not None
        if route_absent or refusal is not None:
            rec.checks.pop()  # the generic HTTP_ERROR check becomes the diagnosis
            rec.code = code_before
            what = "route absent" if refusal is None else "the model refuses it"
            rec.check(
                step,
                False,
                f"HTTP {error.status_code} on {endpoint} ({what}): {short(body, 160)}",
                code="WRONG_TASK",
                evidence=f"POST {endpoint} -> HTTP {error.status_code} {short(body, 200)}",
            )
        raise


def _transcribe(ctx: ProbeContext, audio: Speech, response_format: str) -> Any:
    create: Any = ctx.client.audio.transcriptions.create  # its overloads want a literal response_format
    return create(
        model=ctx.model,
        file=("speech.wav", audio.wav, "audio/wav"),
        language=LANGUAGE,
        temperature=0,
        response_format=response_format,
        timeout=ctx.timeout,
    )


def plain_text(answer: Any) -> tuple[str, bool]:
    """The text of a response_format=text answer, and whether the server sent JSON instead of plain text."""
    text = answer if isinstance(answer, str) else str(answer)
    try:
        data = json.loads(text)
    except ValueError:
        return text, False
    if isinstance(data, dict) and isinstance(data.get("text"), str):
        return data["text"], True
    return text, False


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    audio = speech()
    rec.check("audio_input", True, f"{audio.seconds:.2f} s, 16 kHz mono WAV from {audio.source}")
    sent = time.perf_counter()
    answer = request(rec, "request", lambda: _transcribe(ctx, audio, "json"), ENDPOINT)
    rec.timings["e2e_s"] = round(time.perf_counter() - sent, 4)
    text = getattr(answer, "text", None)
    if not rec.check("text_is_string", isinstance(text, str), f"text={text!r:.80}"):
        return
    assert isinstance(text, str)
    if audio.spoken:
        rec.check("text_nonempty", bool(text.strip()), f"text={text[:80]!r} for {audio.seconds:.1f} s of speech")
    if ctx.expected_answer is not None:
        rec.check("transcript", text.strip() == ctx.expected_answer, f"got {text!r}, expected {ctx.expected_answer!r}")
    if ctx.semantic:
        _semantic(rec, audio, text)

    as_text = request(rec, "format_text", lambda: _transcribe(ctx, audio, "text"), ENDPOINT)
    body, was_json = plain_text(as_text)
    note = ' (vLLM sends a JSON body {"text": ...} for response_format=text)' if was_json else ""
    rec.check(
        "format_text",
        body.strip() == text.strip(),
        f"text format gives {body[:60]!r}{note}"
        + ("" if body.strip() == text.strip() else f"; json format gave {text[:60]!r}"),
    )
    _verbose(ctx, rec, audio, text)


def _semantic(rec: Recorder, audio: Speech, text: str) -> None:
    if not audio.spoken:
        rec.check("semantic", False, f"not checked: {audio.source}; a transcript can only be judged against speech")
        return
    errors, words = word_errors(audio.text, text)
    rate = errors / words if words else 1.0
    rec.check(
        "wer",
        rate <= WER_THRESHOLD,
        f"WER {rate:.2f} ({errors} errors / {words} words; max {WER_THRESHOLD}): heard {text[:100]!r}, "
        f"said {audio.text!r}",
    )


@dataclass(frozen=True)
class _Refused:
    body: str


def _verbose(ctx: ProbeContext, rec: Recorder, audio: Speech, text: str) -> None:
    import openai

    def call() -> Any:
        try:
            return _transcribe(ctx, audio, "verbose_json")
        except openai.BadRequestError as error:
            body = error_body(error)
            if "verbose_json" in body:  # "Currently do not support verbose_json for <model>": an honest refusal
                return _Refused(body)
            raise

    verbose = request(rec, "format_verbose_json", call, ENDPOINT)
    if isinstance(verbose, _Refused):
        rec.check("format_verbose_json", True, f"refused as unsupported by this model: {short(verbose.body, 160)}")
        return
    problems: list[str] = []
    verbose_text = getattr(verbose, "text", None)
    duration = getattr(verbose, "duration", None)
    segments = getattr(verbose, "segments", None)
    if not isinstance(verbose_text, str):
        problems.append(f"text={verbose_text!r}")
    if not isinstance(duration, (int, float)) or abs(float(duration) - audio.seconds) > DURATION_TOLERANCE_S:
        problems.append(f"duration={duration!r}, audio is {audio.seconds:.2f} s")
    if segments is not None and not isinstance(segments, list):
        problems.append(f"segments is {type(segments).__name__}")
    if ctx.expected_answer is not None and isinstance(verbose_text, str) and verbose_text.strip() != text.strip():
        problems.append(f"text {verbose_text!r} differs from the json answer {text!r}")
    rec.check(
        "format_verbose_json",
        not problems,
        "; ".join(problems) or f"text {str(verbose_text)[:60]!r}, duration {duration}, {len(segments or [])} segments",
    )
