"""The matrix loader: shipped matrices, merge semantics, one-line errors with file:line, and flags_to_argv."""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
import textwrap
from pathlib import Path

import pytest
from demo_truth import DEMO_TRUTH

from harness.codes import CODES
from harness.matrix import Cell, FrozenMap, MatrixError, Timeouts, demo_matrix_path, load_matrix
from harness.server import flags_to_argv
from harness.usecases import UseCase
from harness.zoo import MEMBERS as ZOO_MEMBERS

ROOT = Path(__file__).resolve().parents[1]
ZOO_NAMES = tuple(ZOO_MEMBERS)


def write(tmp_path: Path, body: str, name: str = "matrix.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(MatrixError) as info:
        load_matrix(path)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- the shipped matrices ---------------------------------------------------------------------------------------


# Canaries whose demo cells wait for the lead's CI-time decision.
AWAITING_DEMO: frozenset[str] = frozenset()


def test_demo_matrix_covers_every_canary_with_its_known_failure() -> None:
    """The packaged demo lists each zoo member once, with the canaries' failures declared so a correct run is green."""
    matrix = load_matrix(demo_matrix_path())
    assert demo_matrix_path().name == "demo.yaml"
    # LoRA adapters are zoo members a model's --lora-modules names ("name=zoo:member"), not models of their own.
    adapters = {
        str(entry).split("=zoo:", 1)[1]
        for m in matrix.models
        for entry in (m.flags.get("lora-modules") or ())
        if "=zoo:" in str(entry)
    }
    assert set(ZOO_NAMES) - AWAITING_DEMO <= {m.zoo_member for m in matrix.models} | adapters
    assert not AWAITING_DEMO & {m.zoo_member for m in matrix.models}, "in the demo now: empty AWAITING_DEMO"
    assert all(m.source == "zoo" and m.path is None for m in matrix.models)
    # The real checkpoints: their answers are judged.
    assert {m.name for m in matrix.models if m.semantic} == {"all-minilm-l6-v2", "smollm2-135m-instruct", "gemma3-270m"}
    assert {c.id for c in matrix.cells} == set(DEMO_TRUTH)
    # Every cell the truth says fails is declared in the matrix with that code, so a correct run is green.
    assert {c.id: c.expect for c in matrix.cells if c.expect} == {
        cell_id: code for cell_id, (verdict, code) in DEMO_TRUTH.items() if verdict == "XFAIL"
    }
    assert {c.id for c in matrix.cells if c.required} == {
        "chat-ok-default-chat",
        "chat-ok-default-completions",
        "chat-ok-default-stop_tokens",
        "smollm2-135m-instruct-default-chat",
        "smollm2-135m-instruct-default-completions",
        "smollm2-135m-instruct-default-stop_tokens",
    }
    cell = matrix.cell("chat-ok-default-chat")
    assert cell.argv == ["--max-model-len", "512", "--gpu-memory-utilization", "0.2"]
    assert dict(cell.model.env) == {"VLLM_CPU_KVCACHE_SPACE": "1"}
    assert cell.model.timeouts == Timeouts(boot=300.0, probe=60.0)
    assert cell.model.zoo_member == "chat-ok"


def test_real_matrix_declares_the_production_models() -> None:
    """matrix.yaml at the repository root loads, with real models marked semantic and their known failures declared."""
    matrix = load_matrix(ROOT / "matrix.yaml")
    names = {m.name for m in matrix.models}
    assert {
        "qwen2.5-7b-instruct",
        "qwen2.5-vl-7b-instruct",
        "gemma-3-12b-it",
        "whisper-large-v3",
        "qwen2-audio-7b-instruct",
        "opt-125m",
        "llama-3.2-1b-instruct",
        "mistral-7b-instruct-v0.3",
        "phi-4-mini-instruct",
        "qwen2.5-coder-1.5b-instruct",
        "qwen2.5-14b-instruct-awq",
        "qwen-image-edit",
    } <= names
    assert all(m.source == "hub" and m.semantic for m in matrix.models)
    tools = matrix.cell("qwen2.5-7b-instruct-default-tools")
    assert tools.flags["enable-auto-tool-choice"] is True
    assert tools.flags["tool-call-parser"] == "hermes"
    assert tools.required
    assert matrix.cell("qwen2.5-7b-instruct-eager-chat").flags["enforce-eager"] is True
    assert matrix.cell("opt-125m-default-chat").expect == "NO_CHAT_TEMPLATE"
    assert matrix.cell("opt-125m-default-completions").expect is None
    assert matrix.cell("qwen-image-edit-default-image_generation").expect == "NOT_SERVABLE"
    assert matrix.cell("qwen2.5-14b-instruct-awq-default-chat").flags["quantization"] == "awq"
    assert "max-model-len" not in matrix.cell("whisper-large-v3-default-audio").flags
    assert matrix.cell("whisper-large-v3-default-audio").use_case is UseCase.AUDIO
    assert matrix.cell("qwen2-audio-7b-instruct-default-audio_chat").required
    assert dict(matrix.cell("gemma-3-12b-it-default-vision").flags["limit-mm-per-prompt"]) == {"image": 2}
    for model in ("llama-3.2-1b-instruct", "mistral-7b-instruct-v0.3", "phi-4-mini-instruct"):
        assert {UseCase.CHAT, UseCase.STOP_TOKENS} <= set(matrix.model(model).use_cases)
    assert all(c.expect is None or c.expect in CODES for c in matrix.cells)


# --- semantics -------------------------------------------------------------------------------------------------


def test_flags_merge_defaults_model_then_profile_with_null_removing(tmp_path: Path) -> None:
    """Flags merge defaults <- model <- profile, and null removes an inherited flag at either level."""
    path = write(
        tmp_path,
        """
        defaults: {flags: {max-model-len: 4096, dtype: auto, seed: 1}}
        models:
          - id: org/model
            use_cases: [chat, completions]
            flags: {max-model-len: 1024, seed: null, limit-mm-per-prompt: {image: 1}}
            profiles:
              eager: {enforce-eager: true, dtype: null}
              long: {max-model-len: 8192}
        """,
    )
    matrix = load_matrix(path)
    model = matrix.models[0]
    assert dict(model.flags) == {"max-model-len": 1024, "dtype": "auto", "limit-mm-per-prompt": {"image": 1}}
    assert model.profile_names == ("default", "eager", "long")
    assert dict(matrix.cell("model-eager-chat").flags) == {
        "max-model-len": 1024,
        "limit-mm-per-prompt": {"image": 1},
        "enforce-eager": True,
    }
    assert matrix.cell("model-long-completions").flags["max-model-len"] == 8192
    assert matrix.cell("model-default-chat").flags["dtype"] == "auto"
    assert [c.id for c in matrix.cells][:2] == ["model-default-chat", "model-default-completions"]
    assert list(matrix.servers) == ["model-default", "model-eager", "model-long"]
    assert [c.use_case for c in matrix.servers["model-eager"]] == [UseCase.CHAT, UseCase.COMPLETIONS]


def test_env_timeouts_and_semantic_inherit_and_override(tmp_path: Path) -> None:
    """Env merges with null removal and keeps values as written; timeouts override per key; semantic inherits."""
    path = write(
        tmp_path,
        """
        defaults:
          env: {VLLM_CPU_KVCACHE_SPACE: 1, KEEP: "yes", DROP: x}
          timeouts: {boot: 600, probe: 30}
        models:
          - id: org/a
            use_cases: [chat]
            env: {DROP: null, RATIO: 0.50}
            timeouts: {probe: 90}
          - id: org/b
            use_cases: [chat]
            semantic: false
          - id: zoo:chat-ok
            use_cases: [chat]
        """,
    )
    a, b, zoo = load_matrix(path).models
    assert dict(a.env) == {"VLLM_CPU_KVCACHE_SPACE": "1", "KEEP": "yes", "RATIO": "0.50"}
    assert a.timeouts == Timeouts(boot=600.0, probe=90.0)
    assert b.timeouts == Timeouts(boot=600.0, probe=30.0)
    assert (a.semantic, b.semantic, zoo.semantic) == (True, False, False)


def test_ids_resolve_to_hub_local_and_zoo_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths resolve against the matrix file's directory, '~' expands, hub ids keep their revision as text."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    sub = tmp_path / "conf"
    sub.mkdir()
    path = write(
        sub,
        """
        models:
          - {id: ./ckpt/tiny, use_cases: [chat]}
          - {id: ../other, use_cases: [chat]}
          - {id: ~/models/x, use_cases: [chat]}
          - {id: /abs/Some_Model, use_cases: [chat]}
          - {id: Qwen/Qwen2.5-7B-Instruct, revision: 1234567, use_cases: [chat]}
          - {id: zoo:no-chat-template, use_cases: [completions]}
        """,
    )
    models = load_matrix(path).models
    assert [m.source for m in models] == ["local", "local", "local", "local", "hub", "zoo"]
    assert models[0].path == sub / "ckpt" / "tiny"
    assert models[1].path == tmp_path / "other"
    assert models[2].path == tmp_path / "home" / "models" / "x"
    assert models[3].path == Path("/abs/Some_Model")
    assert models[4].path is None
    assert models[4].revision == "1234567"
    assert [m.name for m in models] == ["tiny", "other", "x", "some_model", "qwen2.5-7b-instruct", "no-chat-template"]
    assert models[0].where == f"{path}:2"


def test_matrix_records_hash_path_and_freezes_cells(tmp_path: Path) -> None:
    """A loaded matrix carries the file's sha256 and absolute path, and its cells are immutable and hashable."""
    path = write(tmp_path, "models:\n  - {id: org/m, use_cases: [chat], expect: {chat: pass}, required: [chat]}\n")
    matrix = load_matrix(path)
    assert matrix.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert matrix.path == path.resolve()
    cell = matrix.cells[0]
    assert isinstance(cell, Cell)
    assert cell.expect is None
    assert cell.required
    assert cell.server_key == "m-default"
    with pytest.raises(TypeError):
        cell.flags["x"] = 1  # type: ignore[index]
    assert {cell: 1}[matrix.cells[0]] == 1


def test_frozen_flags_serialise_copy_and_refuse_mutation(tmp_path: Path) -> None:
    """Nested flag values are immutable yet json.dumps, deepcopy and pickle handle them like plain dicts and lists."""
    path = write(tmp_path, "models:\n  - {id: org/m, use_cases: [vision], flags: {limit-mm-per-prompt: {image: 2}}}\n")
    flags = load_matrix(path).cells[0].flags
    nested = flags["limit-mm-per-prompt"]
    assert json.loads(json.dumps(dict(flags))) == {"limit-mm-per-prompt": {"image": 2}}
    assert copy.deepcopy(flags) == flags
    assert pickle.loads(pickle.dumps(flags)) == flags
    assert hash(flags) == hash(FrozenMap({"limit-mm-per-prompt": FrozenMap({"image": 2})}))
    for mutate in (lambda: nested.update(video=1), lambda: nested.pop("image"), nested.clear):
        with pytest.raises(TypeError):
            mutate()
    assert dict(nested) == {"image": 2}


def test_yaml_merge_keys_share_flag_sets(tmp_path: Path) -> None:
    """YAML anchors and '<<' merge keys work inside flag mappings."""
    path = write(
        tmp_path,
        """
        models:
          - id: org/a
            use_cases: [chat]
            flags: &common {enforce-eager: true, seed: 7}
          - id: org/b
            use_cases: [chat]
            flags: {<<: *common, seed: 8}
        """,
    )
    b = load_matrix(path).models[1]
    assert dict(b.flags) == {"enforce-eager": True, "seed": 8}


# --- errors ----------------------------------------------------------------------------------------------------

ERRORS = [
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: [chat\n",
        4,
        ["invalid YAML", "fix:"],
        id="bad-yaml",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: [chat]\n    flags:\n      max-model-len: auto\n",
        5,
        ["models[0].flags.max-model-len: expected int >= 1, got 'auto'", "fix:"],
        id="wrong-type",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_case: [chat]\n",
        3,
        ["models[0].use_case: unknown key", "allowed: id, revision", "did you mean 'use_cases'?"],
        id="unknown-key",
    ),
    pytest.param(
        "models: []\nmodles: []\n",
        2,
        ["modles: unknown key", "did you mean 'models'?"],
        id="unknown-top-key",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases:\n      - chat\n      - chatt\n",
        5,
        ["models[0].use_cases[1]: unknown use case 'chatt'", "valid: chat, completions", "did you mean 'chat'?"],
        id="unknown-use-case",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: [chat]\n    expect:\n      chat: NO_TEMPLATE\n",
        5,
        ["models[0].expect.chat: unknown failure code 'NO_TEMPLATE'", "did you mean 'NO_CHAT_TEMPLATE'?"],
        id="expect-code",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: [chat]\n    expect:\n      tools: TOOL_FLAGS\n",
        5,
        ["models[0].expect.tools: 'tools' is not among this model's use_cases (chat)", "fix:"],
        id="expect-unlisted",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: [chat]\n    required:\n      - vision\n",
        5,
        ["models[0].required[0]: 'vision' is not among this model's use_cases", "fix:"],
        id="required-unlisted",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: [chat]\n  - id: other/m\n    use_cases: [chat]\n",
        4,
        ["models[1].name: duplicate model name 'm' (also models[0])", "fix:"],
        id="duplicate-name",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    name: My Model\n    use_cases: [chat]\n",
        3,
        ["models[0].name:", "[a-z0-9][a-z0-9._-]*", "'My Model'", "fix: write 'my-model'"],
        id="bad-name",
    ),
    pytest.param("defaults: {}\nmodels: []\n", 2, ["models: empty models list", "fix:"], id="empty-models"),
    pytest.param("defaults: {}\nmodels:\n", 2, ["models: empty models list"], id="null-models"),
    pytest.param("defaults: {}\n", 1, ["models: missing", "fix:"], id="missing-models"),
    pytest.param("", 1, ["empty matrix", "fix:"], id="empty-file"),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: [chat]\n    flags:\n      max_model_len: 10\n",
        5,
        ["models[0].flags.max_model_len: flag names are vLLM's kebab-case", "fix: write 'max-model-len'"],
        id="flag-snake-case",
    ),
    pytest.param(
        "defaults:\n  flags:\n    --enforce-eager: true\nmodels:\n  - {id: org/m, use_cases: [chat]}\n",
        3,
        ["defaults.flags.--enforce-eager:", "fix: write 'enforce-eager'"],
        id="flag-dashes",
    ),
    pytest.param(
        "models:\n  - id: zoo:chat-okay\n    use_cases: [chat]\n",
        2,
        ["models[0].id: unknown zoo member 'chat-okay'", "members: ", "did you mean 'chat-ok'?"],
        id="unknown-zoo-member",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: [chat]\n    use_cases: [tools]\n",
        4,
        ["models[0].use_cases: duplicate key (first on line 3)"],
        id="duplicate-yaml-key",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: [chat]\n    profiles:\n      default: {enforce-eager: true}\n",
        5,
        ["models[0].profiles.default: 'default' is reserved", "fix:"],
        id="reserved-profile",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: [chat]\n    flags: {port: 8000}\n",
        4,
        ["models[0].flags.port: managed by the harness", "fix: remove it"],
        id="harness-flag",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: [chat]\n    flags: {uds: /tmp/vllm.sock}\n",
        4,
        ["models[0].flags.uds: managed by the harness (the harness serves over TCP", "fix: remove it"],
        id="harness-flag-uds-the-server-also-refuses",
    ),
    pytest.param(
        "models:\n  - id: zoo:chat-ok\n    revision: main\n    use_cases: [chat]\n",
        3,
        ["models[0].revision: only hub models have revisions"],
        id="zoo-revision",
    ),
    pytest.param(
        "models:\n  - id: zoo:chat-ok\n    use_cases: [chat]\n    semantic: true\n",
        4,
        ["models[0].semantic: zoo checkpoints have random weights", "fix:"],
        id="zoo-semantic",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: [chat, chat]\n",
        3,
        ["models[0].use_cases[1]: duplicate use case 'chat'"],
        id="duplicate-use-case",
    ),
    pytest.param(
        "models:\n  - name: m\n    use_cases: [chat]\n",
        2,
        ["models[0].id: missing", "fix: add 'id:'"],
        id="missing-id",
    ),
    pytest.param(
        "models:\n  - id: a/b/c\n    use_cases: [chat]\n",
        2,
        ["models[0].id: not a hub id (owner/name) nor a local path, got 'a/b/c'", "'./'"],
        id="bad-hub-id",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: [chat]\n    env:\n      A: [1, 2]\n",
        5,
        ["models[0].env.A: expected a string value, got [1, 2]"],
        id="env-list",
    ),
    pytest.param(
        "defaults:\n  timeouts:\n    boot: -1\nmodels:\n  - {id: org/m, use_cases: [chat]}\n",
        3,
        ["defaults.timeouts.boot: expected seconds > 0, got -1"],
        id="negative-timeout",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: [chat]\n    flags: {gpu-memory-utilization: 20}\n",
        4,
        ["models[0].flags.gpu-memory-utilization: expected a fraction in (0, 1], got 20"],
        id="gpu-fraction",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: [chat]\n    flags: {x: !!python/name:os.system ''}\n",
        4,
        ["models[0].flags.x: cannot read this value", "fix:"],
        id="yaml-tag",
    ),
    pytest.param(
        "models:\n  - id: org/m\n    use_cases: chat\n",
        3,
        ["models[0].use_cases: expected a list of use cases, got 'chat'"],
        id="use-cases-not-list",
    ),
    pytest.param(
        "models:\n  - id: org/a\n    name: a-b\n    use_cases: [chat]\n"
        "  - id: org/b\n    name: a\n    use_cases: [chat]\n    profiles: {b-default: {seed: 1}}\n",
        5,
        ["models[1]: server 'a-b-default' collides"],
        id="server-collision",
    ),
]


