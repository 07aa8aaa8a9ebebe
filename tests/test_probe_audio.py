"""The audio and audio_chat probes against a mocked OpenAI-compatible API: every check can fail for its reason."""

from __future__ import annotations

import base64
import json
import re
import socket
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import openai
import pytest

from harness.probes import audio, audio_chat
from harness.probes.base import EngineUnreachable, ProbeContext, ProbeResult
from harness.probes.inputs import speech
from harness.probes.inputs.speech import SENTENCE

ANSWER = "Hello from the tiny zoo whisper."
# Recorded from vLLM 0.32 (CPU) answering tiny-whisper: response_format=text still gets a JSON body.
VLLM_TEXT_BODY = '{"text":"Hello from the tiny zoo whisper.","usage":{"type":"duration","seconds":4}}'
VERBOSE_REFUSED = (
    '{"error":{"message":"Currently do not support verbose_json for m","type":"BadRequestError","code":400}}'
)
NOT_FOUND = '{"detail":"Not Found"}'


def _field(body: bytes, name: str) -> str | None:
    match = re.search(rb'name="' + name.encode() + rb'"\r\n\r\n(.*?)\r\n--', body, re.S)
    return match.group(1).decode() if match else None


@dataclass
class FakeTranscriptions:
    """Answers /v1/audio/transcriptions (and chat for audio_chat) like vLLM, with knobs to break each property."""

    text: str = ANSWER
    text_body: str | None = VLLM_TEXT_BODY  # None: plain text, as OpenAI sends it
    duration: float | None = None  # default: the probe audio's length
    verbose_status: int | None = None
    verbose_body: str = ""
    status: int | None = None
    body: str = ""
    prompt_tokens: tuple[int, int] = (20, 140)  # without, with audio
    chat_text: str = "The quick brown fox jumps over the lazy dog."
    chat_status: int | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/chat/completions"):
            return self._chat(json.loads(request.content))
        content = request.read()
        fields = {name: _field(content, name) for name in ("model", "language", "temperature", "response_format")}
        self.requests.append({"path": request.url.path, **fields, "wav": b"RIFF" in content})
        if self.status is not None:
            return httpx.Response(self.status, text=self.body, headers={"content-type": "application/json"})
        form = fields["response_format"]
        if form == "text":
            body = self.text_body if self.text_body is not None else self.text
            return httpx.Response(200, text=body, headers={"content-type": "application/json"})
        if form == "verbose_json":
            if self.verbose_status is not None:
                return httpx.Response(self.verbose_status, text=self.verbose_body)
            seconds = audio.speech().seconds if self.duration is None else self.duration
            return httpx.Response(
                200,
                json={"text": self.text, "language": "en", "duration": seconds, "segments": [], "words": None},
            )
        return httpx.Response(200, json={"text": self.text, "usage": {"type": "duration", "seconds": 4}})

    def _chat(self, payload: dict[str, Any]) -> httpx.Response:
        content = payload["messages"][0]["content"]
        has_audio = any(part["type"] == "input_audio" for part in content)
        self.requests.append({"path": "/v1/chat/completions", "content": content})
        if has_audio and self.chat_status is not None:
            return httpx.Response(self.chat_status, text=self.body, headers={"content-type": "application/json"})
        prompt = self.prompt_tokens[1] if has_audio else self.prompt_tokens[0]
        return httpx.Response(
            200,
            json={
                "id": "c-1",
                "object": "chat.completion",
                "created": 1,
                "model": payload["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": self.chat_text}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": prompt, "completion_tokens": 9, "total_tokens": prompt + 9},
            },
        )


def context(api: FakeTranscriptions, **overrides: Any) -> ProbeContext:
    http_client = cast(Any, httpx.Client(transport=httpx.MockTransport(api)))
    client = openai.OpenAI(base_url="http://engine.test/v1", api_key="k", max_retries=0, http_client=http_client)
    options: dict[str, Any] = {
        "client": client,
        "model": "tiny-whisper-0123",
        "semantic": False,
        "timeout": 5.0,
        "end_of_turn": None,
        "eos_token_ids": (),
        "eos_mismatch_predicted": False,
    }
    return ProbeContext(**(options | overrides))


