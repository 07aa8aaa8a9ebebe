"""The server pool leases each server's GPUs around its boot (on the fake engine, over a described or fake-NVML
node): the lease reaches the record, the report and the boot's CUDA_VISIBLE_DEVICES; no GPUs fails before boot."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from harness.fleet import (
    Allocator,
    NodeScheduler,
    nvml_memory,
    read_inventory,
    server_needs,
)
from harness.report import render_status
from harness.results import ServerOutcome, read_results
from harness.runner import PlacementError
from tests.nvml_fake import FakeNvml, h100
from tests.pool_fake import described_scheduler, fake_pool


def _described(tmp_path: Path, text: str) -> NodeScheduler:
    return described_scheduler(tmp_path, text)


def test_a_servers_lease_is_recorded_reported_and_given_back(tmp_path: Path) -> None:
    """Booted on a simulated one-GPU node: the record names the lease (simulated), STATUS.md lists it, and the GPU
    is free again after the teardown."""
    scheduler = _described(tmp_path, "1xH100-80GB")
    pool, cell = fake_pool(tmp_path, scheduler=scheduler)
    try:
        pool.get(cell)
        unit = scheduler.inventory.units[0]
        assert [h.holder for h in scheduler.allocator.holders(unit)] == [cell.server_key]
        pool.finish(cell)
    finally:
        pool.close()
    assert scheduler.allocator.holders(unit) == []
    (server,) = read_results(tmp_path / "run").servers
    assert server.outcome is ServerOutcome.STOPPED and server.gpu_lease is not None
    assert server.gpu_lease["units"] == ["GPU-sim-00000000"] and server.gpu_lease["simulated"] is True
    status = render_status(read_results(tmp_path / "run"))
    assert "GPU leases" in status and "GPU 0 (simulated)" in status


def test_a_server_too_big_for_the_node_fails_before_its_boot(tmp_path: Path) -> None:
    """tp 2 on a one-GPU node: PlacementError TP_INDIVISIBLE, a BOOT_FAILED record of stage schedule, no engine run."""
    pool, cell = fake_pool(
        tmp_path, scheduler=_described(tmp_path, "1xL4"), model_keys="    flags: {tensor-parallel-size: 2}\n"
    )
    try:
        with pytest.raises(PlacementError) as info:
            pool.get(cell)
        with pytest.raises(PlacementError):
            pool.get(cell)  # remembered, not asked again
    finally:
        pool.close()
    assert info.value.code == "TP_INDIVISIBLE"
    (server,) = read_results(tmp_path / "run").servers
    assert (server.outcome, server.code, server.stage) == (ServerOutcome.BOOT_FAILED, "TP_INDIVISIBLE", "schedule")
    assert server.log is not None and "needs 2 GPUs but this node has 1" in Path(server.log).read_text()
    assert [p.name for p in (tmp_path / "run").glob("server-*")] == [Path(server.log).name]  # no engine log


def test_a_real_lease_sets_the_boots_cuda_visible_devices_to_its_uuids(tmp_path: Path) -> None:
    """On an NVML node (fake NVML) the engine starts with CUDA_VISIBLE_DEVICES = the leased GPU's NVML index, in
    PCI bus order (CUDA's order then is NVML's)."""
    nvml = FakeNvml([h100(0), h100(1)])
    scheduler = NodeScheduler(
        read_inventory({}, nvml), Allocator(tmp_path / "leases"), partial(nvml_memory, module=nvml), poll_s=0.01
    )
    other = scheduler.lease(server_needs({}), "other")  # GPU 0 is someone else's: the server gets GPU 1
    assert other is not None
    pool, cell = fake_pool(tmp_path, scheduler=scheduler)
    try:
        server = pool.get(cell)
        environ = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
        assert b"CUDA_VISIBLE_DEVICES=1" in environ and b"CUDA_DEVICE_ORDER=PCI_BUS_ID" in environ
    finally:
        pool.close()
        other.release()
