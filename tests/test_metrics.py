"""The resource sampler: phases, peaks, baseline, leaks, the no-GPU path, and weight bytes from safetensors headers."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.measure.vram import (
    NA_NO_GPU,
    NA_NO_VISIBLE_GPU,
    NA_PIDS_INVISIBLE,
    RSS_LABEL,
    MiB,
    ResourceSampler,
    expected_weight_bytes,
    gpu_indices_from_env,
)

GiB = 1024 * MiB
NEVER = 3600.0  # background interval for tests: only sample_now() and start()/stop() take samples


class FakeNvml:
    """Just enough of pynvml: per-GPU used/total memory, utilisation and compute processes, set by the test."""

    class NVMLError(Exception):
        pass

    def __init__(self, gpus: int = 1, total: int = 8 * GiB) -> None:
        self.total = total
        self.used = [500 * MiB] * gpus
        self.util = [0] * gpus
        self.procs: list[list[tuple[int, int | None]]] = [[] for _ in range(gpus)]
        self.shutdowns = 0

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.used)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if not 0 <= index < len(self.used):
            raise self.NVMLError("Invalid Argument")
        return index

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return SimpleNamespace(total=self.total, used=self.used[handle], free=self.total - self.used[handle])

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(gpu=self.util[handle], memory=0)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[Any]:
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in self.procs[handle]]


class NoDriver:
    """pynvml as it behaves on a machine without the NVIDIA driver."""

    class NVMLError(Exception):
        pass

    def nvmlInit(self) -> None:
        raise self.NVMLError("NVML Shared Library Not Found")

    def nvmlShutdown(self) -> None:
        raise self.NVMLError("Uninitialized")


@pytest.fixture
def server() -> Iterator[subprocess.Popen[bytes]]:
    """A stand-in server process (it only sleeps), killed at the end of the test."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


def _stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait()


def test_peaks_are_kept_per_phase(server: subprocess.Popen[bytes]) -> None:
    """Each phase reports its own peak device, process and utilisation figures, not the run's overall peak."""
    nvml = FakeNvml()
    alive = {"pid": None}
    sampler = ResourceSampler(lambda: alive["pid"], None, NEVER, nvml=nvml, settle_timeout_s=0)
    sampler.start()
    alive["pid"] = server.pid  # type: ignore[assignment]
    sampler.mark("boot")
    nvml.used[0], nvml.util[0], nvml.procs[0] = 3 * GiB, 40, [(server.pid, 2 * GiB), (999_999_999, GiB)]
    sampler.sample_now()
    nvml.used[0], nvml.util[0], nvml.procs[0] = 2 * GiB, 10, [(server.pid, 1 * GiB)]
    sampler.sample_now()
    sampler.mark("probes")
    nvml.used[0], nvml.util[0], nvml.procs[0] = 2500 * MiB, 90, [(server.pid, 1500 * MiB)]
    sampler.sample_now()
    sampler.mark("teardown")
    _stop_server(server)
    alive["pid"] = None
    nvml.used[0], nvml.procs[0] = 500 * MiB, []
    report = sampler.stop()
    boot, probes = report.phases["boot"], report.phases["probes"]
    assert (boot.device_used_bytes, boot.process_bytes, boot.utilisation_pct) == (3 * GiB, 2 * GiB, 40)
    assert (probes.device_used_bytes, probes.process_bytes, probes.utilisation_pct) == (2500 * MiB, 1500 * MiB, 90)
    assert report.baseline_device_bytes == 500 * MiB
    assert report.after_device_bytes == 500 * MiB
    assert report.leak is None
    assert list(report.phases) == ["baseline", "boot", "probes", "teardown", "after"]


def test_memory_left_after_teardown_is_a_leak() -> None:
    """Used memory above the baseline by more than max(leak_bytes, leak_fraction of total) is a LEAK finding."""
    nvml = FakeNvml(total=8 * GiB)  # 2% of 8 GiB is 164 MiB, so the 256 MiB floor is the bound
    sampler = ResourceSampler(lambda: None, None, NEVER, nvml=nvml, settle_timeout_s=0)
    sampler.start()
    sampler.mark("teardown")
    nvml.used[0] = 500 * MiB + 300 * MiB
    report = sampler.stop()
    assert report.leak is not None
    assert report.leak.code == "LEAK"
    assert "+300 MiB" in report.leak.message
    assert "bound 256 MiB" in report.leak.message


