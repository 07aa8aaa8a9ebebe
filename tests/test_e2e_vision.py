"""End to end on the real CPU engine through CellRunner: tiny-llava (images) and tiny-llava-next-video (video), one
boot each, each also asked for the use case it does not serve."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.codes import Code
from harness.probes import PROBES, video, vision
from harness.probes.inputs.media import MediaServer
from harness.verdicts import Verdict

pytestmark = pytest.mark.e2e

MATRIX = """\
defaults:
  flags: {max-model-len: 512, gpu-memory-utilization: 0.2}
  env: {VLLM_CPU_KVCACHE_SPACE: '1'}
  timeouts: {boot: 600, probe: 120}
  semantic: false
models:
  - id: zoo:tiny-llava
    # One image per prompt: the probe's two-image request must be refused with MM_LIMIT (and the cell still pass).
    flags: {limit-mm-per-prompt: {image: 1}}
    use_cases: [vision, video]
    # LLaVA takes no video: vLLM refuses it with "At most 0 video(s) may be provided in one prompt".
    expect: {video: MM_LIMIT}
  - id: zoo:tiny-llava-next-video
    use_cases: [video, vision]
    # vLLM serves LLaVA-NeXT-Video for video only: "At most 0 image(s) may be provided in one prompt".
    expect: {vision: MM_LIMIT}
"""


@dataclass
class Run:
    outcomes: dict[str, Any]
    wall_s: dict[str, float]
    media_servers: list[MediaServer] = field(default_factory=list)


@pytest.fixture(scope="module")
def run(engine_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    from harness.matrix import load_matrix
    from harness.runner import CellRunner

    tmp = tmp_path_factory.mktemp("e2e-vision")
    servers: list[MediaServer] = []

    class RecordedMediaServer(MediaServer):
        def start(self) -> MediaServer:
            servers.append(self)
            return super().start()

    with pytest.MonkeyPatch.context() as patch:
        # Registration of the probes is the lead's (harness/probes/__init__.py); until then the test adds them.
        patch.setenv("VLLM_COMPAT_CACHE", str(tmp / "cache"))
        patch.setitem(PROBES, vision.USE_CASE, vision.probe)
        patch.setitem(PROBES, video.USE_CASE, video.probe)
        patch.setattr(vision, "MediaServer", RecordedMediaServer)
        patch.setattr(video, "MediaServer", RecordedMediaServer)
        matrix_file = tmp / "matrix.yaml"
        matrix_file.write_text(MATRIX)
        cells = load_matrix(matrix_file).cells
        runner = CellRunner(
            run_id="e2e-vision",
            run_dir=tmp / "run",
            engine_python=engine_python,
            offline=True,
            boot_timeout=None,
            latency_repeats=0,
        )
        runner.plan(cells)
        outcomes: dict[str, Any] = {}
        wall: dict[str, float] = {}
        try:
            for cell in cells:
                started = time.perf_counter()
                key = f"{cell.model.name}/{cell.use_case.value}"
                outcomes[key] = runner.run(cell)
                wall[key] = time.perf_counter() - started
        finally:
            runner.close()
        yield Run(outcomes, wall, servers)


def test_vision_cell_passes_and_the_extra_image_is_refused(run: Run) -> None:
    """tiny-llava's vision cell passes: images add tokens, the exact answer comes back, and the second image is
    refused with MM_LIMIT as the limit of one demands."""
    outcome = run.outcomes["tiny-llava/vision"]
    assert outcome.verdict is Verdict.PASS, outcome
    checks = {check.name: check for check in outcome.checks}
    refused = checks["two_images_refused"]
    assert refused.passed and refused.detail.startswith("expected refusal") and "At most 1 image(s)" in refused.detail
    for name in ("data_uri_tokens", "http_url_tokens", "count_tokens", "data_uri_answer", "http_url_answer"):
        assert checks[name].passed, checks[name]
    print(f"\nvision: boot {outcome.timings['boot_s']} s, probe {outcome.timings['probe_s']} s")
    assert outcome.timings["probe_s"] < 60


def test_vllm_fetched_the_image_from_the_media_server(run: Run) -> None:
    """The http-URL image was requested from the harness's MediaServer by vLLM itself."""
    assert run.outcomes["tiny-llava/vision"].verdict is Verdict.PASS
    fetches = sum(server.fetched("digit7.png") for server in run.media_servers)
    assert fetches >= 1, [server.requests for server in run.media_servers]


def test_video_on_llava_is_refused_with_mm_limit(run: Run) -> None:
    """LLaVA's video cell fails honestly: vLLM refuses the clip with 'At most 0 video(s)', the expected MM_LIMIT."""
    outcome = run.outcomes["tiny-llava/video"]
    assert (outcome.verdict, outcome.code) == (Verdict.XFAIL, Code.MM_LIMIT), outcome
    assert "At most 0 video(s) may be provided in one prompt" in outcome.evidence


def test_video_cell_passes_on_llava_next_video(run: Run) -> None:
    """tiny-llava-next-video's video cell passes: the AVI clip is decoded, adds tokens, and the URL was fetched."""
    outcome = run.outcomes["tiny-llava-next-video/video"]
    assert outcome.verdict is Verdict.PASS, outcome
    checks = {check.name: check for check in outcome.checks}
    for name in ("data_uri_tokens", "http_url_tokens", "http_url_fetched", "data_uri_answer"):
        assert checks[name].passed, checks[name]
    assert sum(server.fetched("square.avi") for server in run.media_servers) >= 1
    print(f"\nvideo: boot {outcome.timings['boot_s']} s, probe {outcome.timings['probe_s']} s")
    assert outcome.timings["probe_s"] < 60


def test_images_on_llava_next_video_are_refused_with_mm_limit(run: Run) -> None:
    """vLLM serves LLaVA-NeXT-Video for video only: its vision cell fails with the expected MM_LIMIT."""
    outcome = run.outcomes["tiny-llava-next-video/vision"]
    assert (outcome.verdict, outcome.code) == (Verdict.XFAIL, Code.MM_LIMIT), outcome
    assert "At most 0 image(s) may be provided in one prompt" in outcome.evidence


def test_wall_times(run: Run) -> None:
    """Every cell, boot included, finished within the boot plus probe timeouts."""
    print("\n" + ", ".join(f"{key} {seconds:.1f} s" for key, seconds in run.wall_s.items()))
    assert all(seconds < 720 for seconds in run.wall_s.values()), run.wall_s
