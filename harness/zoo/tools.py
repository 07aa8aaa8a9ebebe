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

import json
from pathlib import Path
from typing import Any

from harness.zoo.member import ZooMember
from harness.zoo.qwen2 import PieceVocab, piece_vocab, write_piece_model

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


ToolVocab = PieceVocab  # the name tests and callers know


def tool_vocab() -> PieceVocab:
    """The chat tokenizer with the answer's pieces appended, and the ids the model is written against."""
    return piece_vocab(TOOL_CALL_PIECES)


def _tool_call(directory: Path) -> None:
    write_piece_model(directory, TOOL_CALL_PIECES)


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
