"""A deployment's verdict, neighbour attribution, memory picture and boot timeline, computed from typed records."""

from __future__ import annotations

from dataclasses import replace

from deployment_fake import GIB, at, deployment, h100, server_with_peak, service
from records_fake import cell

from harness.codes import Code
from harness.deploy import memory_picture, service_verdicts, timeline, up_before, verdict_line
from harness.engine import NO_GPU
from harness.report import render_status
from harness.results import LoadProbe, RunResults
from harness.usecases import UseCase
from harness.verdicts import Verdict


def test_two_of_three_working_with_one_failing_on_its_own() -> None:
    """A service with a cell that did not PASS is not working, XFAIL included; the line counts and names it."""
    record = deployment(
        service("agent", 1),
        service("vision", 2),
        service("base", 3, use_cases=(UseCase.COMPLETIONS, UseCase.CHAT)),
    )
    cells = [
        cell("stack.agent|default|chat", Verdict.PASS),
        cell("stack.vision|default|chat", Verdict.PASS),
        cell("stack.base|default|completions", Verdict.PASS),
        cell("stack.base|default|chat", Verdict.XFAIL, Code.NO_CHAT_TEMPLATE),
    ]
    verdicts = service_verdicts(record, cells)
    assert [v.working for v in verdicts] == [True, True, False]
    assert verdicts[2].failures == ("chat: XFAIL NO_CHAT_TEMPLATE (as the matrix expects)",)
    assert verdicts[2].neighbours == ()
    line = verdict_line(record, verdicts)
    assert line.startswith("**deployment `stack`: 2 of 3 services working**")
    assert "1 failing on its own: base (chat: XFAIL NO_CHAT_TEMPLATE" in line


def test_a_memory_failure_at_boot_after_a_neighbour_claimed_the_gpu_is_the_neighbours_doing() -> None:
    """KV_BUDGET at boot, booted second on the GPU the first service held: 'fails because of its neighbours'."""
    first = service("agent", 1)
    second = service(
        "vision",
        2,
        booted=False,
        ready_at=None,
        stopped_at=None,
        code=Code.KV_BUDGET,
        evidence="No available memory for the cache blocks",
    )
    record = deployment(first, second)
    cells = [
        cell("stack.agent|default|chat", Verdict.PASS),
        cell("stack.vision|default|chat", Verdict.FAIL, Code.KV_BUDGET, stage="boot"),
    ]
    agent, vision = service_verdicts(record, cells)
    assert agent.working and not vision.working
    assert vision.neighbours == ("agent",)
    assert vision.because == (
        "fails because of its neighbours: KV_BUDGET at boot after agent already held memory on GPU 0 (it booted second)"
    )
    assert "1 failing because of its neighbours: vision (after agent)" in verdict_line(record, (agent, vision))
    # The fleet's free-memory check refuses it before vLLM starts: the same neighbours, said as before its boot.
    checked = service("vision", 2, booted=False, ready_at=None, stopped_at=None, code=Code.GPU_CONTENDED)
    (_, early) = service_verdicts(deployment(first, replace(checked, stage="schedule")), [])
    assert early.because.startswith("fails because of its neighbours: GPU_CONTENDED before its boot")


def test_the_same_failure_alone_on_its_gpu_or_first_in_line_is_its_own() -> None:
    """A memory failure with no neighbour up on its GPU (another GPU, or it booted first) is not blamed on others."""
    elsewhere = service("agent", 1, devices=(1,))
    failed = service("vision", 2, booted=False, ready_at=None, stopped_at=None, code=Code.GPU_CONTENDED)
    assert up_before(failed, (elsewhere, failed)) == ()
    (_, verdict) = service_verdicts(deployment(elsewhere, failed), [])
    assert not verdict.working and verdict.neighbours == () and verdict.failures == ("boot: GPU_CONTENDED",)
    # A non-memory cause after a neighbour is not the neighbour's doing either.
    crashed = service("vision", 2, booted=False, ready_at=None, stopped_at=None, code=Code.ARCH_UNSUPPORTED)
    (_, verdict) = service_verdicts(deployment(service("agent", 1), crashed), [])
    assert verdict.neighbours == ()


def test_passing_alone_and_failing_only_under_load_is_the_neighbours_doing() -> None:
    """A service whose cells PASSed alone but failed in the concurrent phase names the neighbours probed with it."""
    load_ok = (LoadProbe(UseCase.CHAT, Verdict.PASS, None, 1.2),)
    load_bad = (LoadProbe(UseCase.CHAT, Verdict.FAIL, Code.PROBE_TIMEOUT, 60.0),)
    record = deployment(service("agent", 1, under_load=load_ok), service("vision", 2, under_load=load_bad))
    cells = [cell("stack.agent|default|chat", Verdict.PASS), cell("stack.vision|default|chat", Verdict.PASS)]
    agent, vision = service_verdicts(record, cells)
    assert agent.working and not vision.working
    assert vision.failures == ("under load: chat: FAIL PROBE_TIMEOUT",)
    assert vision.neighbours == ("agent",) and "failed only while agent were probed" in vision.because


