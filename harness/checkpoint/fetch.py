"""Fetching a checkpoint: a zoo member, a local directory, or a hub repository through the normal HF cache.

Pre-flight downloads only the small files (``SMALL_FILES``: configs, tokenizer, templates, indexes); ``fetch_weights``
brings the weights when a server will boot. What is cached is never downloaded again (huggingface_hub's cache),
``HF_HUB_OFFLINE`` / ``offline=True`` read only the cache, and nothing shipped with a checkpoint is imported or
executed: remote code (``auto_map``) is reported, never fetched. huggingface_hub is imported on use.
"""

from __future__ import annotations

import json
import os
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


def read_json(path: Path) -> Any:
    """The parsed JSON at ``path``, or None when absent or not JSON (the callers report what is missing)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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


def list_files(model: str, path: Path, revision: str | None, offline: bool) -> Listing:
    """The repository's files: the directory for local models; the hub's list (with sizes) when it is reachable."""
    if is_zoo(model) or not _is_snapshot(path):
        return Listing(_walk(path), "local directory", True)
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


def _is_snapshot(path: Path) -> bool:
    return path.parent.name == "snapshots" and path.parent.parent.name.startswith("models--")
