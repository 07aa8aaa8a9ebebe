"""Chat templates without transformers: find one where transformers/vLLM would, render it in a jinja2 sandbox
configured like transformers' ``_compile_jinja_template``, and read the end-of-turn token from a rendered turn.

Nothing of the checkpoint runs outside the sandbox: a template that reaches for anything else stops at once
(``SandboxEscape``), and the renders run in a child process bounded in time and memory (``sandbox``), so a template
that loops for ever or builds a huge string ends at the bound with the bound named (``bound_exceeded``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import jinja2.exceptions
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from harness.checkpoint.fetch import read_json
from harness.checkpoint.sandbox import TEMPLATE_BOUNDS, BoundExceeded, run_bounded
from harness.checkpoint.tokenizer import Vocabulary, load_vocabulary, special_tokens

MARKER = "VLLMCOMPATMARK"  # the assistant's content in the end-of-turn render; no tokenizer has it as one token
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "the city"}},
            "required": ["city"],
        },
    },
}


def _has_processor(path: Path) -> bool:
    return (path / "preprocessor_config.json").is_file() or (path / "processor_config.json").is_file()


@dataclass(frozen=True)
class FoundTemplate:
    text: str
    source: str  # "chat_template.jinja", "tokenizer_config.json: chat_template[default]", ...
    tool_text: str | None = None  # a separate "tool_use" template, used when tools are passed
    tool_source: str | None = None


def _named(templates: Any) -> dict[str, str]:
    """``[{"name": ..., "template": ...}]`` (transformers' list form) as a dict; anything else as empty."""
    out: dict[str, str] = {}
    if isinstance(templates, list):
        for item in templates:
            if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("template"), str):
                out[item["name"]] = item["template"]
    return out


def find_chat_template(path: Path) -> FoundTemplate | None:
    """The chat template vLLM would use, in its order (vllm/renderers/hf.py ``resolve_chat_template``): the
    processor's (chat_template.jinja / legacy chat_template.json) for models with a processor, then the tokenizer's
    (chat_template.jinja overrides tokenizer_config.json "chat_template", a string or a list of named templates
    of which "default" is used, and "tool_use" when tools are passed)."""
    tool_text: str | None = None
    tool_source: str | None = None
    extra = path / "additional_chat_templates" / "tool_use.jinja"
    if extra.is_file():
        tool_text, tool_source = extra.read_text(encoding="utf-8"), "additional_chat_templates/tool_use.jinja"
    config = read_json(path / "tokenizer_config.json")
    in_config = config.get("chat_template") if isinstance(config, dict) else None
    named = _named(in_config)
    if "tool_use" in named and tool_text is None:
        tool_text, tool_source = named["tool_use"], "tokenizer_config.json: chat_template[tool_use]"
    jinja_file = path / "chat_template.jinja"
    if jinja_file.is_file():
        return FoundTemplate(jinja_file.read_text(encoding="utf-8"), "chat_template.jinja", tool_text, tool_source)
    legacy = read_json(path / "chat_template.json")
    if _has_processor(path) and isinstance(legacy, dict) and isinstance(legacy.get("chat_template"), str):
        return FoundTemplate(legacy["chat_template"], "chat_template.json: chat_template", tool_text, tool_source)
    if isinstance(in_config, str) and in_config.strip():
        return FoundTemplate(in_config, "tokenizer_config.json: chat_template", tool_text, tool_source)
    if "default" in named:
        return FoundTemplate(named["default"], "tokenizer_config.json: chat_template[default]", tool_text, tool_source)
    return None


def unused_templates(path: Path) -> list[str]:
    """Templates that exist but that vLLM does not use for a plain chat request, each with why (for the message)."""
    notes: list[str] = []
    legacy = read_json(path / "chat_template.json")
    if isinstance(legacy, dict) and "chat_template" in legacy and not _has_processor(path):
        notes.append("chat_template.json is read only by a multimodal processor and this model has no processor config")
    config = read_json(path / "tokenizer_config.json")
    named = _named(config.get("chat_template") if isinstance(config, dict) else None)
    if named and "default" not in named:
        notes.append(f"tokenizer_config.json: chat_template lists {sorted(named)} but no 'default'")
    return notes


class GenerationTracker(jinja2.ext.Extension):
    """``{% generation %}...{% endgeneration %}`` (transformers' AssistantTracker): rendered as its body."""

    tags = {"generation"}  # noqa: RUF012 - jinja2's Extension API declares this as a class attribute

    def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.Scope(body, lineno=lineno)


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # transformers' override: jinja's own tojson escapes HTML characters and takes no json.dumps options
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def sandbox() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTracker, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


