"""Speech for the audio probes: a known sentence spoken by espeak-ng, and the word error rate of a transcript.

espeak-ng (Debian/Ubuntu package ``espeak-ng``) runs locally, so the audio is the same on every run of one machine
and never comes from the network. Where it is not installed the probes get a sine tone instead: enough for the
protocol checks (the request is accepted and answered), never for a semantic one, and ``Speech.spoken`` says which.
"""

from __future__ import annotations

import io
import math
import re
import shutil
import struct
import subprocess
import tempfile
import unicodedata
import wave
from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE = 16000
SENTENCE = "The quick brown fox jumps over the lazy dog."
WER_THRESHOLD = 0.35  # lenient: small real models mishear a word or two of a synthetic voice
TONE_SECONDS = 2.0
TONE_HZ = 440.0
ESPEAK = "espeak-ng"

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
_ONES += "seventeen eighteen nineteen"
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety"
_NUMBER_WORDS: dict[str, int] = {word: i for i, word in enumerate(_ONES.split())}
_NUMBER_WORDS |= {word: 20 + 10 * i for i, word in enumerate(_TENS.split())}
_NUMBER_WORDS |= {"hundred": 100, "thousand": 1000}


@dataclass(frozen=True)
class Speech:
    """A 16 kHz mono 16-bit WAV and what it says: ``spoken`` is False for the tone fallback (no words in it)."""

    wav: bytes
    text: str  # the sentence spoken; "" for the tone
    spoken: bool
    source: str  # how it was made, for check details

    @property
    def seconds(self) -> float:
        with wave.open(io.BytesIO(self.wav)) as reader:
            return float(reader.getnframes() / reader.getframerate())


def espeak_path() -> str | None:
    return shutil.which(ESPEAK)


def synthesize(text: str = SENTENCE, *, voice: str = "en-us", speed: int = 150) -> Speech:
    """The sentence spoken by espeak-ng at 16 kHz mono; a tone (``spoken=False``) where espeak-ng is absent or fails."""
    binary = espeak_path()
    if binary is None:
        return tone(f"{ESPEAK} not installed (apt-get install espeak-ng): a {TONE_HZ:.0f} Hz tone, no words")
    with tempfile.TemporaryDirectory(prefix="vllm-compat-speech-") as tmp:
        raw = Path(tmp) / "speech.wav"
        done = subprocess.run(
            [binary, "-v", voice, "-s", str(speed), "-w", str(raw), text],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0 or not raw.exists():
            return tone(f"{ESPEAK} failed (exit {done.returncode}: {done.stderr.strip()[:200]}): a tone, no words")
        data = raw.read_bytes()
    wav = to_16k_mono(data)
    return Speech(wav=wav, text=text, spoken=True, source=f"{ESPEAK} voice {voice}: {text!r}")


def tone(reason: str, seconds: float = TONE_SECONDS, hz: float = TONE_HZ) -> Speech:
    count = int(seconds * SAMPLE_RATE)
    samples = [int(0.3 * 32767 * math.sin(2 * math.pi * hz * i / SAMPLE_RATE)) for i in range(count)]
    return Speech(wav=_wav(samples, SAMPLE_RATE), text="", spoken=False, source=reason)


def _wav(samples: list[int], rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return buffer.getvalue()


def to_16k_mono(data: bytes) -> bytes:
    """A 16-bit PCM WAV resampled (linear interpolation) to 16 kHz mono: espeak-ng writes 22.05 kHz."""
    with wave.open(io.BytesIO(data)) as reader:
        channels, width, rate = reader.getnchannels(), reader.getsampwidth(), reader.getframerate()
        frames = reader.readframes(reader.getnframes())
    if width != 2:
        raise ValueError(f"expected 16-bit PCM, got {8 * width}-bit")
    values = struct.unpack(f"<{len(frames) // 2}h", frames)
    mono = [sum(values[i : i + channels]) / channels for i in range(0, len(values), channels)]
    if rate == SAMPLE_RATE:
        return _wav([int(v) for v in mono], SAMPLE_RATE)
    count = int(len(mono) * SAMPLE_RATE / rate)
    out: list[int] = []
    for i in range(count):
        position = i * rate / SAMPLE_RATE
        left = int(position)
        right = min(left + 1, len(mono) - 1)
        fraction = position - left
        out.append(round(mono[left] * (1 - fraction) + mono[right] * fraction))
    return _wav(out, SAMPLE_RATE)


# ---------------------------------------------------------------------------------------------------------------------
# word error rate


def normalize(text: str) -> list[str]:
    """Lower case, accents and punctuation removed, number words as digits ("twenty one" and "21" agree)."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,000 -> 1000
    text = re.sub(r"[^\w\s']|_", " ", text).replace("'", "")
    return _numbers_as_digits(text.split())


def _numbers_as_digits(words: list[str]) -> list[str]:
    """Runs of number words as numbers: "twenty one" -> "21", "one hundred five" -> "105", "one two" -> "1 2"."""
    out: list[str] = []
    current: int | None = None
    for word in words:
        number = _NUMBER_WORDS.get(word)
        if number is None:
            if current is not None:
                out.append(str(current))
                current = None
            out.append(word)
        elif number >= 100:
            current = number if current is None else current * number
        elif current is not None and _takes(current, number):
            current += number
        else:
            if current is not None:
                out.append(str(current))
            current = number
    if current is not None:
        out.append(str(current))
    return out


def _takes(current: int, number: int) -> bool:
    """Whether ``number`` continues ``current`` ("twenty" + "one", "hundred" + "five") rather than starting anew."""
    if current >= 100 and current % 100 == 0:
        return True
    return number < 10 and current % 100 >= 20 and current % 10 == 0


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference words): word-level Levenshtein on normalised text."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, other in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
        previous = current
    return previous[-1], len(ref)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: errors / reference words (an empty reference: 0.0 for an empty hypothesis, else 1.0)."""
    errors, words = word_errors(reference, hypothesis)
    if words == 0:
        return 0.0 if errors == 0 else 1.0
    return errors / words
