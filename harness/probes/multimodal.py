"""What the media probes (vision, video, audio_chat) share: content parts, one greedy user turn with them, the
text-only baseline of prompt tokens that every media request must exceed, one judged media request, and vLLM's
per-prompt media limit (``--limit-mm-per-prompt``) with its honest refusal (HTTP 400, MM_LIMIT).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.diagnose import diagnose
from harness.probes.base import SEED, ProbeContext, Recorder, check_usage, error_body, short
from harness.probes.inputs import Media
from harness.probes.streams import usage_of

MAX_TOKENS = 24  # a colour, a digit, a count: short answers
DEFAULT_LIMIT = 999  # vLLM 0.32's per-modality default when --limit-mm-per-prompt does not name it
LIMIT_FLAG = "limit-mm-per-prompt"
# vLLM 0.32 answers 'At most 1 image(s) may be provided in one prompt. (parameter=image)' (older: "...request").
_LIMIT_MESSAGE = re.compile(r"At most (\d+) (\w+)\(s\) may be provided in one (?:prompt|request)")


def mm_limit(flags: Mapping[str, Any], modality: str) -> int:
    """The cell's --limit-mm-per-prompt for ``modality``: a mapping or its JSON text; ``{image: 2}`` or the newer
    ``{image: {count: 2, ...}}``; absent means vLLM's default (999)."""
    value = flags.get(LIMIT_FLAG, flags.get(LIMIT_FLAG.replace("-", "_")))
    if value is None:
        return DEFAULT_LIMIT
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise ValueError(f"{LIMIT_FLAG}: expected JSON like '{{\"image\": 2}}', got {value!r}") from error
    if not isinstance(value, Mapping):
        raise ValueError(f"{LIMIT_FLAG}: expected a mapping of modality to count, got {value!r}")
    item = value.get(modality)
    if item is None:
        return DEFAULT_LIMIT
    if isinstance(item, Mapping):
        item = item.get("count", DEFAULT_LIMIT)
    return int(item)


def mentions(text: str, words: Sequence[str]) -> str | None:
    """The first of ``words`` that appears in ``text`` as a whole word, case-insensitively (lenient answers)."""
    lowered = text.lower()
    for word in words:
        if re.search(rf"(?<![\w]){re.escape(word.lower())}(?![\w])", lowered):
            return word
    return None


def part(kind: str, url: str) -> dict[str, Any]:
    """An OpenAI content part: ``image_url`` or ``video_url``."""
    return {"type": kind, kind: {"url": url}}


def chat_with_content(ctx: ProbeContext, content: Sequence[Mapping[str, Any]], max_tokens: int = MAX_TOKENS) -> Any:
    """One user turn whose content is a list of parts (media and text), answered greedily."""
    return ctx.client.chat.completions.create(
        model=ctx.model,
        messages=[{"role": "user", "content": list(content)}],  # type: ignore[list-item,misc]
        max_tokens=max_tokens,
        temperature=0,
        seed=SEED,
        timeout=ctx.timeout,
    )


def ask(ctx: ProbeContext, question: str, parts: Sequence[Mapping[str, Any]]) -> Any:
    """The media parts, then the question."""
    return chat_with_content(ctx, [*parts, {"type": "text", "text": question}])


def baseline_tokens(ctx: ProbeContext, rec: Recorder, question: str) -> int:
    """prompt_tokens of the question alone: what every media request must exceed."""
    answer = rec.request("text_only_request", lambda: ask(ctx, question, []))
    usage = usage_of(answer.usage) or {}
    return int(usage.get("prompt_tokens", 0))


def media_request(
    ctx: ProbeContext,
    rec: Recorder,
    name: str,
    call: Callable[[], Any],
    *,
    baseline: int,
    item: Media,
    label: str,
) -> tuple[str, int]:
    """One request with media: HTTP 200, a non-empty answer, consistent usage, more prompt tokens than ``baseline``,
    the exact answer for zoo members, the right answer (leniently) for real models. Returns (text, prompt_tokens)."""
    answer = rec.request(f"{name}_request", call)
    choice = answer.choices[0] if answer.choices else None
    text = (choice.message.content or "") if choice is not None else ""
    usage = usage_of(answer.usage)
    if usage is not None and not rec.usage:
        rec.usage.update(usage)
    rec.check(f"{name}_content", bool(text.strip()), f"content={text[:80]!r}")
    check_usage(rec, f"{name}_usage", usage)
    prompt = (usage or {}).get("prompt_tokens", 0)
    rec.check(
        f"{name}_tokens",
        prompt > baseline,
        f"prompt_tokens {prompt} with {label} vs {baseline} without"
        + ("" if prompt > baseline else ": the media added no tokens, so the model never saw it"),
    )
    if ctx.expected_answer is not None:
        rec.check(f"{name}_answer", text == ctx.expected_answer, f"got {text!r}, expected {ctx.expected_answer!r}")
    elif ctx.semantic:
        hit = mentions(text, item.answers)
        rec.check(
            f"{name}_answer",
            hit is not None,
            f"got {text[:80]!r}; " + (f"mentions {hit!r}" if hit else f"expected one of {list(item.answers)}"),
        )
    return text, prompt


def attempt(rec: Recorder, step: str, call: Callable[[], Any]) -> tuple[Any, Any]:
    """(answer, None), or (None, the APIStatusError) where the API refused: for refusals a probe expects. A timeout or
    a lost connection is handled as for any request (failed check, or EngineUnreachable)."""
    import openai

    def guarded() -> tuple[Any, Any]:
        try:
            return call(), None
        except openai.APIStatusError as error:
            return None, error

    result: tuple[Any, Any] = rec.request(step, guarded)
    return result


def fail_request(rec: Recorder, step: str, error: BaseException) -> None:
    """Record an HTTP error caught by ``attempt`` exactly as ``Recorder.request`` would (and end the probe)."""

    def again() -> None:
        raise error

    rec.request(step, again)


def expect_refusal(rec: Recorder, name: str, call: Callable[[], Any], *, modality: str, limit: int, sent: int) -> None:
    """A request beyond the configured limit: the check passes only on HTTP 400 with vLLM's limit message."""
    answer, error = attempt(rec, name, call)
    if error is not None:
        body = error_body(error)
        code = diagnose(body, None).code
        refused = error.status_code == 400 and code == "MM_LIMIT"
        rec.check(
            name,
            refused,
            (
                f"expected refusal: {LIMIT_FLAG} allows {limit} {modality}(s), {sent} sent; vLLM answered HTTP 400 "
                f"MM_LIMIT: {short(body, 160)}"
            )
            if refused
            else f"{sent} {modality}(s) beyond the limit of {limit}: expected HTTP 400 MM_LIMIT, got HTTP "
            f"{error.status_code} {code}: {short(body)}",
            code="HTTP_ERROR" if code == "OTHER" else code,
            evidence=body,
        )
        return
    text = (answer.choices[0].message.content or "") if answer.choices else ""
    rec.check(
        name,
        False,
        f"{LIMIT_FLAG} allows {limit} {modality}(s) but a request with {sent} got HTTP 200 ({text[:60]!r}): the "
        "limit is not enforced",
        code="MM_LIMIT",
    )


def refused_limit(body: str) -> int | None:
    """The per-prompt limit vLLM's refusal names: min(the flag's, the model's own)."""
    match = _LIMIT_MESSAGE.search(body)
    return None if match is None else int(match.group(1))
