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

from typing import Any

from harness.probes.base import ProbeContext, ProbeResult, Recorder, error_body, run_probe, short
from harness.probes.inputs.media import IMAGES, MEDIA, Media, MediaServer, media_host_for
from harness.probes.multimodal import (
    ask,
    attempt,
    baseline_tokens,
    expect_refusal,
    fail_request,
    media_request,
    mentions,
    mm_limit,
    part,
    refused_limit,
)
from harness.probes.streams import usage_of

USE_CASE = "vision"


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


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
    with MediaServer({digit.name: digit}, host=media_host_for(ctx.base_url)) as media:
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
        body = error_body(error)
        own = refused_limit(body)
        if error.status_code == 400 and own is not None and own < 2:
            # The flag allows two, so the limit vLLM names is the model's own: one image per prompt, no flag helps.
            rec.check("two_images", True, f"the model takes at most {own} image(s) per prompt: {short(body, 160)}")
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
