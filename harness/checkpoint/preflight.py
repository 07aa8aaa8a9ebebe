"""Fetch a checkpoint's small files (or take a local directory / zoo member) and pre-flight it without a GPU.

Fetching goes through huggingface_hub into the normal HF cache: pre-flight downloads only the small files
(``SMALL_FILES``); ``fetch_weights`` brings the weights when a server will boot. What is cached is never downloaded
again (huggingface_hub's cache), ``HF_HUB_OFFLINE`` / ``offline=True`` read only the cache, and nothing shipped with
a checkpoint is imported or executed: remote code (``auto_map``) is reported, never fetched.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness import zoo
from harness.checkpoint.template import (
    find_chat_template,
    load_vocabulary,
    read_json,
    render_checks,
    unused_templates,
    vllm_eos_ids,
)
from harness.findings import Finding, Severity
from harness.usecases import CHAT_LIKE, MULTIMODAL, UNSERVABLE, UseCase

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
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
    "vocab.json",
    "vocab.txt",
    "tekken.json",
)
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
# vLLM's keys for the model's context length (vllm/config/model.py _get_and_verify_max_len); the smallest wins.
CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "seq_length",
    "model_max_length",
    "max_sequence_length",
    "max_seq_length",
    "seq_len",
)
ALL_USE_CASES: frozenset[UseCase] = frozenset(UseCase)


class CheckpointError(Exception):
    """The checkpoint could not be resolved; carries the finding pre-flight reports instead of a traceback."""

    def __init__(self, code: str, message: str, evidence: str) -> None:
        super().__init__(message)
        self.code, self.message, self.evidence = code, message, evidence


# ---- the report ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreflightReport:
    model: str
    path: Path | None
    findings: tuple[Finding, ...]
    facts: Mapping[str, Any]
    # per finding, the use cases whose cells it fails (None: all); parallel to findings
    scopes: tuple[frozenset[UseCase] | None, ...] = field(default=(), compare=False)
    use_cases: tuple[UseCase, ...] = ()

    @property
    def verdict(self) -> Literal["ok", "fail"]:
        return "fail" if any(f.severity is Severity.ERROR for f in self.findings) else "ok"

    def errors_for(self, use_case: UseCase) -> tuple[Finding, ...]:
        """The error findings that fail this use case's cell before any boot."""
        out = []
        for index, finding in enumerate(self.findings):
            scope = self.scopes[index] if index < len(self.scopes) else None
            if finding.severity is Severity.ERROR and (scope is None or use_case in scope):
                out.append(finding)
        return tuple(out)

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "path": str(self.path) if self.path is not None else None,
            "verdict": self.verdict,
            "use_cases": [u.value for u in self.use_cases],
            "findings": [f.to_json() for f in self.findings],
            "facts": dict(self.facts),
        }


class _Findings:
    def __init__(self) -> None:
        self.items: list[Finding] = []
        self.scopes: list[frozenset[UseCase] | None] = []

    def add(
        self,
        code: str,
        severity: Severity,
        message: str,
        evidence: str,
        scope: Iterable[UseCase] | None = None,
    ) -> None:
        self.items.append(Finding(code, severity, message, evidence))
        self.scopes.append(frozenset(scope) if scope is not None else None)

    def has(self, code: str) -> bool:
        return any(f.code == code for f in self.items)

    def drop(self, code: str) -> None:
        """Withdraw a finding that a more specific one explains (it would only point the reader the wrong way)."""
        keep = [i for i, f in enumerate(self.items) if f.code != code]
        self.items = [self.items[i] for i in keep]
        self.scopes = [self.scopes[i] for i in keep]


# ---- resolving and fetching ----------------------------------------------------------------------------------