def failed(result: ProbeResult) -> list[str]:
    return [check.name for check in result.checks if not check.passed]


def test_a_working_transcription_passes_with_every_format() -> None:
    """json, text and verbose_json all answer the zoo transcript: the probe passes and says vLLM's text is JSON."""
    api = FakeTranscriptions()
    result = audio.probe(context(api, expected_answer=ANSWER))
    assert result.passed, result.message
    assert [r["response_format"] for r in api.requests] == ["json", "text", "verbose_json"]
    first = api.requests[0]
    assert (first["model"], first["language"], first["temperature"], first["wav"]) == (
        "tiny-whisper-0123",
        "en",
        "0",
        True,
    )
    detail = next(c.detail for c in result.checks if c.name == "format_text")
    assert "JSON body" in detail
    assert result.timings["e2e_s"] >= 0


def test_plain_text_format_is_accepted_as_openai_sends_it() -> None:
    """A plain-text body for response_format=text passes without the JSON note."""
    result = audio.probe(context(FakeTranscriptions(text_body=None), expected_answer=ANSWER))
    assert result.passed, result.message
    assert "JSON" not in next(c.detail for c in result.checks if c.name == "format_text")


def test_text_format_disagreeing_with_json_fails() -> None:
    """response_format=text must carry the same transcript as json."""
    result = audio.probe(context(FakeTranscriptions(text_body="something else")))
    assert failed(result) == ["format_text"]


def test_route_absent_is_wrong_task_not_a_crash() -> None:
    """HTTP 404 on /v1/audio/transcriptions (a text model's server) is WRONG_TASK with the endpoint as evidence."""
    result = audio.probe(context(FakeTranscriptions(status=404, body=NOT_FOUND)))
    assert not result.passed and result.code == "WRONG_TASK"
    assert failed(result) == ["request"]
    assert "/v1/audio/transcriptions" in result.evidence and "404" in result.evidence


def test_unknown_model_name_is_not_wrong_task() -> None:
    """vLLM's 404 for a model name it does not serve stays an HTTP error: the route exists."""
    body = '{"error":{"message":"The model `x` does not exist.","type":"NotFoundError","param":"model","code":404}}'
    result = audio.probe(context(FakeTranscriptions(status=404, body=body)))
    assert result.code == "HTTP_ERROR"


def test_transcriptions_api_refusal_is_wrong_task() -> None:
    """vLLM's 'The model does not support Transcriptions API' body is WRONG_TASK (through diagnose)."""
    body = '{"error":{"message":"The model does not support Transcriptions API","code":500}}'
    result = audio.probe(context(FakeTranscriptions(status=500, body=body)))
    assert result.code == "WRONG_TASK"


def test_empty_transcript_of_speech_fails() -> None:
    """An empty transcript of audio with words in it fails text_nonempty."""
    result = audio.probe(context(FakeTranscriptions(text="", text_body=None)))
    assert "text_nonempty" in failed(result)


def test_zoo_transcript_must_be_exact() -> None:
    """A zoo member's transcript is compared exactly with its known answer."""
    result = audio.probe(context(FakeTranscriptions(text="Hello.", text_body=None), expected_answer=ANSWER))
    assert failed(result) == ["transcript"]


@pytest.mark.skipif(speech.espeak_path() is None, reason="espeak-ng is not installed")
@pytest.mark.parametrize(
    ("heard", "passes"),
    [
        (" The quick brown fox jumps over the lazy dog.", True),  # Whisper-style: leading space, punctuation
        (" The quick brown fox jumped over the lazy dog.", True),  # one substitution: WER 0.11
        (" A quick brown box jumped over a crazy dog.", False),  # WER 0.56
        (" Thank you.", False),  # the classic hallucination on noise
    ],
)
def test_semantic_transcripts_are_judged_by_wer(heard: str, passes: bool) -> None:
    """For real models the transcript's WER against the spoken sentence must be at most the threshold."""
    result = audio.probe(context(FakeTranscriptions(text=heard, text_body=None), semantic=True))
    assert result.passed is passes, result.message
    wer_check = next(c for c in result.checks if c.name == "wer")
    assert "WER" in wer_check.detail and SENTENCE in wer_check.detail


