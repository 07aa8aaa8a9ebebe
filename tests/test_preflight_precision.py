"""Pre-flight on checkpoints as they really arrive: vLLM's own ChatML example template, GGUF beside a stub config,
and a clone made without git-lfs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from gguf_fake import write_gguf

from harness import zoo
from harness.checkpoint import preflight
from harness.usecases import UseCase

# vLLM's examples/template_chatml.jinja: a turn is closed only when another follows (or a generation prompt).
VLLM_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']}}"
    "{% if (loop.last and add_generation_prompt) or not loop.last %}{{ '<|im_end|>' + '\\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt and messages[-1]['role'] != 'assistant' %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _copy(tmp_path: Path, member: str = "chat-ok") -> Path:
    target = tmp_path / member
    shutil.copytree(zoo.ensure_member(member), target)
    return target


def test_a_template_that_leaves_the_last_assistant_turn_open_still_yields_its_end_of_turn(tmp_path: Path) -> None:
    """With vLLM's ChatML example the end-of-turn token is read from an assistant turn followed by a user turn."""
    model = _copy(tmp_path)
    config = json.loads((model / "tokenizer_config.json").read_text())
    config["chat_template"] = VLLM_CHATML
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    report = preflight(str(model), use_cases=[UseCase.CHAT], offline=True)
    assert report.facts.chat_template is not None and report.facts.chat_template.end_of_turn == "<|im_end|>"
    assert "EOS_MISMATCH" not in report.codes()


def test_gguf_beside_a_stub_config_is_a_gguf_repository(tmp_path: Path) -> None:
    """GGUF files with a config.json but no safetensors/bin weights are judged as a GGUF checkpoint (its header
    read), not as a transformers one missing its weights."""
    model = tmp_path / "gguf"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    write_gguf(model / "model-Q4_K_M.gguf")
    report = preflight(str(model), use_cases=[UseCase.COMPLETIONS], offline=True)
    assert "WEIGHTS_MISSING" not in report.codes()
    assert report.facts.gguf is not None and report.facts.gguf.file == "model-Q4_K_M.gguf"


def test_a_transformers_checkpoint_that_also_ships_a_gguf_is_judged_as_transformers(tmp_path: Path) -> None:
    """safetensors weights plus a GGUF: vLLM loads the safetensors, so no GGUF finding."""
    model = _copy(tmp_path)
    (model / "model-Q8_0.gguf").write_bytes(b"GGUF" + b"\0" * 60)
    report = preflight(str(model), use_cases=[UseCase.COMPLETIONS], offline=True)
    assert "NOT_SERVABLE" not in report.codes()
    assert report.verdict == "ok"


def test_weights_cloned_without_git_lfs_are_weights_missing_with_the_fix(tmp_path: Path) -> None:
    """model.safetensors holding a git-lfs pointer: WEIGHTS_MISSING naming git lfs pull, not a corrupt header; the
    weight bytes are the pointer's size."""
    model = _copy(tmp_path)
    real = (model / "model.safetensors").stat().st_size
    (model / "model.safetensors").write_text(
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        f"size {real}\n"
    )
    report = preflight(str(model), use_cases=[UseCase.COMPLETIONS], offline=True)
    assert report.codes() == ["WEIGHTS_MISSING"]
    assert "git lfs pull" in report.findings[0].message
    assert report.facts.weight_bytes == real


def test_weight_bytes_count_only_the_files_vllm_loads() -> None:
    """Two formats of the same weights count once, as vLLM's default loader picks them: consolidated*.safetensors
    (Mistral format) first, else the safetensors its index names, else .bin, else .pt."""
    from harness.checkpoint import loaded_weight_files

    assert loaded_weight_files(["model.safetensors", "pytorch_model.bin"], {}) == ["model.safetensors"]
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    index = {"model.safetensors.index.json": set(shards)}
    assert loaded_weight_files([*shards, "extra.safetensors"], index) == shards
    assert loaded_weight_files([*shards, "consolidated.safetensors"], index) == ["consolidated.safetensors"]
    assert loaded_weight_files(["pytorch_model.bin", "adapter.pt"], {}) == ["pytorch_model.bin"]


def test_a_second_weight_format_does_not_double_the_weight_bytes(tmp_path: Path) -> None:
    """model.safetensors beside a pytorch_model.bin: the weight bytes are the safetensors file's alone."""
    model = _copy(tmp_path)
    size = (model / "model.safetensors").stat().st_size
    (model / "pytorch_model.bin").write_bytes(b"\0" * 4096)
    report = preflight(str(model), use_cases=[UseCase.COMPLETIONS], offline=True)
    assert report.facts.weight_bytes == size