def _offline(offline: bool | None) -> bool:
    if offline is not None:
        return offline
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_cache_dir() -> Path:
    """The HF hub cache, read from the environment at call time (huggingface_hub reads it once, at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface" / "hub"


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
    return zoo.zoo_member_name(model) is not None


def _zoo(model: str) -> Path:
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
    return _snapshot(model, revision, _offline(offline), list(SMALL_FILES))


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
    is_offline = _offline(offline)
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


# ---- safetensors headers -------------------------------------------------------------------------------------

_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2}


@dataclass(frozen=True)
class Header:
    header_bytes: int
    expected_size: int  # 8 + header length + the largest data end offset
    parameters: int
    dtype_bytes: Mapping[str, int]


def read_header(path: Path) -> Header:
    """Parse only a safetensors file's header (8-byte little-endian length, then JSON); never the tensors."""
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ValueError(f"{len(head)} bytes: shorter than the 8-byte header length")
        (length,) = struct.unpack("<Q", head)
        if length > 100_000_000:
            raise ValueError(f"header length {length} is implausible")
        raw = handle.read(length)
    if len(raw) < length:
        raise ValueError(f"header promises {length} bytes, file has {len(raw)}")
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
    return Header(length, 8 + length + end, parameters, dict(by_dtype))


# ---- the checks ----------------------------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    for key in ("text_config", "llm_config", "language_config"):
        inner = config.get(key)
        if isinstance(inner, dict):
            return inner
    return config


def _context_length(config: Mapping[str, Any]) -> int | None:
    values = []
    for source in (_text_config(config), config):
        values = [v for k in CONTEXT_KEYS if (v := _int(source.get(k))) is not None]
        if values:
            break
    return min(values) if values else None


def _check_layout(listing: Listing, out: _Findings) -> bool:
    """Layouts vLLM does not serve; True when the checkpoint is one (then nothing else is checked)."""
    files = listing.files
    if "model_index.json" in files:
        out.add(
            "NOT_SERVABLE",
            Severity.ERROR,
            "model_index.json found: this is a diffusers pipeline, which vLLM does not serve; "
            "serve it with diffusers (or vLLM-Omni), and remove it from the vLLM matrix",
            "model_index.json",
        )
        return True
    if "config.json" in files:
        return False
    ggufs = sorted(f for f in files if f.endswith(".gguf"))
    if ggufs:
        out.add(
            "NOT_SERVABLE",
            Severity.ERROR,
            f"GGUF-only checkpoint ({ggufs[0]}{' +' + str(len(ggufs) - 1) if len(ggufs) > 1 else ''}) without "
            "config.json: the harness does not boot GGUF; point the matrix at the original transformers "
            "checkpoint",
            ggufs[0],
        )
        return True
    for suffix, kind in ((".onnx", "ONNX"), (".nemo", "NeMo"), (".mlpackage", "Core ML"), (".tflite", "TFLite")):
        hits = sorted(f for f in files if f.endswith(suffix) or f"{suffix}/" in f)
        if hits:
            out.add(
                "NOT_SERVABLE",
                Severity.ERROR,
                f"{kind} checkpoint ({hits[0]}) without config.json: not a layout vLLM loads",
                hits[0],
            )
            return True
    return False


def _check_weights(
    listing: Listing, path: Path, index_files: list[str], out: _Findings, facts: dict[str, Any], model: str
) -> None:
    files = listing.files
    weights = sorted(
        f
        for f in files
        if "/" not in f and f.endswith(WEIGHT_SUFFIXES) and not f.startswith(("training_args", "optimizer"))
    )
    if not weights and not index_files:
        where = "the repository" if not listing.local else "the directory"
        out.add(
            "WEIGHTS_MISSING",
            Severity.ERROR,
            f"no weight files (*.safetensors, *.bin, *.pt) in {where} next to config.json ({listing.source}): "
            "the download is incomplete or this is a config-only repository; fetch the weights",
            listing.source,
        )
        return
    for index_name in index_files:
        index = read_json(path / index_name)
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict):
            out.add(
                "WEIGHTS_INCOMPLETE",
                Severity.ERROR,
                f"{index_name} has no weight_map: the index is unreadable; re-download it",
                f"{index_name}: weight_map",
            )
            continue
        shards = sorted({str(v) for v in weight_map.values()})
        missing = [s for s in shards if s not in files]
        if missing:
            out.add(
                "WEIGHTS_INCOMPLETE",
                Severity.ERROR,
                f"{len(missing)} of {len(shards)} shards named by {index_name} are absent from {listing.source}: "
                f"{', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}; re-download the checkpoint",
                f"{index_name}: weight_map",
            )
    parameters = 0
    by_dtype: Counter[str] = Counter()
    total = 0
    headers_read = 0
    for name in weights:
        size = files.get(name)
        total += size or 0
        if not name.endswith(".safetensors") or not listing.local:
            continue
        file = path / name
        if not file.is_file():
            continue  # a hub model whose weights are not cached yet: sizes come from the listing
        try:
            header = read_header(file)
        except (OSError, ValueError, KeyError, TypeError) as error:
            out.add(
                "WEIGHTS_INCOMPLETE",
                Severity.ERROR,
                f"{name}: the safetensors header cannot be read ({error}); the file is truncated or corrupt: "
                "re-download it",
                f"{name}: header",
            )
            continue
        headers_read += 1
        actual = file.stat().st_size
        if actual < header.expected_size:
            out.add(
                "WEIGHTS_INCOMPLETE",
                Severity.ERROR,
                f"{name} is {actual} bytes but its header promises {header.expected_size} "
                f"(8 + {header.header_bytes} header + data): the file is truncated; re-download it",
                f"{name}: header data_offsets",
            )
        parameters += header.parameters
        by_dtype.update(header.dtype_bytes)
    facts["weight_bytes"] = total or None
    facts["weight_files"] = len(weights)
    if headers_read:
        facts["parameters"] = parameters
        facts.setdefault("dtype", by_dtype.most_common(1)[0][0] if by_dtype else None)
    elif not listing.local:
        _hub_safetensors_facts(model, facts)


