"""Boot phases read from engine logs: a real CPU boot, and GPU lines in vLLM 0.32's own wording."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.server.boot_log import BootPhases, parse_boot_log

CPU_LOG = Path(__file__).parent / "data" / "engine_logs" / "cpu-chat-ok-phases.log"

# Rendered from the format strings in vLLM 0.32's sources (gpu_model_runner.py, gpu_worker.py, kv_cache_utils.py,
# core.py, default_loader.py, entry.py) with plausible values for a 7B model on one GPU.
GPU_LOG = """\
(APIServer pid=100) INFO 05-02 10:00:00 [api_utils.py:286] non-default args: {'model': 'Qwen/Qwen2.5-7B-Instruct'}
(EngineCore pid=200) INFO 05-02 10:00:09 [core.py:133] Initializing a V1 LLM engine (v0.32.0) with config: ...
(Worker pid=300) INFO 05-02 10:00:15 [default_loader.py:502] Loading weights took 3.42 seconds
(Worker pid=300) INFO 05-02 10:00:16 [gpu_model_runner.py:5150] Model loading took 14.25 GiB memory and 4.118203 seconds
(Worker pid=300) INFO 05-02 10:00:40 [gpu_worker.py:760] Available KV cache memory: 107.32 GiB
(EngineCore pid=200) INFO 05-02 10:00:40 [kv_cache_utils.py:2328] GPU KV cache size: 2,009,408 tokens, \
Maximum concurrency for 32,768 tokens per request: 61.32x
(Worker pid=300) INFO 05-02 10:00:52 [gpu_model_runner.py:6582] Graph capturing finished in 11 secs, took 0.61 GiB
(EngineCore pid=200) INFO 05-02 10:00:53 [core.py:396] init engine (profile, create kv cache, warmup model) took \
37.85 s (compilation: 21.40 s)
(APIServer pid=100) INFO 05-02 10:00:58 [entry.py:140] Starting vLLM server on http://127.0.0.1:8000
INFO:     Application startup complete.
"""


def test_real_cpu_boot_log() -> None:
    """The CPU engine's log gives weights time, CPU KV cache tokens and GiB, concurrency, init time and boot span."""
    phases = parse_boot_log(CPU_LOG.read_text())
    assert phases == BootPhases(
        weights_load_s=0.01,
        weights_gib=None,  # the CPU runner does not print "Model loading took ... GiB"
        kv_cache_tokens=2_097_152,
        kv_cache_device="CPU",
        kv_cache_gib=1.0,
        max_concurrency=4096.0,
        max_concurrency_len=512,
        engine_init_s=67.65,
        compilation_s=None,
        api_up=True,
        boot_s_from_log=118.0,  # 20:19:53 (first timestamp) -> 20:21:51 ("Starting vLLM server on")
        compile_cache="cold",  # the first boot of this architecture compiled and saved it
        compile_cache_evidence="saved AOT compiled function to /root/.cache/vllm/torch_compile_cache/torch_aot_compile/"
        "d805ea8b86707a1ae68ea60041940a2bf7a0fee5e559498a63fd3581b7f34b4d/rank_0_0/model",
    )


def test_gpu_wording() -> None:
    """GPU lines give weights GiB, KV cache GiB and tokens with thousands separators, compilation and CUDA graphs."""
    phases = parse_boot_log(GPU_LOG)
    assert phases.weights_load_s == 3.42  # the loader's own line wins over the runner's total
    assert phases.weights_gib == 14.25
    assert phases.kv_cache_gib == 107.32
    assert (phases.kv_cache_device, phases.kv_cache_tokens) == ("GPU", 2_009_408)
    assert (phases.max_concurrency_len, phases.max_concurrency) == (32_768, 61.32)
    assert (phases.engine_init_s, phases.compilation_s) == (37.85, 21.40)
    assert (phases.graph_capture_s, phases.graph_capture_gib) == (11.0, 0.61)
    assert phases.boot_s_from_log == 58.0


def test_model_loading_seconds_stand_in_for_the_loader_line() -> None:
    """Without "Loading weights took", the runner's "Model loading took ... seconds" gives the weights time."""
    text = (
        "(Worker pid=3) INFO 05-02 10:00:16 [gpu_model_runner.py:5150] "
        "Model loading took 0.5 GiB memory and 2.500000 seconds"
    )
    phases = parse_boot_log(text)
    assert (phases.weights_load_s, phases.weights_gib) == (2.5, 0.5)


def test_a_log_that_died_early_says_only_what_it_saw() -> None:
    """A boot that stopped after the weights has the weights time and None for everything after it."""
    cut = CPU_LOG.read_text().split("Warming up model")[0]
    phases = parse_boot_log(cut)
    assert phases.weights_load_s == 0.01
    assert phases.kv_cache_tokens is None
    assert phases.engine_init_s is None
    assert phases.api_up is False
    assert phases.boot_s_from_log is None


def test_empty_log() -> None:
    """An empty log yields an all-None BootPhases, never zeros."""
    assert parse_boot_log("") == BootPhases()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("init engine (profile, create kv cache, warmup model) took 12.34 s", (12.34, None)),
        (
            "init engine (profile, create kv cache, warmup model) took 50.00 s (compilation: 30.00 s — "
            "language_model: 20.00 s, encoder: 10.00 s)",
            (50.0, 30.0),
        ),
    ],
)
def test_init_engine_variants(line: str, expected: tuple[float, float | None]) -> None:
    """All three wordings of the init-engine line in core.py give the total and, when printed, compilation."""
    phases = parse_boot_log(f"(EngineCore pid=1) INFO 01-01 00:00:00 [core.py:386] {line}\n")
    assert (phases.engine_init_s, phases.compilation_s) == expected