def test_memory_picture_without_a_gpu_is_rss_against_host_ram_and_device_na() -> None:
    """No NVIDIA GPU: per-service RSS peaks (labelled), their total, host RAM left, device memory 'n/a'."""
    record = deployment(service("agent", 1), service("base", 2))
    servers = [
        server_with_peak("stack.agent-default", rss=3 * GIB),
        server_with_peak("stack.base-default", rss=2 * GIB),
    ]
    picture = memory_picture(record, servers)
    assert not picture.on_gpu and "RSS" in picture.label and "no NVIDIA GPU" in picture.label
    assert [(s.name, s.peak_bytes) for s in picture.services] == [("agent", 3 * GIB), ("base", 2 * GIB)]
    assert picture.total_bytes == 5 * GIB and picture.left_bytes == 19 * GIB
    assert picture.device_bytes is None and picture.device_text == NO_GPU


def test_memory_picture_on_a_described_gpu_is_vram_against_the_device_with_the_shares() -> None:
    """On a (described) H100: per-service VRAM peaks, total against 80 GiB, what is left, and the shares' budget."""
    record = deployment(service("agent", 1, share=0.45), service("vision", 2, share=0.45), gpus=(h100(0),))
    servers = [
        server_with_peak("stack.agent-default", vram=30 * GIB),
        server_with_peak("stack.vision-default", vram=34 * GIB),
    ]
    picture = memory_picture(record, servers)
    assert picture.on_gpu and "VRAM" in picture.label
    assert picture.total_bytes == 64 * GIB and picture.device_bytes == 80 * GIB and picture.left_bytes == 16 * GIB
    (gpu,) = picture.gpus
    assert gpu.services == ("agent", "vision") and gpu.shares == 0.9 and gpu.budget_bytes == int(72 * GIB)


def test_timeline_reads_boots_in_order_and_the_time_all_were_up() -> None:
    """Offsets from the first boot; the window from the last ready to the first stop; overlapping boots flagged."""
    record = deployment(service("agent", 1), service("base", 2))
    line = timeline(record)
    assert [(r.start_s, r.ready_s, r.stop_s) for r in line.rows] == [(0.0, 40.0, 200.0), (41.0, 81.0, 200.0)]
    assert line.together_s == 119.0 and not line.boots_overlapped
    overlapping = deployment(service("agent", 1), service("base", 2, boot_started_at=at(10), ready_at=at(50)))
    assert timeline(overlapping).boots_overlapped
    together = deployment(
        service("agent", 1, ready_at=at(10), stopped_at=at(58)),
        service("base", 2, boot_started_at=at(11), ready_at=at(30), stopped_at=at(59)),
    )
    assert timeline(together).together_s == 28.0


def test_the_report_opens_with_the_deployment_verdict_memory_and_boot_sequence(tmp_path: object) -> None:
    """STATUS.md starts with the deployment section: the verdict line, memory with n/a for the device, boot order."""
    record = deployment(service("agent", 1), service("base", 2, booted=False, code=Code.KV_BUDGET, ready_at=None))
    results = RunResults(
        run_dir=tmp_path,  # type: ignore[arg-type]
        cells=[cell("stack.agent|default|chat", Verdict.PASS), cell("stack.base|default|chat", Verdict.FAIL)],
        servers=[server_with_peak("stack.agent-default", rss=3 * GIB)],
        deployments=[record],
    )
    text = render_status(results)
    head = text[: text.index("cells working")]
    assert "**deployment `stack`: 1 of 2 services working**" in head
    assert "fails because of its neighbours: KV_BUDGET at boot after agent" in head
    assert "device memory: n/a (no NVIDIA GPU)" in head and "| agent | 3.00 GiB |" in head
    assert "| 2 | base | 41.0 |  |" in head and "not booted `KV_BUDGET`" in head


def test_the_concurrent_phase_table_shows_each_probe_under_load_beside_one_at_a_time(tmp_path: object) -> None:
    """Per service and use case: the verdict under load, its seconds, and the same cell's probe seconds alone."""
    load = (LoadProbe(UseCase.CHAT, Verdict.PASS, None, 2.5),)
    record = deployment(service("agent", 1, under_load=load), concurrent_s=2.6, concurrent_started_at=at(90))
    results = RunResults(
        run_dir=tmp_path,  # type: ignore[arg-type]
        cells=[cell("stack.agent|default|chat", Verdict.PASS, timings={"probe_s": 1.25})],
        deployments=[record],
    )
    assert "| agent | chat | PASS | 2.50 s | 1.25 s |" in render_status(results)


def test_a_use_case_without_a_cell_record_is_not_working() -> None:
    """A service whose use case never ran (deselected with -m, or an interrupted run) is not counted as working."""
    record = deployment(service("agent", 1, use_cases=(UseCase.CHAT, UseCase.COMPLETIONS)))
    (verdict,) = service_verdicts(record, [cell("stack.agent|default|chat", Verdict.PASS)])
    assert not verdict.working
    assert verdict.failures == ("completions: not run (deselected, or the run stopped first)",)
