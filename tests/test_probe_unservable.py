"""What vLLM cannot serve: NOT_SERVABLE from pre-flight without an endpoint; the tts and image_generation probes
(mocked answers, then a local stand-in for an external OpenAI-compatible endpoint) when the matrix names one."""

from __future__ import annotations

import base64
import importlib.util
import json
import math
import re
import socket
import struct
import sys
import threading
import zlib
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import httpx
import openai
import pytest
from registry_fake import fake_engine

from harness.checkpoint import preflight
from harness.codes import Code
from harness.matrix import Endpoint
from harness.probes import image_generation, tts
from harness.probes.base import EngineUnreachable, ProbeContext, ProbeResult
from harness.runner import CellRunner
from harness.runner.external import endpoint_context
from harness.usecases import UseCase
from harness.verdicts import Verdict
from harness.zoo import build_member

Pixel = Callable[[int, int], tuple[int, ...]]
RED = (220, 20, 20)
WHITE = (255, 255, 255)
BLUE = (30, 60, 220)


# ---- media the tests generate (no Pillow, no audio library) ---------------------------------------------------------


def wav_bytes(
    seconds: float = 1.5,
    *,
    rate: int = 24000,
    amplitude: float = 0.3,
    channels: int = 1,
    streamed: bool = False,
    declared_extra: int = 0,
    list_chunk: bool = True,
) -> bytes:
    """A PCM16 sine tone at 220 Hz; ``streamed`` writes 0xFFFFFFFF sizes as streaming servers do."""
    frames = int(seconds * rate)
    samples = array("h")
    for i in range(frames):
        value = int(amplitude * 32767 * math.sin(2 * math.pi * 220 * i / rate))
        samples.extend([value] * channels)
    if sys.byteorder == "big":
        samples.byteswap()
    data = samples.tobytes()
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    extra = b"LIST" + struct.pack("<I", 5) + b"INFOx\x00" if list_chunk else b""  # odd size: padded to even
    data_size = 0xFFFFFFFF if streamed else len(data) + declared_extra
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + extra + b"data" + struct.pack("<I", data_size) + data
    return b"RIFF" + struct.pack("<I", 0xFFFFFFFF if streamed else len(body)) + body


def mp3_bytes(frames: int = 57, *, id3: bool = True) -> bytes:
    """MPEG-1 Layer III frames (128 kb/s, 44.1 kHz, 417 bytes each, silent payload) after an optional ID3v2 tag."""
    frame = b"\xff\xfb\x90\x64" + bytes(417 - 4)
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + bytes(10) if id3 else b""
    return tag + frame * frames


def png_bytes(width: int, height: int, pixel: Pixel, *, alpha: bool = False, filters: tuple[int, ...] = (0,)) -> bytes:
    """An 8-bit RGB(A) PNG; row y uses filter ``filters[y % len(filters)]`` (0 None, 1 Sub, 2 Up, 3 Avg, 4 Paeth)."""
    bpp = 4 if alpha else 3
    raw = bytearray()
    prior = bytearray(width * bpp)
    for y in range(height):
        row = bytearray()
        for x in range(width):
            row.extend(pixel(x, y)[:bpp])
        kind = filters[y % len(filters)]
        raw.append(kind)
        raw.extend(_filter(kind, row, prior, bpp))
        prior = row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")
    )


def _filter(kind: int, row: bytearray, prior: bytearray, bpp: int) -> bytes:
    out = bytearray(len(row))
    for i, value in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        if kind == 0:
            predicted = 0
        elif kind == 1:
            predicted = a
        elif kind == 2:
            predicted = b
        elif kind == 3:
            predicted = (a + b) >> 1
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            predicted = a if pa <= pb and pa <= pc else b if pb <= pc else c
        out[i] = (value - predicted) & 0xFF
    return bytes(out)


def red_square(width: int = 256, height: int = 256) -> bytes:
    """A red square covering the middle quarter of a white canvas."""

    def pixel(x: int, y: int) -> tuple[int, ...]:
        inside = width // 4 <= x < 3 * width // 4 and height // 4 <= y < 3 * height // 4
        return RED if inside else WHITE

    return png_bytes(width, height, pixel)


