"""Images and a clip the harness draws itself, with known content, and a loopback server that hands them to vLLM.

Everything is drawn with numpy and encoded by hand (PNG: zlib + struct; video: an uncompressed RIFF AVI), so the
harness needs neither Pillow nor OpenCV and the bytes are the same on every machine. vLLM's default video loader
(OpenCV with its bundled FFmpeg, reading from memory) decodes raw-RGB AVI.

``MediaServer`` serves the bytes at ``http://127.0.0.1:PORT/<name>`` and records every request, so a test can show
that vLLM fetched the URL it was given (rather than something answering without looking).
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import struct
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

import numpy as np

SIZE = 224  # CLIP's input size: no resizing surprises in any processor
RED = (220, 20, 20)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
BLUE = (30, 60, 220)

# 5x7 bitmaps of the digits, row by row ('#' = ink): a font the harness owns, so the drawing is deterministic.
_FONT: dict[str, tuple[str, ...]] = {
    "0": (" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "),
    "1": ("  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "),
    "2": (" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"),
    "3": ("#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "),
    "4": ("   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "),
    "5": ("#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "),
    "6": ("  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "),
    "7": ("#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "),
    "8": (" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "),
    "9": (" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "),
}

# Lenient answers: any of these words (case-insensitive, whole word) counts as right.
NUMBER_WORDS: dict[int, tuple[str, ...]] = {
    0: ("0", "zero", "none"),
    1: ("1", "one", "single"),
    2: ("2", "two", "pair"),
    3: ("3", "three"),
    4: ("4", "four"),
    5: ("5", "five"),
    6: ("6", "six"),
    7: ("7", "seven"),
    8: ("8", "eight"),
    9: ("9", "nine"),
}


def _canvas(color: tuple[int, int, int] = WHITE, size: int = SIZE) -> np.ndarray:
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[:, :] = color
    return image


def solid(color: tuple[int, int, int] = RED, size: int = SIZE) -> np.ndarray:
    """One colour, edge to edge."""
    return _canvas(color, size)


def digit(value: str = "7", size: int = SIZE) -> np.ndarray:
    """A large black digit (one of 0-9) on white, drawn from a 5x7 bitmap scaled to most of the image."""
    rows = _FONT[value]
    cell = size // 9
    image = _canvas(WHITE, size)
    top, left = (size - 7 * cell) // 2, (size - 5 * cell) // 2
    for r, row in enumerate(rows):
        for c, mark in enumerate(row):
            if mark == "#":
                image[top + r * cell : top + (r + 1) * cell, left + c * cell : left + (c + 1) * cell] = BLACK
    return image


def circles(count: int = 3, size: int = SIZE, color: tuple[int, int, int] = BLUE) -> np.ndarray:
    """``count`` (1-4) filled circles of the same size, well apart, on white."""
    if not 1 <= count <= 4:
        raise ValueError(f"circles: count must be 1-4, got {count}")
    centres = {
        1: ((0.5, 0.5),),
        2: ((0.5, 0.27), (0.5, 0.73)),
        3: ((0.3, 0.25), (0.3, 0.75), (0.72, 0.5)),
        4: ((0.27, 0.27), (0.27, 0.73), (0.73, 0.27), (0.73, 0.73)),
    }[count]
    radius = size * 0.15
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    image = _canvas(WHITE, size)
    for cy, cx in centres:
        image[(yy - cy * size) ** 2 + (xx - cx * size) ** 2 <= radius**2] = color
    return image


def moving_square(frames: int = 8, size: int = 64, side: int = 16) -> list[np.ndarray]:
    """A red square sliding left to right across a white frame, one step per frame."""
    step = (size - side) / max(frames - 1, 1)
    top = (size - side) // 2
    out = []
    for index in range(frames):
        frame = _canvas(WHITE, size)
        left = round(index * step)
        frame[top : top + side, left : left + side] = RED
        out.append(frame)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# encoders


def png(image: np.ndarray) -> bytes:
    """An 8-bit RGB PNG (filter 0 on every row, zlib level 9): byte-for-byte the same for the same pixels."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"png: need an HxWx3 uint8 array, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def avi(frames: list[np.ndarray], fps: int = 4, codec: str = "png") -> bytes:
    """A RIFF AVI with an idx1 index whose frames are PNGs (fourcc MPNG) or raw top-down BGR (codec "raw")."""
    if not frames:
        raise ValueError("avi: no frames")
    height, width = frames[0].shape[:2]
    if any(f.shape != (height, width, 3) or f.dtype != np.uint8 for f in frames):
        raise ValueError("avi: every frame must be an HxWx3 uint8 array of the same size")
    if (width * 3) % 4:
        raise ValueError(f"avi: width {width} gives rows that need padding; use a multiple of 4")
    frame_bytes = width * height * 3

    def chunk(kind: bytes, data: bytes) -> bytes:
        return kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")

    def lst(kind: bytes, body: bytes) -> bytes:
        return chunk(b"LIST", kind + body)

    count = len(frames)
    fourcc = b"MPNG" if codec == "png" else b"DIB "
    avih = struct.pack(
        "<IIIIIIIIII16x",
        1_000_000 // fps,  # microseconds per frame
        frame_bytes * fps,  # max bytes per second
        0,  # padding granularity
        0x10,  # AVIF_HASINDEX
        count,
        0,  # initial frames
        1,  # streams
        frame_bytes,
        width,
        height,
    )
    strh = struct.pack(
        "<4s4sIHHIIIIIIIIhhhh",
        b"vids",
        fourcc,
        0,
        0,
        0,
        0,
        1,  # scale
        fps,  # rate: rate / scale = frames per second
        0,
        count,  # length in frames
        frame_bytes,
        0xFFFFFFFF,  # quality: default
        0,
        0,
        0,
        width,
        height,
    )
    # A negative height is a top-down bitmap: rows in their natural order.
    compression = 0 if codec == "raw" else struct.unpack("<I", fourcc)[0]
    strf = struct.pack("<IiiHHIIiiII", 40, width, -height, 1, 24, compression, frame_bytes, 0, 0, 0, 0)
    header = lst(b"hdrl", chunk(b"avih", avih) + lst(b"strl", chunk(b"strh", strh) + chunk(b"strf", strf)))
    if codec == "png":
        kind, payloads = b"00dc", [png(f) for f in frames]
    elif codec == "raw":
        kind, payloads = b"00db", [np.ascontiguousarray(f[:, :, ::-1]).tobytes() for f in frames]
    else:
        raise ValueError(f"avi: codec must be 'png' or 'raw', got {codec!r}")
    movi_chunks = [chunk(kind, p) for p in payloads]
    movi = lst(b"movi", b"".join(movi_chunks))
    index = b""
    offset = 4  # offsets count from the 'movi' fourcc
    for payload, data in zip(payloads, movi_chunks, strict=True):
        index += struct.pack("<4sIII", kind, 0x10, offset, len(payload))  # AVIIF_KEYFRAME
        offset += len(data)
    body = b"AVI " + header + movi + chunk(b"idx1", index)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# ---------------------------------------------------------------------------------------------------------------------
