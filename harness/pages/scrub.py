"""No secret reaches a page: every text a page prints passes through ``scrub``.

Run records are written without secrets, but a page also shows engine log tails and evidence quoted from servers, so
the pages redact again, by value (the tokens set in this environment) and by shape (hub tokens, bearer headers, keys).
"""

from __future__ import annotations

import os
import re

SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "VLLM_API_KEY", "OPENAI_API_KEY", "VLLM_COMPAT_API_KEY")
_SHAPES = (
    re.compile(r"hf_[A-Za-z0-9]{20,}"),
    re.compile(r"sk-[A-Za-z0-9_-]{16,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)(api[_-]?key['\"]?\s*[:=]\s*['\"]?)(?!\*\*\*)[^\s'\",}]{6,}"),
)
REDACTED = "***"


def scrub(text: str) -> str:
    for name in SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 6:
            text = text.replace(value, REDACTED)
    for shape in _SHAPES:
        text = shape.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text
