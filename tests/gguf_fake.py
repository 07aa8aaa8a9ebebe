"""A tiny GGUF writer for the pre-flight tests: real GGUF layout (gguf.md v3), zero-filled tensor data.

Written from the spec, independently of the reader under test, so the reader is checked against a second
implementation; the real files (SmolLM2, Gemma 3) check both against what llama.cpp's tools wrote.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# The ggml types the tests use: name -> (id, elements per block, bytes per block).
TYPES = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q4_K": (12, 256, 144), "Q8_K": (15, 256, 292)}

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' "
    "+ '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
TOKENS = ("<unk>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "hello", "world")
TOKEN_TYPES = (2, 3, 3, 3, 1, 1)


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _typed(value: Any) -> bytes:
    """type id + value, the type chosen like gguf-py's writer (int -> uint32 / int64, float -> float32)."""
    if isinstance(value, bool):
        return struct.pack("<I?", 7, value)
    if isinstance(value, int):
        return struct.pack("<Ii", 5, value) if -(2**31) <= value < 2**31 else struct.pack("<Iq", 11, value)
    if isinstance(value, float):
        return struct.pack("<If", 6, value)
    if isinstance(value, str):
        return struct.pack("<I", 8) + _string(value)
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, str) for v in value):
            return struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_string(v) for v in value)
        return struct.pack("<IIQ", 9, 5, len(value)) + b"".join(struct.pack("<i", v) for v in value)
    raise TypeError(value)


def llama_metadata(
    *, template: str | None = CHATML, eos: int = 2, context: int = 2048, file_type: int = 15
) -> dict[str, Any]:
    """The metadata of a small instruct model: llama architecture, ChatML template, eos <|im_end|>."""
    meta: dict[str, Any] = {
        "general.architecture": "llama",
        "general.name": "tiny",
        "general.file_type": file_type,
        "llama.context_length": context,
        "llama.embedding_length": 64,
        "llama.block_count": 2,
        "llama.attention.head_count": 2,
        "llama.attention.head_count_kv": 1,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": list(TOKENS),
        "tokenizer.ggml.token_type": list(TOKEN_TYPES),
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": eos,
    }
    if template is not None:
        meta["tokenizer.chat_template"] = template
    return meta


def gguf_bytes(
    metadata: Mapping[str, Any],
    tensors: Sequence[tuple[str, tuple[int, ...], str]] = (("token_embd.weight", (256, 6), "Q4_K"),),
    *,
    alignment: int = 32,
) -> bytes:
    """A whole GGUF v3 file: header, metadata, tensor infos, padding, zero data laid out one after the other."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)))
    for key, value in metadata.items():
        out += _string(key) + _typed(value)
    offset = 0
    sizes = []
    for name, shape, kind in tensors:
        type_id, block, size = TYPES[kind]
        elements = 1
        for dim in shape:
            elements *= dim
        nbytes = -(-elements // block) * size
        out += _string(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        out += struct.pack("<IQ", type_id, offset)
        sizes.append(nbytes)
        offset += -(-nbytes // alignment) * alignment
    out += b"\0" * (-len(out) % alignment)
    for nbytes in sizes:
        out += b"\0" * (-(-nbytes // alignment) * alignment)
    return bytes(out)


def write_gguf(path: Path, metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> Path:
    """Write a GGUF (default: ``llama_metadata()`` and one Q4_K tensor) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gguf_bytes(llama_metadata() if metadata is None else metadata, **kwargs))
    return path
