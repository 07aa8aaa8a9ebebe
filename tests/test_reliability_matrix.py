"""Hostile matrices: random YAML and random mutations of valid matrices never give a traceback, only one line
naming file:line, the key path, the rule and the value (a property test, bounded to cost seconds)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.matrix import MatrixError, load_matrix
from harness.matrix.load import demo_matrix_path

pytestmark = pytest.mark.reliability

# Bounded so the whole module costs seconds: a fixed seed (derandomize) keeps CI reproducible, no example database.
BOUNDED = settings(
    max_examples=150,
    deadline=2000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

VALID: dict[str, Any] = yaml.safe_load(demo_matrix_path().read_text())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["zoo:chat-ok", "zoo:../../etc", "/etc/passwd", "../x", "a/../b", "auto", "chat", "OOM", "~"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=12), st.integers()), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _paths(child, (*prefix, index))


ALL_PATHS = [p for p in _paths(VALID) if p]


def _mutate(data: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    """A copy of ``data`` with the node at ``path`` replaced, deleted, or given an extra unknown key."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy: Any = dict(data) if isinstance(data, dict) else list(data)
    if rest:
        copy[head] = _mutate(data[head], rest, how, value)
    elif how == "delete":
        del copy[head]
    elif how == "extra" and isinstance(copy[head], dict):
        copy[head] = {**copy[head], "unknown-key": value}
    else:
        copy[head] = value
    return copy


def _check(text: str) -> None:
    """load_matrix answers a Matrix, or one MatrixError line naming file:line (and the key when it has one)."""
    failure: MatrixError | None = None
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "matrix.yaml"
        file.write_text(text, encoding="utf-8", errors="surrogateescape")
        try:
            load_matrix(file)
        except MatrixError as error:
            failure = error
    if failure is None:
        return
    message = str(failure)
    assert "\n" not in message, message
    assert "Traceback" not in message
    assert message.startswith(str(file)), message
    if failure.line:
        assert message.startswith(f"{file}:{failure.line}: "), message
    if failure.key:
        assert f": {failure.key}: " in message, message
    assert len(message) < 2000, len(message)


@BOUNDED
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_random_text_never_gives_a_traceback(text: str) -> None:
    """Any text as a matrix file: a matrix, or one error line with file:line."""
    _check(text)


@BOUNDED
@given(values)
def test_random_yaml_values_never_give_a_traceback(value: Any) -> None:
    """Any YAML document (a random nest of scalars, lists and mappings) as a matrix: one error line, never more."""
    _check(yaml.safe_dump(value))


@BOUNDED
@given(
    st.sampled_from(ALL_PATHS),
    st.sampled_from(["replace", "delete", "extra"]),
    values,
)
def test_a_mutated_valid_matrix_never_gives_a_traceback(path: tuple[Any, ...], how: str, value: Any) -> None:
    """The demo matrix with one node replaced by a random value, deleted, or given an unknown key: a matrix, or one
    line with file:line, the key path, the rule and the value."""
    _check(yaml.safe_dump(_mutate(VALID, path, how, value), sort_keys=False))


def test_a_yaml_alias_bomb_is_refused_within_seconds() -> None:
    """A billion-laughs document (nine levels of nine aliases in a model's flags) is one error line in well under a
    second, not a loader that expands 9**9 values (before the bound it ran for minutes)."""
    flags = ['f0: &a0 ["x"]']
    for level in range(1, 10):
        flags.append(f"f{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    text = "models:\n  - id: zoo:chat-ok\n    use_cases: [chat]\n    flags:\n"
    text += "".join(f"      {flag}\n" for flag in flags)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "matrix.yaml"
        file.write_text(text)
        with pytest.raises(MatrixError, match="more than 200000 YAML nodes"):
            load_matrix(file)
    took = time.monotonic() - started
    print(f"\n[reliability] YAML alias bomb (9**9 leaves): refused in {took:.2f} s (bound: 200000 nodes)")
    assert took < 5


def test_yaml_nested_thousands_deep_is_one_error_line() -> None:
    """Five thousand nested brackets (the YAML composer recurses per level) are one error line, not a RecursionError
    traceback."""
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "matrix.yaml"
        file.write_text("models: " + "[" * 5000 + "]" * 5000 + "\n")
        with pytest.raises(MatrixError, match="nested deeper than the YAML reader allows"):
            load_matrix(file)
