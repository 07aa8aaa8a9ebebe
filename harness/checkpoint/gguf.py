"""The one GGUF reader: a GGUF file's header, metadata and tensor infos, read without touching tensor data.

A GGUF file (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md) is the magic ``GGUF``, a version, the tensor
and metadata counts, the metadata key/values (typed: integers, floats, bools, strings, arrays), the tensor infos
(name, shape, ggml type, offset into the data section) and then, aligned to ``general.alignment``, the data. Pre-flight
reads everything before the data: a few MB for a model of any size (the token list is the bulk of it).

A checkpoint is a stranger's file, so every count and length is bounded twice: by a fixed ceiling (no list of a
billion entries is ever allocated) and by the bytes the file has left (a count the rest of the file cannot hold is a
truncated or corrupt file, said as such). ``GgufCorrupt`` (WEIGHTS_CORRUPT) is a file no GGUF writer makes;
``GgufTruncated`` (WEIGHTS_INCOMPLETE) is one cut short. Standard library only; the type tables are the ggml ones
(ggml.h ``ggml_type``, llama.h ``llama_ftype``, gguf-py's ``GGML_QUANT_SIZES``), written out here.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)  # version 1 used 32-bit counts and lengths; llama.cpp refuses it too
DEFAULT_ALIGNMENT = 32

# Ceilings no real file comes near (the largest GGUFs have ~2,000 tensors and ~60 metadata keys per shard, token
# lists of ~260k entries, chat templates of ~100 KB); beyond them the file is hostile, not big.
MAX_KV = 1 << 16
MAX_TENSORS = 1 << 20
MAX_STRING = 16 << 20  # one metadata string
MAX_NAME = 1 << 16  # a tensor name (the spec says 64 bytes; a lenient ceiling, the names are only read)
MAX_ARRAY = 1 << 26  # elements of one array
MAX_KEPT_BYTES = 128 << 20  # all the string arrays kept (the token list), together
MAX_DIMS = 8  # ggml has 4 (GGML_MAX_DIMS); anything above 8 is not a tensor a writer made
MAX_DEPTH = 3  # arrays of arrays

# GGUF metadata value types (gguf.md "gguf_metadata_value_type") -> struct code; 8 string, 9 array.
_SCALARS: dict[int, str] = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9

# ggml types: id -> (name, elements per block, bytes per block). gguf-py's GGML_QUANT_SIZES; ids 4, 5 and 31-33
# were removed from ggml (Q4_2, Q4_3, the Q4_0_4_4 repacks) and are never written by a current quantizer.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}
UNQUANTIZED = frozenset({"F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64"})

# general.file_type (llama.h llama_ftype): what the quantizer was asked for, e.g. 15 = Q4_K_M ("mostly Q4_K", with
# some tensors kept in Q6_K). The name is the quant tag GGUF repositories put in their file names.
FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
    1024: "GUESSED",
}

# Arrays whose values pre-flight needs (the token list maps the template's end-of-turn token to its id); every other
# array is skipped over, its length and item type kept.
KEPT_ARRAYS = frozenset({"tokenizer.ggml.tokens", "tokenizer.ggml.token_type"})
TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED = 3, 4  # llama.cpp's llama_token_type: the special tokens


class GgufError(ValueError):
    """A GGUF file pre-flight cannot read; ``code`` is the finding it becomes."""

    code = "WEIGHTS_CORRUPT"


class GgufCorrupt(GgufError):
    """Not a file a GGUF writer makes: wrong magic or version, a type or a count out of range."""


class GgufTruncated(GgufError):
    """The file ends before what its header says it holds."""

    code = "WEIGHTS_INCOMPLETE"


@dataclass(frozen=True)
class GgufArray:
    """A metadata array: its item type and length; ``values`` only for ``KEPT_ARRAYS`` (else None)."""

    item_type: int
    length: int
    values: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # ggml order: fastest-varying dimension first
    ggml_type: int
    offset: int  # into the data section

    @property
    def type_name(self) -> str:
        known = GGML_TYPES.get(self.ggml_type)
        return known[0] if known else f"type {self.ggml_type}"

    @property
    def elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count

    @property
    def nbytes(self) -> int | None:
        """Bytes of data, None for a ggml type this reader does not know (a newer ggml)."""
        known = GGML_TYPES.get(self.ggml_type)
        if known is None:
            return None
        _, block, size = known
        return -(-self.elements // block) * size


@dataclass(frozen=True)
class GgufFile:
    path: Path
    version: int
    byte_order: str  # "little" (every current writer) or "big"
    metadata: Mapping[str, Any]  # scalars as Python values, strings decoded, arrays as GgufArray
    tensors: tuple[TensorInfo, ...]
    alignment: int
    data_offset: int  # where the data section starts
    file_size: int

    def get(self, key: str) -> Any:
        return self.metadata.get(key)

    def string(self, key: str) -> str | None:
        value = self.metadata.get(key)
        return value if isinstance(value, str) else None

    def integer(self, key: str) -> int | None:
        value = self.metadata.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def architecture(self) -> str | None:
        return self.string("general.architecture")

    def arch_int(self, suffix: str) -> int | None:
        """``<general.architecture>.<suffix>``, e.g. ``context_length``."""
        arch = self.architecture
        return self.integer(f"{arch}.{suffix}") if arch else None

    @property
    def expected_size(self) -> int:
        """The smallest file size that holds every tensor's data (the header's promise)."""
        ends = [self.data_offset + t.offset + (t.nbytes or 0) for t in self.tensors]
        return max(ends, default=self.data_offset)

    @property
    def parameters(self) -> int:
        return sum(t.elements for t in self.tensors)

    def type_counts(self) -> dict[str, int]:
        """ggml type name -> number of tensors, most frequent first."""
        return dict(Counter(t.type_name for t in self.tensors).most_common())

    def type_bytes(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for tensor in self.tensors:
            out[tensor.type_name] += tensor.nbytes or 0
        return dict(out.most_common())

    @property
    def file_type(self) -> str | None:
        """general.file_type's name (Q4_K_M, ...), else the quantized ggml type holding most bytes."""
        code = self.integer("general.file_type")
        if code is not None:
            return FILE_TYPES.get(code, f"file type {code}")
        quantized = {k: v for k, v in self.type_bytes().items() if k not in UNQUANTIZED}
        return max(quantized, key=lambda k: quantized[k]) if quantized else next(iter(self.type_bytes()), None)

    def tokens(self) -> tuple[str, ...]:
        array = self.metadata.get("tokenizer.ggml.tokens")
        if isinstance(array, GgufArray) and array.values is not None:
            return tuple(str(v) for v in array.values)
        return ()

    def special_tokens(self) -> dict[str, int]:
        """Control and user-defined tokens (llama.cpp's special tokens) -> id: the end-of-turn candidates."""
        types = self.metadata.get("tokenizer.ggml.token_type")
        kinds = types.values if isinstance(types, GgufArray) and types.values is not None else ()
        special = (TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED)
        return {tok: i for i, (tok, kind) in enumerate(zip(self.tokens(), kinds, strict=False)) if kind in special}

    def token(self, key: str) -> tuple[int | None, str | None]:
        """A ``tokenizer.ggml.<key>_token_id`` and its text (None where absent or out of the token list)."""
        token_id = self.integer(f"tokenizer.ggml.{key}_token_id")
        tokens = self.tokens()
        text = tokens[token_id] if token_id is not None and 0 <= token_id < len(tokens) else None
        return token_id, text