def jpeg_header(width: int = 256, height: int = 256) -> bytes:
    """The markers of a baseline JPEG (SOI, APP0, SOF0 with the size, EOI): enough for the header reader."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


# ---- probe contexts on a mocked API ---------------------------------------------------------------------------------


@dataclass
class FakeMediaAPI:
    """Answers /v1/audio/speech and /v1/images/generations with the bytes and status it is given."""

    audio: bytes = field(default_factory=wav_bytes)
    audio_type: str = "audio/wav"
    image: bytes = field(default_factory=red_square)
    image_field: str = "b64_json"  # or "url", or "" for neither
    images: int = 1
    status: int = 200
    error_body: str = '{"error": {"message": "The model `x` does not exist.", "type": "NotFoundError", "code": 404}}'
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        self.requests.append({"path": request.url.path, **payload})
        if self.status != 200:
            return httpx.Response(self.status, text=self.error_body, headers={"content-type": "application/json"})
        if request.url.path.endswith("/audio/speech"):
            return httpx.Response(200, content=self.audio, headers={"content-type": self.audio_type})
        item: dict[str, Any] = {}
        if self.image_field == "b64_json":
            item["b64_json"] = base64.b64encode(self.image).decode()
        elif self.image_field == "url":
            item["url"] = "https://storage.test/img.png"
        return httpx.Response(200, json={"created": 1, "data": [item] * self.images})


def context(api: FakeMediaAPI | httpx.MockTransport, *, semantic: bool = True, **flags: str) -> ProbeContext:
    transport = api if isinstance(api, httpx.MockTransport) else httpx.MockTransport(api)
    http_client = cast(Any, httpx.Client(transport=transport))
    client = openai.OpenAI(base_url="http://media.test/v1", api_key="k", max_retries=0, http_client=http_client)
    return ProbeContext(
        client=client,
        model="media-1",
        semantic=semantic,
        timeout=10.0,
        end_of_turn=None,
        eos_token_ids=(),
        eos_mismatch_predicted=False,
        flags=flags,
    )


def failed(result: ProbeResult) -> dict[str, str]:
    return {check.name: check.detail for check in result.failed_checks}


# ---- tts ------------------------------------------------------------------------------------------------------------


def test_tts_good_wav_passes_with_every_check() -> None:
    """A PCM16 WAV tone with an audio/wav type passes every check and the request names model, voice and format."""
    api = FakeMediaAPI()
    result = tts.probe(context(api))
    assert result.passed, result.message
    names = [check.name for check in result.checks]
    assert names == ["http_200", "content_type_audio", "wav_parses", "has_audio", "duration_plausible", "not_silent"]
    assert api.requests == [
        {
            "path": "/v1/audio/speech",
            "model": "media-1",
            "voice": "alloy",
            "input": tts.SENTENCE,
            "response_format": "wav",
        }
    ]
    assert "1.50 s" in result.checks[2].detail
    assert result.timings["e2e_s"] > 0


def test_tts_json_body_is_not_audio() -> None:
    """A JSON body with HTTP 200 fails the content type and the WAV parse, which says it looks like JSON."""
    api = FakeMediaAPI(audio=b'{"audio": "base64..."}', audio_type="application/json")
    result = tts.probe(context(api))
    assert not result.passed
    assert result.code == "PROBE_FAILED"
    assert set(failed(result)) == {"content_type_audio", "wav_parses"}
    assert "looks like JSON" in failed(result)["wav_parses"]


def test_tts_http_error_is_a_failed_request() -> None:
    """An HTTP 404 from the endpoint is the failed check 'request' with code HTTP_ERROR and the body as evidence."""
    result = tts.probe(context(FakeMediaAPI(status=404)))
    assert result.code == "HTTP_ERROR"
    assert [c.name for c in result.checks] == ["request"]
    assert "HTTP 404" in result.message
    assert "does not exist" in result.evidence


def test_tts_unreachable_endpoint_raises() -> None:
    """A refused connection raises EngineUnreachable, so the runner does not blame the model."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(EngineUnreachable):
        tts.probe(context(httpx.MockTransport(refuse)))