def test_semantic_without_speech_fails_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the tone fallback a semantic cell fails its semantic check with the reason; it never passes silently."""
    monkeypatch.setattr(audio, "speech", lambda: speech.tone("espeak-ng not installed (apt-get install espeak-ng)"))
    result = audio.probe(context(FakeTranscriptions(text="", text_body=None), semantic=True))
    assert failed(result) == ["semantic"]
    assert "espeak-ng not installed" in result.message
    assert not any(c.name == "text_nonempty" for c in result.checks)  # a tone may rightly give no words


def test_protocol_only_with_a_tone_passes_and_names_the_tone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without espeak-ng a protocol-only cell still runs, and its audio_input check says it was a tone."""
    monkeypatch.setattr(audio, "speech", lambda: speech.tone("espeak-ng not installed"))
    result = audio.probe(context(FakeTranscriptions(text="", text_body=None)))
    assert result.passed, result.message
    assert (
        "tone" in next(c.detail for c in result.checks if c.name == "audio_input")
        or "not installed" in result.checks[0].detail
    )


def test_verbose_json_refusal_is_reported_not_failed() -> None:
    """A model without segment timestamps refusing verbose_json with HTTP 400 is recorded as such, not failed."""
    result = audio.probe(context(FakeTranscriptions(verbose_status=400, verbose_body=VERBOSE_REFUSED)))
    assert result.passed, result.message
    assert "refused" in next(c.detail for c in result.checks if c.name == "format_verbose_json")


def test_verbose_json_server_error_fails() -> None:
    """Any other verbose_json error fails that check."""
    result = audio.probe(context(FakeTranscriptions(verbose_status=500, verbose_body='{"error":"boom"}')))
    assert failed(result) == ["format_verbose_json"]


def test_verbose_json_duration_must_match_the_audio() -> None:
    """verbose_json's duration must be the audio's length."""
    result = audio.probe(context(FakeTranscriptions(duration=30.0)))
    assert failed(result) == ["format_verbose_json"]
    assert "duration=30.0" in result.message


def test_unreachable_engine_raises_for_the_runner() -> None:
    """A refused connection raises EngineUnreachable (the runner asks whether the engine died)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
    ctx = context(FakeTranscriptions())
    with pytest.raises(EngineUnreachable):
        audio.probe(ProbeContext(**{**ctx.__dict__, "client": client}))


# ---- audio_chat --------------------------------------------------------------------------------------------------


def test_audio_chat_passes_when_the_audio_adds_prompt_tokens() -> None:
    """An answer with more prompt tokens with the audio than without passes; the part is a base64 WAV."""
    api = FakeTranscriptions()
    result = audio_chat.probe(context(api))
    assert result.passed, result.message
    part = next(p for p in api.requests[-1]["content"] if p["type"] == "input_audio")
    assert part["input_audio"]["format"] == "wav"
    assert base64.b64decode(part["input_audio"]["data"])[:4] == b"RIFF"
    assert [len(r["content"]) for r in api.requests] == [1, 2]  # text only, then audio + text


def test_audio_chat_fails_when_the_audio_never_reached_the_model() -> None:
    """Equal prompt tokens with and without the audio fail audio_tokens."""
    result = audio_chat.probe(context(FakeTranscriptions(prompt_tokens=(20, 20))))
    assert failed(result) == ["audio_tokens"]


def test_audio_chat_empty_answer_fails() -> None:
    """An empty answer fails content."""
    result = audio_chat.probe(context(FakeTranscriptions(chat_text="")))
    assert "content" in failed(result)


@pytest.mark.skipif(speech.espeak_path() is None, reason="espeak-ng is not installed")
def test_audio_chat_semantic_needs_the_spoken_words() -> None:
    """For real models the answer must contain enough of the sentence's content words."""
    heard = audio_chat.probe(context(FakeTranscriptions(chat_text="A fox jumped over a dog."), semantic=True))
    assert heard.passed, heard.message
    deaf = audio_chat.probe(context(FakeTranscriptions(chat_text="I cannot hear audio."), semantic=True))
    assert failed(deaf) == ["heard"]


