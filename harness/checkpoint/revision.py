"""The revision a checkpoint resolved to, for the history key: a hub snapshot's commit sha, or a local directory's
content hash.

A hub snapshot lives in ``.../snapshots/<commit sha>/``: the directory name is the commit the hub resolved the
matrix's revision (or main) to. A local directory (or a zoo member) has no commit, so its revision is a hash of what
decides how vLLM loads it without reading gigabytes: every small file (``SMALL_FILES``, plus any other file under
1 MiB such as a weight index or a jinja template) byte for byte, and for each weight file its name, its size and, for
safetensors, its header (dtypes, shapes, offsets). Deleting config.json, editing the template or truncating a shard
changes it; touching a file's mtime does not.
"""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path

LOCAL_PREFIX = "content:"  # a local directory's revision, so it is never mistaken for a hub commit
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SMALL_BYTES = 1 << 20
_WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_MAX_HEADER = 100 << 20  # a safetensors header larger than this is corrupt; hash its stated length only


_GGUF_PREFIX_BYTES = 16 << 20  # a GGUF's header (metadata, tensor infos) lies in its first few MB


def resolved_revision(path: Path | None, gguf: Path | None = None) -> str | None:
    """The commit sha of a hub snapshot directory, ``content:<16 hex>`` for any other directory, None if unknown.

    For a GGUF checkpoint (``gguf``: the file judged, ``PreflightFacts.gguf_path``) the GGUF's directory is not
    walked (it may be a Downloads folder): a local file's revision hashes its name, size and first 16 MiB (its
    header), plus the config/tokenizer directory ``path`` when that is another directory."""
    if gguf is not None and gguf.is_file():
        if gguf.parent.parent.name == "snapshots" and _COMMIT.match(gguf.parent.name):
            return gguf.parent.name
        digest = hashlib.sha256(f"{gguf.name}\0{gguf.stat().st_size}\0".encode())
        with gguf.open("rb") as handle:
            digest.update(handle.read(_GGUF_PREFIX_BYTES))
        if path is not None and path.is_dir() and path.resolve() != gguf.parent.resolve():
            digest.update(content_hash(path).encode())
        return LOCAL_PREFIX + digest.hexdigest()[:16]
    if path is None or not path.is_dir():
        return None
    if path.parent.name == "snapshots" and _COMMIT.match(path.name):
        return path.name
    return LOCAL_PREFIX + content_hash(path)


def content_hash(directory: Path) -> str:
    """sha256 (first 16 hex digits) over the small files' bytes and the weight files' names, sizes and headers."""
    digest = hashlib.sha256()
    for file in sorted(p for p in directory.rglob("*") if p.is_file() and not _hidden(p, directory)):
        name = file.relative_to(directory).as_posix()
        size = file.stat().st_size
        digest.update(f"{name}\0{size}\0".encode())
        if file.name.endswith(_WEIGHTS):
            if file.name.endswith(".safetensors"):
                digest.update(_safetensors_header(file))
        elif size <= _SMALL_BYTES:
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def _hidden(file: Path, root: Path) -> bool:
    # .cache/ (huggingface_hub's download metadata) and dotfiles change without the checkpoint changing
    return any(part.startswith(".") for part in file.relative_to(root).parts)


def _safetensors_header(file: Path) -> bytes:
    with file.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return head
        (length,) = struct.unpack("<Q", head)
        return head + (handle.read(length) if length <= _MAX_HEADER else b"")