@pytest.mark.parametrize(
    ("audio", "check", "says"),
    [
        (wav_bytes(amplitude=0.0), "not_silent", "rms 0.00000"),
        (wav_bytes(seconds=0.05), "duration_plausible", "0.05 s"),
        (wav_bytes(seconds=0.0), "has_audio", "0 frames"),
        (wav_bytes(declared_extra=1000), "wav_parses", "truncated"),
        (mp3_bytes(), "wav_parses", "looks like mp3"),
        (wav_bytes()[:40], "wav_parses", "no data chunk"),
    ],
    ids=["silence", "click", "empty", "truncated", "mp3-for-wav", "header-only"],
)
def test_tts_bad_wav_fails_its_check(audio: bytes, check: str, says: str) -> None:
    """Each way a WAV can be wrong fails the check that names it."""
    result = tts.probe(context(FakeMediaAPI(audio=audio)))
    assert check in failed(result), result.message
    assert says in failed(result)[check]


def test_tts_streamed_wav_header_parses_from_the_body() -> None:
    """A streamed WAV (sizes 0xFFFFFFFF) is measured from the body and passes."""
    result = tts.probe(context(FakeMediaAPI(audio=wav_bytes(streamed=True, channels=2))))
    assert result.passed, result.message
    assert "streamed header" in result.checks[2].detail
    assert "x2" in result.checks[2].detail


def test_tts_mp3_when_the_matrix_asks_for_it() -> None:
    """response_format mp3 from the endpoint's options is sent and a chain of Layer III frames passes."""
    api = FakeMediaAPI(audio=mp3_bytes(), audio_type="audio/mpeg")
    result = tts.probe(context(api, response_format="mp3", voice="nova"))
    assert result.passed, result.message
    assert api.requests[0]["response_format"] == "mp3"
    assert api.requests[0]["voice"] == "nova"
    assert "mp3_parses" in [c.name for c in result.checks]
    assert "not_silent" not in [c.name for c in result.checks]  # MP3 loudness is not measured: no fake check


def test_parse_mp3_needs_a_chain_of_frames() -> None:
    """One frame header (a 0xFFE pattern can occur by chance) is not an MP3; 57 frames are 1.49 s at 44.1 kHz."""
    with pytest.raises(tts.AudioError, match="1 whole MPEG frame"):
        tts.parse_mp3(mp3_bytes(1))
    info = tts.parse_mp3(mp3_bytes(57, id3=False))
    assert (info.frames, info.sample_rate, info.encoding) == (57, 44100, "mpeg1-layer3")
    assert info.duration_s == pytest.approx(57 * 1152 / 44100)


# ---- image_generation -----------------------------------------------------------------------------------------------


def test_image_good_png_passes_with_the_colour_check() -> None:
    """A 256x256 red-square PNG as b64_json passes every check, the red one included, and asks n=1 at 256x256."""
    api = FakeMediaAPI()
    result = image_generation.probe(context(api))
    assert result.passed, result.message
    assert [c.name for c in result.checks] == [
        "http_200",
        "one_image",
        "image_payload",
        "b64_decodes",
        "image_decodes",
        "size_honoured",
        "answer",
    ]
    assert api.requests == [
        {"path": "/v1/images/generations", "model": "media-1", "prompt": "a red square", "n": 1, "size": "256x256"}
    ]
    assert "25% of the pixels are clearly red" in result.checks[-1].detail


