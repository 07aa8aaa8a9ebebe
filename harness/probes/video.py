"""video: a short clip the harness draws (8 frames of a red square sliding right, a 1.6 kB PNG-frame AVI that vLLM's
OpenCV loader decodes) sent as ``video_url``, as a base64 data URI and as an http URL vLLM must fetch.

Protocol checks: HTTP 200, a non-empty answer, consistent usage, more prompt tokens than the question alone (the
frames reached the model), and the URL fetched from the harness's MediaServer. Semantic (real models): the answer
mentions the square or its motion, leniently. A model that takes no video gets vLLM's refusal, diagnosed (MM_LIMIT:
"At most 0 video(s) may be provided in one prompt"); a --limit-mm-per-prompt of 0 videos is refused the same way.
"""

from __future__ import annotations

from harness.probes.base import ProbeContext, ProbeResult, Recorder, run_probe
from harness.probes.inputs.media import MEDIA, VIDEO, MediaServer, media_host_for
from harness.probes.multimodal import ask, baseline_tokens, media_request, part

USE_CASE = "video"


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    clip = MEDIA[VIDEO]
    baseline = baseline_tokens(ctx, rec, clip.question)
    media_request(
        ctx,
        rec,
        "data_uri",
        lambda: ask(ctx, clip.question, [part("video_url", clip.data_uri)]),
        baseline=baseline,
        item=clip,
        label="a data-URI video",
    )
    with MediaServer({clip.name: clip}, host=media_host_for(ctx.base_url)) as media:
        url = media.url(clip.name)
        media_request(
            ctx,
            rec,
            "http_url",
            lambda: ask(ctx, clip.question, [part("video_url", url)]),
            baseline=baseline,
            item=clip,
            label="an http-URL video",
        )
        fetches = media.fetched(clip.name)
    rec.check("http_url_fetched", fetches > 0, f"vLLM fetched {url} {fetches} time(s)")
