"""vision: images in chat, as a base64 data URI and as an http URL vLLM must fetch; several per prompt where
``--limit-mm-per-prompt`` allows, and an honest refusal (HTTP 400, MM_LIMIT) where it does not.

Protocol checks: HTTP 200, a non-empty answer, consistent usage, and the image's tokens visible in
usage.prompt_tokens (more than the same question without the image: an image that never reached the model would
not add any). The URL case also checks that vLLM really fetched the file from the harness's MediaServer.
Semantic checks (real models): the colour, the digit and the number of circles, leniently ("three" or "3").

A refusal is a pass only where it is the configured behaviour: with an image limit below 2 the two-image request
must be refused with vLLM's "At most N image(s) may be provided in one prompt" message (diagnosed MM_LIMIT); a
2-image answer there, or another error, fails the cell.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.diagnose import diagnose
from harness.probes.base import SEED, ProbeContext, ProbeResult, Recorder, _error_body, _short, check_usage, run_probe
from harness.probes.inputs.media import IMAGES, MEDIA, Media, MediaServer
from harness.probes.streams import usage_of

USE_CASE = "vision"
MAX_TOKENS = 24
DEFAULT_LIMIT = 999  # vLLM 0.32's per-modality default when --limit-mm-per-prompt does not name it
LIMIT_FLAG = "limit-mm-per-prompt"
# vLLM 0.32 answers 'At most 1 image(s) may be provided in one prompt. (parameter=image)' (older: "...request").
_LIMIT_MESSAGE = re.compile(r"At most (\d+) (\w+)\(s\) may be provided in one (?:prompt|request)")


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


# ---------------------------------------------------------------------------------------------------------------------
# shared with the video probe


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


def ask(ctx: ProbeContext, question: str, parts: Sequence[Mapping[str, Any]]) -> Any:
    content: list[Mapping[str, Any]] = [*parts, {"type": "text", "text": question}]
    return ctx.client.chat.completions.create(
        model=ctx.model,
        messages=[{"role": "user", "content": content}],  # type: ignore[list-item,misc]
        max_tokens=MAX_TOKENS,
        temperature=0,
        seed=SEED,
        timeout=ctx.timeout,
    )


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
        body = _error_body(error)
        code = diagnose(body, None).code
        refused = error.status_code == 400 and code == "MM_LIMIT"
        rec.check(
            name,
            refused,
            (
                f"expected refusal: {LIMIT_FLAG} allows {limit} {modality}(s), {sent} sent; vLLM answered HTTP 400 "
                f"MM_LIMIT: {_short(body, 160)}"
            )
            if refused
            else f"{sent} {modality}(s) beyond the limit of {limit}: expected HTTP 400 MM_LIMIT, got HTTP "
            f"{error.status_code} {code}: {_short(body)}",
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


# ---------------------------------------------------------------------------------------------------------------------
# the probe


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    limit = mm_limit(ctx.flags, "image")
    red, digit, circles = (MEDIA[name] for name in IMAGES)
    baselines = {item.name: baseline_tokens(ctx, rec, item.question) for item in (red, digit, circles)}

    _, single = media_request(
        ctx,
        rec,
        "data_uri",
        lambda: ask(ctx, red.question, [part("image_url", red.data_uri)]),
        baseline=baselines[red.name],
        item=red,
        label="a data-URI image",
    )
    with MediaServer({digit.name: digit}) as media:
        url = media.url(digit.name)
        media_request(
            ctx,
            rec,
            "http_url",
            lambda: ask(ctx, digit.question, [part("image_url", url)]),
            baseline=baselines[digit.name],
            item=digit,
            label="an http-URL image",
        )
        fetches = media.fetched(digit.name)
    rec.check("http_url_fetched", fetches > 0, f"vLLM fetched {url} {fetches} time(s)")
    media_request(
        ctx,
        rec,
        "count",
        lambda: ask(ctx, circles.question, [part("image_url", circles.data_uri)]),
        baseline=baselines[circles.name],
        item=circles,
        label="a data-URI image",
    )
    _two_images(ctx, rec, limit, red, circles, single)


def _two_images(ctx: ProbeContext, rec: Recorder, limit: int, first: Media, second: Media, single: int) -> None:
    question = "How many images are there? Answer with a number."

    def call() -> Any:
        return ask(ctx, question, [part("image_url", first.data_uri), part("image_url", second.data_uri)])

    if limit < 2:
        expect_refusal(rec, "two_images_refused", call, modality="image", limit=limit, sent=2)
        return
    answer, error = attempt(rec, "two_images_request", call)
    if error is not None:
        body = _error_body(error)
        own = refused_limit(body)
        if error.status_code == 400 and own is not None and own < 2:
            # The flag allows two, so the limit vLLM names is the model's own: one image per prompt, no flag helps.
            rec.check("two_images", True, f"the model takes at most {own} image(s) per prompt: {_short(body, 160)}")
            return
        fail_request(rec, "two_images_request", error)
        return
    text = (answer.choices[0].message.content or "") if answer.choices else ""
    usage = usage_of(answer.usage) or {}
    prompt = usage.get("prompt_tokens", 0)
    rec.check("two_images_content", bool(text.strip()), f"content={text[:80]!r}")
    rec.check(
        "two_images_tokens",
        prompt > single,
        f"prompt_tokens {prompt} with two images vs {single} with one (the limit allows {limit})",
    )
    if ctx.semantic and ctx.expected_answer is None:
        hit = mentions(text, ("2", "two"))
        rec.check("two_images_answer", hit is not None, f"got {text[:80]!r}; expected 2 / two")
