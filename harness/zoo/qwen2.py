"""The Qwen2 text model every chat-speaking member is built on: its ChatML tokenizer, config and bigram weights.

Its greedy output is fixed by construction. Every attention ``o_proj`` and MLP ``down_proj`` is zero, so the residual
stream at each position is just that token's embedding and the next token depends only on the last one: a bigram
written by hand into ``embed_tokens`` and ``lm_head`` (``bigram_head``). Dimension 0 of every embedding is a constant 1
that the first answer token's lm_head row reads (the default successor); each answer token also owns one dimension
that its successor's row reads with a larger weight. So after any prompt (ending in a token outside the answer) the
model says ``CHAT_OK_ANSWER`` and then the member's end token.

A ``TextModel`` names what one member's model differs in (shape, eos lists, template, config overrides);
``write_text_model`` writes the whole checkpoint. The text canaries (text.py), the tool-calling member (tools.py) and
the LLaVA language models (vision.py) all start from ``CHAT_OK``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.zoo import bpe
from harness.zoo.writers import TRANSFORMERS_VERSION, hash_uniform, safetensors_bytes, write_json

CHAT_OK_ANSWER = "Hello from the tiny zoo model."

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)

# The tokenizer's training text: every answer word recurs, so each becomes one token of its own.
CHAT_CORPUS = (
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


@functools.cache
def chat_tokenizer_json() -> str:
    """The chat tokenizer.json: Qwen2-style byte-level BPE over CHAT_CORPUS, then <|endoftext|>, <|im_start|>,
    <|im_end|>."""
    return bpe.train_bpe(CHAT_CORPUS, style="qwen2", vocab_size=600, special_tokens=SPECIAL_TOKENS)


@dataclass(frozen=True)
class ChatVocab:
    size: int  # tokenizer vocabulary including special tokens
    special: dict[str, int]
    answer_ids: tuple[int, ...]


@functools.cache
def chat_vocab() -> ChatVocab:
    """The ids the chat model is written against (checked: the answer's tokens are distinct and not special)."""
    tokenizer = bpe.load(chat_tokenizer_json())
    special = {token: bpe.token_id(tokenizer, token) for token in SPECIAL_TOKENS}
    ids = bpe.chain_ids(tokenizer, CHAT_OK_ANSWER)
    if set(ids) & set(special.values()):
        raise AssertionError(f"the answer's tokens must not be special tokens: {ids}")
    return ChatVocab(size=bpe.vocab_size(tokenizer), special=special, answer_ids=ids)


def chat_tokenizer_config(*, eos: str, chat_template: bool) -> dict[str, Any]:
    """tokenizer_config.json of the chat tokenizer (a Qwen2Tokenizer), with CHAT_TEMPLATE or without a template."""
    vocab = chat_vocab()
    config: dict[str, Any] = {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {str(vocab.special[t]): bpe.added_token_entry(t) for t in SPECIAL_TOKENS},
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


def pad_vocab(size: int) -> int:
    """A tokenizer size rounded up to a multiple of 64, as Qwen pads its embeddings (config vocab > tokenizer's)."""
    return -(-size // 64) * 64


@dataclass(frozen=True)
class TextModel:
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
        return pad_vocab(chat_vocab().size)


CHAT_OK = TextModel()


def qwen2_config(spec: TextModel) -> dict[str, Any]:
    """config.json of a Qwen2ForCausalLM with ``spec``'s shape and eos, then its overrides."""
    ids = chat_vocab().special
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
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": spec.vocab_size,
    }
    config.update(spec.config_overrides)
    return dict(sorted(config.items()))


def generation_config(spec: TextModel) -> dict[str, Any]:
    """generation_config.json: ``spec``'s eos list (one id written as an int, as transformers does)."""
    ids = chat_vocab().special
    eos = [ids[t] for t in spec.generation_eos]
    return {
        "bos_token_id": ids[ENDOFTEXT],
        "eos_token_id": eos if len(eos) > 1 else eos[0],
        "pad_token_id": ids[ENDOFTEXT],
        "transformers_version": TRANSFORMERS_VERSION,
    }


def bigram_head(chain: tuple[int, ...], end_id: int, vocab_size: int, hidden: int) -> dict[str, np.ndarray]:
    """embed_tokens and lm_head of a bigram whose greedy walk from any other token is ``chain`` then ``end_id``.

    Dimension 0 is a constant 1 that the first chain token's lm_head row reads; each chain token owns one dimension
    its successor's row reads. The end token keeps the default successor: where it is not an eos id (runaway-eos)
    the answer starts again."""
    if len(chain) + 1 > hidden // 2:
        raise AssertionError("the hidden size is too small for one dimension per answer token")
    first_free = len(chain) + 1  # dims [1, first_free) belong to the answer tokens; the rest carry noise
    embed = np.zeros((vocab_size, hidden), dtype=np.float32)
    embed[:, 0] = 1.0
    embed[:, first_free:] = 0.5 * hash_uniform(1, (vocab_size, hidden - first_free))  # keeps other tokens distinct
    lm_head = np.zeros((vocab_size, hidden), dtype=np.float32)
    lm_head[chain[0], 0] = 4.0  # the default successor of every token: the first answer token
    for position, (token, successor) in enumerate(zip(chain, (*chain[1:], end_id), strict=True)):
        dim = 1 + position
        embed[token, :] = 0.0
        embed[token, 0] = 1.0
        embed[token, dim] = 4.0
        lm_head[successor, dim] = 4.0
    return {"model.embed_tokens.weight": embed, "lm_head.weight": lm_head}


def qwen2_weights(spec: TextModel) -> dict[str, np.ndarray]:
    """Every tensor of the model: the bigram head over CHAT_OK_ANSWER, and layers whose outputs are zeroed."""
    vocab = chat_vocab()
    h = spec.hidden
    tensors = bigram_head(vocab.answer_ids, vocab.special[spec.end_token], spec.vocab_size, h)
    tensors["model.norm.weight"] = np.ones(h, dtype=np.float32)
    q, kv = spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim
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
            tensors[prefix + name] = 0.05 * hash_uniform(seed + index, shape)
        tensors[prefix + "self_attn.o_proj.weight"] = np.zeros((h, q), dtype=np.float32)
        tensors[prefix + "mlp.down_proj.weight"] = np.zeros((h, spec.intermediate), dtype=np.float32)
        tensors[prefix + "input_layernorm.weight"] = np.ones(h, dtype=np.float32)
        tensors[prefix + "post_attention_layernorm.weight"] = np.ones(h, dtype=np.float32)
    return tensors


@dataclass(frozen=True)
class PieceVocab:
    """The chat tokenizer with a scripted answer's pieces appended, and the ids the bigram is written against."""

    tokenizer_json: str
    size: int  # with the added pieces
    chain: tuple[int, ...]  # the answer's token ids, in order
    end_id: int  # <|im_end|>, which follows the answer


@functools.cache
def piece_vocab(pieces: tuple[str, ...]) -> PieceVocab:
    """The chat tokenizer with ``pieces`` appended as added (non-special) tokens, as Qwen2.5 appends <tool_call> and
    Qwen3 <think>: the base ids, and so chat-ok's bytes, stay as they are. Checked: the joined answer encodes as one
    token per piece (a bigram needs distinct tokens), and none of them is the newline that ends every prompt."""
    tokenizer = bpe.extended(chat_tokenizer_json(), pieces, special=False)
    chain = bpe.chain_ids(tokenizer, "".join(pieces))
    piece_ids = tuple(tokenizer.token_to_id(piece) for piece in pieces)
    if chain != piece_ids:
        raise AssertionError(f"the answer must encode as one added token per piece: {chain} vs {piece_ids}")
    prompt_end = tokenizer.encode("<|im_start|>assistant\n", add_special_tokens=False).ids[-1]
    if prompt_end in chain:
        raise AssertionError(f"the answer's tokens must not end the prompt: {chain}, {prompt_end}")
    return PieceVocab(str(tokenizer.to_str()), bpe.vocab_size(tokenizer), chain, bpe.token_id(tokenizer, IM_END))


def piece_tokenizer_config(pieces: tuple[str, ...], chat_template: str | None = None) -> dict[str, Any]:
    """tokenizer_config.json of ``piece_vocab(pieces)``: the added pieces in added_tokens_decoder, and
    ``chat_template`` in place of CHAT_TEMPLATE when given."""
    config = chat_tokenizer_config(eos=IM_END, chat_template=True)
    if chat_template is not None:
        config["chat_template"] = chat_template
    decoder = dict(config["added_tokens_decoder"])
    for piece, token_id in zip(pieces, piece_vocab(pieces).chain, strict=True):
        decoder[str(token_id)] = bpe.added_token_entry(piece, special=False)
    config["added_tokens_decoder"] = dict(sorted(decoder.items(), key=lambda item: int(item[0])))
    return config


def write_piece_model(directory: Path, pieces: tuple[str, ...], chat_template: str | None = None) -> None:
    """chat-ok's model whose greedy answer is ``pieces`` joined, then <|im_end|>: its vocabulary widened to the
    added pieces (padded like Qwen's), its layers chat-ok's, embed_tokens and lm_head the answer's bigram."""
    vocab = piece_vocab(pieces)
    spec = TextModel(config_overrides={"vocab_size": pad_vocab(vocab.size)})
    tensors = qwen2_weights(spec)
    tensors.update(bigram_head(vocab.chain, vocab.end_id, pad_vocab(vocab.size), spec.hidden))
    write_json(directory / "config.json", qwen2_config(spec))
    write_json(directory / "generation_config.json", generation_config(spec))
    (directory / "tokenizer.json").write_text(vocab.tokenizer_json, encoding="utf-8")
    write_json(directory / "tokenizer_config.json", piece_tokenizer_config(pieces, chat_template))
    (directory / "model.safetensors").write_bytes(safetensors_bytes(tensors, spec.dtype))


def write_text_model(directory: Path, spec: TextModel, *, weights: bool = True) -> None:
    """The whole checkpoint of ``spec`` into ``directory`` (without model.safetensors when ``weights`` is False)."""
    write_json(directory / "config.json", qwen2_config(spec))
    write_json(directory / "generation_config.json", generation_config(spec))
    (directory / "tokenizer.json").write_text(chat_tokenizer_json(), encoding="utf-8")
    write_json(
        directory / "tokenizer_config.json",
        chat_tokenizer_config(eos=spec.tokenizer_eos, chat_template=spec.chat_template),
    )
    if weights:
        (directory / "model.safetensors").write_bytes(safetensors_bytes(qwen2_weights(spec), spec.dtype))


__all__ = [
    "CHAT_CORPUS",
    "CHAT_OK",
    "CHAT_OK_ANSWER",
    "CHAT_TEMPLATE",
    "ENDOFTEXT",
    "IM_END",
    "IM_START",
    "SPECIAL_TOKENS",
    "ChatVocab",
    "PieceVocab",
    "TextModel",
    "bigram_head",
    "chat_tokenizer_config",
    "chat_tokenizer_json",
    "chat_vocab",
    "generation_config",
    "pad_vocab",
    "piece_tokenizer_config",
    "piece_vocab",
    "qwen2_config",
    "qwen2_weights",
    "write_piece_model",
    "write_text_model",
]
