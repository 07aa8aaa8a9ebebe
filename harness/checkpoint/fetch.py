"""Fetching a checkpoint: a zoo member, a local directory, or a hub repository through the normal HF cache.

Pre-flight downloads only the small files (``SMALL_FILES``: configs, tokenizer, templates, indexes); ``fetch_weights``
brings the weights when a server will boot. What is cached is never downloaded again (huggingface_hub's cache),
``HF_HUB_OFFLINE`` / ``offline=True`` read only the cache, and nothing shipped with a checkpoint is imported or
executed: remote code (``auto_map``) is reported, never fetched. huggingface_hub is imported on use.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.paths import hub_cache_dir

# What pre-flight reads: configs, tokenizer, templates, indexes. Never weights, never *.py.
SMALL_FILES: tuple[str, ...] = (
    "config.json",
    "generation_config.json",
    "params.json",
    "tokenizer*",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "*.model",
    "*.tiktoken",
    "tekken.json",
    "chat_template.json",
    "chat_template.jinja",
    "additional_chat_templates/*.jinja",
    "*.index.json",
    "preprocessor_config.json",
    "processor_config.json",
    "video_preprocessor_config.json",
    "model_index.json",
    "*/config.json",
    "*/*_config.json",
    "modules.json",
    "sentence_bert_config.json",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


class CheckpointError(Exception):
    """The checkpoint could not be resolved; carries the finding pre-flight reports instead of a traceback."""

    def __init__(self, code: str, message: str, evidence: str) -> None:
        super().__init__(message)
        self.code, self.message, self.evidence = code, message, evidence


# A checkpoint's JSON files are configs and tokenizers: the largest real ones (tokenizer.json of a 256k vocabulary)
# weigh ~35 MB. A larger file is refused unread: parsing 2 GB of a stranger's JSON would take the machine's memory.
MAX_JSON_BYTES = 64 * 1024 * 1024


def json_problem(path: Path) -> tuple[Any, str | None]:
    """The parsed JSON at ``path`` and None, or None and why it cannot be read (absent, too large, not UTF-8,
    nested deeper than the parser allows, not JSON), in words for a finding."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            return None, f"is {size} bytes, above the {MAX_JSON_BYTES // (1024 * 1024)} MiB bound for a JSON file"
        with path.open("rb") as handle:
            raw = handle.read(MAX_JSON_BYTES + 1)  # the bound holds even for a file that grows while read
        if len(raw) > MAX_JSON_BYTES:
            return None, f"grew past the {MAX_JSON_BYTES // (1024 * 1024)} MiB bound for a JSON file while read"
        return json.loads(raw.decode("utf-8")), None
    except FileNotFoundError:
        return None, "is missing"
    except OSError as error:
        return None, f"cannot be read ({error.strerror or error})"
    except UnicodeDecodeError as error:
        return None, f"is not UTF-8 (byte {error.start})"
    except RecursionError:
        return None, "nests deeper than the JSON parser allows"
    except ValueError as error:
        return None, f"is not valid JSON ({str(error)[:120]})"


def read_json(path: Path) -> Any:
    """The parsed JSON at ``path``, or None when absent, unreadable or not JSON (the callers report what is missing;
    ``json_problem`` says why)."""
    return json_problem(path)[0]


# huggingface_hub's rule for a repo id (validate_repo_id): [owner/]name of letters, digits, '-', '_', '.', at most 96
# characters, no '--' or '..'. Anything else is a path that is not a directory here, never a name to put in the cache.
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_hub_id(model: str) -> None:
    """CheckpointError unless ``model`` is a well-formed hub id (so that it cannot walk out of the HF cache)."""
    if not _HUB_ID.match(model) or ".." in model or "--" in model or len(model) > 96:
        raise CheckpointError(
            "CONFIG_MISSING",
            f"{model!r} is neither an existing local directory nor a hub id (rule: [owner/]name of letters, digits, "
            "'-', '_', '.', at most 96 characters, no '..' or '--'); fix: write owner/name, or the path of a "
            "directory holding config.json",
            "model id",
        )


def offline_mode(offline: bool | None) -> bool:
    """``offline`` when given, else what HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE say (read at call time)."""
    if offline is not None:
        return offline
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _local_candidate(model: str, base_dir: Path | None) -> Path | None:
    path = Path(model).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if path.is_dir():
        return path.resolve()
    if model.startswith(("/", ".", "~")) or path.is_file():
        raise CheckpointError(
            "CONFIG_MISSING",
            f"{model}: no such directory (a local model is a directory holding config.json)",
            str(path),
        )
    return None


def local_gguf_file(model: str, base_dir: Path | None) -> Path | None:
    """The GGUF file ``model`` names (a local path to a regular file that vLLM's GGUF plugin takes for one: *.gguf
    or the GGUF magic), resolved; None for anything else."""
    from harness.checkpoint.gguf import is_gguf_file  # the reader is only needed for a GGUF

    path = Path(model).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)  # never open a FIFO or device named like a model
    except OSError:
        return None
    return path.resolve() if regular and is_gguf_file(path) else None


