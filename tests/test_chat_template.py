"""Chat templates found where transformers/vLLM look, rendered in the sandbox, and the eos ids vLLM stops on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.checkpoint.eos import engine_eos_ids, vllm_eos_ids
from harness.checkpoint.template import (
    MARKER,
    end_of_turn_after,
    find_chat_template,
    render_checks,
    sandbox,
    unused_templates,
)
from harness.engine import resolve_engine_python
from harness.zoo import build_member

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
NO_SYSTEM = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{{ '[' + message['role'] + '] ' + message['content'] + eos_token }}{% endfor %}"
)
TOOLS = (
    "{% if tools %}{{ tools | tojson(indent=2) }}{% endif %}{% for m in messages %}{{ m['content'] }}<|im_end|>"
    "{% endfor %}"
)
ADDED = {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2, "</s>": 3}


def write_model(
    path: Path,
    *,
    template: Any = None,
    eos: str = "<|endoftext|>",
    generation: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> Path:
    """A directory with just the tokenizer and config files the template code reads."""
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = {
        "added_tokens": [{"id": i, "content": t, "special": True} for t, i in ADDED.items()],
        "model": {"type": "BPE", "vocab": {**ADDED, "a": 4, "b": 5}},
    }
    (path / "tokenizer.json").write_text(json.dumps(tokenizer))
    tok_config: dict[str, Any] = {"eos_token": eos, "bos_token": None}
    if template is not None:
        tok_config["chat_template"] = template
    (path / "tokenizer_config.json").write_text(json.dumps(tok_config))
    (path / "config.json").write_text(json.dumps(config if config is not None else {"eos_token_id": 0}))
    if generation is not None:
        (path / "generation_config.json").write_text(json.dumps(generation))
    return path


def test_string_template_in_tokenizer_config_renders_and_ends_with_im_end(tmp_path: Path) -> None:
    """A ChatML template in tokenizer_config.json is found there and its end-of-turn token is <|im_end|>."""
    path = write_model(tmp_path, template=CHATML)
    found = find_chat_template(path)
    assert found is not None
    assert found.source == "tokenizer_config.json: chat_template"
    result = render_checks(path, found, with_tools=False)
    assert result.renders
    assert result.supports_system
    assert (result.end_of_turn, result.end_of_turn_id) == ("<|im_end|>", 2)


def test_list_form_uses_default_and_tool_use_for_tools(tmp_path: Path) -> None:
    """The list form picks "default" for chat and "tool_use" when tools are passed."""
    templates = [{"name": "default", "template": CHATML}, {"name": "tool_use", "template": TOOLS}]
    path = write_model(tmp_path, template=templates)
    found = find_chat_template(path)
    assert found is not None
    assert found.source == "tokenizer_config.json: chat_template[default]"
    assert found.tool_source == "tokenizer_config.json: chat_template[tool_use]"
    result = render_checks(path, found, with_tools=True)
    assert result.supports_tools is True
    assert render_checks(path, found, with_tools=False).supports_tools is None


def test_list_form_without_default_is_no_template_with_a_reason(tmp_path: Path) -> None:
    """A named-template list lacking "default" gives no chat template, and says why."""
    path = write_model(tmp_path, template=[{"name": "rag", "template": CHATML}])
    assert find_chat_template(path) is None
    assert unused_templates(path) == ["tokenizer_config.json: chat_template lists ['rag'] but no 'default'"]


def test_chat_template_jinja_overrides_tokenizer_config(tmp_path: Path) -> None:
    """chat_template.jinja wins over tokenizer_config.json's chat_template, as in transformers."""
    path = write_model(tmp_path, template=NO_SYSTEM)
    (path / "chat_template.jinja").write_text(CHATML)
    found = find_chat_template(path)
    assert found is not None
    assert (found.source, found.text) == ("chat_template.jinja", CHATML)


def test_chat_template_json_counts_only_with_a_processor(tmp_path: Path) -> None:
    """chat_template.json is the processor's file: used when a processor config exists, reported unused otherwise."""
    path = write_model(tmp_path)
    (path / "chat_template.json").write_text(json.dumps({"chat_template": CHATML}))
    assert find_chat_template(path) is None
    assert "no processor config" in unused_templates(path)[0]
    (path / "preprocessor_config.json").write_text("{}")
    found = find_chat_template(path)
    assert found is not None
    assert found.source == "chat_template.json: chat_template"


def test_template_raising_on_system_still_renders(tmp_path: Path) -> None:
    """A template that raises on the system role renders user turns; supports_system is False with the message."""
    path = write_model(tmp_path, template=NO_SYSTEM, eos="</s>")
    found = find_chat_template(path)
    assert found is not None
    result = render_checks(path, found, with_tools=False)
    assert result.renders
    assert result.supports_system is False
    assert "System role not supported" in (result.system_error or "")
    assert result.end_of_turn == "</s>"  # eos_token is passed to the template like transformers does


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ messages.append({'role': 'user', 'content': 'x'}) }}",
        "{{ cycler.__init__.__globals__.os.system('touch /tmp/pwned') }}",
    ],
)
def test_sandbox_escape_is_reported_and_stops_rendering(tmp_path: Path, escape: str) -> None:
    """A template that tries to leave the immutable sandbox yields sandbox_escape and renders nothing further."""
    path = write_model(tmp_path, template=escape + CHATML)
    found = find_chat_template(path)
    assert found is not None
    result = render_checks(path, found, with_tools=True)
    assert result.sandbox_escape is not None
    assert not result.renders
    assert result.end_of_turn is None
    assert result.assistant_render is None