def test_keywords_are_matched_leniently() -> None:
    """Plural and case differences still count as heard."""
    assert audio_chat.keywords_heard("QUICK brown foxes jump; dogs.") == ["quick", "brown", "fox", "jumps", "dog"]


def test_text_model_refusing_audio_in_chat_is_wrong_task() -> None:
    """vLLM's HTTP 400 'is not a multimodal model' for the audio part is WRONG_TASK, after the text-only turn passed."""
    body = '{"error":{"message":"co is not a multimodal model","type":"BadRequestError","param":null,"code":400}}'
    result = audio_chat.probe(context(FakeTranscriptions(chat_status=400, body=body)))
    assert result.code == "WRONG_TASK"
    assert failed(result) == ["request"]
    assert "not a multimodal model" in result.evidence


def test_transcription_only_model_has_no_chat_route() -> None:
    """HTTP 404 on /v1/chat/completions (a Whisper server) is WRONG_TASK on the first request."""
    api = FakeTranscriptions()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text=NOT_FOUND, headers={"content-type": "application/json"})

    http_client = cast(Any, httpx.Client(transport=httpx.MockTransport(handler)))
    client = openai.OpenAI(base_url="http://engine.test/v1", api_key="k", max_retries=0, http_client=http_client)
    ctx = context(api)
    result = audio_chat.probe(ProbeContext(**{**ctx.__dict__, "client": client}))
    assert result.code == "WRONG_TASK"
    assert failed(result) == ["text_only_request"]


def test_other_http_errors_keep_their_diagnosis() -> None:
    """An HTTP 400 that is not a refusal of the task stays HTTP_ERROR."""
    body = '{"error":{"message":"Invalid audio format","type":"BadRequestError","code":400}}'
    result = audio_chat.probe(context(FakeTranscriptions(chat_status=400, body=body)))
    assert result.code == "HTTP_ERROR"


# ---- the tiny-whisper zoo member ----------------------------------------------------------------------------------


def _gelu(x: Any) -> Any:
    import numpy as np

    return 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


def _layer_norm(x: Any) -> Any:
    return (x - x.mean()) / (x.var() + 1e-5) ** 0.5


def _greedy(prompt: list[int], steps: int = 12) -> list[int]:
    """tiny-whisper's decoder in numpy: attention adds nothing (out_proj is zero), so one MLP and the tied head."""
    import numpy as np

    from harness.zoo import audio as zoo_audio

    w = zoo_audio.whisper_weights(zoo_audio.WHISPER)
    layer = "model.decoder.layers.0."
    for attention in ("self_attn", "encoder_attn"):
        assert not np.any(w[f"{layer}{attention}.out_proj.weight"]) and not np.any(
            w[f"{layer}{attention}.out_proj.bias"]
        )
    embed = w["model.decoder.embed_tokens.weight"]
    eot = zoo_audio.whisper_vocab().ids[zoo_audio.EOT]
    out: list[int] = []
    token = prompt[-1]
    for _ in range(steps):
        h = embed[token] + w["model.decoder.embed_positions.weight"][0]
        h = h + w[f"{layer}fc2.weight"] @ _gelu(w[f"{layer}fc1.weight"] @ _layer_norm(h) + w[f"{layer}fc1.bias"])
        token = int(np.argmax(embed @ _layer_norm(h)))
        out.append(token)
        if token == eot:
            break
    return out


