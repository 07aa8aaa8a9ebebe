"""Speech synthesis (espeak-ng, or an honest tone without it) and the word error rate the audio probes judge by."""

from __future__ import annotations

import io
import wave

import pytest

from harness.probes.inputs import speech
from harness.probes.inputs.speech import SENTENCE, normalize, synthesize, to_16k_mono, tone, wer, word_errors


def _format(wav: bytes) -> tuple[int, int, int, int]:
    with wave.open(io.BytesIO(wav)) as reader:
        return reader.getnchannels(), reader.getsampwidth(), reader.getframerate(), reader.getnframes()


@pytest.mark.skipif(speech.espeak_path() is None, reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_espeak_speaks_the_sentence_as_16k_mono_pcm() -> None:
    """With espeak-ng the sentence becomes a 16 kHz mono 16-bit WAV of a few seconds, marked as spoken."""
    audio = synthesize()
    channels, width, rate, frames = _format(audio.wav)
    assert (channels, width, rate) == (1, 2, 16000)
    assert 1.5 < frames / rate < 10
    assert audio.spoken and audio.text == SENTENCE and "espeak-ng" in audio.source


@pytest.mark.skipif(speech.espeak_path() is None, reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_synthesis_is_reproducible() -> None:
    """The same sentence gives the same bytes twice on one machine."""
    assert synthesize().wav == synthesize().wav


def test_without_espeak_the_fallback_is_a_tone_that_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without espeak-ng the audio is a tone marked not spoken, with the reason and the fix in its source."""
    monkeypatch.setattr(speech, "espeak_path", lambda: None)
    audio = synthesize()
    assert not audio.spoken and audio.text == ""
    assert "not installed" in audio.source and "apt-get install espeak-ng" in audio.source
    assert _format(audio.wav)[:3] == (1, 2, 16000)
    assert audio.seconds == pytest.approx(speech.TONE_SECONDS)


def test_resampling_keeps_the_duration_and_mixes_channels() -> None:
    """A 22.05 kHz stereo WAV becomes 16 kHz mono of the same length."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(22050)
        writer.writeframes(b"\x10\x00\x30\x00" * 22050)  # 1 s, left 16, right 48
    out = to_16k_mono(buffer.getvalue())
    channels, _, rate, frames = _format(out)
    assert (channels, rate) == (1, 16000) and abs(frames - 16000) <= 1
    with wave.open(io.BytesIO(out)) as reader:
        assert reader.readframes(1) == b"\x20\x00"  # the mean of both channels


def test_tone_is_not_silence() -> None:
    """The fallback tone has signal in it (a server must not see an empty file)."""
    with wave.open(io.BytesIO(tone("test").wav)) as reader:
        assert max(reader.readframes(200)) > 0


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("The quick, brown FOX!", ["the", "quick", "brown", "fox"]),
        ("twenty one dogs", ["21", "dogs"]),
        ("21 dogs", ["21", "dogs"]),
        ("one two three", ["1", "2", "3"]),
        ("three hundred five", ["305"]),
        ("It's 1,000 km", ["its", "1000", "km"]),
        ("Café déjà vu", ["cafe", "deja", "vu"]),
    ],
)
def test_normalize_is_lenient_on_case_punctuation_and_numbers(text: str, words: list[str]) -> None:
    """Normalisation lowers case, drops punctuation and accents, and writes number words as digits."""
    assert normalize(text) == words


def test_wer_counts_substitutions_deletions_and_insertions() -> None:
    """WER is word-level Levenshtein distance over the reference's word count."""
    assert wer(SENTENCE, " the quick brown fox jumps over the lazy dog") == 0.0
    assert word_errors(SENTENCE, "the quick brown fox jumped over the lazy dog") == (1, 9)  # substitution
    assert word_errors(SENTENCE, "the quick fox jumps over the lazy dog") == (1, 9)  # deletion
    assert word_errors(SENTENCE, "the very quick brown fox jumps over the lazy dog") == (1, 9)  # insertion
    assert wer(SENTENCE, "") == 1.0
    assert wer(SENTENCE, "Hello from the tiny zoo whisper.") > 0.7


def test_wer_of_an_empty_reference() -> None:
    """Against an empty reference only an empty transcript is right."""
    assert wer("", "") == 0.0
    assert wer("", "words") == 1.0
