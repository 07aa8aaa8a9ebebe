"""The pre-flight rules: each ``check_*`` looks at one aspect of a checkpoint and adds its findings, scoped to the
use cases whose cells they fail.

Every message says what was seen, the rule (what vLLM does with it), the actual value and the fix. An ERROR fails
the cells in its scope without a boot; a WARNING or INFO is a prediction, and the probe decides.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.checkpoint.eos import vllm_eos_ids
from harness.checkpoint.fetch import WEIGHT_SUFFIXES, Listing, read_json
from harness.checkpoint.report import FindingList, PreflightFacts
from harness.checkpoint.safetensors import HeaderCorrupt, dominant_dtype, hub_parameter_count, read_header
from harness.checkpoint.template import (
    NO_TEMPLATE,
    ChatTemplateFacts,
    find_chat_template,
    render_checks,
    unused_templates,
)
from harness.checkpoint.tokenizer import TOKENIZER_FILES, load_vocabulary
from harness.engine import EngineError, EngineRegistry, load_registry
from harness.findings import Severity
from harness.usecases import CHAT_LIKE, MULTIMODAL, UNSERVABLE, UseCase

PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
# vLLM's keys for the model's context length (vllm/config/model.py _get_and_verify_max_len); the smallest wins.
CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "seq_length",
    "model_max_length",
    "max_target_positions",  # Whisper's decoder length (448), which vLLM serves as max_model_len (real nb-whisper)
    "max_sequence_length",
    "max_seq_length",
    "seq_len",
)


@dataclass(frozen=True)
class WeightFacts:
    """What ``check_weights`` learnt (None: no weights to count)."""

    weight_bytes: int | None = None
    weight_files: int | None = None
    parameters: int | None = None
    dtype: str | None = None  # the dtype most of the bytes of the safetensors headers read are in


@dataclass(frozen=True)
class ChatFacts:
    """What ``check_chat`` learnt: the eos ids vLLM stops on and the chat template's end-of-turn token."""

    eos_token_ids: tuple[int, ...]
    eos_source: str | None
    chat_template: ChatTemplateFacts
    end_of_turn_id: int | None = None

    def into(self, facts: PreflightFacts) -> PreflightFacts:
        """``facts`` with what the chat check learnt."""
        return replace(
            facts,
            eos_token_ids=self.eos_token_ids,
            eos_source=self.eos_source,
            chat_template=self.chat_template,
            end_of_turn_id=self.end_of_turn_id,
        )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    for key in ("text_config", "llm_config", "language_config"):
        inner = config.get(key)
        if isinstance(inner, dict):
            return inner
    return config


def architecture_of(config: Mapping[str, Any]) -> str | None:
    """config.json's first architecture, the one vLLM loads."""
    archs = config.get("architectures")
    return archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else None


def effective_architecture(config: Mapping[str, Any], registry: EngineRegistry | None) -> str | None:
    """The architecture vLLM loads: config.json's first, else (with the engine's registry) the one it resolves from
    model_type (``EngineRegistry.resolved_architecture``)."""
    arch = architecture_of(config)
    if arch is None and registry is not None:
        return registry.resolved_architecture(model_type_of(config))
    return arch


def model_type_of(config: Mapping[str, Any]) -> str | None:
    model_type = config.get("model_type")
    return model_type if isinstance(model_type, str) else None


def dtype_of(config: Mapping[str, Any]) -> str | None:
    """The checkpoint's dtype as config.json names it (top level, else its text model's)."""
    dtype = config.get("torch_dtype") or config.get("dtype") or _text_config(config).get("torch_dtype")
    return dtype if isinstance(dtype, str) else None


def context_length(config: Mapping[str, Any]) -> int | None:
    values = []
    for source in (_text_config(config), config):
        values = [v for k in CONTEXT_KEYS if (v := _int(source.get(k))) is not None]
        if values:
            break
    return min(values) if values else None


