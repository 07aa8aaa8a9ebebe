"""The one safetensors header parser: what a weight file holds (and should weigh), read without touching a tensor.

A safetensors file is an 8-byte little-endian header length, a JSON header (tensor name -> dtype, shape and byte
offsets into the data that follows), then the data. Pre-flight uses the header to catch truncated files and count
parameters; the server records the bytes of tensor data it expects the engine to load.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MAX_HEADER_BYTES = 100_000_000  # a larger length is a corrupt file, not a header worth reading
# safetensors' dtype names -> torch's, the names config.json (torch_dtype) and vLLM's --dtype use.
TORCH_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}


@dataclass(frozen=True)
class Header:
    header_bytes: int
    expected_size: int  # 8 + header length + the largest data end offset
    parameters: int
    dtype_bytes: Mapping[str, int]  # safetensors dtype ("BF16", "F32", ...) -> bytes of tensor data

    @property
    def data_bytes(self) -> int:
        """Bytes of tensor data the header describes."""
        return sum(self.dtype_bytes.values())


def dominant_dtype(dtype_bytes: Mapping[str, int]) -> str | None:
    """The dtype holding most of the bytes, in torch's name (safetensors' own for a dtype torch does not name)."""
    if not dtype_bytes:
        return None
    name = max(dtype_bytes, key=lambda dtype: dtype_bytes[dtype])
    return TORCH_DTYPES.get(name, name)


class HeaderCorrupt(ValueError):
    """The header is not one a safetensors writer makes: an absurd length, not JSON, or the wrong shape (the file
    is corrupt, not merely cut short)."""


def read_header(path: Path) -> Header:
    """Parse only a safetensors file's header (8-byte little-endian length, then JSON); never the tensors.

    The read is bounded by ``MAX_HEADER_BYTES`` whatever the length field claims. ValueError when the file is cut
    short; HeaderCorrupt (a ValueError) when the header is absurd or of the wrong shape."""
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ValueError(f"{len(head)} bytes: shorter than the 8-byte header length")
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER_BYTES:
            raise HeaderCorrupt(f"header length {length} is implausible (above {MAX_HEADER_BYTES}; nothing read)")
        raw = handle.read(length)
    if len(raw) < length:
        raise ValueError(f"header promises {length} bytes, file has {len(raw)}")
    try:
        data = json.loads(raw)
        end = 0
        parameters = 0
        by_dtype: Counter[str] = Counter()
        for name, info in data.items():
            if name == "__metadata__" or not isinstance(info, dict):
                continue
            start, stop = info["data_offsets"]
            end = max(end, int(stop))
            parameters += math.prod(int(d) for d in info.get("shape", []))
            by_dtype[str(info.get("dtype"))] += int(stop) - int(start)
    except (ValueError, RecursionError, KeyError, TypeError, AttributeError) as error:
        raise HeaderCorrupt(f"the header is not a safetensors header ({type(error).__name__}: {error})") from error
    return Header(length, 8 + length + end, parameters, dict(by_dtype))


def tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a safetensors file's header (bounded like ``read_header``); ValueError when the file
    is cut short or its header is not a safetensors header."""
    read_header(path)  # the bounds and the shape checks
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        data = json.loads(handle.read(length))
    return {
        str(name): tuple(int(d) for d in info.get("shape", []))
        for name, info in data.items()
        if name != "__metadata__" and isinstance(info, dict)
    }


def expected_weight_bytes(model_dir: str | os.PathLike[str]) -> int:
    """Bytes of tensor data the checkpoint's ``*.safetensors`` files hold, read from their headers only."""
    total = 0
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        try:
            total += read_header(path).data_bytes
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
    return total


def hub_parameter_count(model: str) -> int | None:
    """Parameters of a hub model whose weights are not downloaded: its headers, read by range requests; None when
    the hub does not answer."""
    try:
        from huggingface_hub import HfApi

        meta = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None).get_safetensors_metadata(model, timeout=10)
        return sum(meta.parameter_count.values())
    except Exception:
        return None


__all__ = [
    "TORCH_DTYPES",
    "Header",
    "HeaderCorrupt",
    "dominant_dtype",
    "expected_weight_bytes",
    "hub_parameter_count",
    "read_header",
    "tensor_shapes",
]
