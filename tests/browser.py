"""Headless Chromium driven over the Chrome DevTools Protocol (one websocket, no driver binary): open a page, collect
its console errors and uncaught exceptions, evaluate JavaScript against the DOM, save a screenshot.

Debian's ``chromium`` package (installed by .ci/run); ``browser_path()`` is None where there is none.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def browser_path() -> str | None:
    explicit = os.environ.get("VLLM_COMPAT_CHROMIUM")
    if explicit:
        return explicit
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


class Page:
    """One tab: ``open(url)`` then ``evaluate``, ``screenshot``; ``errors`` holds console errors and exceptions."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.errors: list[str] = []
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        self.events.append(message)
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            self.errors.append(str(params.get("exceptionDetails", {}).get("text")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.errors.append(str(params["entry"].get("text")))

    def open(self, url: str, timeout: float = 30, width: int = 1280, height: int = 900) -> None:
        """Load ``url`` in a window of ``width`` x ``height`` CSS pixels and wait for its load event."""
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            self.send(domain)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self._event(json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic()))))
        self.drain(0.3)  # console messages logged right after load

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self._event(json.loads(self.socket.recv(timeout=left)))
            except TimeoutError:
                return

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def overflow(self) -> dict[str, Any]:
        """The page's widths: ``scroll`` (the document's), ``client`` (the viewport less a vertical scrollbar) and
        ``inner`` (the window); the page scrolls sideways when ``scroll`` exceeds ``client``. ``scrollers`` names
        the elements that scroll sideways inside the page (a wide table in an ``overflow-x: auto`` box)."""
        widths: dict[str, Any] = self.evaluate(
            "({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,"
            " inner: window.innerWidth, scrollers: [...document.body.querySelectorAll('*')]"
            ".filter(e => e.scrollWidth > e.clientWidth + 1"
            " && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))"
            ".map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))})"
        )
        return widths

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        """Save the whole page (or only what the window shows) as a PNG."""
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": full_page})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


class Browser:
    """``with Browser() as browser: page = browser.page(); page.open(url)``."""

    def __init__(self, executable: str | None = None) -> None:
        found = executable or browser_path()
        if found is None:
            raise FileNotFoundError("no chromium on PATH: apt-get install -y chromium (or set VLLM_COMPAT_CHROMIUM)")
        self.executable = found
        self.profile = tempfile.mkdtemp(prefix="vllm-compat-chromium-")
        self.process: subprocess.Popen[str] | None = None
        self.port = 0
        self.stack = contextlib.ExitStack()  # the page sockets, closed before the browser stops

    def __enter__(self) -> Browser:
        self.process = subprocess.Popen(
            [
                self.executable,
                "--headless=new",
                "--no-sandbox",  # CI containers run as root, where the sandbox refuses to start
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            lines.append(line)
            if "DevTools listening on ws://" in line:
                self.port = int(line.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
                break
            if not line and self.process.poll() is not None:
                raise RuntimeError(f"chromium exited {self.process.returncode}: {''.join(lines)[-2000:]}")
        else:
            raise RuntimeError("chromium did not print its DevTools address within 60 s")
        return self

    def page(self) -> Page:
        targets = httpx.get(f"http://127.0.0.1:{self.port}/json/list", timeout=10).json()
        target = next(t for t in targets if t.get("type") == "page")
        socket = self.stack.enter_context(connect(target["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=30))
        return Page(socket)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stack.close()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
