"""The pre-flight rules of a GGUF checkpoint: which file, is it whole, does the installed vLLM serve it, and what the
chat template and stop tokens will be.

What vLLM 0.32.0 does with a GGUF (read from its source and the plugin's, see ``harness.engine.gguf_support``): no
GGUF code in tree, so without ``vllm-gguf-plugin`` a ``.gguf`` path fails at once ("not a valid JSON file"); with it,
the config.json AND the tokenizer (hence the chat template and the eos ids) come from ``--tokenizer`` when given, else
from the GGUF's own directory (the plugin's ``_get_gguf_config_source``; ``ModelConfig`` then takes the tokenizer
from the same place): the GGUF's own tokenizer metadata is only used for vocab_size. The architecture is
``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type]`` of that config ("Can't get gguf config for X" without one), tensor
names are mapped by the config's model_type, and the linear layers take the ggml types the plugin lists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checkpoint.fetch import Listing
from harness.checkpoint.gguf import GgufError, GgufFile, read_gguf
from harness.checkpoint.report import FindingList
from harness.checkpoint.template import ChatTemplateFacts, FoundTemplate, render_checks
from harness.checkpoint.tokenizer import Vocabulary
from harness.engine import GGUF_PLUGIN as PLUGIN
from harness.engine import EngineRegistry, GgufSupport, GpuSpec
from harness.findings import Severity
from harness.usecases import CHAT_LIKE, UseCase

_SHARD = re.compile(r"^(?P<stem>.*)-(?P<number>\d{5})-of-(?P<count>\d{5})\.gguf$")
MAX_HEADER_PROBES = 32  # GGUF headers read to match a quant tag against general.file_type when no name matches

# The plugin's weights adapter (weights_adapter/default.py) renames these transformers model_types to the llama.cpp
# architecture whose tensor-name map it then uses; every other model_type is looked up as it is.
_PLUGIN_ARCH_NAMES = {
    "cohere": "command-r",
    "gemma3_text": "gemma3",
    "deepseek_v3": "deepseek2",
    "deepseek_v2": "deepseek2",
    "qwen2_moe": "qwen2moe",
    "qwen3_moe": "qwen3moe",
    "minimax_m2": "minimax-m2",
}


@dataclass(frozen=True)
class GgufChoice:
    """The GGUF file pre-flight judges: its path in the listing and every shard of it (one for a single file)."""

    name: str
    shards: tuple[str, ...]
    how: str  # "the only GGUF file", "gguf_file", "quant Q4_K_M (file name)", ...


def is_split_part(name: str) -> bool:
    return _SHARD.match(name.rsplit("/", 1)[-1]) is not None


def gguf_files(listing: Listing) -> list[str]:
    """The model GGUF files of a listing (multimodal projectors, mmproj*.gguf, are the plugin's business)."""
    return sorted(f for f in listing.files if f.endswith(".gguf") and "mmproj" not in f.rsplit("/", 1)[-1].lower())


def _group(name: str, names: list[str]) -> tuple[str, ...]:
    """``name`` and its sibling shards (``x-00001-of-00003.gguf``), in order; just ``name`` for a single file."""
    match = _SHARD.match(name)
    if match is None:
        return (name,)
    stem, count = match["stem"], match["count"]
    return tuple(sorted(n for n in names if (m := _SHARD.match(n)) and m["stem"] == stem and m["count"] == count))


def _first_shards(names: list[str]) -> list[str]:
    """One name per file: single files, and the first-listed shard of each split."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for name in names:
        group = _group(name, names)
        if group not in seen:
            seen.add(group)
            out.append(group[0])
    return out


def _tag_in_name(name: str, quant: str) -> bool:
    """The quant tag as a whole word of the file name: -Q4_K_M., .Q4_1., _q8_0- ... (case-insensitive)."""
    base = name.rsplit("/", 1)[-1]
    return re.search(rf"(?:^|[-._]){re.escape(quant)}(?:[-._]|$)", base, flags=re.IGNORECASE) is not None


def choose_gguf(
    listing: Listing, path: Path, gguf_file: str | None, quant: str | None, out: FindingList
) -> GgufChoice | None:
    """The GGUF file to judge, by ``gguf_file`` (a name in the directory), else ``quant`` (a tag in the file name,
    else general.file_type of the local files), else the only one; None with an ERROR finding when there is none or
    the choice is ambiguous."""
    names = gguf_files(listing)
    listed = ", ".join(names[:8]) + (f" +{len(names) - 8}" if len(names) > 8 else "") or "none"
    if gguf_file is not None:
        wanted = gguf_file.strip("/")
        hits = [n for n in names if n == wanted] or [n for n in names if n.rsplit("/", 1)[-1] == wanted]
        if len(hits) != 1:
            out.add(
                "WEIGHTS_MISSING",
                Severity.ERROR,
                f"gguf_file {gguf_file!r} is {'ambiguous' if hits else 'not'} in {listing.source} (GGUF files: "
                f"{listed}); fix: name one of them",
                f"gguf_file: {gguf_file}",
            )
            return None
        return GgufChoice(hits[0], _group(hits[0], names), "gguf_file")
    candidates = _first_shards(names)
    if quant is not None:
        hits = [n for n in candidates if _tag_in_name(n, quant)]
        how = f"quant {quant} (file name)"
        if not hits and listing.local:
            hits = [n for n in candidates[:MAX_HEADER_PROBES] if _file_type(path / n) == quant.upper()]
            how = f"quant {quant} (general.file_type)"
        if len(hits) != 1:
            found = f"{len(hits)} match ({', '.join(hits[:8])})" if hits else "none matches"
            out.add(
                "WEIGHTS_MISSING" if not hits else "NOT_SERVABLE",
                Severity.ERROR,
                f"quant {quant!r}: {found} among the GGUF files of {listing.source} ({listed}), by file name or "
                "general.file_type; fix: name the file with gguf_file",
                f"quant: {quant}",
            )
            return None
        return GgufChoice(hits[0], _group(hits[0], names), how)
    if len(candidates) == 1:
        return GgufChoice(candidates[0], _group(candidates[0], names), "the only GGUF file")
    out.add(
        "NOT_SERVABLE",
        Severity.ERROR,
        f"{len(candidates)} GGUF files in {listing.source} ({listed}) and none chosen: vLLM serves one GGUF file "
        "(its path, or DIR:QUANT with vllm-gguf-plugin); fix: choose one with gguf_file: or quant: (e.g. Q4_K_M)",
        "*.gguf",
    )
    return None


# A quant tag as the plugin accepts one after a colon (gguf_utils.is_valid_gguf_quant_type, roughly): a llama.cpp
# file type or ggml type name, with _M/_S/_L/_XL/_XS/_XXS suffixes and dash-separated prefixes (UD-Q4_K_XL).
_QUANT_REFERENCE = re.compile(r"^(?P<model>.+):(?P<quant>(?:[A-Za-z0-9]+-)*(?:I?Q\d\w*|[BF]F?16|F32|MXFP4\w*|TQ\d_0))$")


def split_quant_reference(model: str) -> tuple[str, str] | None:
    """``DIR:QUANT`` / ``REPO:QUANT`` (the plugin's references, e.g. ``Qwen/Qwen3-0.6B-GGUF:Q8_0``) as (model, quant);
    None for anything else (``zoo:member`` included: its right side is no quant tag)."""
    match = _QUANT_REFERENCE.match(model)
    return (match["model"], match["quant"]) if match else None


def plugin_local_pick(names: list[str], quant: str) -> str | None:
    """The file the plugin's ``DIR:QUANT`` resolves to (weight_utils.resolve_local_gguf): ``*-QUANT.gguf`` or
    ``*-QUANT-*.gguf`` (case-sensitive, dash only), fewest dashes first; None when it finds none and raises."""
    hits = [
        n
        for n in names
        if "/" not in n and (n.endswith(f"-{quant}.gguf") or re.search(rf"-{re.escape(quant)}-.*\.gguf$", n))
    ]
    return min(hits, key=lambda n: (n.count("-"), n)) if hits else None


def check_quant_reference(listing: Listing, quant: str, chosen: str, out: FindingList) -> None:
    """A ``DIR:QUANT`` reference: the file the plugin will load, against the one pre-flight judged."""
    picked = plugin_local_pick(gguf_files(listing), quant)
    if picked is None:
        out.add(
            "WEIGHTS_MISSING",
            Severity.ERROR,
            f"DIR:{quant}: vllm-gguf-plugin looks for *-{quant}.gguf or *-{quant}-*.gguf (case-sensitive) and finds "
            f"none in {listing.source} (it raises 'No GGUF file matching quant_type'); {chosen} matches only by "
            "pre-flight's looser rule; fix: name the file itself (its path) instead of DIR:QUANT",
            f"quant: {quant}",
        )
    elif picked != chosen:
        out.add(
            "WEIGHTS_MISSING",
            Severity.WARNING,
            f"DIR:{quant}: vllm-gguf-plugin loads {picked} (fewest dashes first), pre-flight judged {chosen}; fix: "
            "name the file itself",
            f"quant: {quant}",
        )


def _file_type(path: Path) -> str | None:
    try:
        return read_gguf(path).file_type if path.is_file() else None
    except (GgufError, OSError):
        return None


@dataclass(frozen=True)
class GgufRead:
    """The chosen file's header (the first shard's), and the parameters and bytes over every shard."""

    gguf: GgufFile
    parameters: int
    weight_bytes: int


def read_choice(choice: GgufChoice, listing: Listing, path: Path, out: FindingList) -> GgufRead | None:
    """Every shard present and whole, read without tensor data; None with a WEIGHTS_* finding when not."""
    missing = [s for s in choice.shards if s not in listing.files]
    first = _SHARD.match(choice.name.rsplit("/", 1)[-1])
    expected = int(first["count"]) if first else 1
    if len(choice.shards) < expected or missing:
        out.add(
            "WEIGHTS_INCOMPLETE",
            Severity.ERROR,
            f"split GGUF {choice.name}: {len(choice.shards)} of {expected} shards present in {listing.source}; "
            "the plugin loads every shard: download the missing ones",
            choice.name,
        )
        return None
    if not listing.local or not (path / choice.name).is_file():
        size = listing.files.get(choice.name)
        out.add(
            "WEIGHTS_MISSING",
            Severity.WARNING,
            f"{choice.name} ({size if size is not None else 'unknown'} bytes) is not downloaded, so its GGUF header "
            f"was not read: architecture, context, quantisation and tokens unknown; fix: download it (`hf download "
            f"REPO {choice.name}`) and check again",
            choice.name,
        )
        return None
    header: GgufFile | None = None
    parameters = 0
    weight_bytes = 0
    for name in choice.shards:
        try:
            gguf = read_gguf(path / name)
        except GgufError as error:
            out.add(
                error.code,
                Severity.ERROR,
                f"{name}: {error}; vLLM cannot load it: re-download the file",
                f"{name}: GGUF header",
            )
            return None
        except OSError as error:
            out.add(
                "WEIGHTS_INCOMPLETE",
                Severity.ERROR,
                f"{name} cannot be read ({error.strerror or error}); re-download it",
                f"{name}: GGUF header",
            )
            return None
        header = header or gguf
        parameters += gguf.parameters
        weight_bytes += gguf.file_size
    assert header is not None  # shards is never empty
    return GgufRead(header, parameters, weight_bytes)


def check_engine(support: GgufSupport, gguf: GgufFile | None, model: str, out: FindingList) -> bool:
    """Whether the installed vLLM loads GGUF at all (an ERROR when not), and what it will do with these tensors:
    ggml types its GGUF linear method refuses (ERROR), kernels without a CPU implementation on a CPU engine
    (WARNING: it boots and dies at the first request). True when the engine loads GGUF."""
    if not support.serves_gguf:
        out.add(
            "NOT_SERVABLE",
            Severity.ERROR,
            f"{support.label} has no GGUF support: its tree holds no GGUF code and no {PLUGIN} is installed in the "
            f"engine environment (vllm.general_plugins: {', '.join(p.split('=')[0] for p in support.plugins) or 'none'}"
            f'), so a GGUF path reaches the transformers config reader, which fails: "It looks like the config file '
            f"at '{model}' is not a valid JSON file\" (the server, in maybe_override_with_speculators; ModelConfig "
            "alone: 'Invalid repository ID or local directory specified'); fix: `pip install "
            f"{PLUGIN}` in the engine environment (its kernels are CUDA), or serve a transformers (safetensors) "
            "checkpoint of the model",
            f"engine: {support.label}, vllm.general_plugins",
        )
        return False
    types = set(gguf.type_counts()) if gguf is not None else set()
    if gguf is not None and support.weight_types is not None:
        refused = sorted(types - support.weight_types)
        if refused:
            tensors = [t.name for t in gguf.tensors if t.type_name in refused]
            out.add(
                "QUANT_UNSUPPORTED",
                Severity.ERROR,
                f"{len(tensors)} tensors are in ggml type{'s' if len(refused) > 1 else ''} {', '.join(refused)} "
                f"(e.g. {tensors[0]}), which {PLUGIN} {support.plugin_version or ''} does not take (its GGUF linear "
                f"method handles {', '.join(sorted(support.weight_types))}): vLLM raises 'Unsupported GGUF "
                "quantization type'; fix: a GGUF quantised to a supported type (Q4_K_M, Q8_0, ...)",
                f"{gguf.path.name}: tensor types",
            )
    if support.dies_on_cpu:
        out.add(
            "QUANT_UNSUPPORTED",
            Severity.WARNING,
            f"{support.label} runs on the CPU and {PLUGIN}'s GGUF kernels have no CPU implementation "
            f"(_C_gguf::ggml_dequantize has {'no CPU kernel' if support.cpu_kernel is False else 'no kernel at all'})"
            ': the server boots, then the first request kills the engine ("Could not run '
            "'_C_gguf::ggml_dequantize' with arguments from the 'CPU' backend\"); fix: serve it on a GPU, or a "
            "dequantized (safetensors) checkpoint on the CPU",
            f"engine: {support.label}, device {support.device_type}",
        )
    return True


def check_capability(support: GgufSupport, gpu: GpuSpec, out: FindingList) -> None:
    """GGUF on a GPU below the quantization method's minimum capability: vLLM refuses it at config time
    (vllm/config/vllm.py _get_quantization_config: "The quantization method gguf is not supported for the current
    GPU")."""
    need = support.min_capability
    if need is not None and gpu.capability < need:
        out.add(
            "QUANT_UNSUPPORTED",
            Severity.ERROR,
            f"quantization gguf needs compute capability {need // 10}.{need % 10} ({PLUGIN} "
            f"{support.plugin_version or ''}), {gpu.label} has {gpu.capability_str}: vLLM raises 'The quantization "
            "method gguf is not supported for the current GPU'; fix: a newer GPU, or a dequantized checkpoint",
            f"{gpu.label} x GGUFConfig.get_min_capability",
        )


def check_plugin_config(
    config: Mapping[str, Any], source: str, gguf: GgufFile, registry: EngineRegistry | None, out: FindingList
) -> str | None:
    """The plugin's config rules on the config.json it will read: the architecture it sets
    (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type], returned) and the model_type against the GGUF's architecture
    (tensor names are mapped by the config's)."""
    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        out.add(
            "CONFIG_MISSING",
            Severity.ERROR,
            f"{source}: config.json has no model_type: {PLUGIN}'s config parser cannot map it to a causal LM; "
            "fix: --tokenizer (tokenizer:) pointing at the original transformers repository",
            f"{source}: config.json",
        )
        return None
    arch = registry.causal_lm_architectures.get(model_type) if registry is not None else None
    if registry is not None and registry.causal_lm_architectures and arch is None:
        out.add(
            "ARCH_UNSUPPORTED",
            Severity.ERROR,
            f"model_type {model_type!r} ({source}: config.json) has no causal LM class in transformers "
            f"{registry.transformers_version} (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES): {PLUGIN} raises \"Can't get "
            f'gguf config for {model_type}."; GGUF serves causal language models only',
            f"{source}: config.json model_type",
        )
    renamed = _PLUGIN_ARCH_NAMES.get(model_type, model_type)
    if gguf.architecture is not None and renamed != gguf.architecture:
        out.add(
            "WEIGHT_NAME_MISMATCH",
            Severity.WARNING,
            f"the config.json vLLM reads ({source}) is model_type {model_type!r} (GGUF name {renamed!r}) but the "
            f"GGUF's general.architecture is {gguf.architecture!r}: {PLUGIN} maps the GGUF's tensor names by the "
            "config's model_type, so the weights will not load; fix: a tokenizer/config of the model the GGUF was "
            "made from",
            f"{source}: config.json model_type x {gguf.path.name}: general.architecture",
        )
    return arch


TOKEN_SAMPLE = 512  # GGUF tokens compared with the tokenizer's ids, spread evenly over the list


def check_tokenizer_match(gguf: GgufFile, vocab: Vocabulary, source: str, out: FindingList) -> None:
    """The tokenizer vLLM uses against the GGUF's own token list: a sample of tokens and the bos/eos/eot tokens must
    have the same ids there (the plugin sizes the embedding from the GGUF's list; the tokenizer's ids index it).
    The real pair (SmolLM2's GGUF and its dequantized tokenizer.json) agrees on all 49,152 tokens."""
    tokens = gguf.tokens()
    if not tokens or not (vocab.ids or vocab.added):
        return
    step = max(1, len(tokens) // TOKEN_SAMPLE)
    sample = range(0, len(tokens), step)
    differ = sum(1 for i in sample if vocab.id_of(tokens[i]) != i)
    special = []
    for key in ("bos", "eos", "eot"):
        token_id, text = gguf.token(key)
        if text is not None and vocab.id_of(text) != token_id:
            special.append(f"{key} {text!r}: {token_id} in the GGUF, {vocab.id_of(text)} in the tokenizer")
    if differ * 20 > len(sample) or special:
        out.add(
            "EOS_MISMATCH",
            Severity.WARNING,
            f"the tokenizer vLLM uses ({source}) is not the GGUF's: {differ} of {len(sample)} sampled tokens have "
            f"another id or none there{'; ' if special else ''}{'; '.join(special)}: prompts are encoded and "
            "generation stops with the wrong ids; fix: the tokenizer of the model the GGUF was made from",
            f"{source}: tokenizer.json x {gguf.path.name}: tokenizer.ggml.tokens",
        )


def gguf_vocabulary(gguf: GgufFile) -> Vocabulary:
    """The GGUF's token list as the template checks read a tokenizer: text -> id, special tokens apart."""
    return Vocabulary({token: i for i, token in enumerate(gguf.tokens())}, gguf.special_tokens())


def gguf_special_tokens(gguf: GgufFile) -> dict[str, str]:
    """bos/eos/unk/pad token texts, as transformers' GGUF loader passes them to a chat template."""
    out: dict[str, str] = {}
    for key, name in (("bos", "bos_token"), ("eos", "eos_token"), ("unknown", "unk_token"), ("padding", "pad_token")):
        _, text = gguf.token(key)
        if text is not None:
            out[name] = text
    return out


@dataclass(frozen=True)
class GgufChat:
    eos_token_ids: tuple[int, ...]
    chat_template: ChatTemplateFacts | None
    end_of_turn_id: int | None


def check_gguf_chat(
    gguf: GgufFile, use_cases: frozenset[UseCase], chat_assumed: bool, out: FindingList, *, scope_note: str
) -> GgufChat:
    """The GGUF's own template (tokenizer.chat_template) rendered in the sandbox with its token list, and its
    end-of-turn token against the GGUF's eos/eot ids: what a tokenizer made from this GGUF (transformers' GGUF
    loader, llama.cpp) will do. ``scope_note`` says whose view that is, for the messages."""
    chat_cases = (use_cases & CHAT_LIKE) or (frozenset({UseCase.CHAT}) if chat_assumed else frozenset())
    eos_id, eos = gguf.token("eos")
    eot_id, eot = gguf.token("eot")
    stops = tuple(sorted({i for i in (eos_id, eot_id) if i is not None}))
    text = gguf.string("tokenizer.chat_template")
    source = f"{gguf.path.name}: tokenizer.chat_template"
    if not text:
        asked = ", ".join(sorted(u.value for u in chat_cases)) or "no chat-like use case"
        out.add(
            "NO_CHAT_TEMPLATE",
            Severity.ERROR if chat_cases else Severity.INFO,
            f"the GGUF has no tokenizer.chat_template ({scope_note}): /v1/chat/completions answers HTTP 400 "
            f"(asked: {asked}); fix: a chat (instruct) model, or pass --chat-template; completions work",
            source,
            scope=CHAT_LIKE,
        )
        return GgufChat(stops, None, None)
    result = render_checks(
        gguf.path,
        FoundTemplate(text, source),
        with_tools=UseCase.TOOLS in use_cases,
        vocab=gguf_vocabulary(gguf),
        tokens=gguf_special_tokens(gguf),
    )
    facts = result.facts(source)
    if result.sandbox_escape is not None or result.bound_exceeded is not None or not result.renders:
        why = result.sandbox_escape or result.bound_exceeded or result.error
        out.add(
            "TEMPLATE_ERROR",
            Severity.ERROR if chat_cases else Severity.WARNING,
            f"the GGUF's chat template does not render in the sandbox ({why}; {scope_note}); fix: pass a trusted "
            "--chat-template",
            source,
            scope=CHAT_LIKE,
        )
        return GgufChat(stops, facts, None)
    if result.end_of_turn is not None and result.end_of_turn_id not in stops:
        shown = "{" + ", ".join(str(i) for i in stops) + "}"
        out.add(
            "EOS_MISMATCH",
            Severity.WARNING,
            f"the GGUF's template ends an assistant turn with {result.end_of_turn!r} (id {result.end_of_turn_id}) "
            f"but its eos/eot ids are {shown} (eos {eos!r}, eot {eot!r}; {scope_note}): generation will run to "
            "max_tokens; fix: tokenizer.ggml.eos_token_id (or eot) of the end-of-turn token (a prediction: the "
            "stop_tokens probe decides)",
            f"{source}; tokenizer.ggml.eos_token_id",
            scope=CHAT_LIKE,
        )
    return GgufChat(stops, facts, result.end_of_turn_id)


def check_context(gguf: GgufFile, config_length: int | None, max_model_len: int | None, out: FindingList) -> None:
    """``--max-model-len`` against the GGUF's trained context (vLLM derives its limit from the config.json it reads,
    which the caller checks; a longer length than the GGUF's own is a model asked beyond its training)."""
    trained = gguf.arch_int("context_length")
    if trained is not None and config_length is not None and config_length != trained:
        out.add(
            "MAX_MODEL_LEN",
            Severity.INFO,
            f"the config.json vLLM reads allows {config_length} positions, the GGUF's {gguf.architecture}."
            f"context_length is {trained}: vLLM follows the config",
            f"{gguf.path.name}: context_length",
        )
    if max_model_len is not None and trained is not None and max_model_len > trained:
        out.add(
            "MAX_MODEL_LEN",
            Severity.WARNING,
            f"--max-model-len {max_model_len} is above the GGUF's {gguf.architecture}.context_length {trained}: "
            f"the model was not trained for it; fix: --max-model-len {trained} or less",
            f"{gguf.path.name}: {gguf.architecture}.context_length",
        )


__all__ = [
    "GgufChat",
    "GgufChoice",
    "GgufRead",
    "check_capability",
    "check_context",
    "check_engine",
    "check_gguf_chat",
    "check_plugin_config",
    "check_quant_reference",
    "check_tokenizer_match",
    "choose_gguf",
    "gguf_files",
    "gguf_special_tokens",
    "gguf_vocabulary",
    "is_split_part",
    "plugin_local_pick",
    "read_choice",
    "split_quant_reference",
]
