"""The one reader of OpenAI-style streams (chat and completions, with tool-call deltas), for probes and latency.

Two clocks matter, and they have two names:
- ``first_choice_at``: the first chunk that carries ``choices`` (its text may be empty: vLLM's first chat chunk
  carries only the role). This is ``vllm bench serve``'s TTFT point; harness.measure.latency reports it as
  ``ttft_s``, and ``last_choice_at`` is its E2E end (the trailing usage chunk and ``[DONE]`` never count).
- ``first_content_at``: the first chunk with non-empty text or a tool-call delta: what a user sees first. The
  probes record it as ``first_content_s`` (never as ``ttft_s``, which always means vllm bench's definition).

The reader also checks the stream's shape (one id, one finish_reason, usage present when asked for, tool calls
with an id and a name), so every probe judges streams by the same rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ToolCallSeen:
    """One tool call as the API gave it (reassembled by index, for a stream)."""

    id: str | None = None
    type: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass
class StreamRead:
    """What a stream said, when, and what was wrong with its shape."""

    sent_at: float
    text: str = ""
    role: str | None = None
    ids: set[str] = field(default_factory=set)
    finish_reasons: list[str] = field(default_factory=list)
    usage: dict[str, int] | None = None
    usage_chunks: int = 0
    chunks: int = 0
    text_chunks: int = 0  # chunks whose choice carried non-empty text
    calls: dict[int, ToolCallSeen] = field(default_factory=dict)
    first_choice_at: float | None = None
    first_content_at: float | None = None
    last_choice_at: float | None = None
    ended_at: float = 0.0
    choice_gaps: list[float] = field(default_factory=list)  # between consecutive chunks with choices (vllm's ITL)
    problems: list[str] = field(default_factory=list)

    @property
    def first_content_s(self) -> float | None:
        return None if self.first_content_at is None else self.first_content_at - self.sent_at

    @property
    def e2e_s(self) -> float:
        """Sent -> the stream exhausted (the probes' end-to-end)."""
        return self.ended_at - self.sent_at


def usage_of(usage: Any) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": int(usage.prompt_tokens or 0),
        "completion_tokens": int(usage.completion_tokens or 0),
        "total_tokens": int(usage.total_tokens or 0),
    }


def read_stream(
    chunks: Iterable[Any],
    sent_at: float,
    *,
    chat: bool,
    expect_usage: bool = True,
    clock: Callable[[], float] = time.perf_counter,
) -> StreamRead:
    """Consume a stream, timing every chunk with ``clock`` and checking its shape."""
    read = StreamRead(sent_at=sent_at)
    for chunk in chunks:
        now = clock()
        read.chunks += 1
        read.ids.add(str(chunk.id))
        if chunk.usage is not None:
            read.usage_chunks += 1
            read.usage = usage_of(chunk.usage)
        if chunk.choices:
            if read.first_choice_at is None:
                read.first_choice_at = now
            elif read.last_choice_at is not None:
                read.choice_gaps.append(now - read.last_choice_at)
            read.last_choice_at = now
        for choice in chunk.choices or ():
            tool_deltas: Iterable[Any] = ()
            if chat:
                delta = choice.delta
                piece = delta.content or ""
                if delta.role:
                    read.role = read.role or delta.role
                tool_deltas = getattr(delta, "tool_calls", None) or ()
            else:
                piece = choice.text or ""
            if (piece or tool_deltas) and read.first_content_at is None:
                read.first_content_at = now
            if piece:
                read.text_chunks += 1
                read.text += piece
            for tool_delta in tool_deltas:
                _add_tool_delta(read, tool_delta)
            if choice.finish_reason is not None:
                read.finish_reasons.append(str(choice.finish_reason))
    read.ended_at = clock()
    _shape_problems(read, expect_usage)
    return read


def _add_tool_delta(read: StreamRead, piece: Any) -> None:
    index = piece.index
    function = piece.function
    if index not in read.calls:
        read.calls[index] = ToolCallSeen()
        if not piece.id:
            read.problems.append(f"the first delta of tool call {index} carries no id")
    call = read.calls[index]
    for attribute, value in (("id", piece.id), ("type", piece.type), ("name", function and function.name)):
        if not value:
            continue
        before = getattr(call, attribute)
        if before is not None and before != value:
            read.problems.append(f"tool call {index}: {attribute} sent twice ({before!r}, then {value!r})")
        setattr(call, attribute, value)
    call.arguments += (function and function.arguments) or ""


def _shape_problems(read: StreamRead, expect_usage: bool) -> None:
    if read.chunks == 0:
        read.problems.append("no chunks")
    if len(read.ids) > 1:
        read.problems.append(f"{len(read.ids)} different chunk ids")
    if len(read.finish_reasons) != 1:
        read.problems.append(f"{len(read.finish_reasons)} finish_reasons {read.finish_reasons} (need 1)")
    if expect_usage and read.usage_chunks == 0:
        read.problems.append("no usage chunk despite stream_options.include_usage")
    for index, call in sorted(read.calls.items()):
        if not call.id or not call.name:
            read.problems.append(f"tool call {index} has no {'id' if not call.id else 'name'}")
