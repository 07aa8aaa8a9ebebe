"""End to end on the real CPU engine, read from the session's demo run: tiny-llava (images) and tiny-llava-next-video
(video), one boot each, each also asked for the use case it does not serve. No boot of its own."""

from __future__ import annotations

import pytest
from shared_runs import DemoRun

from harness.codes import Code
from harness.verdicts import Verdict

pytestmark = pytest.mark.e2e


def test_vision_cell_passes_and_the_extra_image_is_refused(demo_run: DemoRun) -> None:
    """tiny-llava's vision cell passes: images add tokens, the exact answer comes back, and the second image is
    refused with MM_LIMIT as the limit of one demands."""
    cell = demo_run.cell("tiny-llava-default-vision")
    assert cell.verdict is Verdict.PASS, cell
    assert demo_run.server(cell.cell_id).flags.get("limit-mm-per-prompt") == {"image": 1}
    checks = {check.name: check for check in cell.checks}
    refused = checks["two_images_refused"]
    assert refused.passed and refused.detail.startswith("expected refusal") and "At most 1 image(s)" in refused.detail
    for name in ("data_uri_tokens", "http_url_tokens", "count_tokens", "data_uri_answer", "http_url_answer"):
        assert checks[name].passed, checks[name]
    print(f"\nvision: boot {cell.timings.get('boot_s')} s, probe {cell.timings['probe_s']} s")
    assert cell.timings["probe_s"] < 60


def test_vllm_fetched_the_image_from_the_media_server(demo_run: DemoRun) -> None:
    """The http-URL image was requested from the harness's MediaServer by vLLM itself (the server counts the GETs)."""
    cell = demo_run.cell("tiny-llava-default-vision")
    assert cell.verdict is Verdict.PASS
    fetched = next(check for check in cell.checks if check.name == "http_url_fetched")
    assert fetched.passed and "digit7.png" in fetched.detail and " 0 time(s)" not in fetched.detail, fetched


def test_video_on_llava_is_refused_with_mm_limit(demo_run: DemoRun) -> None:
    """LLaVA's video cell fails honestly: vLLM refuses the clip with 'At most 0 video(s)', the expected MM_LIMIT."""
    cell = demo_run.cell("tiny-llava-default-video")
    assert (cell.verdict, cell.code) == (Verdict.XFAIL, Code.MM_LIMIT), cell
    assert "At most 0 video(s) may be provided in one prompt" in cell.evidence


def test_video_cell_passes_on_llava_next_video(demo_run: DemoRun) -> None:
    """tiny-llava-next-video's video cell passes: the AVI clip is decoded, adds tokens, and the URL was fetched."""
    cell = demo_run.cell("tiny-llava-next-video-default-video")
    assert cell.verdict is Verdict.PASS, cell
    checks = {check.name: check for check in cell.checks}
    for name in ("data_uri_tokens", "http_url_tokens", "http_url_fetched", "data_uri_answer"):
        assert checks[name].passed, checks[name]
    assert "square.avi" in checks["http_url_fetched"].detail
    print(f"\nvideo: boot {cell.timings.get('boot_s')} s, probe {cell.timings['probe_s']} s")
    assert cell.timings["probe_s"] < 60


def test_images_on_llava_next_video_are_refused_with_mm_limit(demo_run: DemoRun) -> None:
    """vLLM serves LLaVA-NeXT-Video for video only: its vision cell fails with the expected MM_LIMIT."""
    cell = demo_run.cell("tiny-llava-next-video-default-vision")
    assert (cell.verdict, cell.code) == (Verdict.XFAIL, Code.MM_LIMIT), cell
    assert "At most 0 image(s) may be provided in one prompt" in cell.evidence


def test_wall_times(demo_run: DemoRun) -> None:
    """Every multimodal cell, boot included, finished within the boot plus probe timeouts."""
    cells = [c for c in demo_run.results.cells if c.model in ("tiny-llava", "tiny-llava-next-video")]
    assert len(cells) == 4
    print("\n" + ", ".join(f"{c.cell_id} {c.timings.get('cell_s')} s" for c in cells))
    assert all(c.timings.get("cell_s", 0) < 720 for c in cells), [dict(c.timings) for c in cells]