def gguf_only(listing: Listing) -> bool:
    """GGUF files beside no transformers weights: a GGUF repository, whatever config.json (often a stub for the hub's
    widgets) stands next to them. A transformers checkpoint that also ships a GGUF loads from its safetensors/bin."""
    files = listing.files
    if not any(f.endswith(".gguf") for f in files):
        return False
    transformers_weights = any(
        "/" not in f and f.endswith(WEIGHT_SUFFIXES) and not f.endswith(".gguf") for f in files
    ) or any(f.endswith(".index.json") and "/" not in f for f in files)
    return not transformers_weights


def check_layout(listing: Listing, out: FindingList) -> bool:
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
    if "adapter_config.json" in files:
        out.add(
            "LORA_ADAPTER",
            Severity.ERROR,
            "adapter_config.json without config.json: a LoRA adapter, not a model vLLM loads as --model; serve its "
            "base model (adapter_config.json: base_model_name_or_path) with --enable-lora --lora-modules NAME=DIR "
            "(in a matrix: the base model's flags, use case lora)",
            "adapter_config.json",
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


_LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"
_LFS_SIZE = re.compile(rb"^size (\d+)$", re.MULTILINE)


def _lfs_pointers(path: Path, names: list[str]) -> dict[str, int]:
    """The weight files that are git-lfs pointer texts (a clone without git-lfs), with the size each stands for."""
    found: dict[str, int] = {}
    for name in names:
        file = path / name
        try:
            if not file.is_file() or file.stat().st_size > 1024:
                continue  # pointers are ~130 bytes; real weights are never this small and are not read here
            head = file.read_bytes()
        except OSError:
            continue
        if head.startswith(_LFS_POINTER):
            match = _LFS_SIZE.search(head)
            found[name] = int(match.group(1)) if match else 0
    return found


def loaded_weight_files(weights: list[str], indexed: Mapping[str, set[str]]) -> list[str]:
    """The weight files vLLM's default loader reads with --load-format auto (model_loader/default_loader.py
    _prepare_weights): consolidated*.safetensors when there are any (the Mistral format), else every *.safetensors
    (only those its index names, when there is one), else *.bin, else *.pt."""
    consolidated = [w for w in weights if w.startswith("consolidated") and w.endswith(".safetensors")]
    if consolidated:
        named = indexed.get("consolidated.safetensors.index.json")
        return [w for w in consolidated if w in named] if named else consolidated
    safetensors = [w for w in weights if w.endswith(".safetensors")]
    if safetensors:
        named = indexed.get("model.safetensors.index.json")
        return [w for w in safetensors if w in named] if named else safetensors
    for suffix in (".bin", ".pt"):
        found = [w for w in weights if w.endswith(suffix)]
        if found:
            return found
    return []


def top_level_weights(files: Iterable[str]) -> list[str]:
    """The weight files of a listing that vLLM may load: top-level, not a trainer's state."""
    return sorted(
        f
        for f in files
        if "/" not in f and f.endswith(WEIGHT_SUFFIXES) and not f.startswith(("training_args", "optimizer"))
    )


def listed_weight_bytes(files: Mapping[str, int | None], indexed: Mapping[str, set[str]] | None = None) -> int | None:
    """What the weight files vLLM loads weigh by a listing's sizes (the hub's file list with files_metadata, or a
    directory's): the sum over ``loaded_weight_files``; None when the listing has none or does not size one of them
    (the index's total_size then stands in, ``index_total_size``)."""
    loads = loaded_weight_files(top_level_weights(files), indexed or {})
    sizes = [files.get(name) for name in loads]
    if not sizes or any(size is None for size in sizes):
        return None
    return sum(size for size in sizes if size is not None)


def index_total_size(totals: Mapping[str, int], weights: Iterable[str]) -> int | None:
    """The bytes of weights an index promises (``metadata.total_size``: the tensors' bytes, a floor of the files'
    sizes) for the format vLLM loads (``loaded_weight_files``' order): consolidated*.safetensors' index only when
    such files are listed, then model.safetensors', then pytorch_model.bin's; else any index's."""
    consolidated = any(w.startswith("consolidated") for w in weights)
    order = ["consolidated.safetensors.index.json"] if consolidated else []
    for name in [*order, "model.safetensors.index.json", "pytorch_model.bin.index.json"]:
        if name in totals:
            return totals[name]
    return next(iter(totals.values()), None)


def check_weights(listing: Listing, path: Path, index_files: list[str], out: FindingList, model: str) -> WeightFacts:
    """Weight files present, shards named by the indexes present, safetensors files as long as their headers say."""
    files = listing.files
    weights = top_level_weights(files)
    if not weights and not index_files:
        where = "the repository" if not listing.local else "the directory"
        out.add(
            "WEIGHTS_MISSING",
            Severity.ERROR,
            f"no weight files (*.safetensors, *.bin, *.pt) in {where} next to config.json ({listing.source}): "
            "the download is incomplete or this is a config-only repository; fetch the weights",
            listing.source,
        )
        return WeightFacts()
    indexed: dict[str, set[str]] = {}  # index file -> the shards it names
    totals: dict[str, int] = {}  # index file -> metadata.total_size
    for index_name in index_files:
        index = read_json(path / index_name)
        metadata = index.get("metadata") if isinstance(index, dict) else None
        total_size = metadata.get("total_size") if isinstance(metadata, dict) else None
        if isinstance(total_size, int) and not isinstance(total_size, bool) and total_size > 0:
            totals[index_name] = total_size
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
        indexed[index_name] = set(shards)
        missing = [s for s in shards if s not in files]
        if missing:
            out.add(
                "WEIGHTS_INCOMPLETE",
                Severity.ERROR,
                f"{len(missing)} of {len(shards)} shards named by {index_name} are absent from {listing.source}: "
                f"{', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}; re-download the checkpoint",
                f"{index_name}: weight_map",
            )
    pointers = _lfs_pointers(path, weights) if listing.local else {}
    if pointers:
        first, stands_for = next(iter(pointers.items()))
        out.add(
            "WEIGHTS_MISSING",
            Severity.ERROR,
            f"{len(pointers)} of {len(weights)} weight files are git-lfs pointer files, not weights (e.g. {first}: "
            f"a {files.get(first) or 0}-byte text naming a {stands_for}-byte object): the repository was cloned "
            "without git-lfs; fix: `git lfs install && git lfs pull` in it, or download it with `hf download`",
            f"{first}: git-lfs pointer",
        )
    parameters = 0
    by_dtype: Counter[str] = Counter()
    # What memory must hold: the listed sizes of the files vLLM loads (a second format of the same weights is never
    # loaded), a git-lfs pointer's for what it stands for. Before the download (shards absent, or a listing without
    # sizes) the index's total_size says it: WEIGHTS_TOO_LARGE is predicted before a byte of weights is fetched.
    total = listed_weight_bytes({**files, **pointers}, indexed)
    absent = any(shard not in files for shards in indexed.values() for shard in shards)
    if (total is None or absent) and totals:
        total = index_total_size(totals, weights)
    headers_read = 0
    for name in weights:
        if name in pointers:
            continue
        if not name.endswith(".safetensors") or not listing.local:
            continue
        file = path / name
        if not file.is_file():
            continue  # a hub model whose weights are not cached yet: sizes come from the listing
        try:
            header = read_header(file)
        except HeaderCorrupt as error:
            out.add(
                "WEIGHTS_CORRUPT",
                Severity.ERROR,
                f"{name}: the safetensors header is corrupt ({error}): vLLM cannot load it; re-download the file",
                f"{name}: header",
            )
            continue
        except (OSError, ValueError) as error:
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
    if headers_read:
        counted: int | None = parameters
    else:
        counted = hub_parameter_count(model) if not listing.local else None
    return WeightFacts(total or None, len(weights), counted, dominant_dtype(by_dtype))


def check_config(config: Mapping[str, Any], engine_python: Path | None, out: FindingList) -> EngineRegistry | None:
    """Architecture (vs the engine's registry) and remote code; returns the registry when the engine answered."""
    arch = architecture_of(config)
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
            arch = registry.resolved_architecture(model_type if isinstance(model_type, str) else None)
            transformers = f"transformers {registry.transformers_version or '(version unknown)'}"
            if arch is None:
                out.add(
                    "ARCH_UNSUPPORTED",
                    Severity.ERROR,
                    f"config.json has no architectures list and {transformers} has no base model class for "
                    f"model_type {model_type!r} (MODEL_MAPPING_NAMES), which is what {registry.label} falls back on: "
                    "it warns 'Model config does not have a top-level architectures field' and raises 'No model "
                    'architectures are specified\'; add e.g. "architectures": ["LlamaForCausalLM"]',
                    "config.json: architectures",
                )
            else:
                out.add(
                    "ARCH_UNSUPPORTED",
                    Severity.INFO,
                    f"config.json has no architectures list: {registry.label} takes {transformers}'s base model "
                    f"class for model_type {model_type!r}, {arch!r} (MODEL_MAPPING_NAMES; its log says 'Resolved "
                    f"architecture: {arch}'), judged below like a named one; name it in config.json to make it "
                    "explicit",
                    "config.json: model_type",
                )
        if arch is not None:
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


def check_tokenizer(listing: Listing, out: FindingList) -> bool:
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


def mistral_tokenizer_auto(files: Mapping[str, Any]) -> bool:
    """vLLM's --tokenizer-mode auto takes mistral_common's tokenizer for this listing: vllm/tokenizers/registry.py
    get_tokenizer switches to "mistral" when is_mistral_model_repo (a consolidated*.safetensors file) and a
    tekken.json or tokenizer.model.v* is present; chat is then encoded by mistral_common, not by a jinja template."""
    names = [f for f in files if "/" not in f]
    consolidated = any(f.startswith("consolidated") and f.endswith(".safetensors") for f in names)
    return consolidated and any(f == "tekken.json" or f.startswith("tokenizer.model.v") for f in names)


def check_chat(
    path: Path,
    config: Mapping[str, Any],
    use_cases: frozenset[UseCase],
    chat_assumed: bool,
    registry: EngineRegistry | None,
    out: FindingList,
    *,
    mistral_tokenizer: bool = False,
) -> ChatFacts:
    """The chat template (found, renders, system, tools, end-of-turn token) against the eos ids vLLM stops on.

    ``mistral_tokenizer`` (``mistral_tokenizer_auto``): vLLM serves chat through mistral_common, so a missing jinja
    template is no refusal."""
    chat_cases = (use_cases & CHAT_LIKE) or (frozenset({UseCase.CHAT}) if chat_assumed else frozenset())
    eos = vllm_eos_ids(path)
    facts = ChatFacts(tuple(sorted(eos.ids)), eos.generation_source, NO_TEMPLATE)
    found = find_chat_template(path)
    model_type = config.get("model_type")
    if found is None:
        notes = unused_templates(path)
        extra = f" ({'; '.join(notes)})" if notes else ""
        if mistral_tokenizer:
            # Found on the real Devstral-Small-2507 (consolidated.safetensors + tekken.json, no jinja template): vLLM
            # picks the Mistral tokenizer and answers chat; an ERROR here would refuse a model vLLM serves.
            severity, fix = (
                Severity.INFO,
                "consolidated*.safetensors and tekken.json / tokenizer.model.v*: vLLM's --tokenizer-mode auto uses "
                "mistral_common, which encodes chat without a template (no HTTP 400)",
            )
        elif registry is not None and model_type in registry.chat_template_fallbacks:
            severity, fix = Severity.WARNING, f"{registry.label} uses its built-in fallback template for {model_type!r}"
        elif chat_cases:
            severity, fix = Severity.ERROR, "add a chat_template (chat_template.jinja) or pass --chat-template"
        else:
            severity, fix = Severity.INFO, "only chat-like use cases need one"
        asked = ", ".join(sorted(u.value for u in chat_cases)) or "no chat-like use case"
        out.add(
            "NO_CHAT_TEMPLATE",
            severity,
            f"no chat template in chat_template.jinja, chat_template.json or tokenizer_config.json{extra}: "
            + ("" if mistral_tokenizer else "vLLM answers /v1/chat/completions with HTTP 400 ")
            + f"(asked: {asked}); {fix}",
            "tokenizer_config.json: chat_template",
            scope=CHAT_LIKE,
        )
        return facts
    with_tools = UseCase.TOOLS in use_cases
    vocab = load_vocabulary(path)
    result = render_checks(path, found, with_tools=with_tools, vocab=vocab)
    facts = replace(facts, chat_template=result.facts(found.source))
    if result.sandbox_escape is not None:
        out.add(
            "TEMPLATE_ERROR",
            Severity.ERROR,
            f"the chat template tried to escape the jinja2 sandbox ({result.sandbox_escape}): nothing of this "
            "checkpoint is run; replace the template with a trusted one",
            found.source,
        )
        return facts
    if result.bound_exceeded is not None:
        out.add(
            "TEMPLATE_ERROR",
            Severity.ERROR,
            f"the chat template did not finish rendering in the sandbox: it {result.bound_exceeded}; a template "
            "that loops for ever or builds huge strings would hang vLLM's chat endpoint: nothing of this checkpoint "
            "is run; replace the template with a trusted one",
            found.source,
        )
        return facts
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
        return facts
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
        return facts
    facts = replace(facts, end_of_turn_id=result.end_of_turn_id)
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
    return facts


def check_use_cases(listing: Listing, use_cases: frozenset[UseCase], out: FindingList) -> None:
    """Use cases no vLLM serves, and multimodal use cases without the processor files they need."""
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


def check_quantize_config(
    listing: Listing, path: Path, config: Mapping[str, Any], flags: Mapping[str, object], out: FindingList
) -> None:
    """An AutoGPTQ-era quantize_config.json with no quantization_config in config.json (found on the real
    WizardCoder-15B-1.0-GPTQ): vLLM takes the method only from config.json (vllm/config/model.py
    _verify_quantization, via the model's arch config), so ModelConfig.quantization stays None and the loader never
    reads quantize_config.json (model_loader/weight_utils.py get_quant_config runs only once a method is set): the
    packed tensors (qweight, qzeros, scales) meet an unquantised model. A prediction: --quantization names it."""
    if "quantize_config.json" not in listing.files or flags.get("quantization"):
        return
    if any(isinstance(c.get("quantization_config"), Mapping) for c in (config, _text_config(config))):
        return
    quant = read_json(path / "quantize_config.json")
    shown = ""
    if isinstance(quant, dict):
        shown = ", ".join(f"{k} {quant[k]}" for k in ("quant_method", "bits", "group_size") if k in quant)
    method = quant.get("quant_method") if isinstance(quant, dict) else None
    asked = method if isinstance(method, str) and method else "gptq"
    out.add(
        "QUANT_UNSUPPORTED",
        Severity.WARNING,
        f"quantize_config.json ({shown or 'unreadable'}) but config.json has no quantization_config: vLLM reads "
        "the quantisation method from config.json only, loads the checkpoint as unquantised and the packed "
        f"weights (qweight, qzeros, scales) do not match its parameters; fix: serve with --quantization {asked} "
        "(vLLM then reads quantize_config.json) or add quantization_config to config.json",
        "quantize_config.json x config.json: quantization_config",
    )


def check_task(
    config: Mapping[str, Any], use_cases: frozenset[UseCase], registry: EngineRegistry | None, out: FindingList
) -> None:
    """A text-only architecture in an image/audio/video cell is the wrong model for the task (the "audio service that
    runs a text model"): WRONG_TASK, named before any processor file is looked for."""
    multimodal = sorted(use_cases & MULTIMODAL)
    arch = effective_architecture(config, registry)
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


def is_cross_encoder(config: Mapping[str, Any]) -> bool:
    """A sequence classifier (BertForSequenceClassification: cross-encoders, rerankers): vLLM serves it as a pooling
    model (/classify, and /rerank and /score with one label), never for chat."""
    architectures = config.get("architectures")
    return isinstance(architectures, list) and any(
        isinstance(a, str) and a.endswith("ForSequenceClassification") for a in architectures
    )


def is_sentence_encoder(path: Path) -> bool:
    """A sentence-transformers encoder: a Pooling module in modules.json."""
    modules = read_json(path / "modules.json")
    return isinstance(modules, list) and any(
        isinstance(m, dict) and "Pooling" in str(m.get("type", "")) for m in modules
    )
