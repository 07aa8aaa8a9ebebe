"""The pre-flight rules of a GGUF checkpoint (once ``gguf_select`` chose and read the file): does the installed vLLM
serve it, with which config, and what the chat template and stop tokens will be.

What vLLM 0.32.0 does with a GGUF (read from its source and the plugin's, see ``harness.engine.gguf_support``): no
GGUF code in tree, so without ``vllm-gguf-plugin`` a ``.gguf`` path fails at once ("not a valid JSON file"); with it,
the config.json AND the tokenizer (hence the chat template and the eos ids) come from ``--tokenizer`` when given, else
from the GGUF's own directory (the plugin's ``_get_gguf_config_source``; ``ModelConfig`` then takes the tokenizer
from the same place): the GGUF's own tokenizer metadata is only used for vocab_size. The architecture is
``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type]`` of that config ("Can't get gguf config for X" without one), tensor
names are mapped by the config's model_type, and the linear layers take the ggml types the plugin lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.checkpoint.gguf import GgufFile
from harness.checkpoint.report import FindingList
from harness.checkpoint.template import ChatTemplateFacts, FoundTemplate, render_checks
from harness.checkpoint.tokenizer import Vocabulary
from harness.engine import GGUF_PLUGIN as PLUGIN
from harness.engine import EngineRegistry, GgufSupport, GpuSpec
from harness.findings import Severity
from harness.usecases import CHAT_LIKE, UseCase

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
    "check_capability",
    "check_context",
    "check_engine",
    "check_gguf_chat",
    "check_plugin_config",
    "check_tokenizer_match",
    "gguf_special_tokens",
    "gguf_vocabulary",
]
