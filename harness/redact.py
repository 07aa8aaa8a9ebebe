"""Secrets never reach a log, record, report or page: the values to mask and the one function that masks them.

A secret is the value of an environment variable whose name says it is one (``HF_TOKEN``, ``TTS_API_KEY``,
``..._SECRET``, ``..._PASSWORD``; eight characters or more) or a value registered at run time (the API key each
vLLM server is started with). The one results writer masks every line it writes, so the report, the pages, the
gate's JUnit and step summary, all read from results.jsonl, cannot show one; the pytest face masks what it prints.
An endpoint that quotes the key back in its 401 body is the case this exists for.
"""

from __future__ import annotations

import os
import re
import threading

MASK = "***"
_SECRET_NAME = re.compile(r"(TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
MIN_LENGTH = 8  # shorter values ("1", "true", "EMPTY") would mask ordinary words
_lock = threading.Lock()
_registered: set[str] = set()


def register(value: str | None) -> None:
    """Mask ``value`` from now on in this process (a server's generated API key)."""
    if value and len(value) >= MIN_LENGTH:
        with _lock:
            _registered.add(value)


def secrets() -> list[str]:
    """Every value to mask now, longest first (a secret that contains another is masked whole)."""
    found = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= MIN_LENGTH}
    with _lock:
        found |= _registered
    return sorted(found, key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every secret replaced by ``***``."""
    for value in secrets():
        if value in text:
            text = text.replace(value, MASK)
    return text


__all__ = ["MASK", "redact", "register", "secrets"]
