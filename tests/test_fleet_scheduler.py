"""The node scheduler: leases with bounded waits, GPU_CONTENDED with the holders as evidence, too-big servers, and a
tiny simulated node run through the real allocator whose records keep both invariants."""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from harness.fleet import (
    Allocator,
    Inventory,
    NodeScheduler,
    ScheduleError,
    describe_inventory,
    described_memory,
    nvml_memory,
    read_inventory,
    server_needs,
)
from harness.fleet.simulate import SimRecord, bench_matrix, lower_bound, simulate, violations
from harness.matrix import load_matrix
from tests.nvml_fake import FakeNvml, NoDriver, h100

GiB = 1 << 30
ROOT = Path(__file__).resolve().parents[1]


def _described(tmp_path: Path, text: str, **waits: float) -> NodeScheduler:
    inventory = Inventory(describe_inventory(text), "described", described=text)
    return NodeScheduler(inventory, Allocator(tmp_path), described_memory, poll_s=0.01, **waits)


def _nvml(tmp_path: Path, nvml: FakeNvml, **waits: float) -> NodeScheduler:
    inventory = read_inventory({}, nvml)
    return NodeScheduler(inventory, Allocator(tmp_path), partial(nvml_memory, module=nvml), poll_s=0.01, **waits)


def test_without_a_gpu_the_scheduler_does_nothing_and_says_so(tmp_path: Path) -> None:
    """No NVIDIA GPU: no lease (None), and its line reads n/a (no NVIDIA GPU)."""
    scheduler = NodeScheduler(read_inventory({}, NoDriver()), Allocator(tmp_path), described_memory)
    assert not scheduler.active
    assert scheduler.describe() == "GPU scheduling: n/a (no NVIDIA GPU): servers boot without a GPU lease"
    assert scheduler.lease(server_needs({"tensor-parallel-size": 8}), "big") is None


def test_a_server_needing_more_gpus_than_the_node_has_fails_before_boot(tmp_path: Path) -> None:
    """tp 8 on a node of 4 GPUs: TP_INDIVISIBLE at once, naming the need, the node and the fix; nothing leased."""
    scheduler = _described(tmp_path, "4xH100-80GB")
    with pytest.raises(ScheduleError) as info:
        scheduler.lease(server_needs({"tensor-parallel-size": 8}), "llama-70b")
    error = info.value
    assert error.code == "TP_INDIVISIBLE" and error.waited_s == 0
    assert "llama-70b needs 8 GPUs but this node has 4" in error.message and "(simulated" in error.message
    assert "tensor x pipeline x data parallel 8 x 1 x 1 = 8 GPUs" in error.evidence


def test_mig_devices_serve_one_gpu_servers_first_and_never_a_multi_gpu_one(tmp_path: Path) -> None:
    """One-GPU servers take MIG devices before whole GPUs; a tp 2 server only ever gets whole GPUs."""
    scheduler = _described(tmp_path, "1xA100-80GB:mig=3g.40gb*2,2xA100-80GB")
    small = scheduler.lease(server_needs({}), "small")
    pair = scheduler.lease(server_needs({"tensor-parallel-size": 2}), "pair")
    assert small is not None and pair is not None
    assert small.units[0].is_mig and small.cuda_visible_devices.startswith("MIG-")
    assert not any(unit.is_mig for unit in pair.units)
    with pytest.raises(ScheduleError, match="MIG devices serve one-GPU servers only"):
        scheduler.lease(server_needs({"tensor-parallel-size": 3}), "three")
    small.release()
    pair.release()


def test_another_tenant_on_the_gpu_is_gpu_contended_with_its_pids_and_memory(tmp_path: Path) -> None:
    """A foreign process holds 60 GiB of the leased GPU: after the bounded wait, GPU_CONTENDED before vLLM starts,
    with its pid and memory as the evidence, and the GPU given back."""
    nvml = FakeNvml([h100(0, used=60 * GiB, processes=[(4242, 60 * GiB), (4243, None)])])
    scheduler = _nvml(tmp_path, nvml, memory_wait_s=0.1)
    with pytest.raises(ScheduleError) as info:
        scheduler.lease(server_needs({}), "chat")
    error = info.value
    assert error.code == "GPU_CONTENDED" and "vLLM not started" in error.message
    assert (
        "GPU 0 (NVIDIA H100 80GB HBM3, GPU-00000000-fake): 20.0 GiB free < 73.3 GiB vLLM will claim" in error.evidence
    )
    assert "pid 4242 (60.0 GiB), pid 4243 (memory n/a)" in error.evidence
    assert scheduler.allocator.holders(scheduler.inventory.units[0]) == []  # released


def test_a_tenant_that_leaves_within_the_bound_is_waited_for(tmp_path: Path) -> None:
    """The foreign process exits during the wait: the lease is granted and its memory wait recorded."""
    device = h100(0, used=60 * GiB, processes=[(4242, 60 * GiB)])
    nvml = FakeNvml([device])
    scheduler = _nvml(tmp_path, nvml, memory_wait_s=5)
    readings = iter(range(3))

    def leaving(unit: object) -> object:
        if next(readings, 3) >= 2:
            device.used, device.processes = 0, []
        return nvml_memory(unit, nvml)  # type: ignore[arg-type]

    scheduler.memory = leaving  # type: ignore[assignment]
    said: list[str] = []
    lease = scheduler.lease(server_needs({}), "chat", say=said.append)
    assert lease is not None and lease.memory_wait_s > 0
    assert said and "pid 4242" in said[0]
    assert lease.cuda_visible_devices == "0" and lease.env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    lease.release()


