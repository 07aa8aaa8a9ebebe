"""image_generation: POST /v1/images/generations must answer one real image: a PNG or JPEG of the size asked for.

No vLLM version serves this API: the cell reaches this probe only when the matrix points it at an external
OpenAI-compatible endpoint (harness/endpoints.py). The image comes as ``b64_json`` or as a ``url`` (fetched without
the API key: it usually points at a storage host, not at the API). Its format and size are read from the bytes
(PNG chunks with their CRCs, JPEG markers), without Pillow. For a real model the semantic check asks "a red square"
and counts clearly red pixels: PNG is decoded here (zlib + the five PNG filters); JPEG needs Pillow, and without it
the check fails saying so rather than passing unchecked.
"""

from __future__ import annotations

import base64
import binascii
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.probes.base import ProbeContext, ProbeResult, Recorder, run_probe

USE_CASE = "image_generation"
PROMPT = "a red square"
DEFAULT_SIZE = "256x256"  # the smallest size OpenAI's dall-e-2 takes; other services: set endpoints.<uc>.size
MIN_RED_FRACTION = 0.10  # "a red square" on any background: at least a tenth of the pixels are clearly red
_SAMPLE_PIXELS = 65536  # colours are counted on an evenly spaced sample, enough for a fraction
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)


class ImageError(ValueError):
    """The bytes are not the image they claim to be; the message says what was found instead."""


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "png" | "jpeg"
    width: int
    height: int
    detail: str = ""  # bit depth and colour type, or the JPEG frame kind

    def summary(self) -> str:
        return f"{self.format} {self.width}x{self.height}" + (f" ({self.detail})" if self.detail else "")


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


