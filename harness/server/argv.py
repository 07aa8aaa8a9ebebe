"""The vLLM command line of a server: THE list of flags the harness owns, and flags -> argv.

The harness owns the flags that make a server provably ours (model, host, port, API key, served name) and the
revision it fetched: a matrix that set them could point the probes at a server the harness did not start, or at
other weights than the ones pre-flight read. The matrix refuses them with the reason; the server refuses them too,
for callers that build flags without a matrix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

HARNESS_OWNED_FLAGS: Mapping[str, str] = {
    "model": "the model is the entry's 'id'",
    "revision": "set the entry's 'revision:' instead",
    "host": "the harness binds 127.0.0.1",
    "port": "the harness picks a free port",
    "uds": "the harness serves over TCP on a port it picked",
    "api-key": "the harness sets a random API key per server",
    "served-model-name": "the harness sets a run-unique served name and checks it through /v1/models",
}


def thaw(value: Any) -> Any:
    """Plain dicts and lists from the matrix's frozen mappings and tuples (what json and yaml take)."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value


def _item_text(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, Mapping | list | tuple):
        return json.dumps(thaw(item), separators=(",", ":"))
    return str(item)


def flags_to_argv(flags: Mapping[str, Any]) -> list[str]:
    """vLLM CLI arguments: True -> --flag; False/None -> omitted; dict -> --flag JSON; list -> --flag a b; else str."""
    argv: list[str] = []
    for name, value in flags.items():
        if value is None or value is False:
            continue  # omitting is safe on every vLLM version; --no-flag is not accepted by all of them
        if value is True:
            argv.append(f"--{name}")
        elif isinstance(value, Mapping):
            argv += [f"--{name}", json.dumps(thaw(value), separators=(",", ":"))]
        elif isinstance(value, list | tuple):
            argv += [f"--{name}", *(_item_text(item) for item in value)]
        else:
            argv += [f"--{name}", str(value)]
    return argv
