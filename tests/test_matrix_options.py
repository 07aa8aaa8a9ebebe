"""The matrix's per-use-case ``options:``: typed values reach the cells (and their probe context); mistakes name
file:line, key, rule, value and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.matrix import load_matrix
from harness.usecases import UseCase
from tests.test_matrix import error_of, write


def test_options_reach_their_cells_only(tmp_path: Path) -> None:
    """streams and needle_tokens reach the concurrency and long_context cells; other cells get no options."""
    path = write(
        tmp_path,
        """
        models:
          - id: org/m
            use_cases: [chat, long_context, concurrency]
            options:
              concurrency: {streams: 16}
              long_context: {needle_tokens: 2000}
        """,
    )
    matrix = load_matrix(path)
    by_case = {cell.use_case: cell for cell in matrix.cells}
    assert by_case[UseCase.CONCURRENCY].options == {"streams": 16}
    assert by_case[UseCase.LONG_CONTEXT].options == {"needle_tokens": 2000}
    assert by_case[UseCase.CHAT].options == {}
    hash(by_case[UseCase.CONCURRENCY].options)  # frozen with the cell


def test_no_options_means_the_probes_defaults(tmp_path: Path) -> None:
    """A model without options: (or with options: null) gives every cell an empty mapping."""
    path = write(tmp_path, "models:\n  - id: org/m\n    use_cases: [concurrency]\n    options: null\n")
    assert load_matrix(path).cells[0].options == {}


MISTAKES = [
    pytest.param("{concurrency: {streams: 0}}", "options.concurrency.streams: expected a whole number", id="zero"),
    pytest.param("{concurrency: {streams: 8.5}}", "from 1 to 256, got 8.5; fix: write e.g. streams: 8", id="float"),
    pytest.param("{concurrency: {streams: true}}", "got True", id="bool"),
    pytest.param("{concurrency: {stream: 8}}", "unknown option; concurrency takes streams; fix:", id="typo"),
    pytest.param("{chat: {streams: 8}}", "options.chat: chat takes no options (those with options:", id="no-options"),
    pytest.param("{concurency: {streams: 8}}", "use case 'concurency'; fix: did you mean", id="uc"),
    pytest.param("{long_context: {needle_tokens: 500}}", "'long_context' is not among this model's", id="unlisted"),
    pytest.param("[concurrency]", "options: expected a mapping of use case: {option: value}", id="list"),
]


@pytest.mark.parametrize(("options", "part"), MISTAKES)
def test_option_mistakes_name_file_line_key_and_fix(tmp_path: Path, options: str, part: str) -> None:
    """Each kind of options mistake is one MatrixError line at the options' line, with the rule and the fix."""
    path = write(tmp_path, f"models:\n  - id: org/m\n    use_cases: [chat, concurrency]\n    options: {options}\n")
    message = error_of(path)
    assert message.startswith(f"{path}:4: models[0].options"), message
    assert part in message, message
