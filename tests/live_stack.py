"""A stack of two real CPU vLLM servers of zoo:chat-ok, started the way other teams run theirs: it stands in for a
deployment someone else runs (tests/test_e2e_live.py) and is the text model the audio tests ask for audio
(tests/test_e2e_audio.py). tests/conftest.py starts it once per session: two boots instead of one per module."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from harness.server import VllmServer
from harness.zoo import build_member

KEY_VAR = "LIVE_AGENT_KEY"
WRONG_KEY_VAR = "LIVE_WRONG_KEY"
# enforce-eager: torch.compile is not what these servers are for, and costs ~7.5 s of a ~43 s boot here
FLAGS = {"max-model-len": 512, "gpu-memory-utilization": 0.2, "enforce-eager": True}
ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}


class OpenServer(VllmServer):
    """Real vLLM started the way a team might run a multi-name service: no --api-key, and two served names for one
    checkpoint (vLLM lists each in /v1/models and answers to each). One engine, so switching names swaps nothing:
    it stands in for a multi-model server's protocol, not for its loading times."""

    def __init__(self, *, names: tuple[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.names = names
        self.served_model_name = names[0]  # what readiness looks for in /v1/models

    def argv(self) -> list[str]:
        argv = super().argv()
        key = argv.index("--api-key")
        del argv[key : key + 2]
        served = argv.index("--served-model-name")
        argv[served + 1 : served + 2] = list(self.names)
        return argv


@dataclass(frozen=True)
class Stack:
    agent: VllmServer  # the service that is right, and requires its key
    open: OpenServer  # a text model under two names, no key: claimed as an audio/vision service and as a router
    dead_url: str  # nothing listens there
    env: dict[str, str]
    tree: tuple[int, ...]  # every process of both servers, for the leftover check


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tree(pid: int | None) -> list[int]:
    if pid is None:
        return []
    try:
        process = psutil.Process(pid)
        return [pid, *(child.pid for child in process.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def serve_stack(engine_python: Path, base: Path) -> Iterator[Stack]:
    """Boots the two servers one after the other (one vLLM boot at a time) and stops them when resumed; asserts no
    process of theirs is left."""
    path = build_member("chat-ok", base / "zoo")
    common: dict[str, Any] = {
        "engine_python": engine_python,
        "model_path": path,
        "flags": FLAGS,
        "env": ENV,
        "run_dir": base / "servers",
        "boot_timeout": 600,
        "run_id": "e2e-live",
    }
    agent = VllmServer(name="agent", **common)
    open_server = OpenServer(name="open", names=("alpha", "beta"), **common)
    tree: list[int] = []
    try:
        agent.start()
        open_server.start()
        tree = _tree(agent.pid) + _tree(open_server.pid)
        env = {**os.environ, KEY_VAR: agent.api_key, WRONG_KEY_VAR: "vc-wrong-key-0123456789"}
        yield Stack(agent, open_server, f"http://127.0.0.1:{_free_port()}/v1", env, tuple(tree))
    finally:
        leftover = open_server.stop() + agent.stop()
        tree += _tree(agent.pid) + _tree(open_server.pid)
    alive = [pid for pid in tree if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert not leftover and not alive, f"processes left over: {leftover or alive}"