MAX_SIBLINGS = 10_000


def top_level_listing(path: Path, keep: Path | None = None) -> Listing:
    """The files directly in ``path`` (the directory of a GGUF file named by its path: a Downloads folder is not
    walked), at most ``MAX_SIBLINGS`` of them, regular files only, and always ``keep`` (the file asked for)."""
    files: dict[str, int | None] = {}
    if keep is not None:
        files[keep.name] = keep.stat().st_size
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if len(files) >= MAX_SIBLINGS:
                    break
                if entry.name.startswith("."):
                    continue
                try:
                    info = os.stat(entry.path)
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode):
                    files[entry.name] = info.st_size
    except OSError:
        pass  # a directory that cannot be listed (permissions): what was seen, the caller names the file it wants
    return Listing(dict(sorted(files.items())), "local directory", True)


def is_zoo(model: str) -> bool:
    """Whether ``model`` names a zoo member (``zoo:<member>``)."""
    from harness.zoo import zoo_member_name  # the zoo imports numpy and every member's builder: only when used

    return zoo_member_name(model) is not None


def _zoo(model: str) -> Path:
    from harness import zoo  # see is_zoo

    name = zoo.zoo_member_name(model)
    if name is None or name not in zoo.MEMBERS:
        raise CheckpointError(
            "CONFIG_MISSING", f"{model}: unknown zoo member; known: {', '.join(sorted(zoo.MEMBERS))}", "zoo"
        )
    return Path(zoo.ensure_member(name))


