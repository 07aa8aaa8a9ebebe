"""Line-aware YAML reading: every value is read from its node, so every mistake names file:line and the key.

The matrix's rules (harness.matrix.load) build on NodeReader: it turns nodes into plain values, flattens YAML merge
keys, refuses duplicate and unknown keys, and raises MatrixError with the rule, the actual value and the fix.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.matrix.spec import MatrixError
from harness.server import thaw

MERGE_TAG = "tag:yaml.org,2002:merge"


def short(value: Any) -> str:
    text = repr(thaw(value))
    return text if len(text) <= 60 else text[:57] + "..."


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def closest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'? " if match else ""


class NodeReader:
    """Reads values from a composed node tree; every check knows the node it is about, hence its line."""

    def __init__(self, shown: str, file: Path) -> None:
        self.shown = shown
        self.file = file
        self.constructor = SafeConstructor()
        self._entries: dict[int, list[tuple[str, Node, Node]]] = {}

    # -- error helpers --

    def fail(self, node: Node, key: str, message: str) -> NoReturn:
        line = node.start_mark.line + 1
        where = f"{self.shown}:{line}: {key}: " if key else f"{self.shown}:{line}: "
        raise MatrixError(where + message, file=self.shown, line=line, key=key)

    def expected(self, node: Node, key: str, rule: str, value: Any, fix: str) -> NoReturn:
        self.fail(node, key, f"{rule}, got {short(value)}; fix: {fix}")

    def value(self, node: Node, key: str) -> Any:
        """The plain Python value of a node (merge keys flattened), for scalars and JSON-like flag values."""
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            self.fail(node, key, f"cannot read this value: {problem}; fix: use plain YAML (no tags, string keys)")

    def mapping(self, node: Node, key: str, allowed: tuple[str, ...] | None, what: str) -> list[tuple[str, Node, Node]]:
        """A mapping's (key, key node, value node) entries; rejects non-mappings, odd keys and duplicates."""
        if not isinstance(node, MappingNode):
            self.expected(
                node, key, f"expected a mapping of {what}", self.value(node, key), f"write {what} as 'key: value'"
            )
        cached = self._entries.get(id(node))
        if cached is not None:
            return cached  # an alias to a mapping already read (and already flattened)
        seen: dict[str, int] = {}
        for key_node, _value_node in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            name = self.value(key_node, key) if isinstance(key_node, ScalarNode) else None
            sub = f"{key}.{name}" if key else str(name)
            if not isinstance(name, str):
                self.expected(key_node, key, "keys must be strings", name, "quote the key")
            if name in seen:
                self.fail(key_node, sub, f"duplicate key (first on line {seen[name]}); fix: keep one of them")
            seen[name] = key_node.start_mark.line + 1
        # YAML merge keys ('<<: *anchor') share flag sets; entries written here override merged ones.
        try:
            self.constructor.flatten_mapping(node)
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            self.fail(node, key, f"cannot merge: {problem}; fix: '<<' takes an alias to a mapping, e.g. <<: *common")
        merged: dict[str, tuple[str, Node, Node]] = {}
        for key_node, value_node in node.value:
            name = self.value(key_node, key)
            if not isinstance(name, str):
                self.expected(key_node, key, "keys must be strings", name, "quote the key")
            if allowed is not None and name not in allowed:
                self.fail(
                    key_node,
                    f"{key}.{name}" if key else name,
                    f"unknown key; allowed: {', '.join(allowed)}; fix: {closest(name, allowed)}"
                    "remove it or use one of the allowed keys",
                )
            merged[name] = (name, key_node, value_node)
        entries = list(merged.values())
        self._entries[id(node)] = entries
        return entries

    def sequence(self, node: Node, key: str, what: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.expected(node, key, f"expected a list of {what}", self.value(node, key), f"write [{what}, ...]")
        return list(node.value)

    def text(self, node: Node, key: str, fix: str) -> str:
        value = self.value(node, key)
        if not isinstance(value, str):
            self.expected(node, key, "expected a string", value, fix)
        return value

    def raw_text(self, node: Node, key: str, what: str) -> str:
        """A scalar as written (revision '1234567', env '0.5'), so YAML's number parsing cannot alter it."""
        if not isinstance(node, ScalarNode) or self.value(node, key) is None:
            self.expected(node, key, f"expected {what}", self.value(node, key), f"write {what} (quote it if unsure)")
        return str(node.value)

    def boolean(self, node: Node, key: str) -> bool:
        value = self.value(node, key)
        if not isinstance(value, bool):
            self.expected(node, key, "expected true or false", value, "write true or false")
        return value
