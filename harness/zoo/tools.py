"""The zoo's tool-calling member: a bigram model whose greedy answer is one well-formed hermes tool call.

It is chat-ok's Qwen2 model and ChatML template (whose tools branch renders the tool signatures into the system
prompt, Qwen2.5 style), with a different fixed answer::

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

then ``<|im_end|>``. The next token of a bigram depends only on the last one, so every token of the answer must be
distinct; JSON repeats ``": "`` and ``"``. The answer is therefore cut into pieces that each are an added
(non-special) token appended to the zoo's tokenizer, as Qwen2.5 appends ``<tool_call>`` and ``</tool_call>``; the
base tokenizer's ids, and so chat-ok's bytes, are untouched. No piece is the plain newline that ends every prompt
(``<|im_start|>assistant\\n``), so after any prompt the model starts the call.

After a tool result the model calls the tool again (a bigram has no memory of the conversation): the tools probe
accepts a further well-formed call as the round trip's answer for a zoo model.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.zoo.core import (
    CHAT_OK,
    IM_END,
    ZooMember,
    _config,
    _generation_config,
    _hash_uniform,
    _TextModel,
    _tokenizer_config,
    _tokenizer_json,
    _weights,
    _write_json,
    register,
    safetensors_bytes,
)

TOOL_CALL_START = "<tool_call>"
TOOL_CALL_END = "</tool_call>"
# The answer, one added token per piece: joined, the hermes format `<tool_call>\n{json}\n</tool_call>`.
TOOL_CALL_PIECES: tuple[str, ...] = (
    TOOL_CALL_START,
    '\n{"name": "',
    "get_weather",
    '", "arguments": ',
    '{"city": "',
    "Paris",
    '"}}\n',
    TOOL_CALL_END,
)
TOOL_CALL_ANSWER = "".join(TOOL_CALL_PIECES)
TOOL_CALL_NAME = "get_weather"
TOOL_CALL_ARGUMENTS: dict[str, Any] = {"city": "Paris"}


@dataclass(frozen=True)
class _ToolVocab:
    tokenizer_json: str
    size: int  # with the added pieces
    chain: tuple[int, ...]  # the answer's token ids, in order
    end_id: int  # <|im_end|>, which follows the answer


@functools.cache
def _tool_vocab() -> _ToolVocab:
    from tokenizers import AddedToken, Tokenizer

    tokenizer = Tokenizer.from_str(_tokenizer_json())
    tokenizer.add_tokens([AddedToken(piece, special=False, normalized=False) for piece in TOOL_CALL_PIECES])
    chain = tuple(tokenizer.encode(TOOL_CALL_ANSWER, add_special_tokens=False).ids)
    piece_ids = tuple(tokenizer.token_to_id(piece) for piece in TOOL_CALL_PIECES)
    if chain != piece_ids:
        raise AssertionError(f"the answer must encode as one added token per piece: {chain} vs {piece_ids}")
    prompt_end = tokenizer.encode("<|im_start|>assistant\n", add_special_tokens=False).ids[-1]
    if len(set(chain)) != len(chain) or prompt_end in chain:
        raise AssertionError(f"the answer's tokens must be distinct and not end the prompt: {chain}, {prompt_end}")
    if tokenizer.decode(list(chain), skip_special_tokens=True) != TOOL_CALL_ANSWER:
        raise AssertionError(f"decoding the answer's ids does not give {TOOL_CALL_ANSWER!r}")
    end_id = tokenizer.token_to_id(IM_END)
    if end_id is None:
        raise AssertionError(f"{IM_END} is not in the tokenizer")
    return _ToolVocab(
        tokenizer_json=str(tokenizer.to_str()),
        size=int(tokenizer.get_vocab_size(with_added_tokens=True)),
        chain=chain,
        end_id=int(end_id),
    )


def _padded_vocab_size() -> int:
    return -(-_tool_vocab().size // 64) * 64


def _spec() -> _TextModel:
    """chat-ok's model, its vocabulary widened to the added pieces (padded like Qwen's)."""
    return replace(CHAT_OK, config_overrides={"vocab_size": _padded_vocab_size()})


def _bigram_head(chain: tuple[int, ...], end_id: int, vocab_size: int, hidden: int) -> dict[str, np.ndarray]:
    """embed_tokens and lm_head of a bigram whose greedy walk from any other token is ``chain`` then ``end_id``.

    The same construction as chat-ok's (harness.zoo.core._weights), over another chain: dimension 0 is a constant 1 that
    the first chain token's lm_head row reads; each chain token owns one dimension its successor's row reads."""
    if len(chain) + 1 > hidden // 2:
        raise AssertionError("the hidden size is too small for one dimension per answer token")
    first_free = len(chain) + 1
    embed = np.zeros((vocab_size, hidden), dtype=np.float32)
    embed[:, 0] = 1.0
    embed[:, first_free:] = 0.5 * _hash_uniform(1, (vocab_size, hidden - first_free))
    lm_head = np.zeros((vocab_size, hidden), dtype=np.float32)
    lm_head[chain[0], 0] = 4.0
    for position, (token, successor) in enumerate(zip(chain, (*chain[1:], end_id), strict=True)):
        dim = 1 + position
        embed[token, :] = 0.0
        embed[token, 0] = 1.0
        embed[token, dim] = 4.0
        lm_head[successor, dim] = 4.0
    return {"model.embed_tokens.weight": embed, "lm_head.weight": lm_head}


def _tool_tokenizer_config() -> dict[str, Any]:
    config = _tokenizer_config(eos=IM_END, chat_template=True)
    vocab = _tool_vocab()
    decoder = dict(config["added_tokens_decoder"])
    for piece, token_id in zip(TOOL_CALL_PIECES, vocab.chain, strict=True):
        decoder[str(token_id)] = {
            "content": piece,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": False,
        }
    config["added_tokens_decoder"] = dict(sorted(decoder.items(), key=lambda item: int(item[0])))
    return config


def _tool_call(directory: Path) -> None:
    spec = _spec()
    vocab = _tool_vocab()
    tensors = _weights(spec)  # the layers (chat-ok's); embed_tokens and lm_head are replaced below
    tensors.update(_bigram_head(vocab.chain, vocab.end_id, _padded_vocab_size(), spec.hidden))
    _write_json(directory / "config.json", _config(spec))
    _write_json(directory / "generation_config.json", _generation_config(spec))
    (directory / "tokenizer.json").write_text(vocab.tokenizer_json, encoding="utf-8")
    _write_json(directory / "tokenizer_config.json", _tool_tokenizer_config())
    (directory / "model.safetensors").write_bytes(safetensors_bytes(tensors, spec.dtype))


MEMBERS: dict[str, ZooMember] = {
    "tool-call": ZooMember(
        name="tool-call",
        description="A healthy Qwen2 chat model whose ChatML template renders tools (Qwen2.5 / hermes style) and "
        f"whose greedy answer is one hermes tool call, {json.dumps(TOOL_CALL_ANSWER)}, then <|im_end|>; "
        "served with --enable-auto-tool-choice --tool-call-parser hermes.",
        expected_codes=frozenset(),
        build=_tool_call,
        expected_answer=TOOL_CALL_ANSWER,
    ),
}

# Join the zoo (this module may have been imported before harness.zoo.core finished loading its extensions).
register(MEMBERS)