@dataclass(frozen=True)
class GgufFacts:
    """What pre-flight reports of a GGUF file (``check``'s ``gguf`` facts); None where the file is silent."""

    file: str  # the file name (the first shard of a split GGUF)
    version: int
    architecture: str | None  # general.architecture: llama, gemma3, qwen2 ... (llama.cpp's names, not transformers')
    name: str | None  # general.name
    file_type: str | None  # Q4_K_M, Q4_1, ... (general.file_type, else the dominant quantized tensor type)
    tensor_types: Mapping[str, int]  # ggml type -> tensors, most frequent first
    tensors: int
    parameters: int
    shards: int  # split.count (1 for a single file)
    context_length: int | None
    block_count: int | None
    embedding_length: int | None
    head_count: int | None
    head_count_kv: int | None
    head_dim: int | None  # <arch>.attention.key_length, else embedding_length / head_count
    sliding_window: int | None
    vocab_size: int | None  # the token list's length (what the GGUF plugin sets vocab_size to), else <arch>.vocab_size
    tokenizer_model: str | None  # tokenizer.ggml.model: gpt2 (BPE), llama (SentencePiece), ...
    bos_token: str | None
    bos_token_id: int | None
    eos_token: str | None
    eos_token_id: int | None
    eot_token: str | None
    eot_token_id: int | None
    chat_template: bool  # tokenizer.chat_template present

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "version": self.version,
            "architecture": self.architecture,
            "name": self.name,
            "file_type": self.file_type,
            "tensor_types": dict(self.tensor_types),
            "tensors": self.tensors,
            "parameters": self.parameters,
            "shards": self.shards,
            "context_length": self.context_length,
            "block_count": self.block_count,
            "embedding_length": self.embedding_length,
            "head_count": self.head_count,
            "head_count_kv": self.head_count_kv,
            "head_dim": self.head_dim,
            "sliding_window": self.sliding_window,
            "vocab_size": self.vocab_size,
            "tokenizer_model": self.tokenizer_model,
            "bos_token": self.bos_token,
            "bos_token_id": self.bos_token_id,
            "eos_token": self.eos_token,
            "eos_token_id": self.eos_token_id,
            "eot_token": self.eot_token,
            "eot_token_id": self.eot_token_id,
            "chat_template": self.chat_template,
        }