def test_memory_within_the_fraction_bound_is_not_a_leak() -> None:
    """On a big GPU the 2% bound, not the 256 MiB floor, decides: 1 GiB left on 80 GiB is not a leak."""
    nvml = FakeNvml(total=80 * GiB)
    sampler = ResourceSampler(lambda: None, None, NEVER, nvml=nvml, settle_timeout_s=0)
    sampler.start()
    nvml.used[0] += GiB
    report = sampler.stop()
    assert report.leak is None


def test_stop_waits_for_memory_to_come_back() -> None:
    """stop() keeps sampling until used memory is back within the bound, so slow frees are not leaks."""
    nvml = FakeNvml()
    readings = iter([4 * GiB, 3 * GiB, 500 * MiB])
    real = nvml.nvmlDeviceGetMemoryInfo
    sampler = ResourceSampler(lambda: None, None, NEVER, nvml=nvml, settle_timeout_s=30)
    sampler.start()

    def draining(handle: int) -> Any:
        nvml.used[handle] = next(readings, 500 * MiB)
        return real(handle)

    nvml.nvmlDeviceGetMemoryInfo = draining  # type: ignore[method-assign]
    report = sampler.stop()
    assert report.leak is None
    assert report.after_device_bytes == 500 * MiB
    assert report.phases["after"].samples == 3


def test_only_the_servers_gpus_are_summed() -> None:
    """With gpu_indices=[1] the figures are GPU 1's alone; the other GPU's memory does not count."""
    nvml = FakeNvml(gpus=2)
    nvml.used = [7 * GiB, 1 * GiB]
    sampler = ResourceSampler(lambda: None, [1], NEVER, nvml=nvml, settle_timeout_s=0)
    sampler.start()
    report = sampler.stop()
    assert report.gpu_indices == (1,)
    assert report.baseline_device_bytes == 1 * GiB
    assert report.total_device_bytes == 8 * GiB


def test_memory_moved_without_our_pids_is_not_reported_as_zero(server: subprocess.Popen[bytes]) -> None:
    """When used memory grows but NVML lists none of the server's pids, the process figure says so instead of 0."""
    nvml = FakeNvml()
    sampler = ResourceSampler(lambda: server.pid, None, NEVER, nvml=nvml, settle_timeout_s=0)
    sampler.start()
    sampler.mark("boot")
    nvml.used[0], nvml.procs[0] = 4 * GiB, [(1, 3 * GiB)]  # another namespace's pid
    sampler.sample_now()
    _stop_server(server)
    nvml.used[0] = 500 * MiB
    report = sampler.stop()
    assert report.phases["boot"].process_bytes == NA_PIDS_INVISIBLE


def test_no_driver_gives_na_strings_and_cpu_rss(server: subprocess.Popen[bytes]) -> None:
    """Without NVML every VRAM figure is the n/a string (never 0) and the server tree's CPU RSS is measured."""
    sampler = ResourceSampler(lambda: server.pid, None, NEVER, nvml=NoDriver(), settle_timeout_s=0)
    sampler.start()
    sampler.mark("probes")
    sampler.sample_now()
    _stop_server(server)
    report = sampler.stop()
    probes = report.phases["probes"]
    assert report.gpu is False
    assert (probes.device_used_bytes, probes.process_bytes, probes.utilisation_pct) == (NA_NO_GPU,) * 3
    assert report.baseline_device_bytes == report.after_device_bytes == report.total_device_bytes == NA_NO_GPU
    assert isinstance(probes.rss_bytes, int)
    assert probes.rss_bytes > 1 * MiB
    assert "cpu RSS" in probes.to_json()["rss_label"] == RSS_LABEL
    assert report.leak is None


def test_real_nvml_on_this_machine_is_honest() -> None:
    """With the real pynvml the report is either real numbers from a GPU or the n/a string, never a bare zero."""
    sampler = ResourceSampler(lambda: os.getpid(), None, NEVER, settle_timeout_s=0)
    sampler.start()
    report = sampler.stop()
    baseline = report.phases["baseline"]
    if report.gpu:
        assert isinstance(report.total_device_bytes, int)
        assert report.total_device_bytes > 0
    else:
        assert baseline.device_used_bytes == NA_NO_GPU
    assert isinstance(baseline.rss_bytes, int)
    json.dumps(report.to_json())


def test_processes_alive_after_teardown_are_reported(server: subprocess.Popen[bytes]) -> None:
    """A server process still running when the sampler stops is named in a LEAK finding as an orphan."""
    sampler = ResourceSampler(lambda: server.pid, None, NEVER, nvml=NoDriver(), settle_timeout_s=0)
    sampler.start()
    report = sampler.stop()
    assert report.orphans == (server.pid,)
    assert report.leak is not None
    assert str(server.pid) in report.leak.message


