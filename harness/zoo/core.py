"""The zoo: tiny checkpoints, built locally, that reproduce real vLLM failures (the canaries).

Every member is written from numpy + safetensors-format bytes + a BPE tokenizer trained with ``tokenizers`` on a
built-in corpus: no hub, no torch, no transformers. The bytes are deterministic (no numpy RNG stream, whose
values may change between numpy releases: a splitmix64 hash gives the "random" weights), so a member built twice
is identical and ``ZOO_VERSION`` names its content.

The text members are a Qwen2 model whose greedy output is fixed by construction. Every attention ``o_proj`` and MLP
``down_proj`` is zero, so the residual stream at each position is just that token's embedding and the next token
depends only on the last one: a bigram written by hand into ``embed_tokens`` and ``lm_head``. Dimension 0 of every
embedding is a constant 1 that the first answer token's lm_head row reads (the default successor); each answer
token also owns one dimension that its successor's row reads with a larger weight. So after any prompt (ending in a
token outside the answer) the model says ``CHAT_OK_ANSWER`` and then the member's end token.

Adding a member is one builder function and one ``ZooMember`` entry in ``MEMBERS``.
"""

from __future__ import annotations

import fcntl
import functools
import importlib
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.paths import cache_root

ZOO_VERSION = "1"
CHAT_OK_ANSWER = "Hello from the tiny zoo model."

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)
SENTINEL = "EXECUTED"  # what remote-code's shipped .py files write next to themselves if they are ever run
SENTINEL_ENV = "VLLM_COMPAT_ZOO_SENTINEL"  # ...and also to this path when set (transformers runs a copy elsewhere)

# Qwen2's pre-tokenizer split pattern, so the tokenizer.json looks like (and behaves like) a real Qwen2 one.
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# The tokenizer's training text: every answer word recurs, so each becomes one token of its own.
_CORPUS = (
    "Hello from the tiny zoo model.",
    "Hello! This is the tiny zoo model speaking from a small test checkpoint.",
    "The zoo keeps tiny models that fail the way real models fail.",
    "A tiny model from the zoo says hello to the harness.",
    "Every model in the zoo is tiny, and every tiny model answers from the same text.",
    "You are a helpful assistant. Answer the question from the user.",
    "The user asks a question and the assistant gives an answer.",
    "What is the capital of France? The capital of France is Paris.",
    "Count from one to ten: 1 2 3 4 5 6 7 8 9 10.",
    "Say hello, please. Hello there, how are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "vLLM serves the model; the harness tells the truth about the model.",
    "Tools, images, audio and embeddings come from other models in the zoo.",
    "system user assistant tool function call arguments name content role",
)
_SYSTEM_PROMPT = "You are a tiny test model from the vllm-compat zoo."