def gguf_facts(gguf: GgufFile, parameters: int | None = None) -> GgufFacts:
    """The facts of ``gguf``; ``parameters`` overrides its own count (a split GGUF's, summed over the shards)."""
    heads = gguf.arch_int("attention.head_count")
    width = gguf.arch_int("embedding_length")
    head_dim = gguf.arch_int("attention.key_length")
    if head_dim is None and heads and width:
        head_dim = width // heads
    tokens = gguf.tokens()
    bos_id, bos = gguf.token("bos")
    eos_id, eos = gguf.token("eos")
    eot_id, eot = gguf.token("eot")
    return GgufFacts(
        file=gguf.path.name,
        version=gguf.version,
        architecture=gguf.architecture,
        name=gguf.string("general.name"),
        file_type=gguf.file_type,
        tensor_types=gguf.type_counts(),
        tensors=len(gguf.tensors),
        parameters=gguf.parameters if parameters is None else parameters,
        shards=gguf.integer("split.count") or 1,
        context_length=gguf.arch_int("context_length"),
        block_count=gguf.arch_int("block_count"),
        embedding_length=width,
        head_count=heads,
        head_count_kv=gguf.arch_int("attention.head_count_kv"),
        head_dim=head_dim,
        sliding_window=gguf.arch_int("attention.sliding_window"),
        vocab_size=len(tokens) if tokens else gguf.arch_int("vocab_size"),
        tokenizer_model=gguf.string("tokenizer.ggml.model"),
        bos_token=bos,
        bos_token_id=bos_id,
        eos_token=eos,
        eos_token_id=eos_id,
        eot_token=eot,
        eot_token_id=eot_id,
        chat_template=bool(gguf.string("tokenizer.chat_template")),
    )