def _hub_safetensors_facts(model: str, facts: dict[str, Any]) -> None:
    """Parameter count of a hub model whose weights are not downloaded: its headers, read by range requests."""
    try:
        from huggingface_hub import HfApi

        meta = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None).get_safetensors_metadata(model, timeout=10)
        facts["parameters"] = sum(meta.parameter_count.values())
    except Exception:
        facts.setdefault("parameters", None)


def _check_config(
    config: Mapping[str, Any],
    engine_python: Path | None,
    out: _Findings,
    facts: dict[str, Any],
) -> Any:
    """Architecture (vs the engine's registry) and remote code; returns the registry when the engine answered."""
    from harness.engine.registry import EngineError, load_registry

    archs = config.get("architectures")
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else None
    facts["architecture"] = arch
    facts["model_type"] = config.get("model_type")
    dtype = config.get("torch_dtype") or config.get("dtype") or _text_config(config).get("torch_dtype")
    if isinstance(dtype, str):
        facts["dtype"] = dtype
    facts["context_length"] = _context_length(config)
    registry = None
    if engine_python is None:
        out.add(
            "ENGINE_UNKNOWN",
            Severity.WARNING,
            f"architecture {arch!r} not checked against vLLM's registry: no engine environment "
            "(run `vllm-compat engine build`, or pass --engine-python / set VLLM_COMPAT_ENGINE_PYTHON)",
            "config.json: architectures",
        )
    else:
        try:
            registry = load_registry(engine_python)
            facts["vllm"] = registry.label
        except EngineError as error:
            out.add(
                "ENGINE_UNKNOWN",
                Severity.WARNING,
                f"architecture {arch!r} not checked against vLLM's registry: {error}",
                "config.json: architectures",
            )
    auto_map = config.get("auto_map")
    model_type = config.get("model_type")
    if registry is not None:
        if arch is None:
            out.add(
                "ARCH_UNSUPPORTED",
                Severity.ERROR,
                "config.json has no architectures list: vLLM raises 'No model architectures are specified'; "
                'add e.g. "architectures": ["LlamaForCausalLM"]',
                "config.json: architectures",
            )
        else:
            support = registry.support(arch)
            if support == "transformers-backend":
                out.add(
                    "ARCH_UNSUPPORTED",
                    Severity.WARNING,
                    f"architecture {arch!r} is not in {registry.label}'s registry; vLLM falls back to its "
                    "Transformers backend (model_impl=auto), which serves only models whose attention supports "
                    "it: the boot decides",
                    "config.json: architectures",
                )
            elif support == "unsupported" and not isinstance(auto_map, dict):
                out.add(
                    "ARCH_UNSUPPORTED",
                    Severity.ERROR,
                    f"architecture {arch!r} is neither in {registry.label}'s model registry "
                    f"({len(registry.architectures)} architectures) nor a transformers class: vLLM cannot load it; "
                    "use a vLLM version that supports it or a supported architecture",
                    "config.json: architectures",
                )
    if isinstance(auto_map, dict) and auto_map:
        targets = ", ".join(f"{k}={v}" for k, v in sorted(auto_map.items()))
        known_type = registry is not None and isinstance(model_type, str) and model_type in registry.model_types
        native = registry is not None and arch is not None and registry.support(arch) == "native"
        if known_type and native:
            out.add(
                "REMOTE_CODE_REQUIRED",
                Severity.INFO,
                f"config.json has auto_map ({targets}) but model_type {model_type!r} and {arch!r} are built into "
                f"{registry.label if registry else 'vLLM'}: it loads without trust_remote_code",
                "config.json: auto_map",
            )
        else:
            out.add(
                "REMOTE_CODE_REQUIRED",
                Severity.ERROR,
                f"config.json auto_map points at code shipped with the checkpoint ({targets}); model_type "
                f"{model_type!r} is not built into "
                f"{registry.label if registry else 'transformers/vLLM (engine not asked)'}: vLLM needs "
                "--trust-remote-code, which runs that code; the harness never fetches or runs it. Review the code "
                "and opt in explicitly, or use a checkpoint converted to a built-in architecture",
                "config.json: auto_map",
            )
    return registry