# the harness's media set


@dataclass(frozen=True)
class Media:
    """One file the probes send, with what a right answer says about it."""

    name: str  # file name, also its path on the MediaServer
    mime: str
    data: bytes
    question: str
    answers: tuple[str, ...]  # lenient: any of these words in the answer is right

    @property
    def data_uri(self) -> str:
        return data_uri(self.data, self.mime)


def _build() -> dict[str, Media]:
    items = (
        Media(
            "red.png",
            "image/png",
            png(solid(RED)),
            "What colour is this image? Answer with one word.",
            ("red", "crimson", "scarlet"),
        ),
        Media(
            "digit7.png",
            "image/png",
            png(digit("7")),
            "Which digit is shown in this image? Answer with the digit only.",
            NUMBER_WORDS[7],
        ),
        Media(
            "circles3.png",
            "image/png",
            png(circles(3)),
            "How many circles are in this image? Answer with a number.",
            NUMBER_WORDS[3],
        ),
        Media(
            "square.avi",
            "video/x-msvideo",
            avi(moving_square()),
            "What shape moves in this video, and which way? Answer briefly.",
            ("square", "box", "rectangle", "block", "moving", "moves", "right", "slides", "sliding"),
        ),
    )
    return {m.name: m for m in items}


MEDIA: Mapping[str, Media] = _build()
IMAGES: tuple[str, ...] = ("red.png", "digit7.png", "circles3.png")
VIDEO = "square.avi"


# ---------------------------------------------------------------------------------------------------------------------
# the loopback server


class MediaServer:
    """A ThreadingHTTPServer on 127.0.0.1 (free port) serving ``MEDIA`` by name and recording each GET path.

    >>> with MediaServer() as media:
    ...     url = media.url("red.png")
    """

    def __init__(self, media: Mapping[str, Media] | None = None, host: str = "127.0.0.1") -> None:
        self.media = dict(MEDIA if media is None else media)
        self.host = host
        self.requests: list[str] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.split("?", 1)[0].lstrip("/")
                with owner._lock:
                    owner.requests.append(self.path)
                item = owner.media.get(name)
                if item is None:
                    self.send_error(404, f"no media named {name!r}")
                    return
                self.send_response(200)
                self.send_header("Content-Type", item.mime)
                self.send_header("Content-Length", str(len(item.data)))
                self.end_headers()
                self.wfile.write(item.data)

            def log_message(self, format: str, *args: object) -> None:
                return  # requests are recorded, not printed

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, name: str) -> str:
        if name not in self.media:
            raise KeyError(f"no media named {name!r}: known {', '.join(self.media)}")
        return f"http://{self.host}:{self.port}/{name}"

    def fetched(self, name: str) -> int:
        """How many times ``name`` was requested."""
        with self._lock:
            return sum(1 for path in self.requests if path.split("?", 1)[0].lstrip("/") == name)

    def start(self) -> MediaServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, name="media-server", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> MediaServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def media_host_for(base_url: str) -> str:
    """The address of this machine that the server at ``base_url`` can fetch media from: loopback for a local server
    (ours, or a live endpoint on this machine); for a remote one, the local address the route to it leaves from (a
    UDP socket's connect sends nothing); loopback again when there is no route (the fetch check then fails there)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    try:
        if host in ("", "localhost") or ipaddress.ip_address(host).is_loopback:
            return "127.0.0.1"
    except ValueError:
        pass  # a host name: resolve it through the route below
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, parts.port or 80))
            return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