def test_a_lease_waits_for_the_node_and_times_out_with_the_holders(tmp_path: Path) -> None:
    """Both GPUs leased by another process: a bounded wait, then GPU_CONTENDED naming the holder's pid; once it is
    gone, the lease comes at once and its boot lock records its wait."""
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom harness.fleet import Allocator, describe_inventory\n"
        f"lease = Allocator(Path({str(tmp_path)!r})).try_exclusive(describe_inventory('2xL4'), 2, 'first')\n"
        "print('held', flush=True)\ntime.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    scheduler = _described(tmp_path, "2xL4", lease_wait_s=0.1)
    try:
        with pytest.raises(ScheduleError) as info:
            scheduler.lease(server_needs({}), "second")
        assert info.value.code == "GPU_CONTENDED" and info.value.waited_s >= 0.1
        assert f"pid {child.pid} (first" in info.value.evidence
    finally:
        child.kill()
        child.wait(timeout=10)
    again = scheduler.lease(server_needs({}), "second")
    assert again is not None and again.waited_s < 0.1
    with scheduler.booting(again):
        pass
    assert again.boot_wait_s is not None and again.to_json()["simulated"] is True
    again.release()


def test_units_held_by_this_process_itself_are_gpu_contended_at_once(tmp_path: Path) -> None:
    """Services this process keeps up (a deployment) take 0.6 of the only GPU: another 0.6 is refused at once, not
    after the lease bound, since nothing can free it while this process waits."""
    scheduler = _described(tmp_path, "1xL4")  # the default bound: hours
    share = server_needs({"gpu-memory-utilization": 0.6}, share_gpu=True)
    first = scheduler.lease(share, "svc-a")
    assert first is not None and first.shared
    with pytest.raises(ScheduleError, match="this process's own servers hold them") as info:
        scheduler.lease(share, "svc-b")
    assert "svc-a" in info.value.evidence and info.value.waited_s == 0
    fits = scheduler.lease(server_needs({"gpu-memory-utilization": 0.4}, share_gpu=True), "svc-c")
    assert fits is not None and fits.fraction == 0.4
    fits.release()
    first.release()


def test_a_tiny_simulated_node_keeps_both_invariants(tmp_path: Path) -> None:
    """Six servers of tp 1/2/4 on four simulated GPUs through the real allocator: every server ran, no GPU held
    twice at once, no two boots overlapped on a GPU, and the makespan is not below the lower bound."""
    servers = bench_matrix({1: 3, 2: 2, 4: 1})
    run = simulate(servers, "4xH100-80GB", tmp_path, workers=4, scale=1 / 1000, poll_s=0.002)
    assert sorted(r.key for r in run.records) == sorted(s.key for s in servers)
    assert violations(run.records) == []
    assert run.makespan_s >= 0.95 * lower_bound(servers, 4)


def test_the_invariant_check_sees_an_overlap() -> None:
    """Two records holding one GPU over the same seconds, booting at once: both invariants reported broken."""
    first = SimRecord("a", 1, ("GPU-x",), ("GPU-x",), 0, 0, 5, 10, 0)
    second = SimRecord("b", 2, ("GPU-x",), ("GPU-x",), 3, 3, 6, 12, 0)
    assert violations([first, second]) == ["GPU-x: a and b held it at once", "GPU-x: the boots of a and b overlapped"]


def test_a_waiting_big_server_is_not_starved_by_smaller_ones(tmp_path: Path) -> None:
    """Two of four GPUs busy and a tp 4 server waiting: a one-GPU server may not take the free ones it needs; once
    the big one stops waiting, it may."""
    scheduler = _described(tmp_path, "4xH100-80GB", lease_wait_s=0.05)
    busy = scheduler.lease(server_needs({"tensor-parallel-size": 2}), "busy")
    assert busy is not None
    with scheduler.allocator.waiting(4, "big") as big:
        assert [w.holder for w in scheduler.allocator.waiters()] == ["big"] and big.gpus == 4
        with pytest.raises(ScheduleError, match="no 1 GPU"):
            scheduler.lease(server_needs({}), "small")
    assert scheduler.allocator.waiters() == []
    small = scheduler.lease(server_needs({}), "small")
    assert small is not None
    small.release()
    busy.release()


def test_a_deployments_services_lease_their_shares_side_by_side(tmp_path: Path) -> None:
    """A stack's two services (0.45 and 0.3 of GPU 0) both lease it, shared, through the scheduler."""
    (tmp_path / "matrix.yaml").write_text(
        "models:\n  - id: zoo:chat-ok\n    use_cases: [chat]\n"
        "deployments:\n  stack:\n    services:\n"
        "      - {name: a, model: chat-ok, gpu-memory-utilization: 0.45}\n"
        "      - {name: b, model: chat-ok, gpu-memory-utilization: 0.3}\n"
    )
    services = load_matrix(tmp_path / "matrix.yaml").deployments["stack"].services
    scheduler = _described(tmp_path / "leases", "1xH100-80GB")
    leases = []
    for service in services:
        assert service.model.share_gpu
        needs = server_needs(service.model.flags, share_gpu=service.model.share_gpu)
        lease = scheduler.lease(needs, service.name)
        assert lease is not None
        leases.append(lease)
    assert [lease.fraction for lease in leases] == [0.45, 0.3]
    for lease in leases:
        lease.release()
