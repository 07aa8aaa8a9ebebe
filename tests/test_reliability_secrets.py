"""Secrets: a planted HF_TOKEN and endpoint key never reach a file under the run directory, the report, the gate's
JUnit and step summary, or the output -- not even when the endpoint answers 401 and echoes the key it was sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.reliability

HF_TOKEN = "hf_PLANTEDtokenDoNotLeak0123456789"
ENDPOINT_KEY = "sk-PLANTEDendpointKeyDoNotLeak42"
BIN = Path(sys.executable).parent


class _Refuses(BaseHTTPRequestHandler):
    """An OpenAI-style endpoint that refuses the key, quoting it back (as some providers do)."""

    def _refuse(self) -> None:
        sent = self.headers.get("Authorization", "")
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {sent}", "code": "invalid_api_key"}})
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = _refuse

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()


def _leaks(root: Path, text: str, secrets: list[str]) -> list[str]:
    found = [f"output: {s[:8]}..." for s in secrets if s in text]
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {s[:8]}..." for s in secrets if s.encode() in data]
    return found


def test_planted_secrets_never_reach_the_run_dir_the_report_or_the_output(
    tmp_path: Path, refusing_endpoint: str
) -> None:
    """A tts cell against an endpoint that answers 401 quoting the key, the report, then the gate (JUnit + step
    summary): neither HF_TOKEN nor the endpoint key appears in any file or in stdout/stderr."""
    (tmp_path / "matrix.yaml").write_text(
        "models:\n"
        "  - id: zoo:chat-ok\n"
        "    use_cases: [tts]\n"
        "    required: [tts]\n"
        f"    endpoints: {{tts: {{base_url: '{refusing_endpoint}', model: kokoro, api_key_env: TTS_KEY}}}}\n"
    )
    summary = tmp_path / "step-summary.md"
    env = {**os.environ, "HF_TOKEN": HF_TOKEN, "TTS_KEY": ENDPOINT_KEY, "GITHUB_STEP_SUMMARY": str(summary)}
    run_dir = tmp_path / "run"
    ran = subprocess.run(
        [str(BIN / "vllm-compat"), "run", "--matrix", "matrix.yaml", "--run-dir", str(run_dir), "--offline"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    gate = subprocess.run(
        [str(BIN / "vllm-compat"), "gate", str(run_dir)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    output = ran.stdout + ran.stderr + gate.stdout + gate.stderr
    cells = [json.loads(t) for t in (run_dir / "results.jsonl").read_text().splitlines()]
    tts = next(c for c in cells if c.get("kind") == "cell")
    assert tts["verdict"] == "FAIL" and "401" in json.dumps(tts), tts  # the path that touches the key did run
    assert gate.returncode == 1 and summary.exists()
    leaks = _leaks(tmp_path, output, [HF_TOKEN, ENDPOINT_KEY])
    print(f"\n[reliability] secrets: {len(list(tmp_path.rglob('*')))} files + output scanned, leaks: {leaks or 'none'}")
    assert not leaks, leaks
