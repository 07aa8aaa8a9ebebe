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

from harness.zoo import bpe
from harness.zoo.member import ZooMember
from harness.zoo.qwen2 import (
    CHAT_OK,
    IM_END,
    TextModel,
    bigram_head,
    chat_tokenizer_config,
    chat_tokenizer_json,
    generation_config,
    pad_vocab,
    qwen2_config,
    qwen2_weights,
)
from harness.zoo.writers import safetensors_bytes, write_json

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
class ToolVocab:
    tokenizer_json: str
    size: int  # with the added pieces
    chain: tuple[int, ...]  # the answer's token ids, in order
    end_id: int  # <|im_end|>, which follows the answer


@functools.cache
def tool_vocab() -> ToolVocab:
    """The chat tokenizer with the answer's pieces appended, and the ids the model is written against."""
    tokenizer = bpe.extended(chat_tokenizer_json(), TOOL_CALL_PIECES, special=False)
    chain = bpe.chain_ids(tokenizer, TOOL_CALL_ANSWER)
    piece_ids = tuple(tokenizer.token_to_id(piece) for piece in TOOL_CALL_PIECES)
    if chain != piece_ids:
        raise AssertionError(f"the answer must encode as one added token per piece: {chain} vs {piece_ids}")
    prompt_end = tokenizer.encode("<|im_start|>assistant\n", add_special_tokens=False).ids[-1]
    if prompt_end in chain:
        raise AssertionError(f"the answer's tokens must not end the prompt: {chain}, {prompt_end}")
    return ToolVocab(
        tokenizer_json=str(tokenizer.to_str()),
        size=bpe.vocab_size(tokenizer),
        chain=chain,
        end_id=bpe.token_id(tokenizer, IM_END),
    )


def _spec() -> TextModel:
    """chat-ok's model, its vocabulary widened to the added pieces (padded like Qwen's)."""
    return replace(CHAT_OK, config_overrides={"vocab_size": pad_vocab(tool_vocab().size)})


def _tool_tokenizer_config() -> dict[str, Any]:
    config = chat_tokenizer_config(eos=IM_END, chat_template=True)
    vocab = tool_vocab()
    decoder = dict(config["added_tokens_decoder"])
    for piece, token_id in zip(TOOL_CALL_PIECES, vocab.chain, strict=True):
        decoder[str(token_id)] = bpe.added_token_entry(piece, special=False)
    config["added_tokens_decoder"] = dict(sorted(decoder.items(), key=lambda item: int(item[0])))
    return config


def _tool_call(directory: Path) -> None:
    spec = _spec()
    vocab = tool_vocab()
    tensors = qwen2_weights(spec)  # the layers (chat-ok's); embed_tokens and lm_head are replaced below
    tensors.update(bigram_head(vocab.chain, vocab.end_id, pad_vocab(vocab.size), spec.hidden))
    write_json(directory / "config.json", qwen2_config(spec))
    write_json(directory / "generation_config.json", generation_config(spec))
    (directory / "tokenizer.json").write_text(vocab.tokenizer_json, encoding="utf-8")
    write_json(directory / "tokenizer_config.json", _tool_tokenizer_config())
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

__all__ = [
    "MEMBERS",
    "TOOL_CALL_ANSWER",
    "TOOL_CALL_ARGUMENTS",
    "TOOL_CALL_END",
    "TOOL_CALL_NAME",
    "TOOL_CALL_PIECES",
    "TOOL_CALL_START",
    "ToolVocab",
    "tool_vocab",
]