@pytest.mark.parametrize(
    ("image", "says"),
    [
        (red_square()[:-20], "truncated PNG"),
        (red_square().replace(b"IHDR", b"IHDr"), "CRC mismatch"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "HTML/XML/SVG"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WebP"),
    ],
    ids=["truncated", "corrupt-crc", "svg", "webp"],
)
def test_image_bad_bytes_fail_the_decode(image: bytes, says: str) -> None:
    """Bytes that are not a whole PNG or JPEG fail image_decodes with what they are."""
    result = image_generation.probe(context(FakeMediaAPI(image=image)))
    assert result.code == "PROBE_FAILED"
    assert says in failed(result)["image_decodes"]


def test_image_wrong_colour_fails_only_the_semantic_check() -> None:
    """A blue square fails 'answer' for a real model, and passes when the model is not a real one."""
    blue = png_bytes(64, 64, lambda x, y: BLUE)
    result = image_generation.probe(context(FakeMediaAPI(image=blue), size="64x64"))
    assert set(failed(result)) == {"answer"}
    assert "0% of the pixels" in failed(result)["answer"]
    assert image_generation.probe(context(FakeMediaAPI(image=blue), size="64x64", semantic=False)).passed


def test_image_size_not_honoured() -> None:
    """A 512x512 image for a 256x256 request fails size_honoured."""
    result = image_generation.probe(context(FakeMediaAPI(image=red_square(512, 512))))
    assert failed(result) == {"size_honoured": "got 512x512, asked 256x256"}


def test_image_neither_b64_nor_url() -> None:
    """An item with neither b64_json nor url fails image_payload; an empty data list fails one_image."""
    assert set(failed(image_generation.probe(context(FakeMediaAPI(image_field=""))))) == {"image_payload"}
    assert set(failed(image_generation.probe(context(FakeMediaAPI(images=0))))) == {"one_image"}


def test_image_url_is_fetched_without_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A url answer is downloaded (no Authorization header: another host); an HTTP 404 there fails url_fetch."""
    fetched: list[str] = []

    def download(url: str, timeout: float) -> tuple[int, str, bytes]:
        fetched.append(url)
        return 200, "image/png", red_square()

    monkeypatch.setattr(image_generation, "download", download)
    result = image_generation.probe(context(FakeMediaAPI(image_field="url"), response_format="url"))
    assert result.passed, result.message
    assert fetched == ["https://storage.test/img.png"]
    monkeypatch.setattr(image_generation, "download", lambda url, timeout: (404, "text/html", b"gone"))
    result = image_generation.probe(context(FakeMediaAPI(image_field="url")))
    assert result.code == "HTTP_ERROR"
    assert "HTTP 404" in failed(result)["url_fetch"]


def test_image_http_error_is_a_failed_request() -> None:
    """An HTTP 400 from the endpoint is the failed check 'request' with code HTTP_ERROR."""
    body = '{"error": {"message": "size 256x256 is not supported", "code": 400}}'
    result = image_generation.probe(context(FakeMediaAPI(status=400, error_body=body)))
    assert result.code == "HTTP_ERROR"
    assert "not supported" in failed(result)["request"]


def test_jpeg_size_is_read_from_the_header() -> None:
    """A JPEG's size comes from its SOF marker; without the end marker it is truncated."""
    info = image_generation.image_info(jpeg_header(320, 200))
    assert (info.format, info.width, info.height) == ("jpeg", 320, 200)
    with pytest.raises(image_generation.ImageError, match="truncated JPEG"):
        image_generation.image_info(jpeg_header()[:-2] + bytes(32))


@pytest.mark.skipif(importlib.util.find_spec("PIL") is not None, reason="Pillow is installed: JPEG colours decode")
def test_jpeg_colour_check_without_pillow_fails_and_says_why() -> None:
    """Without Pillow a JPEG's colours cannot be checked: 'answer' fails naming Pillow rather than passing unchecked."""
    result = image_generation.probe(context(FakeMediaAPI(image=jpeg_header())))
    assert set(failed(result)) == {"answer"}
    assert "pip install pillow" in failed(result)["answer"]


def test_png_decoder_undoes_every_filter() -> None:
    """The built-in PNG decoder reads back exactly the pixels written with each of the five row filters, RGBA too."""

    def pixel(x: int, y: int) -> tuple[int, ...]:
        return ((x * 37 + y * 11) % 256, (x * 5 + y * 91) % 256, (x * y) % 256, (x + y * 3) % 256)

    for alpha in (False, True):
        data = png_bytes(13, 10, pixel, alpha=alpha, filters=(0, 1, 2, 3, 4))
        width, height, read = image_generation.decode_png_rgb(data)
        assert (width, height) == (13, 10)
        for y in range(10):
            for x in range(13):
                expected = pixel(x, y) if alpha else (*pixel(x, y)[:3], 255)
                assert read(x, y) == expected, (x, y, alpha)


# ---- pre-flight: NOT_SERVABLE without an endpoint -------------------------------------------------------------------


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path / "cache"))
    return fake_engine(tmp_path / "engine")