def test_the_background_thread_samples() -> None:
    """Started with a short interval, the sampler collects samples on its own, without sample_now()."""
    sampler = ResourceSampler(lambda: None, None, 0.001, nvml=FakeNvml(), settle_timeout_s=0)
    sampler.start()
    deadline = time.monotonic() + 60
    while sampler.sample_count < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    report = sampler.stop()
    assert report.phases["baseline"].samples >= 5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", []),
        ("0", [0]),
        ("2,3", [2, 3]),
        ("1,-1,2", [1]),
    ],
)
def test_gpu_indices_follow_cuda_visible_devices(value: str | None, expected: list[int] | None) -> None:
    """CUDA_VISIBLE_DEVICES selects the sampled GPUs: unset means all, empty means none, -1 ends the list."""
    env = {} if value is None else {"CUDA_VISIBLE_DEVICES": value}
    assert gpu_indices_from_env(env) == expected


def test_uuid_without_nvml_means_all_gpus() -> None:
    """A GPU UUID that cannot be resolved gives None (sample all) rather than a guessed index."""
    assert gpu_indices_from_env({"CUDA_VISIBLE_DEVICES": "GPU-1234"}, nvml=NoDriver()) is None


def test_hidden_gpus_are_reported_as_such() -> None:
    """A server that sees no GPU (CUDA_VISIBLE_DEVICES empty) gets an n/a saying so, not the no-driver text."""
    sampler = ResourceSampler(lambda: None, [], NEVER, nvml=FakeNvml(), settle_timeout_s=0)
    sampler.start()
    report = sampler.stop()
    assert report.baseline_device_bytes == NA_NO_VISIBLE_GPU


def _write_safetensors(path: Path, tensors: dict[str, tuple[int, int]], body: bytes = b"") -> None:
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    for name, (start, end) in tensors.items():
        header[name] = {"dtype": "BF16", "shape": [(end - start) // 2], "data_offsets": [start, end]}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)


def test_expected_weight_bytes_sums_headers_of_all_shards(tmp_path: Path) -> None:
    """Weight bytes are the sum of tensor data sizes over every *.safetensors header, without reading the data."""
    _write_safetensors(tmp_path / "model-00001-of-00002.safetensors", {"a": (0, 100), "b": (100, 164)})
    _write_safetensors(tmp_path / "model-00002-of-00002.safetensors", {"c": (0, 1000)})  # data absent: not read
    (tmp_path / "notes.txt").write_text("not weights")
    assert expected_weight_bytes(tmp_path) == 1164


def test_expected_weight_bytes_of_the_zoo_model(tmp_path: Path) -> None:
    """On a real zoo checkpoint the header sum equals the file size minus the header."""
    from harness.zoo import build_member

    directory = build_member("chat-ok", tmp_path / "chat-ok")
    files = list(directory.rglob("*.safetensors"))
    assert files
    model_dir = files[0].parent
    total = 0
    for file in model_dir.glob("*.safetensors"):
        (length,) = struct.unpack("<Q", file.read_bytes()[:8])
        total += file.stat().st_size - 8 - length
    assert expected_weight_bytes(model_dir) == total > 0


def test_gpu_process_born_after_the_tree_walk_is_counted() -> None:
    """A server child that NVML lists before the next tree walk is still counted, because it descends from the root."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; sys.stdin.readline(); "
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
            "print(child.pid, flush=True); child.wait()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdin is not None
    assert parent.stdout is not None
    child_pid = 0
    try:
        nvml = FakeNvml()
        sampler = ResourceSampler(lambda: parent.pid, None, NEVER, nvml=nvml, settle_timeout_s=0, tree_refresh_s=NEVER)
        sampler.start()  # walks the tree now: only the parent exists
        parent.stdin.write("\n")
        parent.stdin.flush()
        child_pid = int(parent.stdout.readline())
        sampler.mark("boot")
        nvml.used[0], nvml.procs[0] = 3 * GiB, [(child_pid, 2 * GiB)]
        sampler.sample_now()
        report = sampler.stop()
        assert report.phases["boot"].process_bytes == 2 * GiB
        assert child_pid in report.orphans  # still running: the stop() above came before any teardown
    finally:
        if child_pid:
            os.kill(child_pid, 9)
        parent.wait(timeout=30)