@pytest.mark.parametrize(("body", "line", "parts"), ERRORS)
def test_mistakes_give_one_line_with_file_line_and_key(tmp_path: Path, body: str, line: int, parts: list[str]) -> None:
    """Each kind of mistake raises MatrixError whose single line starts with file:line and names key, rule and fix."""
    path = tmp_path / "matrix.yaml"
    path.write_text(body, encoding="utf-8")
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: "), message
    for part in parts:
        assert part in message, message


def test_error_names_the_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages use the matrix path as the caller spelled it, and carry file, line and key as attributes."""
    write(tmp_path, "models:\n  - {id: org/m, use_cases: [chat], flags: {seed: x}}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MatrixError) as info:
        load_matrix("matrix.yaml")
    assert str(info.value).startswith("matrix.yaml:2: models[0].flags.seed: expected int >= 1, got 'x'")
    assert (info.value.file, info.value.line, info.value.key) == ("matrix.yaml", 2, "models[0].flags.seed")


def test_missing_file_is_a_matrix_error(tmp_path: Path) -> None:
    """A matrix path that does not exist is a one-line MatrixError, not an OSError."""
    message = error_of(tmp_path / "nope.yaml")
    assert "nope.yaml: cannot read the matrix" in message


# --- flags_to_argv ---------------------------------------------------------------------------------------------


def test_flags_to_argv_renders_each_value_kind() -> None:
    """True is a bare flag, False/None are omitted, mappings are JSON, lists are nargs, the rest is str()."""
    flags = {
        "enforce-eager": True,
        "trust-remote-code": False,
        "seed": None,
        "limit-mm-per-prompt": FrozenMap({"image": 2, "video": 0}),
        "hf-overrides": {"rope_scaling": {"factor": 2.0}},
        "allowed-media-domains": ("a.example", "b.example"),
        "middleware": ["x"],
        "max-model-len": 4096,
        "gpu-memory-utilization": 0.2,
        "dtype": "bfloat16",
    }
    assert flags_to_argv(flags) == [
        "--enforce-eager",
        "--limit-mm-per-prompt",
        '{"image":2,"video":0}',
        "--hf-overrides",
        '{"rope_scaling":{"factor":2.0}}',
        "--allowed-media-domains",
        "a.example",
        "b.example",
        "--middleware",
        "x",
        "--max-model-len",
        "4096",
        "--gpu-memory-utilization",
        "0.2",
        "--dtype",
        "bfloat16",
    ]


def test_loaded_nested_flags_render_as_json(tmp_path: Path) -> None:
    """Nested mappings and lists read from YAML are frozen yet still render as plain JSON and nargs."""
    path = write(
        tmp_path,
        """
        models:
          - id: org/m
            use_cases: [vision]
            flags:
              limit-mm-per-prompt: {image: 2}
              speculative-config: {method: ngram, params: [1, true]}
              some-list: [a, 2, false]
        """,
    )
    cell = load_matrix(path).cells[0]
    assert cell.argv == [
        "--limit-mm-per-prompt",
        '{"image":2}',
        "--speculative-config",
        '{"method":"ngram","params":[1,true]}',
        "--some-list",
        "a",
        "2",
        "false",
    ]


def test_the_matrix_and_the_server_refuse_the_same_harness_owned_flags(tmp_path: Path) -> None:
    """One list: every flag the server refuses, the matrix refuses with its reason (they disagreed once)."""
    from harness.server import HARNESS_OWNED_FLAGS

    for flag in HARNESS_OWNED_FLAGS:
        with pytest.raises(MatrixError, match=f"flags.{flag}: managed by the harness"):
            load_matrix(write(tmp_path, f"models:\n  - id: org/m\n    use_cases: [chat]\n    flags: {{{flag}: x}}\n"))


def test_engine_section_names_the_vllm_version(tmp_path: Path) -> None:
    """`engine: {vllm: 0.31.0}` names the engine version; an unquoted 0.31, a non-version or an odd key is refused."""
    models = "models:\n  - id: zoo/chat-ok\n    use_cases: [chat]\n"
    assert load_matrix(write(tmp_path, "engine: {vllm: 0.31.0}\n" + models)).engine_version == "0.31.0"
    assert load_matrix(write(tmp_path, models)).engine_version is None
    assert "engine.vllm: expected a vLLM version string such as 0.31.0, got 0.31; fix: quote the version" in error_of(
        write(tmp_path, "engine: {vllm: 0.31}\n" + models)
    )
    assert "matrix.yaml:1: engine.vllm: expected a released vLLM version (digits and dots), got 'latest'" in error_of(
        write(tmp_path, "engine: {vllm: latest}\n" + models)
    )
    odd_key = write(tmp_path, "engine: {version: 1.0}\n" + models)
    assert "engine.version: unknown key; allowed: vllm" in error_of(odd_key)


def test_gguf_keys_choose_the_file_and_resolve_the_tokenizer(tmp_path: Path) -> None:
    """gguf_file / quant pick a GGUF file, and tokenizer resolves like a model id (a local path against the matrix)."""
    path = write(
        tmp_path,
        """
        models:
          - id: ./ggufs
            name: by-quant
            use_cases: [chat]
            quant: Q4_K_M
            tokenizer: ./tok
          - id: zoo:smollm2-135m-instruct-gguf
            use_cases: [chat]
            gguf_file: SmolLM2-135M-Instruct.Q4_1.gguf
            tokenizer: zoo:smollm2-135m-instruct
        """,
    )
    first, second = load_matrix(path).models
    assert (first.quant, first.gguf_file, first.tokenizer) == ("Q4_K_M", None, str(tmp_path / "tok"))
    assert (second.gguf_file, second.tokenizer) == ("SmolLM2-135M-Instruct.Q4_1.gguf", "zoo:smollm2-135m-instruct")


@pytest.mark.parametrize(
    ("extra", "parts"),
    [
        (["gguf_file: model.bin"], ["models[0].gguf_file", "a .gguf file's path", "'model.bin'"]),
        (["gguf_file: ../x.gguf"], ["models[0].gguf_file", "inside the model's directory"]),
        (["quant: Q4 K"], ["models[0].quant", "a GGUF quant tag", "Q4_K_M"]),
        (["gguf_file: a.gguf", "quant: Q8_0"], ["models[0].quant", "gguf_file already names the file"]),
        (["tokenizer: zoo:nope"], ["models[0].tokenizer", "unknown zoo member 'nope'"]),
        (["tokenizer: org/tok", "flags: {tokenizer: org/other}"], ["models[0].tokenizer", "also set in flags"]),
    ],
)
def test_gguf_key_mistakes_name_the_key_rule_and_fix(tmp_path: Path, extra: list[str], parts: list[str]) -> None:
    """Each GGUF key mistake is one line with the file, the line, the key and the rule."""
    body = "models:\n  - id: ./ggufs\n    use_cases: [chat]\n" + "".join(f"    {line}\n" for line in extra)
    message = error_of(write(tmp_path, body))
    assert "matrix.yaml:" in message
    for part in parts:
        assert part in message, message