def _check_tokenizer(listing: Listing, path: Path, out: _Findings) -> bool:
    files = listing.files
    present = [f for f in TOKENIZER_FILES if f in files] + [f for f in files if f.endswith(".tiktoken")]
    if present:
        return True
    has_config = "tokenizer_config.json" in files
    out.add(
        "TOKENIZER_MISSING",
        Severity.ERROR,
        f"no tokenizer files ({', '.join(TOKENIZER_FILES)}){' - only tokenizer_config.json' if has_config else ''}: "
        "vLLM cannot tokenize; copy the tokenizer from the base model or pass --tokenizer",
        "tokenizer.json",
    )
    return False


def _check_chat(
    path: Path,
    config: Mapping[str, Any],
    use_cases: frozenset[UseCase],
    chat_assumed: bool,
    registry: Any,
    out: _Findings,
    facts: dict[str, Any],
) -> None:
    chat_cases = (use_cases & CHAT_LIKE) or (frozenset({UseCase.CHAT}) if chat_assumed else frozenset())
    eos = vllm_eos_ids(path)
    facts["eos_token_ids"] = sorted(eos.ids)
    facts["eos_source"] = eos.generation_source
    found = find_chat_template(path)
    model_type = config.get("model_type")
    if found is None:
        facts["chat_template"] = {
            "source": None,
            "renders": False,
            "end_of_turn": None,
            "supports_system": None,
            "supports_tools": None,
        }
        notes = unused_templates(path)
        extra = f" ({'; '.join(notes)})" if notes else ""
        fallback = registry is not None and model_type in registry.chat_template_fallbacks
        if fallback:
            severity, fix = Severity.WARNING, f"{registry.label} uses its built-in fallback template for {model_type!r}"
        elif chat_cases:
            severity, fix = Severity.ERROR, "add a chat_template (chat_template.jinja) or pass --chat-template"
        else:
            severity, fix = Severity.INFO, "only chat-like use cases need one"
        asked = ", ".join(sorted(u.value for u in chat_cases)) or "no chat-like use case"
        out.add(
            "NO_CHAT_TEMPLATE",
            severity,
            f"no chat template in chat_template.jinja, chat_template.json or tokenizer_config.json{extra}: vLLM "
            f"answers /v1/chat/completions with HTTP 400 (asked: {asked}); {fix}",
            "tokenizer_config.json: chat_template",
            scope=CHAT_LIKE,
        )
        return
    with_tools = UseCase.TOOLS in use_cases
    vocab = load_vocabulary(path)
    result = render_checks(path, found, with_tools=with_tools, vocab=vocab)
    facts["chat_template"] = result.facts(found.source)
    if result.sandbox_escape is not None:
        out.add(
            "TEMPLATE_ERROR",
            Severity.ERROR,
            f"the chat template tried to escape the jinja2 sandbox ({result.sandbox_escape}): nothing of this "
            "checkpoint is run; replace the template with a trusted one",
            found.source,
        )
        return
    severity = Severity.ERROR if chat_cases else Severity.WARNING
    if not result.renders:
        out.add(
            "TEMPLATE_ERROR",
            severity,
            f"the chat template fails to render a user turn / a multi-turn conversation ({result.error}): vLLM "
            "answers chat requests with HTTP 400; fix the template or pass --chat-template",
            found.source,
            scope=CHAT_LIKE,
        )
        return
    if result.supports_system is False:
        out.add(
            "TEMPLATE_ERROR",
            Severity.WARNING,
            f"the chat template raises on a system message ({result.system_error}): requests with a system "
            "prompt get HTTP 400; fold the system prompt into the first user turn",
            found.source,
            scope=CHAT_LIKE,
        )
    if with_tools and result.supports_tools is not True:
        tool_source = found.tool_source or found.source
        out.add(
            "TEMPLATE_ERROR",
            Severity.ERROR if result.tools_error else Severity.WARNING,
            f"tools: {result.tools_error or 'the rendered prompt does not mention the tool (tools are ignored)'}"
            "; the model cannot see tool definitions: use a template that renders `tools` (a tool_use template)",
            tool_source,
            scope={UseCase.TOOLS},
        )
    if result.end_of_turn is None:
        if result.assistant_render is not None:
            out.add(
                "EOS_MISMATCH",
                Severity.INFO,
                "no special token follows the assistant's content in the rendered turn: the end-of-turn token "
                "cannot be predicted; the stop_tokens probe decides",
                found.source,
                scope=CHAT_LIKE,
            )
        return
    facts["end_of_turn_id"] = result.end_of_turn_id
    if result.end_of_turn_id is None:
        out.add(
            "EOS_MISMATCH",
            Severity.WARNING,
            f"end-of-turn token {result.end_of_turn!r} has no id in tokenizer.json or added_tokens_decoder: "
            "it is not a single token, so vLLM cannot stop on it; the stop_tokens probe decides",
            f"{found.source}; tokenizer.json: added_tokens",
            scope=CHAT_LIKE,
        )
    elif result.end_of_turn_id not in eos.ids:
        where = eos.generation_source or "no eos_token_id in generation_config.json / config.json"
        target = (
            "generation_config.json"
            if (path / "generation_config.json").is_file()
            else ("a new generation_config.json (config.json is read only while it is absent)")
        )
        shown = "{" + ", ".join(str(i) for i in sorted(eos.ids)) + "}" if eos.ids else "{} (none)"
        out.add(
            "EOS_MISMATCH",
            Severity.WARNING,
            f"end-of-turn token {result.end_of_turn!r} (id {result.end_of_turn_id}) is not among the eos ids vLLM "
            f"stops on {shown} (tokenizer eos_token {eos.tokenizer_eos!r}, {where}): generation will run to "
            f"max_tokens; add {result.end_of_turn_id} to {target} eos_token_id (a prediction: the stop_tokens "
            "probe decides)",
            f"{found.source}; {where}",
            scope=CHAT_LIKE,
        )


