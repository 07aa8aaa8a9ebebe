"""tts: POST /v1/audio/speech must answer real audio: an audio/* content type and a WAV (or MP3) that parses.

No vLLM version serves this API: the cell reaches this probe only when the matrix points it at an external
OpenAI-compatible endpoint (harness/endpoints.py). The audio is checked byte by byte without any audio library: a
RIFF/WAVE header with a PCM or float format and a data chunk with whole frames, or a chain of MPEG Layer III frames,
then a plausible duration for one short sentence and, for PCM, that it is not silence.
"""

from __future__ import annotations

import math
import struct
import sys
import time
from array import array
from dataclasses import dataclass

from harness.probes.base import ProbeContext, ProbeResult, Recorder, run_probe

USE_CASE = "tts"
SENTENCE = "The quick brown fox jumps over the lazy dog."
DEFAULT_VOICE = "alloy"
DEFAULT_FORMAT = "wav"
# One sentence of nine words is about 2-4 s of speech; the bounds only catch clicks and runaway generation.
MIN_DURATION_S = 0.3
MAX_DURATION_S = 30.0
SILENCE_RMS = 1e-3  # full scale = 1.0; below this (-60 dBFS) the "speech" is silence

_WAVE_PCM, _WAVE_FLOAT, _WAVE_EXTENSIBLE = 1, 3, 0xFFFE
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # streamed WAV headers are written before the length is known
# MPEG audio Layer III tables, by version: 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5.
_BITRATES_KBPS = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_MIN_MP3_FRAMES = 2  # one 0xFFE sync pattern can occur by chance in any binary; a chain of frames cannot


class AudioError(ValueError):
    """The body is not the audio it claims to be; the message says what was found instead."""


@dataclass(frozen=True)
class AudioInfo:
    format: str  # "wav" | "mp3"
    sample_rate: int
    channels: int
    frames: int  # sample frames (wav) or MPEG frames (mp3)
    duration_s: float
    encoding: str  # "pcm16", "float32", "mpeg1-layer3"...
    rms: float | None = None  # PCM/float WAV: loudness on a 0..1 full scale; None where not measured
    note: str = ""

    def summary(self) -> str:
        loud = f", rms {self.rms:.4f}" if self.rms is not None else ""
        note = f" ({self.note})" if self.note else ""
        return (
            f"{self.format} {self.encoding} {self.sample_rate} Hz x{self.channels}, {self.frames} frames, "
            f"{self.duration_s:.2f} s{loud}{note}"
        )


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    fmt = str(ctx.flags.get("response_format") or DEFAULT_FORMAT)
    voice = str(ctx.flags.get("voice") or DEFAULT_VOICE)
    sent = time.perf_counter()
    raw = rec.request(
        "request",
        lambda: ctx.client.audio.speech.with_raw_response.create(
            model=ctx.model,
            voice=voice,
            input=SENTENCE,
            response_format=fmt,  # type: ignore[arg-type]
            timeout=ctx.timeout,
        ),
    )
    body: bytes = raw.parse().content
    rec.timings["e2e_s"] = round(time.perf_counter() - sent, 4)
    rec.check("http_200", raw.status_code == 200, f"HTTP {raw.status_code}")
    content_type = str(raw.headers.get("content-type", ""))
    rec.check("content_type_audio", content_type.lower().startswith("audio/"), f"content-type {content_type!r}")
    try:
        info = parse_audio(body, fmt)
    except AudioError as error:
        rec.check(f"{fmt}_parses", False, f"{len(body)} bytes: {error}", evidence=repr(body[:64]))
        return
    rec.check(f"{fmt}_parses", True, info.summary())
    rec.check("has_audio", info.frames > 0, f"{info.frames} frames")
    rec.check(
        "duration_plausible",
        MIN_DURATION_S <= info.duration_s <= MAX_DURATION_S,
        f"{info.duration_s:.2f} s for a {len(SENTENCE.split())}-word sentence "
        f"(need {MIN_DURATION_S}-{MAX_DURATION_S} s)",
    )
    if info.rms is not None:
        rec.check("not_silent", info.rms >= SILENCE_RMS, f"rms {info.rms:.5f} (silence below {SILENCE_RMS})")


def parse_audio(data: bytes, expected: str) -> AudioInfo:
    """Parse ``data`` as the format asked for; when it is something else, say what it looks like."""
    parsers = {"wav": parse_wav, "mp3": parse_mp3}
    if expected not in parsers:
        raise AudioError(f"the probe cannot verify {expected!r} audio (only wav, mp3)")
    try:
        return parsers[expected](data)
    except AudioError as error:
        seen = sniff(data)
        if seen and seen != expected:
            raise AudioError(f"{error} (the body looks like {seen}, {expected} was asked for)") from None
        raise


def sniff(data: bytes) -> str:
    """A guess at what a body is, for error messages."""
    head = data[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    if head[:4] == b"OggS":
        return "ogg/opus"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:1] in (b"{", b"["):
        return "JSON"
    if head.lstrip()[:1] == b"<":
        return "HTML/XML"
    return ""


