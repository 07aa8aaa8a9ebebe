"""The zoo's speech-to-text member: a tiny Whisper that vLLM serves on /v1/audio/transcriptions.

Built like the text members (numpy + safetensors-format bytes + a ``tokenizers`` BPE, no hub, no torch): a
``WhisperForConditionalGeneration`` with d_model 128 and 2 heads (head_dim 64, which the CPU engine's encoder,
decoder and cross attention all accept), Whisper's special tokens (<|endoftext|>, <|startoftranscript|>, the 99
language tokens, <|transcribe|>, <|notimestamps|>, the 1501 timestamps...), a WhisperFeatureExtractor config (80 mel
bins, 16 kHz, 30 s chunks) and Whisper's generation_config.json.

Its transcript is fixed by construction and ignores the audio (a canary of the protocol, not of recognition): every
attention ``out_proj`` is zero, so the decoder's residual stream is the last token's embedding, and one MLP maps each
token of a chain to the next. The output layer is tied to the embeddings (vLLM ties Whisper's ``proj_out``), so each
chain token owns one embedding dimension: the MLP's row for a token reads its dimension and writes its successor's.
After Whisper's prompt (``<|startoftranscript|><|en|><|transcribe|><|notimestamps|>``, or ``<|0.00|>`` instead of
``<|notimestamps|>`` for verbose_json) the model says ``WHISPER_ANSWER``, then ``<|1.00|>`` (a timestamp: verbose_json
gets one segment; plain text skips it as a special token), then ``<|endoftext|>``; asked to detect the language
(``<|startoftranscript|>`` alone) it says ``<|en|>``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.zoo import bpe
from harness.zoo.member import ZooMember
from harness.zoo.writers import TRANSFORMERS_VERSION, hash_uniform, safetensors_bytes, write_json

WHISPER_ANSWER = "Hello from the tiny zoo whisper."

EOT = "<|endoftext|>"
SOT = "<|startoftranscript|>"
TRANSCRIBE = "<|transcribe|>"
NO_TIMESTAMPS = "<|notimestamps|>"
# OpenAI Whisper's 99 languages, in its tokenizer's order (ids follow <|startoftranscript|>).
LANGUAGES = (  # noqa: SIM905 (one string reads better than 99 quoted codes)
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur hr bg lt la "
    "mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn yo so af oc ka be "
    "tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su"
).split()
TASK_TOKENS = ("<|translate|>", TRANSCRIBE, "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", NO_TIMESTAMPS)
TIMESTAMPS = tuple(f"<|{i * 0.02:.2f}|>" for i in range(1501))
SPECIAL_TOKENS = (EOT, SOT, *(f"<|{code}|>" for code in LANGUAGES), *TASK_TOKENS, *TIMESTAMPS)

_CORPUS = (
    WHISPER_ANSWER,
    "Hello! This is the tiny zoo whisper model speaking from a small test checkpoint.",
    "The whisper model in the zoo is tiny and says hello from the zoo.",
    "A tiny whisper from the zoo says hello to the harness.",
    "The quick brown fox jumps over the lazy dog.",
    "Speech to text: the model hears the audio and writes the words.",
)


@dataclass(frozen=True)
class WhisperSpec:
    d_model: int = 128
    heads: int = 2  # head_dim 64
    ffn: int = 128
    encoder_layers: int = 1
    decoder_layers: int = 1
    mel_bins: int = 80
    source_positions: int = 1500  # 30 s of 10 ms mel frames, halved by conv2's stride
    target_positions: int = 448
    dtype: str = "bfloat16"


WHISPER = WhisperSpec()


@functools.cache
def whisper_tokenizer_json() -> str:
    """GPT-2's byte-level BPE, as Whisper's tokenizer, over the whisper corpus; then Whisper's special tokens."""
    return bpe.train_bpe(_CORPUS, style="gpt2", vocab_size=400, special_tokens=SPECIAL_TOKENS)


@dataclass(frozen=True)
class WhisperVocab:
    size: int
    ids: dict[str, int]  # special tokens
    answer_ids: tuple[int, ...]
    space_id: int