def _check_use_cases(listing: Listing, use_cases: frozenset[UseCase], out: _Findings) -> None:
    for use_case in sorted(use_cases & UNSERVABLE):
        out.add(
            "NOT_SERVABLE",
            Severity.ERROR,
            f"use case {use_case.value!r}: no vLLM version serves it (vLLM generates text and embeddings); "
            f"point this cell at an external endpoint, OpenAI-compatible (matrix: 'endpoints: {{{use_case.value}: "
            "{base_url: ..., model: ..., api_key_env: ...}}') or drop it from the matrix",
            f"use case: {use_case.value}",
            scope={use_case},
        )
    multimodal = sorted(use_cases & MULTIMODAL)
    if multimodal and not any(f in listing.files for f in PROCESSOR_FILES):
        asked = ", ".join(u.value for u in multimodal)
        out.add(
            "PROCESSOR_MISSING",
            Severity.ERROR,
            f"use case {asked} needs the model's processor, but neither preprocessor_config.json nor "
            "processor_config.json exists: vLLM cannot turn images/audio into model inputs; copy them from the "
            "base model (or this is a text-only model)",
            "preprocessor_config.json",
            scope=set(multimodal),
        )


def _check_task(config: Mapping[str, Any], use_cases: frozenset[UseCase], registry: Any, out: _Findings) -> None:
    """A text-only architecture in an image/audio/video cell is the wrong model for the task (the "audio service that
    runs a text model"): WRONG_TASK, named before any processor file is looked for."""
    multimodal = sorted(use_cases & MULTIMODAL)
    archs = config.get("architectures")
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else None
    if not multimodal or registry is None or arch is None or not registry.multimodal_architectures:
        return
    if registry.support(arch) != "native" or arch in registry.multimodal_architectures:
        return
    asked = ", ".join(u.value for u in multimodal)
    out.drop("PROCESSOR_MISSING")  # a text model has no processor because it is the wrong model, not a broken one
    out.add(
        "WRONG_TASK",
        Severity.ERROR,
        f"use case {asked}: architecture {arch!r} is text-only in {registry.label} (not among its multimodal "
        "models): vLLM refuses images/audio for it ('is not a multimodal model'; no transcription endpoint); "
        "point this cell at a model that takes that input",
        "config.json: architectures",
        scope=set(multimodal),
    )