def test_diffusers_pipeline_is_not_servable_naming_diffusers(tmp_path: Path, engine: Path) -> None:
    """A diffusers pipeline asked for image_generation is NOT_SERVABLE, and the reasons name diffusers and an
    external endpoint as what would serve it."""
    path = build_member("diffusers-pipeline", tmp_path / "zoo")
    report = preflight(str(path), use_cases=[UseCase.IMAGE_GENERATION], engine_python=engine)
    errors = report.errors_for(UseCase.IMAGE_GENERATION)
    assert {f.code for f in errors} == {"NOT_SERVABLE"}
    messages = " | ".join(f.message for f in errors)
    assert "serve it with diffusers" in messages
    assert "external endpoint" in messages


def test_tts_on_a_chat_model_is_not_servable_for_that_cell_only(tmp_path: Path, engine: Path) -> None:
    """chat-ok asked for tts is NOT_SERVABLE for the tts cell, naming an external endpoint; chat stays clean."""
    path = build_member("chat-ok", tmp_path / "zoo")
    report = preflight(str(path), use_cases=[UseCase.CHAT, UseCase.TTS], engine_python=engine)
    errors = report.errors_for(UseCase.TTS)
    assert [f.code for f in errors] == ["NOT_SERVABLE"]
    assert "no vLLM version serves it" in errors[0].message
    assert "external endpoint" in errors[0].message
    assert report.errors_for(UseCase.CHAT) == ()


def test_runner_reports_not_servable_without_booting(tmp_path: Path, engine: Path) -> None:
    """Through the runner, a tts cell without an endpoint FAILs NOT_SERVABLE from pre-flight and boots nothing."""
    from harness.matrix import load_matrix

    matrix_file = tmp_path / "matrix.yaml"
    matrix_file.write_text("models:\n  - id: zoo:chat-ok\n    use_cases: [tts]\n")
    cell = load_matrix(matrix_file).cells[0]
    runner = CellRunner(run_id="t", run_dir=tmp_path / "run", engine_python=engine, offline=True, boot_timeout=None)
    runner.plan([cell])
    outcome = runner.run(cell)
    assert (outcome.verdict, outcome.code) == (Verdict.FAIL, Code.NOT_SERVABLE)
    assert "external endpoint" in outcome.message
    assert outcome.message.endswith("no server booted")
    assert outcome.server is None


# ---- a stand-in for an external endpoint ----------------------------------------------------------------------------