def download(url: str, timeout: float) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET on an image URL; a module function so tests can replace it."""
    import httpx

    response = httpx.get(url, timeout=timeout, follow_redirects=True)
    return response.status_code, response.headers.get("content-type", ""), response.content


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    size = str(ctx.flags.get("size") or DEFAULT_SIZE)
    extra: dict[str, Any] = {}
    if ctx.flags.get("response_format"):
        # Only when the matrix asks: some models (gpt-image-1) reject the parameter and always answer b64_json.
        extra["response_format"] = ctx.flags["response_format"]
    sent = time.perf_counter()
    raw = rec.request(
        "request",
        lambda: ctx.client.images.with_raw_response.generate(
            model=ctx.model, prompt=PROMPT, n=1, size=size, timeout=ctx.timeout, **extra
        ),
    )
    answer = raw.parse()
    rec.timings["e2e_s"] = round(time.perf_counter() - sent, 4)
    rec.check("http_200", raw.status_code == 200, f"HTTP {raw.status_code}")
    items = list(answer.data or [])
    rec.check("one_image", len(items) == 1, f"{len(items)} images in data (asked n=1)")
    if not items:
        return
    image = _image_bytes(ctx, rec, items[0])
    if image is None:
        return
    try:
        info = image_info(image)
    except ImageError as error:
        rec.check("image_decodes", False, f"{len(image)} bytes: {error}", evidence=repr(image[:64]))
        return
    rec.check("image_decodes", True, info.summary())
    if size != "auto":
        asked = tuple(int(part) for part in size.split("x"))
        rec.check("size_honoured", (info.width, info.height) == asked, f"got {info.width}x{info.height}, asked {size}")
    if ctx.semantic:
        _check_red(rec, image, info)


def _image_bytes(ctx: ProbeContext, rec: Recorder, item: Any) -> bytes | None:
    b64, url = getattr(item, "b64_json", None), getattr(item, "url", None)
    if not rec.check("image_payload", bool(b64 or url), "b64_json" if b64 else f"url {url!r}" if url else "neither"):
        return None
    if b64:
        try:
            data = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError) as error:
            rec.check("b64_decodes", False, f"b64_json is not base64: {error}", evidence=str(b64)[:64])
            return None
        rec.check("b64_decodes", True, f"{len(data)} bytes")
        return data
    if str(url).startswith("data:"):
        header, _, payload = str(url).partition(",")
        try:
            data = base64.b64decode(payload, validate=True) if header.endswith(";base64") else payload.encode()
        except (binascii.Error, ValueError) as error:
            rec.check("url_fetch", False, f"data: URL is not base64: {error}", evidence=str(url)[:64])
            return None
        rec.check("url_fetch", True, f"data: URL, {len(data)} bytes")
        return data
    try:
        status, content_type, data = download(str(url), ctx.timeout)
    except Exception as error:  # any transport error: the image the API promised cannot be had
        rec.check("url_fetch", False, f"GET {url}: {type(error).__name__}: {error}", code="HTTP_ERROR")
        return None
    ok = status == 200 and bool(data)
    rec.check("url_fetch", ok, f"GET {url}: HTTP {status}, {content_type!r}, {len(data)} bytes", code="HTTP_ERROR")
    return data if ok else None


def image_info(data: bytes) -> ImageInfo:
    """Format and size from the bytes: a PNG whose chunks and CRCs hold up to IEND, or a JPEG with a frame."""
    if data[:8] == _PNG_SIGNATURE:
        return _png_info(data)
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg_info(data)
    kind = _sniff(data)
    raise ImageError(f"neither PNG nor JPEG ({kind or 'first bytes ' + repr(data[:12])})")


def _sniff(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data.lstrip()[:1] in (b"{", b"["):
        return "JSON"
    if data.lstrip()[:1] == b"<":
        return "HTML/XML/SVG"
    return ""


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks: list[tuple[bytes, bytes]] = []
    pos = len(_PNG_SIGNATURE)
    while True:
        if pos + 12 > len(data):
            raise ImageError(f"truncated PNG: no IEND chunk ({len(data)} bytes, last chunk ends at {pos})")
        length = struct.unpack_from(">I", data, pos)[0]
        kind = data[pos + 4 : pos + 8]
        end = pos + 8 + length
        if end + 4 > len(data):
            raise ImageError(f"truncated PNG: chunk {kind!r} of {length} bytes runs past the end ({len(data)} bytes)")
        body = data[pos + 8 : end]
        if zlib.crc32(kind + body) != struct.unpack_from(">I", data, end)[0]:
            raise ImageError(f"corrupt PNG: CRC mismatch in chunk {kind!r} at byte {pos}")
        chunks.append((kind, body))
        if kind == b"IEND":
            return chunks
        pos = end + 4


def _png_info(data: bytes) -> ImageInfo:
    chunks = _png_chunks(data)
    if chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise ImageError(f"PNG without an IHDR first (first chunk {chunks[0][0]!r})")
    width, height, depth, colour, _comp, _filter, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if width == 0 or height == 0:
        raise ImageError(f"PNG of {width}x{height} pixels")
    if colour not in _PNG_CHANNELS:
        raise ImageError(f"PNG colour type {colour} does not exist")
    if not any(kind == b"IDAT" for kind, _ in chunks):
        raise ImageError("PNG without IDAT (no pixel data)")
    detail = f"{depth}-bit, colour type {colour}" + (", interlaced" if interlace else "")
    return ImageInfo("png", width, height, detail)


def _jpeg_info(data: bytes) -> ImageInfo:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ImageError(f"corrupt JPEG: no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # stand-alone markers carry no length
            pos += 2
            continue
        length = struct.unpack_from(">H", data, pos + 2)[0]
        if marker in _JPEG_SOF:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack_from(">HH", data, pos + 5)
            if width == 0 or height == 0:
                raise ImageError(f"JPEG frame of {width}x{height} pixels")
            if b"\xff\xd9" not in data[-16:]:
                raise ImageError("truncated JPEG: no end-of-image marker (FFD9) at the end")
            return ImageInfo("jpeg", width, height, f"SOF{marker - 0xC0}")
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            break
        pos += 2 + length
    raise ImageError("JPEG without a frame header (SOF): truncated or not a JPEG")


def decode_png_rgb(data: bytes) -> tuple[int, int, Callable[[int, int], tuple[int, int, int, int]]]:
    """(width, height, pixel(x, y) -> RGBA) of an 8-bit, non-interlaced PNG; ImageError for other kinds."""
    chunks = _png_chunks(data)
    width, height, depth, colour, _comp, _filter, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or interlace:
        raise ImageError(f"the built-in PNG decoder reads 8-bit non-interlaced PNGs, not {depth}-bit/{interlace=}")
    channels = _PNG_CHANNELS[colour]
    palette = b"".join(body for kind, body in chunks if kind == b"PLTE")
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * channels
    if len(raw) < height * (stride + 1):
        raise ImageError(f"PNG pixel data too short: {len(raw)} bytes for {width}x{height}x{channels}")
    rows: list[bytearray] = []
    prior = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), prior, channels)
        rows.append(row)
        prior = row

    def pixel(x: int, y: int) -> tuple[int, int, int, int]:
        at = x * channels
        row = rows[y]
        if colour == 2:
            return row[at], row[at + 1], row[at + 2], 255
        if colour == 6:
            return row[at], row[at + 1], row[at + 2], row[at + 3]
        if colour == 3:
            index = row[at] * 3
            return palette[index], palette[index + 1], palette[index + 2], 255
        grey = row[at]
        return grey, grey, grey, row[at + 1] if colour == 4 else 255

    return width, height, pixel


def _unfilter(kind: int, row: bytearray, prior: bytearray, bpp: int) -> bytearray:
    if kind == 0:
        return row
    n = len(row)
    if kind == 1:
        for i in range(bpp, n):
            row[i] = (row[i] + row[i - bpp]) & 0xFF
    elif kind == 2:
        for i in range(n):
            row[i] = (row[i] + prior[i]) & 0xFF
    elif kind == 3:
        for i in range(n):
            left = row[i - bpp] if i >= bpp else 0
            row[i] = (row[i] + ((left + prior[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(n):
            a = row[i - bpp] if i >= bpp else 0
            b = prior[i]
            c = prior[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    else:
        raise ImageError(f"PNG row filter {kind} does not exist")
    return row


def red_fraction(data: bytes) -> float:
    """The fraction of (opaque) sampled pixels that are clearly red; Pillow when installed, else PNG only."""
    try:
        from PIL import Image  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        width, height, pixel = decode_png_rgb(data) if data[:8] == _PNG_SIGNATURE else _no_decoder(data)
    else:
        import io

        picture = Image.open(io.BytesIO(data)).convert("RGBA")
        width, height = picture.size

        def pixel(x: int, y: int) -> tuple[int, int, int, int]:
            return picture.getpixel((x, y))  # type: ignore[no-any-return, unused-ignore]

    step = max(1, int((width * height / _SAMPLE_PIXELS) ** 0.5))
    red = total = 0
    for y in range(0, height, step):
        for x in range(0, width, step):
            r, g, b, alpha = pixel(x, y)
            if alpha < 128:
                continue  # transparent: background, whatever its stored colour
            total += 1
            red += r >= 128 and r - g >= 64 and r - b >= 64
    return red / total if total else 0.0


def _no_decoder(data: bytes) -> Any:
    raise ImageError("this JPEG cannot be decoded without Pillow: `pip install pillow` in the harness environment")


def _check_red(rec: Recorder, image: bytes, info: ImageInfo) -> None:
    try:
        fraction = red_fraction(image)
    except (ImageError, zlib.error, OSError, ValueError) as error:
        rec.check("answer", False, f"cannot check the colours of the {info.format}: {error}")
        return
    rec.check(
        "answer",
        fraction >= MIN_RED_FRACTION,
        f"{fraction:.0%} of the pixels are clearly red for {PROMPT!r} (need {MIN_RED_FRACTION:.0%})",
    )