def _snapshot(model: str, revision: str | None, offline: bool, patterns: list[str] | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    cache = hub_cache_dir()
    where = f"HF cache {cache}"
    try:
        folder = snapshot_download(
            model,
            revision=revision,
            cache_dir=cache,
            local_files_only=offline,
            allow_patterns=patterns,
            endpoint=os.environ.get("HF_ENDPOINT") or None,
        )
    except GatedRepoError as error:
        raise CheckpointError(
            "HUB_AUTH", f"{model}: gated repository, access refused ({error}); accept its terms and set HF_TOKEN", where
        ) from error
    except RepositoryNotFoundError as error:
        raise CheckpointError(
            "HUB_AUTH", f"{model}: repository not found or private; check the id, or set HF_TOKEN", where
        ) from error
    except RevisionNotFoundError as error:
        raise CheckpointError("CONFIG_MISSING", f"{model}: revision {revision!r} not found", where) from error
    except LocalEntryNotFoundError as error:
        mode = "offline mode is on (HF_HUB_OFFLINE=1 or --offline)" if offline else "the hub could not be reached"
        raise CheckpointError(
            "HUB_UNREACHABLE",
            f"{model}{'@' + revision if revision else ''} is not in the HF cache and {mode}: "
            f"download it where the hub is reachable (`hf download {model}`) or point at a local directory",
            where,
        ) from error
    except (HfHubHTTPError, OSError, ValueError) as error:
        raise CheckpointError("CONFIG_MISSING", f"{model}: download failed: {error}", where) from error
    return Path(str(folder))


def resolve_model(
    model: str, *, revision: str | None = None, offline: bool | None = None, base_dir: Path | None = None
) -> Path:
    """The directory holding ``model``'s small files: a zoo member, a local directory, or a hub snapshot."""
    if is_zoo(model):
        return _zoo(model)
    local = _local_candidate(model, base_dir)
    if local is not None:
        return local
    check_hub_id(model)
    return _snapshot(model, revision, offline_mode(offline), list(SMALL_FILES))


def _weight_patterns(names: Iterable[str]) -> list[str]:
    """vLLM's preference: safetensors if any, else .bin, else .pt (vllm/model_executor/model_loader)."""
    names = list(names)
    for suffix in (".safetensors", ".bin", ".pt"):
        if any(n.endswith(suffix) for n in names):
            return [f"*{suffix}"]
    return ["*.safetensors", "*.bin", "*.pt"]


def fetch_weights(model: str, *, revision: str | None = None, offline: bool | None = None) -> Path:
    """The directory with ``model``'s small files and weights (downloaded once into the HF cache)."""
    if is_zoo(model):
        return _zoo(model)
    local = _local_candidate(model, None)
    if local is not None:
        return local
    check_hub_id(model)
    is_offline = offline_mode(offline)
    listing = list_files(model, _snapshot(model, revision, is_offline, list(SMALL_FILES)), revision, is_offline)
    return _snapshot(model, revision, is_offline, [*SMALL_FILES, *_weight_patterns(listing.files)])


@dataclass(frozen=True)
class Listing:
    files: Mapping[str, int | None]  # relative path -> size (None when the hub did not say)
    source: str  # "local directory", "HF cache snapshot", "hub file list"
    local: bool  # the weight files can be opened here (local dir / zoo / cached snapshot)


def _walk(path: Path) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for item in sorted(path.rglob("*")):
        rel = item.relative_to(path)
        if rel.parts and rel.parts[0].startswith("."):
            continue  # .cache, .git
        if item.is_file():
            out[rel.as_posix()] = item.stat().st_size
    return out


def list_local(path: Path) -> Listing:
    """The files of a local directory (hidden ones such as .cache and .git left out)."""
    return Listing(_walk(path), "local directory", True)


def list_files(model: str, path: Path, revision: str | None, offline: bool) -> Listing:
    """The repository's files: the directory for local models; the hub's list (with sizes) when it is reachable."""
    if is_zoo(model) or not _is_snapshot(path):
        return list_local(path)
    if not offline:
        try:
            from huggingface_hub import HfApi

            info = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None).model_info(
                model, revision=revision, files_metadata=True, timeout=10
            )
            files = {s.rfilename: s.size for s in info.siblings or []}
            if files:
                return Listing(files, "hub file list", False)
        except Exception:
            pass
    return Listing(_walk(path), "HF cache snapshot", True)


def link_root(path: Path) -> Path:
    """Where a checkpoint's symlinks may point: the directory itself, or for an HF cache snapshot (whose files
    are links into ``../../blobs``) the ``models--*`` repository folder."""
    return path.parent.parent if _is_snapshot(path) else path


def unsafe_links(path: Path, *, limit: int = 5) -> list[str]:
    """Entries under ``path`` that pre-flight must not open, as ``name -> why`` (at most ``limit``): symlink loops,
    anything that is not a regular file or directory (a FIFO or device would block or never end a read), and
    directory links that lead outside ``link_root(path)``. A link to a regular file elsewhere is normal (HF cache
    blobs, a shared weight store, the zoo's packaged checkpoints) and is read within the JSON bound. Nothing is
    followed: the walk does not enter linked directories."""
    root = os.path.realpath(link_root(path))
    found: list[str] = []
    for folder, dirs, files in os.walk(path, followlinks=False):
        for name in sorted(dirs + files):
            item = Path(folder) / name
            rel = item.relative_to(path).as_posix()
            why = _unsafe(item, root)
            if why is not None:
                found.append(f"{rel}{' -> ' + os.readlink(item) if item.is_symlink() else ''} ({why})")
                if len(found) >= limit:
                    return found
    return found


def _unsafe(item: Path, root: str) -> str | None:
    try:
        resolved = os.path.realpath(item, strict=True)
        mode = os.stat(resolved).st_mode
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symlink loop"
        return None  # dangling: nothing to open, the checks that need the file report it absent
    if stat.S_ISDIR(mode):
        if item.is_symlink() and os.path.commonpath([root, resolved]) != root:
            return f"a directory outside {root}"
        return None
    if not stat.S_ISREG(mode):
        return "not a regular file: reading it could block for ever"
    return None


def _is_snapshot(path: Path) -> bool:
    return path.parent.name == "snapshots" and path.parent.parent.name.startswith("models--")