class StandInEndpoint:
    """A STAND-IN for an external OpenAI-compatible TTS / image service, on 127.0.0.1: it answers generated bytes
    (a 220 Hz WAV tone, silent MP3 frames, a red-square PNG), not speech or art. It exercises the real HTTP path
    (openai client, headers, JSON, url download); it says nothing about any real service."""

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    def __enter__(self) -> StandInEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, message: str) -> None:
                body = {"error": {"message": message, "type": "invalid_request_error", "code": status}}
                self._send(status, json.dumps(body).encode(), "application/json")

            def do_GET(self) -> None:
                stand_in.requests.append(
                    {"method": "GET", "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
                )
                match = re.fullmatch(r"/files/red-(\d+)x(\d+)\.png", self.path)
                authorised = not stand_in.api_key or self.headers.get("Authorization") == f"Bearer {stand_in.api_key}"
                if self.path == "/v1/models" and not authorised:
                    self._error(401, "Incorrect API key provided")
                elif self.path == "/v1/models":  # identity first: the harness asks which models answer here
                    body = {"object": "list", "data": [{"id": "stand-in-1", "object": "model"}]}
                    self._send(200, json.dumps(body).encode(), "application/json")
                elif match:
                    self._send(200, red_square(int(match[1]), int(match[2])), "image/png")
                else:
                    self._error(404, f"no {self.path}")

            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                stand_in.requests.append(
                    {
                        "method": "POST",
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "json": payload,
                    }
                )
                if stand_in.api_key and self.headers.get("Authorization") != f"Bearer {stand_in.api_key}":
                    self._error(401, "Incorrect API key provided")
                elif self.path == "/v1/audio/speech":
                    fmt = payload.get("response_format", "mp3")
                    if fmt == "wav":
                        self._send(200, wav_bytes(), "audio/wav")
                    elif fmt == "mp3":
                        self._send(200, mp3_bytes(), "audio/mpeg")
                    else:
                        self._error(400, f"response_format {fmt!r} not supported by this stand-in")
                elif self.path == "/v1/images/generations":
                    width, height = (int(v) for v in str(payload.get("size", "256x256")).split("x"))
                    if payload.get("response_format") == "url":
                        item = {"url": f"{stand_in.root}/files/red-{width}x{height}.png"}
                    else:
                        item = {"b64_json": base64.b64encode(red_square(width, height)).decode()}
                    self._send(200, json.dumps({"created": 1, "data": [item]}).encode(), "application/json")
                else:
                    self._error(404, f"no {self.path}")

        return Handler


@pytest.fixture
def stand_in() -> Iterator[StandInEndpoint]:
    with StandInEndpoint(api_key="sk-stand-in") as server:
        yield server


def endpoint(use_case: UseCase, base_url: str, **options: str) -> Endpoint:
    return Endpoint(use_case, base_url, "stand-in-1", "STAND_IN_KEY", tuple(sorted(options.items())))


ENV: Mapping[str, str] = {"STAND_IN_KEY": "sk-stand-in"}


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_tts_against_the_stand_in_endpoint(stand_in: StandInEndpoint, fmt: str) -> None:
    """Over real HTTP, the tts probe passes on the stand-in's audio and sends the key from the named variable."""
    ctx = endpoint_context(endpoint(UseCase.TTS, stand_in.base_url, response_format=fmt), timeout=10, environ=ENV)
    result = tts.probe(ctx)
    assert result.passed, result.message
    assert stand_in.requests[0]["headers"]["authorization"] == "Bearer sk-stand-in"
    assert stand_in.requests[0]["json"]["model"] == "stand-in-1"


@pytest.mark.parametrize("response_format", ["b64_json", "url"])
def test_image_generation_against_the_stand_in_endpoint(stand_in: StandInEndpoint, response_format: str) -> None:
    """Over real HTTP, the image probe passes on b64_json and on a url it downloads without the API key."""
    spec = endpoint(UseCase.IMAGE_GENERATION, stand_in.base_url, response_format=response_format, size="128x128")
    result = image_generation.probe(endpoint_context(spec, timeout=10, environ=ENV))
    assert result.passed, result.message
    if response_format == "url":
        download = stand_in.requests[-1]
        assert (download["method"], download["path"]) == ("GET", "/files/red-128x128.png")
        assert "authorization" not in download["headers"]
    assert stand_in.requests[0]["json"]["size"] == "128x128"


def test_wrong_key_at_the_stand_in_is_http_error(stand_in: StandInEndpoint) -> None:
    """A key the endpoint refuses is an HTTP 401 failed request (HTTP_ERROR), never a pass."""
    ctx = endpoint_context(endpoint(UseCase.TTS, stand_in.base_url), timeout=10, environ={"STAND_IN_KEY": "sk-wrong"})
    result = tts.probe(ctx)
    assert result.code == "HTTP_ERROR"
    assert "HTTP 401" in failed(result)["request"]


def test_nothing_listening_is_unreachable() -> None:
    """An endpoint with nothing listening raises EngineUnreachable (the runner reports it as HTTP_ERROR)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctx = endpoint_context(endpoint(UseCase.TTS, f"http://127.0.0.1:{port}/v1"), timeout=5, environ=ENV)
    with pytest.raises(EngineUnreachable):
        tts.probe(ctx)