class SandboxEscape(Exception):
    """The template tried to reach outside the sandbox (jinja2 SecurityError)."""


@dataclass(frozen=True)
class ChatTemplateFacts:
    """What pre-flight learnt of the chat template vLLM will use (all None/False when there is none)."""

    source: str | None  # where it was found: "chat_template.jinja", "tokenizer_config.json: chat_template", ...
    renders: bool
    end_of_turn: str | None  # the token that closes an assistant turn, e.g. "<|im_end|>"
    supports_system: bool | None
    supports_tools: bool | None  # None when tools were not asked

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "renders": self.renders,
            "end_of_turn": self.end_of_turn,
            "supports_system": self.supports_system,
            "supports_tools": self.supports_tools,
        }


NO_TEMPLATE = ChatTemplateFacts(None, False, None, None, None)


@dataclass(frozen=True)
class RenderResult:
    renders: bool
    error: str | None  # the first failure of the basic renders, when renders is False
    supports_system: bool | None
    system_error: str | None
    supports_tools: bool | None  # None when tools were not asked
    tools_error: str | None  # the exception when rendering with tools raised
    end_of_turn: str | None
    end_of_turn_id: int | None
    assistant_render: str | None
    sandbox_escape: str | None = None
    bound_exceeded: str | None = None  # the child overran its time / memory bound (or died): what, with the bound

    def facts(self, source: str) -> ChatTemplateFacts:
        return ChatTemplateFacts(source, self.renders, self.end_of_turn, self.supports_system, self.supports_tools)


def _render(template: jinja2.Template, messages: Sequence[Mapping[str, Any]], **kwargs: Any) -> str:
    try:
        return template.render(messages=list(messages), **kwargs)
    except jinja2.exceptions.SecurityError as error:
        raise SandboxEscape(str(error)) from error
    except MemoryError as error:  # the child's RLIMIT_AS: the template built more than the bound allows
        raise BoundExceeded("ran out of memory") from error


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


USER = {"role": "user", "content": "Hello, who are you?"}
SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
MULTI_TURN = [USER, {"role": "assistant", "content": "I am an assistant."}, {"role": "user", "content": "Thanks!"}]


def end_of_turn_after(rendered: str, candidates: Iterator[str] | Sequence[str]) -> str | None:
    """The added/special token that directly follows the assistant's content (whitespace skipped), longest first."""
    at = rendered.rfind(MARKER)
    if at < 0:
        return None
    rest = rendered[at + len(MARKER) :].lstrip(" \t\r\n")
    best: str | None = None
    for token in candidates:
        if token and rest.startswith(token) and (best is None or len(token) > len(best)):
            best = token
    return best


def render_checks(
    path: Path,
    found: FoundTemplate,
    *,
    with_tools: bool,
    vocab: Vocabulary | None = None,
    tokens: Mapping[str, Any] | None = None,
) -> RenderResult:
    """Render one user turn, system + user, multi-turn, [user, assistant] and (when asked) tools, in the sandbox,
    in a child process bounded in time and memory (``sandbox.TEMPLATE_BOUNDS``).

    ``tokens`` (bos_token, eos_token, ... as the template sees them) default to the tokenizer files at ``path``; a
    GGUF passes its own. A SecurityError stops everything at once (nothing else of the template is run); so does a
    bound overrun."""
    tokens = dict(tokens) if tokens is not None else special_tokens(path)
    vocab = vocab if vocab is not None else load_vocabulary(path)
    candidates = set(vocab.added)
    candidates.update(t for t in tokens.values() if isinstance(t, str))
    candidates.update(tokens.get("additional_special_tokens", []))
    payload = {
        "text": found.text,
        "tool_text": found.tool_text,
        "with_tools": with_tools,
        "tokens": tokens,
        "candidates": sorted(candidates),
    }
    try:
        answer = run_bounded("harness.checkpoint.template:render_payload", payload, TEMPLATE_BOUNDS)
    except BoundExceeded as exceeded:
        return RenderResult(
            False, f"bound exceeded: {exceeded.what}", None, None, None, None, None, None, None, None, exceeded.what
        )
    result = RenderResult(**answer)
    if result.bound_exceeded is not None:  # the child knows what it overran; the parent knows the bounds
        what = f"{result.bound_exceeded} (bounds: {TEMPLATE_BOUNDS.describe()})"
        return replace(result, error=f"bound exceeded: {what}", bound_exceeded=what)
    if result.end_of_turn is not None:
        result = replace(result, end_of_turn_id=vocab.id_of(result.end_of_turn))
    return result