class _Reader:
    """Sequential reads of a file with every length checked against the bytes left."""

    def __init__(self, handle: IO[bytes], size: int, order: str) -> None:
        self.handle, self.size, self.order = handle, size, order
        self.kept_bytes = 0

    def left(self) -> int:
        return self.size - self.handle.tell()

    def read(self, count: int, what: str) -> bytes:
        at = self.handle.tell()
        if count > self.size - at:
            raise GgufTruncated(
                f"the file ends at byte {self.size} inside {what} (needs {count} bytes from byte {at}): it is truncated"
            )
        data = self.handle.read(count)
        if len(data) != count:
            raise GgufTruncated(f"short read inside {what} at byte {at}: the file is truncated or still being written")
        return data

    def skip(self, count: int, what: str) -> None:
        at = self.handle.tell()
        if count > self.size - at:
            raise GgufTruncated(f"the file ends at byte {self.size} inside {what} (byte {at} + {count}): truncated")
        self.handle.seek(count, os.SEEK_CUR)

    def scalar(self, code: str, what: str) -> Any:
        size = struct.calcsize(code)
        return struct.unpack(("<" if self.order == "little" else ">") + code, self.read(size, what))[0]

    def u64(self, what: str) -> int:
        return int(self.scalar("Q", what))

    def string(self, what: str, bound: int = MAX_STRING, keep: bool = True) -> str | None:
        length = self.u64(f"the length of {what}")
        if length > bound:
            if length > self.left():
                raise GgufTruncated(
                    f"{what} claims {length} bytes but only {self.left()} are left in the file: truncated or corrupt"
                )
            raise GgufCorrupt(f"{what} is {length} bytes, above the {bound}-byte bound for a GGUF string")
        if not keep:
            self.skip(length, what)
            return None
        raw = self.read(length, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise GgufCorrupt(f"{what} is not UTF-8 (byte {error.start})") from error


def _value(reader: _Reader, kind: int, key: str, keep: bool, depth: int = 0) -> Any:
    if kind in _SCALARS:
        value = reader.scalar(_SCALARS[kind], f"the value of {key!r}")
        return bool(value) if kind == 7 else value
    if kind == _STRING:
        return reader.string(f"the string value of {key!r}", keep=keep)
    if kind != _ARRAY:
        raise GgufCorrupt(f"metadata key {key!r} has value type {kind}, not one of GGUF's 0-12")
    if depth >= MAX_DEPTH:
        raise GgufCorrupt(f"metadata key {key!r} nests arrays deeper than {MAX_DEPTH}")
    item = int(reader.scalar("I", f"the item type of {key!r}"))
    length = reader.u64(f"the length of the array {key!r}")
    least = struct.calcsize(_SCALARS[item]) if item in _SCALARS else 8 if item in (_STRING, _ARRAY) else 1
    if length * least > reader.left():
        raise GgufTruncated(
            f"array {key!r} claims {length} items (at least {length * least} bytes) but only {reader.left()} bytes "
            "are left in the file: truncated or corrupt"
        )
    if length > MAX_ARRAY:
        raise GgufCorrupt(f"array {key!r} has {length} items, above the {MAX_ARRAY}-item bound")
    if item not in _SCALARS and item not in (_STRING, _ARRAY):
        raise GgufCorrupt(f"array {key!r} has item type {item}, not one of GGUF's 0-12")
    kept = keep and key in KEPT_ARRAYS and depth == 0
    if item in _SCALARS:
        if not kept:
            reader.skip(length * least, f"the array {key!r}")
            return GgufArray(item, length)
        prefix = "<" if reader.order == "little" else ">"
        numbers = struct.unpack(f"{prefix}{length}{_SCALARS[item]}", reader.read(length * least, f"the array {key!r}"))
        return GgufArray(item, length, numbers)
    values: list[Any] = []
    for index in range(length):
        value = _value(reader, item, f"{key}[{index}]", kept, depth + 1)
        if kept:
            if isinstance(value, str):
                reader.kept_bytes += len(value)
                if reader.kept_bytes > MAX_KEPT_BYTES:
                    raise GgufCorrupt(f"the kept arrays exceed {MAX_KEPT_BYTES} bytes of text at {key!r}[{index}]")
            values.append(value)
    return GgufArray(item, length, tuple(values) if kept else None)


def read_gguf(path: Path) -> GgufFile:
    """The header, metadata and tensor infos of the GGUF at ``path``; GgufCorrupt / GgufTruncated (with what and
    where) for a file that is not a whole GGUF; OSError when it cannot be opened."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise GgufTruncated(f"{size} bytes: shorter than a GGUF header (magic + version)")
        if head[:4] != MAGIC:
            raise GgufCorrupt(f"starts with {head[:4]!r}, not the GGUF magic {MAGIC!r}: not a GGUF file")
        little, big = struct.unpack("<I", head[4:])[0], struct.unpack(">I", head[4:])[0]
        order = "little" if little in SUPPORTED_VERSIONS or big not in SUPPORTED_VERSIONS else "big"
        version = little if order == "little" else big
        if version not in SUPPORTED_VERSIONS:
            raise GgufCorrupt(f"GGUF version {little}: only versions {SUPPORTED_VERSIONS} are read (1 is obsolete)")
        reader = _Reader(handle, size, order)
        tensor_count = reader.u64("the tensor count")
        kv_count = reader.u64("the metadata count")
        if kv_count > MAX_KV or tensor_count > MAX_TENSORS:
            raise GgufCorrupt(
                f"header counts {tensor_count} tensors and {kv_count} metadata keys: above the bounds "
                f"({MAX_TENSORS}, {MAX_KV}); the header is corrupt"
            )
        metadata: dict[str, Any] = {}
        for index in range(kv_count):
            key = reader.string(f"metadata key #{index}", bound=MAX_NAME) or ""
            kind = int(reader.scalar("I", f"the value type of {key!r}"))
            metadata[key] = _value(reader, kind, key, keep=True)
        tensors: list[TensorInfo] = []
        for index in range(tensor_count):
            name = reader.string(f"the name of tensor #{index}", bound=MAX_NAME) or ""
            dims = int(reader.scalar("I", f"the dimension count of {name!r}"))
            if dims > MAX_DIMS:
                raise GgufCorrupt(f"tensor {name!r} has {dims} dimensions, above the bound of {MAX_DIMS}")
            shape = tuple(reader.u64(f"a dimension of {name!r}") for _ in range(dims))
            ggml_type = int(reader.scalar("I", f"the type of {name!r}"))
            offset = reader.u64(f"the offset of {name!r}")
            tensors.append(TensorInfo(name, shape, ggml_type, offset))
        alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise GgufCorrupt(f"general.alignment is {alignment!r}: the spec wants a power of two")
        end = handle.tell()
    data_offset = -(-end // alignment) * alignment
    gguf = GgufFile(path, version, order, metadata, tuple(tensors), alignment, data_offset, size)
    for tensor in tensors:
        if tensor.offset % alignment:
            raise GgufCorrupt(
                f"tensor {tensor.name!r} starts at data offset {tensor.offset}, not a multiple of {alignment}"
            )
    if gguf.expected_size > size:
        last = max(tensors, key=lambda t: t.offset + (t.nbytes or 0))
        raise GgufTruncated(
            f"the file is {size} bytes but its tensors need {gguf.expected_size} (data from byte {data_offset}; "
            f"{last.name!r} ends last): it is truncated"
        )
    return gguf


def is_gguf_file(path: Path) -> bool:
    """vLLM's GGUF plugin rule (gguf_utils.check_gguf_file): a regular file named *.gguf, or one starting with the
    magic."""
    try:
        if not path.is_file():
            return False
        if path.suffix == ".gguf":
            return True
        with path.open("rb") as handle:
            return handle.read(4) == MAGIC
    except OSError:
        return False


__all__ = [
    "FILE_TYPES",
    "GGML_TYPES",
    "GgufArray",
    "GgufCorrupt",
    "GgufError",
    "GgufFacts",
    "GgufFile",
    "GgufTruncated",
    "TensorInfo",
    "gguf_facts",
    "is_gguf_file",
    "read_gguf",
]
