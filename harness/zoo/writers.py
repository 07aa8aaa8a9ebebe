"""The bytes every member is made of: JSON files, safetensors files, and deterministic "random" weights.

No torch and no ``safetensors`` package: a safetensors file is a u64 header length, a JSON header and the raw data,
written here from numpy. The weights come from a splitmix64 hash, not from numpy's RNG streams (whose values may
change between numpy releases), so a member built twice, anywhere, is byte-for-byte the same.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

TRANSFORMERS_VERSION = "4.51.3"  # what the files claim to be written by; vLLM and transformers 5 both read it


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented UTF-8 JSON with a final newline, creating the parent folders (component subfolders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def hash_uniform(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Values in [-1, 1) from splitmix64 of (seed, index): stable across numpy versions, unlike its RNG streams."""
    count = int(np.prod(shape))
    with np.errstate(over="ignore"):
        x = np.arange(count, dtype=np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    unit = (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return (unit * 2.0 - 1.0).astype(np.float32).reshape(shape)


def _to_bf16_bytes(array: np.ndarray) -> bytes:
    """float32 -> bfloat16 (round to nearest even), little-endian: numpy has no bfloat16 dtype."""
    bits = np.ascontiguousarray(array, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = (bits + np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)
    return rounded.astype("<u2").tobytes()


_DTYPES: dict[str, tuple[str, Callable[[np.ndarray], bytes]]] = {
    "bfloat16": ("BF16", _to_bf16_bytes),
    "float32": ("F32", lambda a: np.ascontiguousarray(a, dtype="<f4").tobytes()),
}


def safetensors_parts(tensors: dict[str, np.ndarray], dtype: str = "bfloat16") -> tuple[bytes, bytes]:
    """A safetensors file in two parts: the head (u64 length + JSON header, sorted, space-padded to 8 bytes) and the
    data. Kept apart so a member can damage the data (a truncated shard) without reading the header back."""
    code, encode = _DTYPES[dtype]
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        data = encode(tensors[name])
        header[name] = {"dtype": code, "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text, b"".join(chunks)


def safetensors_bytes(tensors: dict[str, np.ndarray], dtype: str = "bfloat16") -> bytes:
    """A whole safetensors file of ``tensors`` stored as ``dtype`` ("bfloat16" or "float32")."""
    head, data = safetensors_parts(tensors, dtype)
    return head + data


__all__ = ["TRANSFORMERS_VERSION", "hash_uniform", "safetensors_bytes", "safetensors_parts", "write_json"]