@functools.cache
def whisper_vocab() -> WhisperVocab:
    """The ids the model is written against (checked: special tokens consecutive, the answer's tokens distinct)."""
    tokenizer = bpe.load(whisper_tokenizer_json())
    ids = {token: bpe.token_id(tokenizer, token) for token in SPECIAL_TOKENS}
    if list(ids.values()) != list(range(ids[EOT], ids[EOT] + len(SPECIAL_TOKENS))):
        raise AssertionError("Whisper's special tokens must be consecutive, timestamps last")
    return WhisperVocab(
        size=bpe.vocab_size(tokenizer),
        ids=ids,
        answer_ids=bpe.chain_ids(tokenizer, WHISPER_ANSWER),
        space_id=bpe.token_id(tokenizer, "\u0120"),  # byte-level " "
    )


def _chain() -> dict[int, int]:
    """Each token the decoder's MLP maps, to its successor."""
    vocab = whisper_vocab()
    ids = vocab.ids
    answer = vocab.answer_ids
    chain = {ids[SOT]: ids["<|en|>"], ids[NO_TIMESTAMPS]: answer[0], ids["<|0.00|>"]: answer[0]}
    for token, successor in zip(answer, [*answer[1:], ids["<|1.00|>"]], strict=True):
        chain[token] = successor
    chain[ids["<|1.00|>"]] = ids[EOT]
    return chain


def _config(spec: WhisperSpec) -> dict[str, Any]:
    ids = whisper_vocab().ids
    config: dict[str, Any] = {
        "activation_dropout": 0.0,
        "activation_function": "gelu",
        "apply_spec_augment": False,
        "architectures": ["WhisperForConditionalGeneration"],
        "attention_dropout": 0.0,
        "begin_suppress_tokens": [whisper_vocab().space_id, ids[EOT]],
        "bos_token_id": ids[EOT],
        "classifier_proj_size": 256,
        "d_model": spec.d_model,
        "decoder_attention_heads": spec.heads,
        "decoder_ffn_dim": spec.ffn,
        "decoder_layerdrop": 0.0,
        "decoder_layers": spec.decoder_layers,
        "decoder_start_token_id": ids[SOT],
        "dropout": 0.0,
        "dtype": spec.dtype,
        "encoder_attention_heads": spec.heads,
        "encoder_ffn_dim": spec.ffn,
        "encoder_layerdrop": 0.0,
        "encoder_layers": spec.encoder_layers,
        "eos_token_id": ids[EOT],
        "init_std": 0.02,
        "is_encoder_decoder": True,
        "max_length": spec.target_positions,
        "max_source_positions": spec.source_positions,
        "max_target_positions": spec.target_positions,
        "median_filter_width": 7,
        "model_type": "whisper",
        "num_hidden_layers": spec.encoder_layers,
        "num_mel_bins": spec.mel_bins,
        "pad_token_id": ids[EOT],
        "scale_embedding": False,
        "torch_dtype": spec.dtype,
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "use_weighted_layer_sum": False,
        "vocab_size": whisper_vocab().size,
    }
    return dict(sorted(config.items()))


def _generation_config() -> dict[str, Any]:
    ids = whisper_vocab().ids
    return {
        "begin_suppress_tokens": [whisper_vocab().space_id, ids[EOT]],
        "bos_token_id": ids[EOT],
        "decoder_start_token_id": ids[SOT],
        "eos_token_id": ids[EOT],
        "forced_decoder_ids": [[1, None], [2, ids[TRANSCRIBE]]],
        "is_multilingual": True,
        "lang_to_id": {f"<|{code}|>": ids[f"<|{code}|>"] for code in LANGUAGES},
        "max_initial_timestamp_index": 50,
        "max_length": WHISPER.target_positions,
        "no_timestamps_token_id": ids[NO_TIMESTAMPS],
        "pad_token_id": ids[EOT],
        "prev_sot_token_id": ids["<|startofprev|>"],
        "return_timestamps": False,
        "suppress_tokens": [],
        "task_to_id": {"transcribe": ids[TRANSCRIBE], "translate": ids["<|translate|>"]},
        "transformers_version": TRANSFORMERS_VERSION,
    }


