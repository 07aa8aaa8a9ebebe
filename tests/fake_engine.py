"""A stand-in for ``python -m vllm.entrypoints.openai.api_server`` in the server's unit tests (never for verdicts).

FAKE_ENGINE_MODE: ``serve`` (log like vLLM, then answer /health, /v1/models with the key, /version), ``die`` (log a
KV-cache error and exit 1), ``hang`` (log, never listen), ``flood`` (log without end, never listen).
FAKE_ENGINE_GRANDCHILD=PATH: first spawn a grandchild that ignores SIGTERM and write its pid to PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def log(line: str) -> None:
    print(f"(APIServer pid={os.getpid()}) INFO 11-21 20:16:04 [fake.py:1] {line}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-m")
    parser.add_argument("--model")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--api-key")
    parser.add_argument("--served-model-name")
    args, rest = parser.parse_known_args()
    mode = os.environ.get("FAKE_ENGINE_MODE", "serve")
    grandchild = os.environ.get("FAKE_ENGINE_GRANDCHILD")
    if grandchild:
        code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
        child = subprocess.Popen([sys.executable, "-c", code])
        with open(grandchild, "w") as out:
            out.write(str(child.pid))
    log(f"non-default args: {{'model': {args.model!r}, 'port': {args.port}, 'rest': {rest!r}}}")
    log("Resolved architecture: FakeForCausalLM")
    if mode == "die":
        print(
            "(EngineCore pid=2) ERROR 11-21 20:16:05 [core.py:1] ValueError: No available memory for the cache "
            "blocks. Try increasing `gpu_memory_utilization` when initializing the engine.",
            flush=True,
        )
        print("RuntimeError: Engine core initialization failed. See root cause above.", flush=True)
        return 1
    if mode == "hang":
        while True:
            time.sleep(1)
    if mode == "flood":  # a log that grows without bound (about 20 MB/s), never listening
        line = "W" * 1000
        number = 0
        while True:
            number += 1
            print(f"WARNING flood line {number} {line}", flush=True)
            if number % 20 == 0:
                time.sleep(0.001)
    served = args.served_model_name
    key = args.api_key

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *values: object) -> None:
            pass

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send(200, {})
            elif self.path == "/version":
                self._send(200, {"version": "0.0.fake"})
            elif self.path == "/v1/models":
                if self.headers.get("Authorization") != f"Bearer {key}":
                    self._send(401, {"error": "Unauthorized"})
                else:
                    self._send(200, {"object": "list", "data": [{"id": served, "object": "model"}]})
            else:
                self._send(404, {"error": "not found"})

    ThreadingHTTPServer.allow_reuse_address = False
    server = ThreadingHTTPServer((args.host, args.port), Handler)  # raises "[Errno 98] Address already in use"
    log("Starting to load model /fake...")
    log("Loading weights took 0.01 seconds")
    log("Warming up model for the compilation...")
    log("CPU KV cache size: 8,388,608 tokens, Maximum concurrency for 512 tokens per request: 16384.00x")
    log(f"Starting vLLM server on http://{args.host}:{args.port}")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
