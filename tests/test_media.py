"""The harness's own media: deterministic drawings, valid PNG and AVI bytes, a loopback server recording fetches."""

from __future__ import annotations

import base64
import hashlib
import struct
import urllib.error
import urllib.request
import zlib

import numpy as np
import pytest

from harness.probes.inputs import media
from harness.probes.inputs.media import IMAGES, MEDIA, VIDEO, MediaServer


def _decode_png(data: bytes) -> np.ndarray:
    """A minimal PNG reader for what media.png writes (8-bit RGB, filter 0): checks the chunks' CRCs on the way."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert (depth, colour) == (8, 2)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    rows = zlib.decompress(idat)
    stride = 1 + 3 * width
    assert len(rows) == stride * height
    assert all(rows[r * stride] == 0 for r in range(height))
    pixels = b"".join(rows[r * stride + 1 : (r + 1) * stride] for r in range(height))
    return np.frombuffer(pixels, dtype=np.uint8).reshape(height, width, 3)


def test_png_round_trips_the_pixels() -> None:
    """A PNG written by media.png decodes back to exactly the pixels drawn."""
    for image in (media.solid(), media.digit("7"), media.circles(3)):
        assert np.array_equal(_decode_png(media.png(image)), image)


def test_drawings_show_what_their_answers_say() -> None:
    """The red image is red everywhere, the digit has ink in the middle, and the circles image has three blobs."""
    red = media.solid()
    assert (red == np.array(media.RED, dtype=np.uint8)).all()
    seven = media.digit("7")
    assert (seven == 0).all(axis=2).mean() > 0.05  # a large digit, not a speck
    three = media.circles(3)
    blue = (three == np.array(media.BLUE, dtype=np.uint8)).all(axis=2)
    # Count connected blobs by rows: the three circles never touch, so a flood fill finds exactly three.
    seen = np.zeros_like(blue)
    blobs = 0
    for y, x in zip(*np.nonzero(blue), strict=True):
        if seen[y, x]:
            continue
        blobs += 1
        stack = [(y, x)]
        while stack:
            cy, cx = stack.pop()
            if 0 <= cy < blue.shape[0] and 0 <= cx < blue.shape[1] and blue[cy, cx] and not seen[cy, cx]:
                seen[cy, cx] = True
                stack += [(cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)]
    assert blobs == 3


def test_circles_count_out_of_range_is_refused() -> None:
    """circles() refuses counts it cannot lay out, naming the value."""
    with pytest.raises(ValueError, match="got 5"):
        media.circles(5)


def test_media_bytes_are_deterministic() -> None:
    """Drawing and encoding again gives the same bytes (the media set is part of what a result means)."""
    again = media._build()
    for name, item in MEDIA.items():
        assert again[name].data == item.data, name
    digest = hashlib.sha256(b"".join(MEDIA[n].data for n in sorted(MEDIA))).hexdigest()
    assert digest == hashlib.sha256(b"".join(again[n].data for n in sorted(again))).hexdigest()


def test_avi_structure_indexes_every_frame() -> None:
    """The AVI is a RIFF file whose idx1 names one keyframe chunk per frame, each at the offset of a PNG frame."""
    frames = media.moving_square()
    data = media.avi(frames)
    assert data[:4] == b"RIFF" and data[8:12] == b"AVI "
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    movi = data.index(b"movi")
    idx = data.index(b"idx1")
    (index_len,) = struct.unpack("<I", data[idx + 4 : idx + 8])
    entries = [struct.unpack("<4sIII", data[idx + 8 + 16 * i : idx + 24 + 16 * i]) for i in range(index_len // 16)]
    assert len(entries) == len(frames)
    for (kind, flags, offset, size), frame in zip(entries, frames, strict=True):
        assert (kind, flags) == (b"00dc", 0x10)
        chunk = data[movi + offset : movi + offset + 8 + size]
        assert chunk[:4] == b"00dc"
        assert np.array_equal(_decode_png(chunk[8:]), frame)


def test_raw_avi_is_top_down_bgr() -> None:
    """The raw codec stores each frame as top-down BGR rows (negative height), which FFmpeg reads without flipping."""
    frames = media.moving_square(frames=2)
    data = media.avi(frames, codec="raw")
    strf = data.index(b"strf")
    height = struct.unpack("<i", data[strf + 16 : strf + 20])[0]
    assert height == -frames[0].shape[0]
    first = data.index(b"00db", data.index(b"movi"))
    pixels = np.frombuffer(data[first + 8 : first + 8 + frames[0].nbytes], dtype=np.uint8).reshape(frames[0].shape)
    assert np.array_equal(pixels[:, :, ::-1], frames[0])


def test_avi_rejects_rows_that_need_padding() -> None:
    """A width whose rows are not a multiple of 4 bytes is refused rather than written wrong."""
    with pytest.raises(ValueError, match="multiple of 4"):
        media.avi([np.zeros((8, 5, 3), dtype=np.uint8)])


def test_data_uri_carries_the_bytes() -> None:
    """A data URI names the MIME type and base64-encodes the exact bytes."""
    item = MEDIA["red.png"]
    prefix, payload = item.data_uri.split(",", 1)
    assert prefix == "data:image/png;base64"
    assert base64.b64decode(payload) == item.data


def test_media_server_serves_and_records() -> None:
    """The server answers each name with its bytes and MIME type, 404s others, and records every request."""
    with MediaServer() as server:
        for name in (*IMAGES, VIDEO):
            with urllib.request.urlopen(server.url(name), timeout=5) as response:
                assert response.read() == MEDIA[name].data
                assert response.headers["Content-Type"] == MEDIA[name].mime
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/nothing.png", timeout=5)
        assert missing.value.code == 404
        assert server.fetched("red.png") == 1
        assert server.fetched("nothing.png") == 1
        assert len(server.requests) == len(IMAGES) + 2
    with pytest.raises(KeyError, match="no media named"):
        server.url("nothing.png")