def _tokenizer_config() -> dict[str, Any]:
    ids = whisper_vocab().ids
    config: dict[str, Any] = {
        "add_prefix_space": False,
        "added_tokens_decoder": {str(ids[t]): bpe.added_token_entry(t) for t in SPECIAL_TOKENS},
        "additional_special_tokens": [t for t in SPECIAL_TOKENS if t not in TIMESTAMPS and t != EOT],
        "bos_token": EOT,
        "clean_up_tokenization_spaces": False,
        "eos_token": EOT,
        "errors": "replace",
        "model_max_length": 1024,
        "pad_token": EOT,
        "processor_class": "WhisperProcessor",
        "return_attention_mask": False,
        "tokenizer_class": "WhisperTokenizer",
        "unk_token": EOT,
    }
    return dict(sorted(config.items()))


def _preprocessor_config(spec: WhisperSpec) -> dict[str, Any]:
    return {
        "chunk_length": 30,
        "dither": 0.0,
        "feature_extractor_type": "WhisperFeatureExtractor",
        "feature_size": spec.mel_bins,
        "hop_length": 160,
        "n_fft": 400,
        "n_samples": 480000,
        "nb_max_frames": 3000,
        "padding_side": "right",
        "padding_value": 0.0,
        "processor_class": "WhisperProcessor",
        "return_attention_mask": False,
        "sampling_rate": 16000,
    }


def _attention(prefix: str, d: int, seed: int, *, silent: bool) -> dict[str, np.ndarray]:
    """HF Whisper attention weights (k_proj has no bias); ``silent`` zeroes out_proj so nothing reaches the residual."""
    tensors: dict[str, np.ndarray] = {}
    for index, name in enumerate(("q_proj", "k_proj", "v_proj")):
        tensors[f"{prefix}.{name}.weight"] = 0.05 * hash_uniform(seed + index, (d, d))
        if name != "k_proj":
            tensors[f"{prefix}.{name}.bias"] = 0.02 * hash_uniform(seed + 10 + index, (d,))
    if silent:
        tensors[f"{prefix}.out_proj.weight"] = np.zeros((d, d), dtype=np.float32)
        tensors[f"{prefix}.out_proj.bias"] = np.zeros(d, dtype=np.float32)
    else:
        tensors[f"{prefix}.out_proj.weight"] = 0.05 * hash_uniform(seed + 20, (d, d))
        tensors[f"{prefix}.out_proj.bias"] = np.zeros(d, dtype=np.float32)
    return tensors


def _norm(prefix: str, d: int) -> dict[str, np.ndarray]:
    return {f"{prefix}.weight": np.ones(d, dtype=np.float32), f"{prefix}.bias": np.zeros(d, dtype=np.float32)}