# Qwen2.5's ChatML template (tools branch included), with our default system prompt.
CHAT_TEMPLATE = (
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    "    {%- else %}\n"
    "        {{- '" + _SYSTEM_PROMPT + "' }}\n"
    "    {%- endif %}\n"
    '    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n'
    'You are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}\n'
    "    {%- for tool in tools %}\n"
    '        {{- "\\n" }}\n'
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    '    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within '
    '<tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": '
    '<args-json-object>}\\n</tool_call><|im_end|>\\n" }}\n'
    "{%- else %}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "    {%- else %}\n"
    "        {{- '<|im_start|>system\\n" + _SYSTEM_PROMPT + "<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    '    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or '
    '(message.role == "assistant" and not message.tool_calls) %}\n'
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    '    {%- elif message.role == "assistant" %}\n'
    "        {{- '<|im_start|>' + message.role }}\n"
    "        {%- if message.content %}\n"
    "            {{- '\\n' + message.content }}\n"
    "        {%- endif %}\n"
    "        {%- for tool_call in message.tool_calls %}\n"
    "            {%- if tool_call.function is defined %}\n"
    "                {%- set tool_call = tool_call.function %}\n"
    "            {%- endif %}\n"
    '            {{- \'\\n<tool_call>\\n{"name": "\' }}\n'
    "            {{- tool_call.name }}\n"
    '            {{- \'", "arguments": \' }}\n'
    "            {{- tool_call.arguments | tojson }}\n"
    "            {{- '}\\n</tool_call>' }}\n"
    "        {%- endfor %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    '    {%- elif message.role == "tool" %}\n'
    '        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}\n'
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {{- message.content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    '        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}\n'
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n"
)

_TRANSFORMERS_VERSION = "4.51.3"  # what the files claim to be written by; vLLM and transformers 5 both read it


@dataclass(frozen=True)
class ZooMember:
    name: str
    description: str  # the real failure it reproduces, one sentence
    expected_codes: frozenset[str]  # codes `vllm-compat check` must report for it (chat-ok: empty)
    build: Callable[[Path], None]  # writes the member into an EMPTY directory
    # The exact greedy answer of chat and completions, where the member is built to give one: probes compare it.
    expected_answer: str | None = None
    # A real checkpoint the zoo only points at (not built here): its answers mean something, so semantic checks run.
    real_weights: bool = False


# ---------------------------------------------------------------------------------------------------------------------
# low-level writers


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _hash_uniform(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Values in [-1, 1) from splitmix64 of (seed, index): stable across numpy versions, unlike its RNG streams."""
    count = int(np.prod(shape))
    with np.errstate(over="ignore"):
        x = np.arange(count, dtype=np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    unit = (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return (unit * 2.0 - 1.0).astype(np.float32).reshape(shape)


def _to_bf16_bytes(array: np.ndarray) -> bytes:
    """float32 -> bfloat16 (round to nearest even), little-endian: numpy has no bfloat16 dtype."""
    bits = np.ascontiguousarray(array, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = (bits + np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)
    return rounded.astype("<u2").tobytes()


_DTYPES: dict[str, tuple[str, Callable[[np.ndarray], bytes]]] = {
    "bfloat16": ("BF16", _to_bf16_bytes),
    "float32": ("F32", lambda a: np.ascontiguousarray(a, dtype="<f4").tobytes()),
}


def safetensors_bytes(tensors: dict[str, np.ndarray], dtype: str = "bfloat16") -> bytes:
    """A safetensors file: u64 header length, JSON header (sorted, space-padded to 8 bytes), then the data."""
    code, encode = _DTYPES[dtype]
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        data = encode(tensors[name])
        header[name] = {"dtype": code, "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


# ---------------------------------------------------------------------------------------------------------------------
# the tokenizer


@functools.cache
def _tokenizer_json() -> str:
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    tokenizer = Tokenizer(models.BPE(byte_fallback=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tokenizer.train_from_iterator(list(_CORPUS) * 3, trainer=trainer)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    return str(tokenizer.to_str())


@dataclass(frozen=True)
class _Vocab:
    size: int  # tokenizer vocabulary including special tokens
    special: dict[str, int]
    answer_ids: tuple[int, ...]


@functools.cache
def _vocab() -> _Vocab:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(_tokenizer_json())
    ids = tuple(tokenizer.encode(CHAT_OK_ANSWER, add_special_tokens=False).ids)
    special: dict[str, int] = {}
    for token in SPECIAL_TOKENS:
        token_id = tokenizer.token_to_id(token)
        if token_id is None:
            raise AssertionError(f"{token} is not in the trained tokenizer")
        special[token] = int(token_id)
    if len(set(ids)) != len(ids) or set(ids) & set(special.values()):
        raise AssertionError(f"the answer's tokens must be distinct for an unambiguous bigram chain: {ids}")
    if tokenizer.decode(list(ids), skip_special_tokens=True) != CHAT_OK_ANSWER:
        raise AssertionError(f"decoding the answer's ids does not give {CHAT_OK_ANSWER!r}")
    return _Vocab(size=int(tokenizer.get_vocab_size(with_added_tokens=True)), special=special, answer_ids=ids)


def _tokenizer_config(*, eos: str, chat_template: bool) -> dict[str, Any]:
    vocab = _vocab()
    config: dict[str, Any] = {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(vocab.special[t]): {
                "content": t,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for t in SPECIAL_TOKENS
        },
        "additional_special_tokens": [IM_START, IM_END],
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "eos_token": eos,
        "errors": "replace",
        "model_max_length": 2048,
        "pad_token": ENDOFTEXT,
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    if chat_template:
        config["chat_template"] = CHAT_TEMPLATE
    return dict(sorted(config.items()))


# ---------------------------------------------------------------------------------------------------------------------
# the Qwen2 model


@dataclass(frozen=True)
class _TextModel:
    """What distinguishes one Qwen2-based member from another."""

    hidden: int = 128
    heads: int = 2
    kv_heads: int = 1
    head_dim: int = 64
    layers: int = 2
    intermediate: int = 256
    dtype: str = "bfloat16"
    end_token: str = IM_END  # what the model emits after the answer (and after it, the answer again)
    config_eos: str = IM_END  # config.json eos_token_id
    generation_eos: tuple[str, ...] = (IM_END, ENDOFTEXT)  # generation_config.json eos_token_id
    tokenizer_eos: str = IM_END  # tokenizer_config.json eos_token
    chat_template: bool = True
    config_overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def vocab_size(self) -> int:
        return -(-_vocab().size // 64) * 64  # padded like Qwen's (config vocab > tokenizer vocab)


CHAT_OK = _TextModel()


def _config(spec: _TextModel) -> dict[str, Any]:
    ids = _vocab().special
    config: dict[str, Any] = {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": ids[ENDOFTEXT],
        "dtype": spec.dtype,
        "eos_token_id": ids[spec.config_eos],
        "head_dim": spec.head_dim,
        "hidden_act": "silu",
        "hidden_size": spec.hidden,
        "initializer_range": 0.02,
        "intermediate_size": spec.intermediate,
        "max_position_embeddings": 2048,
        "max_window_layers": spec.layers,
        "model_type": "qwen2",
        "num_attention_heads": spec.heads,
        "num_hidden_layers": spec.layers,
        "num_key_value_heads": spec.kv_heads,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": spec.dtype,
        "transformers_version": _TRANSFORMERS_VERSION,
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": spec.vocab_size,
    }
    config.update(spec.config_overrides)
    return dict(sorted(config.items()))


def _generation_config(spec: _TextModel) -> dict[str, Any]:
    ids = _vocab().special
    eos = [ids[t] for t in spec.generation_eos]
    return {
        "bos_token_id": ids[ENDOFTEXT],
        "eos_token_id": eos if len(eos) > 1 else eos[0],
        "pad_token_id": ids[ENDOFTEXT],
        "transformers_version": _TRANSFORMERS_VERSION,
    }


def _weights(spec: _TextModel) -> dict[str, np.ndarray]:
    vocab = _vocab()
    chain = vocab.answer_ids
    if len(chain) + 1 > spec.hidden // 2:
        raise AssertionError("the hidden size is too small for one dimension per answer token")
    h, v = spec.hidden, spec.vocab_size
    first_free = len(chain) + 1  # dims [1, first_free) belong to the answer tokens; the rest carry noise

    embed = np.zeros((v, h), dtype=np.float32)
    embed[:, 0] = 1.0
    embed[:, first_free:] = 0.5 * _hash_uniform(1, (v, h - first_free))  # keeps other tokens distinct
    lm_head = np.zeros((v, h), dtype=np.float32)
    lm_head[chain[0], 0] = 4.0  # the default successor of every token: the first answer token
    successors = [*chain[1:], vocab.special[spec.end_token]]
    for position, (token, successor) in enumerate(zip(chain, successors, strict=True)):
        dim = 1 + position
        embed[token, :] = 0.0
        embed[token, 0] = 1.0
        embed[token, dim] = 4.0
        lm_head[successor, dim] = 4.0
    # The end token keeps the default successor: where it is not an eos id (runaway-eos) the answer starts again.

    q, kv = spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim
    tensors: dict[str, np.ndarray] = {
        "model.embed_tokens.weight": embed,
        "model.norm.weight": np.ones(h, dtype=np.float32),
        "lm_head.weight": lm_head,
    }
    for layer in range(spec.layers):
        prefix = f"model.layers.{layer}."
        seed = 100 * (layer + 1)
        # Attention and MLP compute something (random), but o_proj and down_proj zero it out of the residual stream.
        shapes: dict[str, tuple[int, ...]] = {
            "self_attn.q_proj.weight": (q, h),
            "self_attn.q_proj.bias": (q,),
            "self_attn.k_proj.weight": (kv, h),
            "self_attn.k_proj.bias": (kv,),
            "self_attn.v_proj.weight": (kv, h),
            "self_attn.v_proj.bias": (kv,),
            "mlp.gate_proj.weight": (spec.intermediate, h),
            "mlp.up_proj.weight": (spec.intermediate, h),
        }
        for index, (name, shape) in enumerate(shapes.items()):
            tensors[prefix + name] = 0.05 * _hash_uniform(seed + index, shape)
        tensors[prefix + "self_attn.o_proj.weight"] = np.zeros((h, q), dtype=np.float32)
        tensors[prefix + "mlp.down_proj.weight"] = np.zeros((h, spec.intermediate), dtype=np.float32)
        tensors[prefix + "input_layernorm.weight"] = np.ones(h, dtype=np.float32)
        tensors[prefix + "post_attention_layernorm.weight"] = np.ones(h, dtype=np.float32)
    return tensors


def _write_text_model(directory: Path, spec: _TextModel, *, weights: bool = True) -> None:
    _write_json(directory / "config.json", _config(spec))
    _write_json(directory / "generation_config.json", _generation_config(spec))
    (directory / "tokenizer.json").write_text(_tokenizer_json(), encoding="utf-8")
    _write_json(
        directory / "tokenizer_config.json", _tokenizer_config(eos=spec.tokenizer_eos, chat_template=spec.chat_template)
    )
    if weights:
        (directory / "model.safetensors").write_bytes(safetensors_bytes(_weights(spec), spec.dtype))


# ---------------------------------------------------------------------------------------------------------------------
# the members


def _chat_ok(directory: Path) -> None:
    _write_text_model(directory, CHAT_OK)


def _no_chat_template(directory: Path) -> None:
    spec = replace(
        CHAT_OK,
        chat_template=False,
        end_token=ENDOFTEXT,
        config_eos=ENDOFTEXT,
        generation_eos=(ENDOFTEXT,),
        tokenizer_eos=ENDOFTEXT,
    )
    _write_text_model(directory, spec)


def _runaway_eos(directory: Path) -> None:
    spec = replace(CHAT_OK, config_eos=ENDOFTEXT, generation_eos=(ENDOFTEXT,), tokenizer_eos=ENDOFTEXT)
    _write_text_model(directory, spec)


def _missing_config(directory: Path) -> None:
    _write_text_model(directory, CHAT_OK)
    (directory / "config.json").unlink()


def _incomplete_shards(directory: Path) -> None:
    _write_text_model(directory, CHAT_OK, weights=False)
    tensors = _weights(CHAT_OK)
    names = sorted(tensors)
    shards = [names[0::3], names[1::3], names[2::3]]
    files = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    weight_map: dict[str, str] = {}
    total = 0
    for file, shard in zip(files, shards, strict=True):
        data = safetensors_bytes({n: tensors[n] for n in shard}, CHAT_OK.dtype)
        (header_len,) = struct.unpack("<Q", data[:8])
        total += len(data) - 8 - header_len
        weight_map.update(dict.fromkeys(shard, file))
        if file == files[0]:
            (directory / file).write_bytes(data)  # complete
        elif file == files[1]:
            (directory / file).write_bytes(data[: 8 + header_len + (len(data) - 8 - header_len) // 2])  # truncated
        # files[2] is absent: the download stopped before it
    _write_json(
        directory / "model.safetensors.index.json",
        {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))},
    )


def _unsupported_arch(directory: Path) -> None:
    spec = replace(CHAT_OK, config_overrides={"architectures": ["TinyZooForCausalLM"], "model_type": "tiny_zoo"})
    _write_text_model(directory, spec)


_REMOTE_SENTINEL_CODE = """
import os as _os
from pathlib import Path as _Path

# Proof of execution: whoever runs this file leaves a trace (the zoo's tests check pre-flight never does).
for _target in (_Path(__file__).with_name("EXECUTED"), _os.environ.get("VLLM_COMPAT_ZOO_SENTINEL")):
    if _target:
        with open(_target, "a", encoding="utf-8") as _f:
            _f.write(__name__ + "\\n")
"""

_REMOTE_CONFIGURATION = (
    '"""TinyZoo configuration: Qwen2 under a model type transformers does not know (needs trust_remote_code)."""\n'
    + _REMOTE_SENTINEL_CODE
    + """
from transformers import Qwen2Config


class TinyZooConfig(Qwen2Config):
    model_type = "tiny_zoo_remote"
"""
)

_REMOTE_MODELING = (
    '"""TinyZoo model: Qwen2 with its remote configuration."""\n'
    + _REMOTE_SENTINEL_CODE
    + """
from transformers import Qwen2ForCausalLM

from .configuration_tiny_zoo import TinyZooConfig


class TinyZooForCausalLM(Qwen2ForCausalLM):
    config_class = TinyZooConfig
"""
)


def _remote_code(directory: Path) -> None:
    # The architecture is one vLLM implements; only the model type (unknown to transformers) needs the shipped code,
    # as with InternLM2 or old DeepSeek checkpoints.
    spec = replace(
        CHAT_OK,
        config_overrides={
            "auto_map": {
                "AutoConfig": "configuration_tiny_zoo.TinyZooConfig",
                "AutoModelForCausalLM": "modeling_tiny_zoo.TinyZooForCausalLM",
            },
            "model_type": "tiny_zoo_remote",
        },
    )
    _write_text_model(directory, spec)
    (directory / "configuration_tiny_zoo.py").write_text(_REMOTE_CONFIGURATION, encoding="utf-8")
    (directory / "modeling_tiny_zoo.py").write_text(_REMOTE_MODELING, encoding="utf-8")


def _diffusers_pipeline(directory: Path) -> None:
    _write_json(
        directory / "model_index.json",
        {
            "_class_name": "QwenImageEditPipeline",
            "_diffusers_version": "0.35.0.dev0",
            "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
            "text_encoder": ["transformers", "Qwen2_5_VLForConditionalGeneration"],
            "tokenizer": ["transformers", "Qwen2Tokenizer"],
            "transformer": ["diffusers", "QwenImageTransformer2DModel"],
            "vae": ["diffusers", "AutoencoderKLQwenImage"],
        },
    )
    _write_json(
        directory / "transformer" / "config.json",
        {
            "_class_name": "QwenImageTransformer2DModel",
            "_diffusers_version": "0.35.0.dev0",
            "attention_head_dim": 16,
            "in_channels": 16,
            "num_attention_heads": 2,
            "num_layers": 1,
            "out_channels": 4,
            "patch_size": 2,
        },
    )
    _write_json(
        directory / "vae" / "config.json",
        {"_class_name": "AutoencoderKLQwenImage", "_diffusers_version": "0.35.0.dev0", "base_dim": 16, "z_dim": 4},
    )
    _write_json(
        directory / "text_encoder" / "config.json",
        {
            "architectures": ["Qwen2_5_VLForConditionalGeneration"],
            "hidden_size": 128,
            "model_type": "qwen2_5_vl",
            "num_attention_heads": 2,
            "num_hidden_layers": 1,
            "vocab_size": CHAT_OK.vocab_size,
        },
    )
    (directory / "tokenizer").mkdir()
    (directory / "tokenizer" / "tokenizer.json").write_text(_tokenizer_json(), encoding="utf-8")
    _write_json(directory / "tokenizer" / "tokenizer_config.json", _tokenizer_config(eos=IM_END, chat_template=False))
    _write_json(
        directory / "scheduler" / "scheduler_config.json",
        {
            "_class_name": "FlowMatchEulerDiscreteScheduler",
            "_diffusers_version": "0.35.0.dev0",
            "num_train_timesteps": 1000,
            "shift": 1.0,
        },
    )


def _tiny_head_dim(directory: Path) -> None:
    _write_text_model(directory, replace(CHAT_OK, hidden=64, heads=4, kv_heads=2, head_dim=16, intermediate=128))


def _member(
    name: str,
    description: str,
    codes: Iterable[str],
    build: Callable[[Path], None],
    expected_answer: str | None = None,
) -> ZooMember:
    return ZooMember(
        name=name,
        description=description,
        expected_codes=frozenset(codes),
        build=build,
        expected_answer=expected_answer,
    )


# Modules that add members (each exposes MEMBERS: dict[str, ZooMember]); imported at the end of this module.
EXTENSIONS: tuple[str, ...] = (
    "harness.zoo.tools",
    "harness.zoo.vision",
    "harness.zoo.audio",
    "harness.zoo.embeddings",
)

MEMBERS: dict[str, ZooMember] = {
    m.name: m
    for m in (
        _member(
            "chat-ok",
            f"A healthy Qwen2 chat model with a ChatML template whose greedy answer is {CHAT_OK_ANSWER!r} then "
            "<|im_end|>.",
            (),
            _chat_ok,
            CHAT_OK_ANSWER,
        ),
        _member(
            "no-chat-template",
            "A base model with no chat template anywhere (the facebook/opt-125m case): chat requests get HTTP 400.",
            ("NO_CHAT_TEMPLATE",),
            _no_chat_template,
            CHAT_OK_ANSWER,
        ),
        _member(
            "runaway-eos",
            "The template ends turns with <|im_end|> but no eos list vLLM reads contains it: generation never stops.",
            ("EOS_MISMATCH",),
            _runaway_eos,
        ),
        _member(
            "missing-config",
            "An incomplete download: everything but config.json.",
            ("CONFIG_MISSING",),
            _missing_config,
        ),
        _member(
            "incomplete-shards",
            "Sharded weights where one shard named by the index is absent and another is shorter than its header.",
            ("WEIGHTS_INCOMPLETE",),
            _incomplete_shards,
        ),
        _member(
            "unsupported-arch",
            "An architecture (TinyZooForCausalLM) that vLLM does not implement.",
            ("ARCH_UNSUPPORTED",),
            _unsupported_arch,
        ),
        _member(
            "remote-code",
            "A config.json auto_map to code shipped with the checkpoint: it loads only with trust_remote_code.",
            ("REMOTE_CODE_REQUIRED",),
            _remote_code,
        ),
        _member(
            "diffusers-pipeline",
            "A diffusers pipeline (the Qwen/Qwen-Image-Edit case): model_index.json and components, no config.json.",
            ("NOT_SERVABLE",),
            _diffusers_pipeline,
        ),
        _member(
            "tiny-head-dim",
            "head_dim 16: the CPU engine boots healthy, then the first request gets HTTP 500 and the engine dies "
            "(pre-flight cannot see it).",
            (),
            _tiny_head_dim,
        ),
    )
}


# ---------------------------------------------------------------------------------------------------------------------
# building


def _lookup(name: str) -> ZooMember:
    try:
        return MEMBERS[name]
    except KeyError:
        raise KeyError(f"unknown zoo member {name!r}: known members are {', '.join(MEMBERS)}") from None


def build_member(name: str, directory: Path) -> Path:
    """Write member ``name`` as ``directory/name``, replacing any previous one atomically; return its path."""
    member = _lookup(name)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.building-", dir=directory))
    try:
        staging.chmod(0o755)
        member.build(staging)
        if target.exists():
            # A directory cannot be renamed over a non-empty one: move the old one aside first, then drop it.
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=directory))
            os.replace(target, old / name)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def build_zoo(directory: Path, members: Iterable[str] | None = None) -> dict[str, Path]:
    """Build the named members (default: all) under ``directory``; unknown names fail before anything is written."""
    names = list(MEMBERS) if members is None else list(dict.fromkeys(members))
    for name in names:
        _lookup(name)
    return {name: build_member(name, directory) for name in names}


def default_zoo_dir() -> Path:
    """Where ensure_member builds: under the harness's one cache root, one folder per ZOO_VERSION."""
    return cache_root() / "zoo" / ZOO_VERSION


def _intact(target: Path) -> bool:
    """Built, and every link still leads somewhere (a linked real checkpoint whose environment was removed is not)."""
    return target.is_dir() and all(f.exists() for f in target.rglob("*") if f.is_symlink())


def ensure_member(name: str) -> Path:
    """The member in the default zoo directory, built only if absent (parallel processes wait for one builder)."""
    _lookup(name)
    directory = default_zoo_dir()
    target = directory / name
    if _intact(target):
        return target
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _intact(target):
            build_member(name, directory)
    return target


def register(members: dict[str, ZooMember]) -> None:
    """Add an extension module's members (each extension calls this at its end; repeating it is harmless)."""
    MEMBERS.update(members)


# Members of other use cases live in their own modules (one builder each); they join MEMBERS here so that the zoo
# stays one place for the CLI, the matrix's `zoo:` ids and ensure_member. An extension imported first is still
# half-initialised here (it imports this module): it registers itself when it finishes.
for _extension in EXTENSIONS:
    register(getattr(importlib.import_module(_extension), "MEMBERS", {}))