def test_sandbox_offers_transformers_globals_filters_and_extensions() -> None:
    """tojson(indent), raise_exception, strftime_now, loopcontrols and {% generation %} all work as in transformers."""
    env = sandbox()
    text = (
        "{{ {'a': '<b>'} | tojson(indent=1) }}|{{ strftime_now('%Y')|length }}|"
        "{% for i in [1, 2, 3] %}{% if i == 2 %}{% break %}{% endif %}{{ i }}{% endfor %}|"
        "{% generation %}gen{% endgeneration %}"
    )
    assert env.from_string(text).render() == '{\n "a": "<b>"\n}|4|1|gen'
    with pytest.raises(Exception, match="boom"):
        env.from_string("{{ raise_exception('boom') }}").render()


def test_tools_ignored_by_the_template_is_supports_tools_false(tmp_path: Path) -> None:
    """A template that never renders `tools` gives supports_tools False without an exception."""
    path = write_model(tmp_path, template=CHATML)
    found = find_chat_template(path)
    assert found is not None
    result = render_checks(path, found, with_tools=True)
    assert (result.supports_tools, result.tools_error) == (False, None)


def test_end_of_turn_is_the_longest_token_right_after_the_content() -> None:
    """What follows the assistant's content (whitespace skipped) is matched against added tokens, longest first."""
    rendered = f"<|im_start|>assistant\n{MARKER}\n<|im_end|>\n"
    assert end_of_turn_after(rendered, ["<|im", "<|im_end|>", "<|im_start|>"]) == "<|im_end|>"
    assert end_of_turn_after(f"{MARKER} plain text", ["<|im_end|>"]) is None


def test_eos_ids_join_tokenizer_eos_and_generation_config(tmp_path: Path) -> None:
    """vLLM stops on the tokenizer's eos id plus every eos_token_id in generation_config.json."""
    path = write_model(tmp_path, generation={"eos_token_id": [2, 3]})
    eos = vllm_eos_ids(path)
    assert eos.ids == {0, 2, 3}
    assert eos.generation_source == "generation_config.json: eos_token_id"


def test_eos_ids_fall_back_to_config_json_only_without_generation_config(tmp_path: Path) -> None:
    """config.json's eos_token_id counts only when generation_config.json is absent (from_model_config)."""
    absent = write_model(tmp_path / "absent", config={"eos_token_id": 2})
    assert vllm_eos_ids(absent).ids == {0, 2}
    assert vllm_eos_ids(absent).generation_source == "config.json: eos_token_id"
    present = write_model(tmp_path / "present", config={"eos_token_id": 2}, generation={"do_sample": True})
    assert vllm_eos_ids(present).ids == {0}
    nested = write_model(tmp_path / "nested", config={"text_config": {"eos_token_id": [2, 3]}})
    assert vllm_eos_ids(nested).ids == {0, 2, 3}


ENGINE = resolve_engine_python()


@pytest.mark.skipif(ENGINE is None, reason="no engine environment (run `vllm-compat engine build`); CI builds it")
def test_eos_prediction_equals_vllms_own_computation(tmp_path: Path) -> None:
    """Our eos ids equal what vLLM's own tokenizer + generation-config code computes, on zoo members and variants."""
    assert ENGINE is not None
    dirs = [build_member(name, tmp_path) for name in ("chat-ok", "runaway-eos")]
    # runaway-eos (tokenizer eos <|endoftext|>) without generation_config.json: config.json's eos_token_id counts
    fallback = tmp_path / "fallback"
    shutil.copytree(dirs[1], fallback)
    (fallback / "generation_config.json").unlink()
    config = json.loads((fallback / "config.json").read_text())
    config["eos_token_id"] = im_end = _im_end_id(fallback)
    (fallback / "config.json").write_text(json.dumps(config))
    # generation_config.json without eos_token_id: config.json is then not read
    silent = tmp_path / "silent"
    shutil.copytree(fallback, silent)
    (silent / "generation_config.json").write_text(json.dumps({"do_sample": False}))
    paths = [*dirs, fallback, silent]
    engine = engine_eos_ids(paths, ENGINE)
    ours = {p: vllm_eos_ids(p).ids for p in paths}
    assert ours == {p: engine[p] for p in paths}
    assert im_end in ours[fallback]
    assert im_end not in ours[silent]
    assert ours[dirs[1]] != ours[dirs[0]]  # runaway-eos really differs: the test can fail


def _im_end_id(path: Path) -> int:
    tokens = json.loads((path / "tokenizer.json").read_text())["added_tokens"]
    return next(int(t["id"]) for t in tokens if t["content"] == "<|im_end|>")