def whisper_weights(spec: WhisperSpec) -> dict[str, np.ndarray]:
    vocab = whisper_vocab()
    chain = _chain()
    d, v, ffn = spec.d_model, vocab.size, spec.ffn
    members = sorted(set(chain) | set(chain.values()))
    if len(members) + 1 > d // 2 or len(chain) > ffn:
        raise AssertionError("d_model / ffn too small for one dimension / MLP row per chain token")
    dim = {token: 1 + i for i, token in enumerate(members)}
    first_free = len(members) + 1

    embed = np.zeros((v, d), dtype=np.float32)
    embed[:, first_free:] = 0.5 * hash_uniform(1, (v, d - first_free))  # other tokens: distinct, off the chain dims
    for token in members:
        embed[token, :] = 0.0
        embed[token, dim[token]] = 4.0

    # The decoder MLP: row r fires (about +11 after layer norm, minus its bias 2) only for its chain token, and
    # moves the residual from that token's dimension to its successor's; other rows stay at gelu(0) = 0.
    fc1 = np.zeros((ffn, d), dtype=np.float32)
    fc1_bias = np.zeros(ffn, dtype=np.float32)
    fc2 = np.zeros((d, ffn), dtype=np.float32)
    for row, (token, successor) in enumerate(sorted(chain.items())):
        fc1[row, dim[token]] = 1.0
        fc1_bias[row] = -2.0
        fc2[dim[successor], row] = 2.0
        fc2[dim[token], row] = -0.4

    tensors: dict[str, np.ndarray] = {
        "model.encoder.conv1.weight": 0.05 * hash_uniform(2, (d, spec.mel_bins, 3)),
        "model.encoder.conv1.bias": np.zeros(d, dtype=np.float32),
        "model.encoder.conv2.weight": 0.05 * hash_uniform(3, (d, d, 3)),
        "model.encoder.conv2.bias": np.zeros(d, dtype=np.float32),
        "model.encoder.embed_positions.weight": 0.02 * hash_uniform(4, (spec.source_positions, d)),
        **_norm("model.encoder.layer_norm", d),
        "model.decoder.embed_tokens.weight": embed,
        "model.decoder.embed_positions.weight": np.zeros((spec.target_positions, d), dtype=np.float32),
        **_norm("model.decoder.layer_norm", d),
    }
    for layer in range(spec.encoder_layers):
        prefix = f"model.encoder.layers.{layer}"
        seed = 100 * (layer + 1)
        tensors |= _attention(f"{prefix}.self_attn", d, seed, silent=False)
        tensors |= _norm(f"{prefix}.self_attn_layer_norm", d)
        tensors |= _norm(f"{prefix}.final_layer_norm", d)
        tensors[f"{prefix}.fc1.weight"] = 0.05 * hash_uniform(seed + 50, (ffn, d))
        tensors[f"{prefix}.fc1.bias"] = np.zeros(ffn, dtype=np.float32)
        tensors[f"{prefix}.fc2.weight"] = 0.05 * hash_uniform(seed + 51, (d, ffn))
        tensors[f"{prefix}.fc2.bias"] = np.zeros(d, dtype=np.float32)
    for layer in range(spec.decoder_layers):
        prefix = f"model.decoder.layers.{layer}"
        seed = 1000 * (layer + 1)
        tensors |= _attention(f"{prefix}.self_attn", d, seed, silent=True)
        tensors |= _attention(f"{prefix}.encoder_attn", d, seed + 30, silent=True)
        for norm in ("self_attn_layer_norm", "encoder_attn_layer_norm", "final_layer_norm"):
            tensors |= _norm(f"{prefix}.{norm}", d)
        last = layer == spec.decoder_layers - 1  # earlier layers add nothing (zero fc2)
        tensors[f"{prefix}.fc1.weight"] = fc1 if last else np.zeros((ffn, d), dtype=np.float32)
        tensors[f"{prefix}.fc1.bias"] = fc1_bias if last else np.zeros(ffn, dtype=np.float32)
        tensors[f"{prefix}.fc2.weight"] = fc2 if last else np.zeros((d, ffn), dtype=np.float32)
        tensors[f"{prefix}.fc2.bias"] = np.zeros(d, dtype=np.float32)
    return tensors


def _tiny_whisper(directory: Path) -> None:
    write_json(directory / "config.json", _config(WHISPER))
    write_json(directory / "generation_config.json", _generation_config())
    write_json(directory / "preprocessor_config.json", _preprocessor_config(WHISPER))
    (directory / "tokenizer.json").write_text(whisper_tokenizer_json(), encoding="utf-8")
    write_json(directory / "tokenizer_config.json", _tokenizer_config())
    write_json(
        directory / "special_tokens_map.json",
        {"bos_token": EOT, "eos_token": EOT, "pad_token": EOT, "unk_token": EOT},
    )
    (directory / "model.safetensors").write_bytes(safetensors_bytes(whisper_weights(WHISPER), WHISPER.dtype))


MEMBERS: dict[str, ZooMember] = {
    "tiny-whisper": ZooMember(
        name="tiny-whisper",
        description="A tiny WhisperForConditionalGeneration (d_model 128, head_dim 64) that vLLM serves on "
        f"/v1/audio/transcriptions; whatever the audio, it transcribes {WHISPER_ANSWER!r}.",
        # Like openai/whisper-*, no chat template: `check` without --use-case assumes chat and says so;
        # `check --use-case audio` reports nothing.
        expected_codes=frozenset({"NO_CHAT_TEMPLATE"}),
        build=_tiny_whisper,
        expected_answer=WHISPER_ANSWER,
    ),
}

__all__ = [
    "EOT",
    "LANGUAGES",
    "MEMBERS",
    "NO_TIMESTAMPS",
    "SOT",
    "SPECIAL_TOKENS",
    "TASK_TOKENS",
    "TIMESTAMPS",
    "TRANSCRIBE",
    "WHISPER",
    "WHISPER_ANSWER",
    "WhisperSpec",
    "WhisperVocab",
    "whisper_tokenizer_json",
    "whisper_vocab",
    "whisper_weights",
]