def _is_sentence_encoder(path: Path) -> bool:
    modules = read_json(path / "modules.json")
    return isinstance(modules, list) and any(
        isinstance(m, dict) and "Pooling" in str(m.get("type", "")) for m in modules
    )


def _blank_facts() -> dict[str, Any]:
    return {
        "architecture": None,
        "model_type": None,
        "dtype": None,
        "parameters": None,
        "weight_bytes": None,
        "context_length": None,
        "eos_token_ids": None,
        "chat_template": None,
        "files_source": None,
    }


def preflight(
    model: str,
    *,
    use_cases: Iterable[UseCase] = (),
    revision: str | None = None,
    engine_python: Path | None = None,
    offline: bool | None = None,
    base_dir: Path | None = None,
) -> PreflightReport:
    """Every pre-flight check of ``model`` for ``use_cases`` (none given: chat is assumed), without a GPU.

    ``engine_python`` None means the engine environment ``resolve_engine_python()`` finds, if any."""
    asked = tuple(dict.fromkeys(UseCase(u) for u in use_cases))
    cases = frozenset(asked)
    out = _Findings()
    facts = _blank_facts()
    try:
        path = resolve_model(model, revision=revision, offline=offline, base_dir=base_dir)
    except CheckpointError as error:
        out.add(error.code, Severity.ERROR, error.message, error.evidence)
        return PreflightReport(model, None, tuple(out.items), facts, tuple(out.scopes), asked)
    listing = list_files(model, path, revision, _offline(offline))
    facts["files_source"] = listing.source
    _check_use_cases(listing, cases, out)
    if _check_layout(listing, out):
        return PreflightReport(model, path, tuple(out.items), facts, tuple(out.scopes), asked)
    config = read_json(path / "config.json")
    registry = None
    if not isinstance(config, dict):
        mistral = "params.json" in listing.files
        reason = "is not valid JSON" if (path / "config.json").is_file() else "is missing"
        out.add(
            "CONFIG_MISSING",
            Severity.WARNING if mistral else Severity.ERROR,
            f"config.json {reason} ({listing.source}): vLLM cannot tell the architecture; "
            + (
                "params.json found: a Mistral-native layout, served with --config-format mistral"
                if mistral
                else "the download is incomplete or this is not a transformers checkpoint; re-download it"
            ),
            "config.json",
        )
        config = {}
    else:
        if engine_python is None:
            from harness.engine.env import resolve_engine_python

            engine_python = resolve_engine_python(None)
        registry = _check_config(config, engine_python, out, facts)
    index_files = sorted(f for f in listing.files if "/" not in f and f.endswith(".index.json"))
    _check_task(config, cases, registry, out)
    _check_weights(listing, path, index_files, out, facts, model)
    if _check_tokenizer(listing, path, out):
        # With no use case asked, chat is assumed -- except for a sentence-transformers encoder (a Pooling module in
        # modules.json), which vLLM serves on /v1/embeddings and which has no reason to carry a chat template.
        _check_chat(path, config, cases, not asked and not _is_sentence_encoder(path), registry, out, facts)
    return PreflightReport(model, path, tuple(out.items), facts, tuple(out.scopes), asked)