MAX_ANSWER_CHARS = 65_536  # what of a render crosses back to the parent: a turn's end, never a hostile megabyte


def _short(text: str | None) -> str | None:
    return None if text is None else text[:MAX_ANSWER_CHARS]


def render_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The bounded child's side of ``render_checks``: the renders on the payload, as RenderResult's fields."""
    try:
        result = render_unbounded(
            payload["text"], payload["tool_text"], payload["with_tools"], payload["tokens"], payload["candidates"]
        )
    except (BoundExceeded, MemoryError) as exceeded:
        what = exceeded.what if isinstance(exceeded, BoundExceeded) else "ran out of memory"
        result = RenderResult(False, f"bound exceeded: {what}", None, None, None, None, None, None, None, None, what)
    return {
        **{f.name: getattr(result, f.name) for f in fields(RenderResult)},
        "error": _short(result.error),
        "system_error": _short(result.system_error),
        "tools_error": _short(result.tools_error),
        "assistant_render": _short(result.assistant_render),
    }


def render_unbounded(
    text: str, tool_text: str | None, with_tools: bool, tokens: Mapping[str, Any], candidates: Sequence[str]
) -> RenderResult:
    """The renders themselves, in this process: call only inside a bounded child (``render_payload``)."""
    env = sandbox()
    kwargs: dict[str, Any] = {**tokens}
    error: str | None = None
    try:
        template = env.from_string(text)
        _render(template, [USER], add_generation_prompt=True, **kwargs)
        _render(template, MULTI_TURN, add_generation_prompt=True, **kwargs)
    except SandboxEscape as escape:
        return _escaped(str(escape))
    except BoundExceeded:
        raise
    except Exception as failure:  # any failure to render is the finding
        error = _describe(failure)
        return RenderResult(False, error, None, None, None, None, None, None, None)
    supports_system, system_error = True, None
    try:
        _render(template, [SYSTEM, USER], add_generation_prompt=True, **kwargs)
    except SandboxEscape as escape:
        return _escaped(str(escape))
    except BoundExceeded:
        raise
    except Exception as failure:
        supports_system, system_error = False, _describe(failure)
    supports_tools: bool | None = None
    tools_error: str | None = None
    if with_tools:
        tool_template = template
        try:
            if tool_text:
                tool_template = env.from_string(tool_text)
            out = _render(tool_template, [USER], tools=[WEATHER_TOOL], add_generation_prompt=True, **kwargs)
            supports_tools = WEATHER_TOOL["function"]["name"] in out  # False and no error: `tools` is ignored
        except SandboxEscape as escape:
            return _escaped(str(escape))
        except BoundExceeded:
            raise
        except Exception as failure:
            supports_tools, tools_error = False, _describe(failure)
    assistant: str | None = None
    end: str | None = None
    try:
        assistant = _render(
            template, [USER, {"role": "assistant", "content": MARKER}], add_generation_prompt=False, **kwargs
        )
        end = end_of_turn_after(assistant, candidates)
    except SandboxEscape as escape:
        return _escaped(str(escape))
    except BoundExceeded:
        raise
    except Exception:  # a template that cannot end a turn reports no end-of-turn token
        assistant = None
    if assistant is not None and end is None:
        # Templates that leave the last assistant turn open (vLLM's own examples/template_chatml.jinja closes a turn
        # only when another follows) still show their end-of-turn token once a user turn comes after it.
        try:
            followed = _render(
                template,
                [USER, {"role": "assistant", "content": MARKER}, {"role": "user", "content": "Thanks!"}],
                add_generation_prompt=False,
                **kwargs,
            )
            end = end_of_turn_after(followed, candidates)
        except SandboxEscape as escape:
            return _escaped(str(escape))
        except BoundExceeded:
            raise
        except Exception:  # no second turn either: the end of turn stays unknown
            end = None
    return RenderResult(True, None, supports_system, system_error, supports_tools, tools_error, end, None, assistant)


def _escaped(message: str) -> RenderResult:
    return RenderResult(False, f"SecurityError: {message}", None, None, None, None, None, None, None, message)
