"""VRAM (NVML) and CPU RSS of one vLLM server's process tree, sampled in a background thread, phase by phase.

The caller owns the phases: the sampler starts in ``baseline`` (before boot) and the caller marks ``boot``,
``probes`` and ``teardown``; ``stop()`` then waits (up to a bound) for device memory to come back to the baseline
and reports memory that did not as a LEAK finding. Without an NVIDIA driver every VRAM figure is the string
``NA_NO_GPU``, never a made-up zero, and the server tree's CPU RSS is what is measured.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

# The weight bytes a server's memory is compared with; the one safetensors parser is the checkpoint stage's.
from harness.checkpoint import expected_weight_bytes as expected_weight_bytes
from harness.engine import NO_GPU, nvml_init, nvml_shutdown, open_nvml, pynvml_module
from harness.findings import Finding, Severity

NA_NO_GPU = NO_GPU
NA_NO_VISIBLE_GPU = "n/a (CUDA_VISIBLE_DEVICES hides every GPU)"
NA_PIDS_INVISIBLE = "n/a (NVML lists no process of the server tree: another pid namespace?)"
RSS_LABEL = "server process tree cpu RSS (psutil, sum over the tree; shared pages count once per process)"
MiB = 1024 * 1024
BASELINE = "baseline"
SETTLE_POLL_S = 0.1  # how often stop() looks again while waiting for memory to be freed
AFTER = "after"  # samples taken by stop() while waiting for memory to return

Figure = int | str  # bytes, or an "n/a (...)" string saying why there is no number


def gpu_indices_from_env(env: Mapping[str, str], nvml: Any = None) -> list[int] | None:
    """The GPU indices a server started with ``env`` can see: None for all, [] for none.

    CUDA_VISIBLE_DEVICES may hold indices or UUIDs (``GPU-...``); UUIDs are resolved through NVML when it is there,
    otherwise the whole list is given up on (None: sample every GPU) rather than guessed.
    """
    value = env.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    indices: list[int] = []
    for item in items:
        if item.lstrip("-").isdigit():
            if int(item) < 0:  # CUDA stops at the first invalid entry
                break
            indices.append(int(item))
            continue
        with open_nvml(nvml) as opened:
            if opened is None:
                return None
            try:
                indices.append(int(opened.nvmlDeviceGetIndex(opened.nvmlDeviceGetHandleByUUID(item))))
            except Exception:
                return None
    return indices


@dataclass(frozen=True)
class PhaseStats:
    """Peaks over one phase; VRAM fields are bytes, or an "n/a (...)" string."""

    samples: int
    device_used_bytes: Figure  # peak of the used memory summed over the server's GPUs (all processes)
    process_bytes: Figure  # peak GPU memory of the server's process tree, summed over its GPUs
    utilisation_pct: Figure  # peak GPU utilisation, max over the server's GPUs
    rss_bytes: int | None  # peak CPU RSS summed over the server tree; None when no server process was alive

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "device_used_bytes": self.device_used_bytes,
            "process_bytes": self.process_bytes,
            "utilisation_pct": self.utilisation_pct,
            "rss_bytes": self.rss_bytes,
            "rss_label": RSS_LABEL,
        }


@dataclass(frozen=True)
class ResourceReport:
    gpu: bool  # NVML answered and at least one GPU was sampled
    gpu_indices: tuple[int, ...]
    total_device_bytes: Figure  # memory of the server's GPUs together
    phases: dict[str, PhaseStats]  # in the order they were marked
    baseline_device_bytes: Figure  # the lowest used memory seen before boot
    after_device_bytes: Figure  # the last used memory seen after teardown
    leak: Finding | None
    orphans: tuple[int, ...]  # pids of the server tree still alive when the sampler stopped
    samples: int
    interval_s: float
    sampler_cpu_s: float  # CPU time the background sampling thread itself used: the cost of measuring

    def peak(self, phase: str) -> PhaseStats | None:
        return self.phases.get(phase)

    def to_json(self) -> dict[str, Any]:
        return {
            "gpu": self.gpu,
            "gpu_indices": list(self.gpu_indices),
            "total_device_bytes": self.total_device_bytes,
            "baseline_device_bytes": self.baseline_device_bytes,
            "after_device_bytes": self.after_device_bytes,
            "phases": {name: stats.to_json() for name, stats in self.phases.items()},
            "leak": self.leak.to_json() if self.leak else None,
            "orphans": list(self.orphans),
            "samples": self.samples,
            "interval_s": self.interval_s,
            "sampler_cpu_s": self.sampler_cpu_s,
        }


@dataclass
class _Sample:
    device_used: int | None
    process: int | None  # None: no pid of the tree was listed by NVML
    utilisation: int | None
    rss: int | None


@dataclass
class _Phase:
    samples: list[_Sample] = field(default_factory=list)


class ResourceSampler:
    """Samples the GPUs and the process tree of one server every ``interval_s`` seconds in a daemon thread.

    ``pids_provider`` returns the server's root pid, or None while there is none (before boot, after teardown).
    """

    def __init__(
        self,
        pids_provider: Callable[[], int | None],
        gpu_indices: Sequence[int] | None = None,
        interval_s: float = 0.02,
        *,
        nvml: Any = None,
        leak_bytes: int = 256 * MiB,
        leak_fraction: float = 0.02,
        settle_timeout_s: float = 10.0,
        tree_refresh_s: float = 0.5,
    ) -> None:
        self._pids_provider = pids_provider
        self._requested = None if gpu_indices is None else tuple(gpu_indices)
        self.interval_s = interval_s
        self._nvml: Any = nvml if nvml is not None else pynvml_module()
        self._nvml_open = False  # one shutdown per successful init: NVML counts them, and others may share it
        self.leak_bytes = leak_bytes
        self.leak_fraction = leak_fraction
        self.settle_timeout_s = settle_timeout_s
        self.tree_refresh_s = tree_refresh_s
        self._handles: list[Any] = []
        self._indices: tuple[int, ...] = ()
        self._total: int | None = None
        self._gpu = False
        self._na = NA_NO_GPU
        self._phases: dict[str, _Phase] = {}
        self._current = BASELINE
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: dict[int, psutil.Process] = {}
        self._thread_cpu_s = 0.0
        self._tree_cache: list[psutil.Process] = []
        self._tree_at = 0.0

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> ResourceSampler:
        """Open NVML (or fall back to RSS only), take one baseline sample now, then sample in the background."""
        self._open_nvml()
        self._seen = {}
        self._thread_cpu_s = 0.0
        self._tree_cache = []
        self._phases = {BASELINE: _Phase()}
        self._current = BASELINE
        self._record(self._sample())
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vllm-compat-sampler", daemon=True)
        self._thread.start()
        return self

    def mark(self, phase: str) -> None:
        """From now on samples count towards ``phase`` (e.g. "boot", "probes", "teardown")."""
        with self._lock:
            self._current = phase
            self._phases.setdefault(phase, _Phase())

    @property
    def sample_count(self) -> int:
        """Samples taken so far, over all phases."""
        with self._lock:
            return sum(len(phase.samples) for phase in self._phases.values())

    def sample_now(self) -> None:
        """Take one sample at once into the current phase (besides the background ones)."""
        self._record(self._sample())

    def stop(self, *, settle_timeout_s: float | None = None) -> ResourceReport:
        """Stop sampling; on a GPU first wait until used memory is back within the leak bound (or time runs out)."""
        self._halt()
        timeout = self.settle_timeout_s if settle_timeout_s is None else settle_timeout_s
        with self._lock:
            self._current = AFTER
            self._phases.setdefault(AFTER, _Phase())
        baseline = self._baseline()
        deadline = time.monotonic() + timeout
        while True:
            sample = self._sample()
            self._record(sample)
            if not self._gpu or baseline is None or sample.device_used is None:
                break
            if sample.device_used - baseline <= self._bound() or time.monotonic() >= deadline:
                break
            time.sleep(SETTLE_POLL_S)
        report = self._report(baseline)
        self._close_nvml()
        return report

    def __enter__(self) -> ResourceSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self._halt()
        self._close_nvml()

    # -- sampling --------------------------------------------------------------------------------------------------

    def _open_nvml(self) -> None:
        nvml = self._nvml
        self._gpu = False
        self._handles = []
        self._na = NA_NO_GPU
        if nvml is None or nvml_init(nvml) is None:
            return
        self._nvml_open = True
        try:
            count = int(nvml.nvmlDeviceGetCount())
            indices = tuple(range(count)) if self._requested is None else self._requested
            if not indices:
                self._na = NA_NO_VISIBLE_GPU
                self._close_nvml()
                return
            self._handles = [nvml.nvmlDeviceGetHandleByIndex(index) for index in indices]
            self._indices = tuple(indices)
            self._total = sum(int(nvml.nvmlDeviceGetMemoryInfo(handle).total) for handle in self._handles)
        except Exception:
            self._handles = []
            self._close_nvml()
            return
        self._gpu = True

    def _close_nvml(self) -> None:
        if self._nvml_open:
            self._nvml_open = False
            nvml_shutdown(self._nvml)

    def _halt(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        started = time.thread_time()
        try:
            while not self._stop.wait(self.interval_s):
                self._record(self._sample())
        finally:
            self._thread_cpu_s += time.thread_time() - started

    def _record(self, sample: _Sample) -> None:
        with self._lock:
            self._phases[self._current].samples.append(sample)

    def _tree(self) -> list[psutil.Process]:
        """The server's processes; the full walk (a scan of every process on the machine) is redone every
        ``tree_refresh_s`` or when the root changes, since it costs ~1 ms where reading RSS costs ~0.02 ms."""
        root_pid = self._pids_provider()
        if root_pid is None:
            self._tree_cache = []
            return []
        now = time.monotonic()
        cached = self._tree_cache
        if cached and cached[0].pid == root_pid and now - self._tree_at < self.tree_refresh_s:
            return cached
        try:
            root = psutil.Process(root_pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return []
        for process in tree:
            self._seen.setdefault(process.pid, process)
        self._tree_cache, self._tree_at = tree, now
        return tree

    def _adopt(self, pid: int, tree: list[psutil.Process]) -> bool:
        """Whether a pid NVML lists (but the cached tree lacks) descends from the server root; if so, adopt it."""
        if not tree:
            return False
        try:
            process = psutil.Process(pid)
            if tree[0].pid not in {parent.pid for parent in process.parents()}:
                return False
        except psutil.Error:
            return False
        tree.append(process)
        self._seen.setdefault(pid, process)
        return True

    def _sample(self) -> _Sample:
        tree = self._tree()
        rss: int | None = None
        for process in tree:
            try:
                value = int(process.memory_info().rss)
            except psutil.Error:
                continue
            if value:  # a zombie reports 0: it holds no memory, and 0 would read as a measurement
                rss = (rss or 0) + value
        if not self._gpu:
            return _Sample(None, None, None, rss)
        nvml = self._nvml
        pids = {process.pid for process in tree}
        used = 0
        process_bytes: int | None = None
        utilisation = 0
        try:
            for handle in self._handles:
                used += int(nvml.nvmlDeviceGetMemoryInfo(handle).used)
                utilisation = max(utilisation, int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu))
                for entry in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                    if entry.pid not in pids and self._adopt(entry.pid, tree):
                        pids.add(entry.pid)
                    if entry.pid in pids and entry.usedGpuMemory is not None:
                        process_bytes = (process_bytes or 0) + int(entry.usedGpuMemory)
        except Exception:  # a transient NVML error loses one sample, not the run
            return _Sample(None, None, None, rss)
        if process_bytes is None and not tree:
            process_bytes = 0  # no server process alive: the tree really holds nothing
        return _Sample(used, process_bytes, utilisation, rss)

    # -- report ----------------------------------------------------------------------------------------------------

    def _bound(self) -> int:
        return max(self.leak_bytes, int(self.leak_fraction * (self._total or 0)))

    def _baseline(self) -> int | None:
        with self._lock:
            values = [s.device_used for s in self._phases[BASELINE].samples if s.device_used is not None]
        return min(values) if values else None

    def _stats(self, phase: _Phase, baseline: int | None) -> PhaseStats:
        samples = phase.samples
        rss_values = [s.rss for s in samples if s.rss is not None]
        rss = max(rss_values) if rss_values else None
        if not self._gpu:
            return PhaseStats(len(samples), self._na, self._na, self._na, rss)
        used = [s.device_used for s in samples if s.device_used is not None]
        util = [s.utilisation for s in samples if s.utilisation is not None]
        proc = [s.process for s in samples if s.process is not None]
        peak_used: Figure = max(used) if used else "n/a (no NVML sample in this phase)"
        process: Figure
        if proc:
            process = max(proc)
        elif used and baseline is not None and max(used) - baseline > self._bound():
            process = NA_PIDS_INVISIBLE  # memory moved, yet none of it is listed under our pids
        else:
            process = 0 if used else "n/a (no NVML sample in this phase)"
        return PhaseStats(len(samples), peak_used, process, max(util) if util else "n/a (no NVML sample)", rss)

    def _report(self, baseline: int | None) -> ResourceReport:
        with self._lock:
            phases = {name: self._stats(phase, baseline) for name, phase in self._phases.items()}
            after_samples = [s.device_used for s in self._phases[AFTER].samples if s.device_used is not None]
            count = sum(len(phase.samples) for phase in self._phases.values())
        after = after_samples[-1] if after_samples else None
        orphans = tuple(sorted(pid for pid, process in self._seen.items() if _alive(process)))
        leak = self._leak(baseline, after, orphans)
        na = self._na
        return ResourceReport(
            gpu=self._gpu,
            gpu_indices=self._indices if self._gpu else (),
            total_device_bytes=self._total if self._gpu and self._total is not None else na,
            phases=phases,
            baseline_device_bytes=baseline if self._gpu and baseline is not None else na,
            after_device_bytes=after if self._gpu and after is not None else na,
            leak=leak,
            orphans=orphans,
            samples=count,
            interval_s=self.interval_s,
            sampler_cpu_s=self._thread_cpu_s,
        )

    def _leak(self, baseline: int | None, after: int | None, orphans: tuple[int, ...]) -> Finding | None:
        problems: list[str] = []
        evidence: list[str] = []
        if self._gpu and baseline is not None and after is not None and after - baseline > self._bound():
            problems.append(
                f"GPU memory did not return to the baseline after teardown: {_mib(after)} used vs "
                f"{_mib(baseline)} before boot (+{_mib(after - baseline)}; bound {_mib(self._bound())} = "
                f"max({_mib(self.leak_bytes)}, {self.leak_fraction:.0%} of {_mib(self._total or 0)}), "
                f"waited {self.settle_timeout_s:g} s)"
            )
            evidence.append(f"NVML used memory on GPUs {list(self._indices)}")
        if orphans:
            problems.append(f"server processes still alive after teardown: pids {list(orphans)}")
            evidence.append("psutil: processes of the server tree seen while sampling")
        if not problems:
            return None
        return Finding(
            code="LEAK",
            severity=Severity.WARNING,
            message="; ".join(problems) + "; fix: stop the whole process group and check for orphaned engines",
            evidence="; ".join(evidence),
        )


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _mib(value: int) -> str:
    return f"{value / MiB:.0f} MiB"