def parse_wav(data: bytes) -> AudioInfo:
    """RIFF/WAVE with a fmt chunk (PCM, float or extensible) before a data chunk of whole frames."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError(f"no RIFF/WAVE header (first bytes {data[:12]!r})")
    fmt: tuple[int, int, int, int, int] | None = None  # format, channels, rate, block_align, bits
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        start = pos + 8
        if chunk_id == b"fmt ":
            if size < 16 or start + 16 > len(data):
                raise AudioError(f"fmt chunk of {size} bytes, need at least 16")
            tag, channels, rate, _byte_rate, align, bits = struct.unpack_from("<HHIIHH", data, start)
            if tag == _WAVE_EXTENSIBLE and size >= 40 and start + 26 <= len(data):
                tag = struct.unpack_from("<H", data, start + 24)[0]  # the sub-format GUID starts with the tag
            fmt = (tag, channels, rate, align, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError("data chunk before any fmt chunk")
            available = len(data) - start
            note = ""
            if size in _UNKNOWN_SIZES:
                note, size = "streamed header: length taken from the body", available
            elif size > available:
                raise AudioError(f"truncated: the data chunk declares {size} bytes, the body has {available}")
            return _wav_info(fmt, data[start : start + size], note)
        pos = start + size + (size & 1)  # chunks are padded to even sizes
    raise AudioError("no data chunk" if fmt is not None else "no fmt chunk")


def _wav_info(fmt: tuple[int, int, int, int, int], samples: bytes, note: str) -> AudioInfo:
    tag, channels, rate, align, bits = fmt
    if tag not in (_WAVE_PCM, _WAVE_FLOAT):
        raise AudioError(f"WAVE format tag {tag:#06x}, not PCM (1) or float (3)")
    if channels < 1 or not 1000 <= rate <= 384000 or align < 1 or bits not in (8, 16, 24, 32, 64):
        raise AudioError(f"implausible fmt: {channels} channels, {rate} Hz, block align {align}, {bits} bits")
    if align != channels * bits // 8:
        raise AudioError(f"block align {align} != {channels} channels x {bits} bits / 8")
    frames = len(samples) // align
    encoding = f"float{bits}" if tag == _WAVE_FLOAT else f"pcm{bits}"
    rms = _rms(samples[: frames * align], tag, bits)
    return AudioInfo("wav", rate, channels, frames, frames / rate, encoding, rms, note)


def _rms(samples: bytes, tag: int, bits: int) -> float | None:
    """Loudness on a 0..1 scale; None for the encodings Python's array cannot read (24-bit)."""
    if tag == _WAVE_FLOAT:
        codes = {32: ("f", 1.0), 64: ("d", 1.0)}
    else:
        codes = {8: ("B", 128.0), 16: ("h", 32768.0), 32: ("i", 2147483648.0)}
    if bits not in codes or not samples:
        return None
    code, scale = codes[bits]
    values = array(code)
    values.frombytes(samples[: len(samples) - len(samples) % values.itemsize])
    if sys.byteorder == "big" and values.itemsize > 1:
        values.byteswap()  # WAV is little-endian
    offset = 128.0 if code == "B" else 0.0  # 8-bit PCM is unsigned
    total = math.fsum(((v - offset) / scale) ** 2 for v in values)
    return math.sqrt(total / len(values)) if values else None


def parse_mp3(data: bytes) -> AudioInfo:
    """An optional ID3v2 tag, then a chain of at least two MPEG Layer III frames."""
    pos = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F)
        pos = 10 + size + (10 if data[5] & 0x10 else 0)
    first = _frame(data, pos)
    if first is None:
        raise AudioError(f"no MPEG Layer III frame sync at byte {pos} (bytes there {data[pos : pos + 4]!r})")
    version, rate, channels, _length, per_frame = first
    frames = 0
    while pos < len(data):
        frame = _frame(data, pos)
        if frame is None or pos + frame[3] > len(data):
            break  # a trailing ID3v1 tag, padding, or a cut-off last frame
        frames += 1
        pos += frame[3]
    if frames < _MIN_MP3_FRAMES:
        raise AudioError(f"{frames} whole MPEG frame(s); a real stream chains at least {_MIN_MP3_FRAMES}")
    name = {3: "mpeg1", 2: "mpeg2", 0: "mpeg2.5"}[version]
    return AudioInfo("mp3", rate, channels, frames, frames * per_frame / rate, f"{name}-layer3")


def _frame(data: bytes, pos: int) -> tuple[int, int, int, int, int] | None:
    """(version, sample rate, channels, frame length, samples per frame) of the Layer III header at pos, or None."""
    if pos + 4 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return None
    b1, b2, b3 = data[pos + 1], data[pos + 2], data[pos + 3]
    version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
    bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None  # reserved version, not Layer III, free-format / bad bitrate, reserved rate
    bitrate = _BITRATES_KBPS[3 if version == 3 else 2][bitrate_index] * 1000
    rate = _SAMPLE_RATES[version][rate_index]
    per_frame = 1152 if version == 3 else 576
    length = per_frame // 8 * bitrate // rate + padding
    return version, rate, 1 if b3 >> 6 == 3 else 2, length, per_frame