def test_tiny_whisper_decoder_says_its_answer_after_whispers_prompt() -> None:
    """After <|notimestamps|> (or <|0.00|> for verbose_json) the decoder emits the answer, <|1.00|>, <|endoftext|>;
    after <|startoftranscript|> alone it detects English."""
    from tokenizers import Tokenizer

    from harness.zoo import audio as zoo_audio

    tokenizer = Tokenizer.from_str(zoo_audio.whisper_tokenizer_json())
    ids = zoo_audio.whisper_vocab().ids
    for last in (zoo_audio.NO_TIMESTAMPS, "<|0.00|>"):
        out = _greedy([ids[zoo_audio.SOT], ids["<|en|>"], ids[zoo_audio.TRANSCRIBE], ids[last]])
        assert out[-2:] == [ids["<|1.00|>"], ids[zoo_audio.EOT]]
        assert tokenizer.decode(out, skip_special_tokens=True) == zoo_audio.WHISPER_ANSWER
    assert _greedy([ids[zoo_audio.SOT]], steps=1) == [ids["<|en|>"]]


def test_tiny_whisper_is_small_deterministic_and_named_for_vllm(tmp_path: Any) -> None:
    """Two builds are byte-identical, under 5 MB, with Whisper's files and the HF weight names vLLM's loader maps."""
    import struct

    from harness.zoo import audio as zoo_audio

    member = zoo_audio.MEMBERS["tiny-whisper"]
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    member.build(first)
    member.build(second)
    files = sorted(p.name for p in first.iterdir())
    assert files == [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    assert sum((first / f).stat().st_size for f in files) < 5 * 1024 * 1024

    config = json.loads((first / "config.json").read_text())
    assert config["architectures"] == ["WhisperForConditionalGeneration"]
    assert config["d_model"] // config["decoder_attention_heads"] >= 64  # the CPU engine needs head_dim >= 32
    assert (config["num_mel_bins"], config["max_source_positions"], config["max_target_positions"]) == (80, 1500, 448)
    features = json.loads((first / "preprocessor_config.json").read_text())
    assert (features["feature_size"], features["sampling_rate"], features["chunk_length"]) == (80, 16000, 30)
    generation = json.loads((first / "generation_config.json").read_text())
    ids = zoo_audio.whisper_vocab().ids
    assert generation["decoder_start_token_id"] == ids["<|startoftranscript|>"] == config["decoder_start_token_id"]
    assert generation["no_timestamps_token_id"] == ids["<|notimestamps|>"]
    assert generation["lang_to_id"]["<|en|>"] == ids["<|en|>"]

    data = (first / "model.safetensors").read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    names = set(json.loads(data[8 : 8 + length])) - {"__metadata__"}
    assert "proj_out.weight" not in names  # vLLM ties it to the decoder's embed_tokens
    assert {
        "model.encoder.conv1.weight",
        "model.encoder.embed_positions.weight",
        "model.encoder.layers.0.self_attn.k_proj.weight",
        "model.decoder.layers.0.encoder_attn.v_proj.bias",
        "model.decoder.layers.0.fc1.weight",
        "model.decoder.embed_positions.weight",
        "model.decoder.layer_norm.bias",
    } <= names
    assert not any(name.endswith("k_proj.bias") for name in names)  # Whisper's k_proj has no bias


def test_tiny_whisper_tokenizer_has_whispers_special_tokens() -> None:
    """<|endoftext|>, <|startoftranscript|>, 99 languages, the task tokens and 1501 timestamps, consecutive ids."""
    from harness.zoo import audio as zoo_audio

    ids = zoo_audio.whisper_vocab().ids
    assert len(zoo_audio.LANGUAGES) == 99
    assert ids["<|startoftranscript|>"] == ids["<|endoftext|>"] + 1
    assert ids["<|en|>"] == ids["<|startoftranscript|>"] + 1
    assert ids["<|0.00|>"] == ids["<|notimestamps|>"] + 1
    assert ids["<|30.00|>"] == max(ids.values())
