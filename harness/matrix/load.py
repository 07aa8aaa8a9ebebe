"""matrix.yaml -> frozen, typed cells: model x flag profile x use case, with expectations and gate requirements.

Every mistake in a matrix file is a ``MatrixError`` whose message is one line naming file:line, the key path, the
rule, the actual value and the fix. The file is composed with ``yaml.compose`` so every value keeps its line.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import os.path
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.codes import CODES
from harness.matrix.endpoints import Endpoint, EndpointError, parse_endpoint
from harness.usecases import UseCase

K = TypeVar("K")
V = TypeVar("V")

DEFAULT_PROFILE = "default"
DEFAULT_TIMEOUTS = (900.0, 120.0)  # boot, probe: when the matrix's defaults say nothing

TOP_KEYS = ("description", "defaults", "models")
DEFAULTS_KEYS = ("flags", "env", "timeouts", "semantic")
MODEL_KEYS = (
    "id",
    "revision",
    "name",
    "description",
    "notes",
    "use_cases",
    "flags",
    "profiles",
    "env",
    "timeouts",
    "expect",
    "required",
    "semantic",
    "endpoints",
)
TIMEOUT_KEYS = ("boot", "probe")

_MERGE_TAG = "tag:yaml.org,2002:merge"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_FLAG_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HUB_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*$")

# The server owns these: a matrix that set them could point the probes at a server the harness did not start.
HARNESS_FLAGS: dict[str, str] = {
    "model": "the model is the entry's 'id'",
    "revision": "set the entry's 'revision:' instead",
    "host": "the harness binds 127.0.0.1",
    "port": "the harness picks a free port",
    "api-key": "the harness sets a random API key per server",
    "served-model-name": "the harness sets a run-unique served name and checks it through /v1/models",
}

# Flags whose type is certain across vLLM versions; every other flag takes any bool/int/float/str/list/dict.
_INT_FLAGS = frozenset(
    {
        "max-model-len",
        "tensor-parallel-size",
        "pipeline-parallel-size",
        "data-parallel-size",
        "max-num-seqs",
        "max-num-batched-tokens",
        "seed",
    }
)
_BOOL_FLAGS = frozenset(
    {"enforce-eager", "trust-remote-code", "enable-auto-tool-choice", "enable-prefix-caching", "enable-chunked-prefill"}
)
_STR_FLAGS = frozenset({"dtype", "quantization", "tool-call-parser", "reasoning-parser", "kv-cache-dtype", "tokenizer"})
_DICT_FLAGS = frozenset({"limit-mm-per-prompt", "hf-overrides", "mm-processor-kwargs", "override-generation-config"})


class MatrixError(Exception):
    """A mistake in a matrix file: one line, ``file:line: key.path: rule, got value; fix: ...``; never a traceback."""

    def __init__(self, message: str, *, file: str = "", line: int = 0, key: str = "") -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.key = key


class FrozenMap(dict[K, V]):
    """An immutable, hashable dict that keeps insertion order (flags reach vLLM in this order).

    A dict subclass on purpose: ``json.dumps`` and ``dict(...)`` take it as is, so results can record flags directly.
    """

    __slots__ = ("_hash",)

    def __init__(self, data: Mapping[K, V] | None = None) -> None:
        super().__init__(data or {})
        self._hash: int | None = None

    def _immutable(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("matrix values are immutable; build a new mapping instead")

    __setitem__ = _immutable
    __delitem__ = _immutable
    __ior__ = _immutable
    clear = _immutable
    pop = _immutable
    popitem = _immutable
    setdefault = _immutable
    update = _immutable

    def __hash__(self) -> int:  # type: ignore[override]
        if self._hash is None:
            self._hash = hash(frozenset(self.items()))
        return self._hash

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenMap({dict(self)!r})"


@dataclass(frozen=True)
class Timeouts:
    boot: float
    probe: float


@dataclass(frozen=True)
class ModelSpec:
    id: str  # as written: hub id, local path, or "zoo:<member>"
    revision: str | None
    name: str  # short, pytest-id-safe: [a-z0-9._-]
    source: str  # "hub" | "local" | "zoo"
    path: Path | None  # resolved for "local"; None otherwise (the checkpoint stage builds zoo members)
    use_cases: tuple[UseCase, ...]
    flags: Mapping[str, Any]  # defaults.flags <- model flags, nulls applied
    profiles: Mapping[str, Mapping[str, Any]]  # profile -> its own overrides (a None value removes a flag)
    env: Mapping[str, str]  # defaults.env <- model env, for the engine process
    expect: Mapping[UseCase, str]  # known failure codes: a matching failure is XFAIL, a pass is XPASS (news)
    required: frozenset[UseCase]  # cells the gate blocks on
    semantic: bool  # a real model: probes also check that answers are right
    timeouts: Timeouts
    description: str
    where: str  # "matrix.yaml:12": the entry's first line
    notes: str = ""
    endpoints: Mapping[UseCase, Endpoint] = field(default_factory=FrozenMap)  # use cases served outside vLLM

    @property
    def zoo_member(self) -> str | None:
        return self.id.removeprefix("zoo:") if self.source == "zoo" else None

    @property
    def profile_names(self) -> tuple[str, ...]:
        return (DEFAULT_PROFILE, *self.profiles)

    def profile_flags(self, profile: str) -> Mapping[str, Any]:
        """The fully merged flags for one profile: model flags updated with the profile's (None removes)."""
        if profile == DEFAULT_PROFILE:
            return self.flags
        return _merge(self.flags, self.profiles[profile])


@dataclass(frozen=True)
class Cell:
    model: ModelSpec
    profile: str
    use_case: UseCase
    flags: Mapping[str, Any]  # fully merged for this profile
    expect: str | None  # a CODES key when the matrix declares a known failure
    required: bool
    endpoint: Endpoint | None = None  # an external server answers this cell: no pre-flight verdict, no vLLM boot

    @property
    def id(self) -> str:
        return f"{self.model.name}-{self.profile}-{self.use_case}"

    @property
    def server_key(self) -> str:
        return f"{self.model.name}-{self.profile}"

    @property
    def argv(self) -> list[str]:
        return flags_to_argv(self.flags)


@dataclass(frozen=True)
class Matrix:
    path: Path
    sha256: str
    models: tuple[ModelSpec, ...]
    cells: tuple[Cell, ...]
    description: str = ""
    servers: Mapping[str, tuple[Cell, ...]] = field(default_factory=FrozenMap, compare=False)

    def model(self, name: str) -> ModelSpec:
        for spec in self.models:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def cell(self, cell_id: str) -> Cell:
        for cell in self.cells:
            if cell.id == cell_id:
                return cell
        raise KeyError(cell_id)


def demo_matrix_path() -> Path:
    """The built-in demo matrix over the zoo, shipped as package data."""
    return Path(str(resources.files("harness") / "matrices" / "demo.yaml"))


def _zoo_real(model_id: str) -> bool:
    """A zoo id that points at a real checkpoint (not random weights): semantic checks are meaningful for it."""
    if not model_id.startswith("zoo:"):
        return False
    member = importlib.import_module("harness.zoo.core").MEMBERS.get(model_id.removeprefix("zoo:"))
    return bool(getattr(member, "real_weights", False))


def flags_to_argv(flags: Mapping[str, Any]) -> list[str]:
    """vLLM CLI arguments: True -> --flag; False/None -> omitted; dict -> --flag JSON; list -> --flag a b; else str."""
    argv: list[str] = []
    for name, value in flags.items():
        if value is None or value is False:
            continue  # omitting is safe on every vLLM version; --no-flag is not accepted by all of them
        if value is True:
            argv.append(f"--{name}")
        elif isinstance(value, Mapping):
            argv += [f"--{name}", json.dumps(_thaw(value), separators=(",", ":"))]
        elif isinstance(value, list | tuple):
            argv += [f"--{name}", *(_item_text(item) for item in value)]
        else:
            argv += [f"--{name}", str(value)]
    return argv


def load_matrix(path: str | Path) -> Matrix:
    """Read, validate and expand a matrix file; raise MatrixError (one line) on the first mistake."""
    shown = str(path)
    file = Path(path).expanduser()
    try:
        data = file.read_bytes()
    except OSError as error:
        raise MatrixError(
            f"{shown}: cannot read the matrix: {error.strerror or error}; fix: pass the path of an existing YAML file",
            file=shown,
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MatrixError(f"{shown}: not UTF-8 text ({error.reason}); fix: save it as UTF-8", file=shown) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 0
        problem = error.problem or error.context or "invalid YAML"
        column = f" (column {mark.column + 1})" if mark else ""
        raise MatrixError(
            f"{shown}:{line}: invalid YAML: {problem}{column}; fix: check indentation, colons and quoting there",
            file=shown,
            line=line,
        ) from None
    except yaml.YAMLError as error:
        raise MatrixError(f"{shown}: invalid YAML: {error}; fix: check the file's syntax", file=shown) from None
    loader = _Loader(shown, file.resolve())
    return loader.matrix(root, hashlib.sha256(data).hexdigest())


# --- internals ---------------------------------------------------------------------------------------------------


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> FrozenMap[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return FrozenMap(merged)


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(item) for item in value]
    return value


def _item_text(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, Mapping | list | tuple):
        return json.dumps(_thaw(item), separators=(",", ":"))
    return str(item)


def _short(value: Any) -> str:
    text = repr(_thaw(value))
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
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


def _closest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'? " if match else ""


def _derive_name(model_id: str) -> str:
    tail = model_id.removeprefix("zoo:").rstrip("/").rsplit("/", 1)[-1]
    name = re.sub(r"[^a-z0-9._-]+", "-", tail.lower()).strip("-._")
    return name or "model"


@dataclass
class _Defaults:
    flags: FrozenMap[str, Any]
    env: FrozenMap[str, Any]
    timeouts: Timeouts
    semantic: bool | None


class _Loader:
    """Walks the composed node tree; every check knows the node it is about, hence its line."""

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
        self.fail(node, key, f"{rule}, got {_short(value)}; fix: {fix}")

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
            if key_node.tag == _MERGE_TAG:
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
                    f"unknown key; allowed: {', '.join(allowed)}; fix: {_closest(name, allowed)}"
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

    # -- sections --

    def matrix(self, root: Node | None, sha256: str) -> Matrix:
        if root is None:
            raise MatrixError(
                f"{self.shown}:1: empty matrix; fix: write 'models:' with at least one entry", file=self.shown, line=1
            )
        description = ""
        defaults = _Defaults(FrozenMap(), FrozenMap(), Timeouts(*DEFAULT_TIMEOUTS), None)
        models_node: Node | None = None
        entries = self.mapping(root, "", TOP_KEYS, "matrix sections (defaults, models)")
        for name, _key_node, node in entries:
            if name == "description":
                description = self.text(node, "description", "write free text")
            elif name == "defaults":
                defaults = self.defaults(node)
        for name, key_node, node in entries:
            if name == "models":
                models_node = node
                if isinstance(node, ScalarNode) and self.value(node, "models") is None:
                    self.fail(key_node, "models", "empty models list; fix: list at least one model under 'models:'")
        if models_node is None:
            self.fail(root, "models", "missing; fix: add 'models:' with at least one entry (id, use_cases)")
        items = self.sequence(models_node, "models", "model entries")
        if not items:
            self.fail(models_node, "models", "empty models list; fix: list at least one model under 'models:'")
        models: list[ModelSpec] = []
        names: dict[str, int] = {}
        for index, item in enumerate(items):
            spec = self.model(item, f"models[{index}]", defaults)
            if spec.name in names:
                self.fail(
                    item,
                    f"models[{index}].name",
                    f"duplicate model name {spec.name!r} (also models[{names[spec.name]}]); "
                    "fix: give one of them a distinct 'name:'",
                )
            names[spec.name] = index
            models.append(spec)
        cells = self.cells(models, items)
        servers: dict[str, tuple[Cell, ...]] = {}
        for cell in cells:
            servers[cell.server_key] = (*servers.get(cell.server_key, ()), cell)
        return Matrix(self.file, sha256, tuple(models), cells, description, FrozenMap(servers))

    def defaults(self, node: Node) -> _Defaults:
        flags: FrozenMap[str, Any] = FrozenMap()
        env: FrozenMap[str, Any] = FrozenMap()
        timeouts = Timeouts(*DEFAULT_TIMEOUTS)
        semantic: bool | None = None
        if isinstance(node, ScalarNode) and self.value(node, "defaults") is None:
            return _Defaults(flags, env, timeouts, semantic)
        for name, _key_node, value in self.mapping(node, "defaults", DEFAULTS_KEYS, "defaults"):
            key = f"defaults.{name}"
            if name == "flags":
                flags = _merge({}, self.flags(value, key))
            elif name == "env":
                env = _merge({}, self.env(value, key))
            elif name == "timeouts":
                timeouts = self.timeouts(value, key, timeouts)
            elif name == "semantic":
                semantic = self.boolean(value, key)
        return _Defaults(flags, env, timeouts, semantic)

    def flags(self, node: Node, key: str) -> FrozenMap[str, Any]:
        """A flag set as written (None values kept: they remove an inherited flag)."""
        if isinstance(node, ScalarNode) and self.value(node, key) is None:
            return FrozenMap()
        out: dict[str, Any] = {}
        for name, key_node, value_node in self.mapping(node, key, None, "vLLM flags"):
            sub = f"{key}.{name}"
            if not _FLAG_RE.match(name):
                fixed = re.sub(r"[^a-z0-9]+", "-", name.lower().lstrip("-")).strip("-")
                self.fail(
                    key_node,
                    sub,
                    f"flag names are vLLM's kebab-case CLI names without '--', got {name!r}; fix: write {fixed!r}",
                )
            if name in HARNESS_FLAGS:
                self.fail(key_node, sub, f"managed by the harness ({HARNESS_FLAGS[name]}); fix: remove it")
            out[name] = self.flag_value(value_node, sub, name)
        return FrozenMap(out)

    def flag_value(self, node: Node, key: str, name: str) -> Any:
        value = self.value(node, key)
        if value is None:
            return None
        if name in _INT_FLAGS and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            self.expected(node, key, "expected int >= 1", value, "write a whole number, e.g. 4096, or null to unset")
        if name in _BOOL_FLAGS and not isinstance(value, bool):
            self.expected(node, key, "expected bool", value, "write true or false, or null to unset")
        if name in _STR_FLAGS and not isinstance(value, str):
            self.expected(node, key, "expected str", value, "quote the value, or null to unset")
        if name in _DICT_FLAGS and not isinstance(value, dict):
            self.expected(node, key, "expected a mapping", value, "write e.g. {image: 1}, or null to unset")
        if name == "gpu-memory-utilization" and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1
        ):
            self.expected(node, key, "expected a fraction in (0, 1]", value, "write e.g. 0.9 (0.2 on the CPU)")
        if isinstance(value, list) and not value:
            self.expected(node, key, "expected a non-empty list", value, "list the values, or null to unset")
        return self.freeze(node, key, value)

    def freeze(self, node: Node, key: str, value: Any) -> Any:
        """JSON-like values only (vLLM parses dict flags as JSON); lists become tuples and dicts FrozenMaps."""
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, list):
            return tuple(self.freeze(node, key, item) for item in value)
        if isinstance(value, dict):
            for item_key in value:
                if not isinstance(item_key, str):
                    self.expected(node, key, "mapping keys in flag values must be strings", item_key, "quote the key")
            return FrozenMap({item_key: self.freeze(node, key, item) for item_key, item in value.items()})
        self.expected(
            node, key, f"expected bool, int, float, str, list or mapping, not a {_kind(value)}", value, "quote it"
        )

    def env(self, node: Node, key: str) -> FrozenMap[str, Any]:
        if isinstance(node, ScalarNode) and self.value(node, key) is None:
            return FrozenMap()
        out: dict[str, str | None] = {}
        for name, key_node, value_node in self.mapping(node, key, None, "environment variables"):
            sub = f"{key}.{name}"
            if not _ENV_RE.match(name):
                self.fail(key_node, sub, f"not an environment variable name: {name!r}; fix: use [A-Za-z_][A-Za-z0-9_]*")
            if isinstance(value_node, ScalarNode) and self.value(value_node, sub) is None:
                out[name] = None  # removes an inherited variable
            else:
                out[name] = self.raw_text(value_node, sub, "a string value")
        return FrozenMap(out)

    def timeouts(self, node: Node, key: str, base: Timeouts) -> Timeouts:
        values = {"boot": base.boot, "probe": base.probe}
        for name, _key_node, value_node in self.mapping(node, key, TIMEOUT_KEYS, "timeouts in seconds"):
            value = self.value(value_node, f"{key}.{name}")
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                self.expected(value_node, f"{key}.{name}", "expected seconds > 0", value, "write e.g. 900")
            values[name] = float(value)
        return Timeouts(values["boot"], values["probe"])

    def use_case(self, node: Node, key: str) -> UseCase:
        value = self.value(node, key)
        valid = tuple(u.value for u in UseCase)
        if not isinstance(value, str) or value not in valid:
            hint = _closest(value, valid) if isinstance(value, str) else ""
            self.fail(
                node, key, f"unknown use case {_short(value)}; valid: {', '.join(valid)}; fix: {hint}use one of them"
            )
        return UseCase(value)

    def model(self, node: Node, key: str, defaults: _Defaults) -> ModelSpec:
        entries = {
            name: (key_node, value) for name, key_node, value in self.mapping(node, key, MODEL_KEYS, "model keys")
        }
        where = f"{self.shown}:{node.start_mark.line + 1}"
        if "id" not in entries:
            self.fail(node, f"{key}.id", "missing; fix: add 'id:' (a hub id, a local path, or zoo:<member>)")
        id_node = entries["id"][1]
        model_id = self.text(id_node, f"{key}.id", "write a hub id (owner/name), a path, or zoo:<member>").strip()
        source, path = self.source(id_node, f"{key}.id", model_id)

        revision: str | None = None
        if "revision" in entries:
            rev_node = entries["revision"][1]
            if source != "hub":
                self.fail(
                    rev_node, f"{key}.revision", f"only hub models have revisions, this one is {source}; fix: remove it"
                )
            revision = self.raw_text(rev_node, f"{key}.revision", "a branch, tag or commit")

        if "name" in entries:
            name = self.text(entries["name"][1], f"{key}.name", "write a short name such as 'qwen2.5-7b'")
            if not _NAME_RE.match(name):
                suggestion = _derive_name(name)
                self.fail(
                    entries["name"][1],
                    f"{key}.name",
                    f"names appear in pytest ids and must match [a-z0-9][a-z0-9._-]*, got {name!r}; "
                    f"fix: write {suggestion!r}",
                )
        else:
            name = _derive_name(model_id)

        description = notes = ""
        if "description" in entries:
            description = self.text(entries["description"][1], f"{key}.description", "write free text")
        if "notes" in entries:
            notes = self.text(entries["notes"][1], f"{key}.notes", "write free text")

        if "use_cases" not in entries:
            self.fail(node, f"{key}.use_cases", "missing; fix: add e.g. 'use_cases: [chat]'")
        uc_node = entries["use_cases"][1]
        use_cases: list[UseCase] = []
        items = self.sequence(uc_node, f"{key}.use_cases", "use cases")
        if not items:
            self.fail(uc_node, f"{key}.use_cases", "empty; fix: list at least one use case, e.g. [chat]")
        for index, item in enumerate(items):
            use_case = self.use_case(item, f"{key}.use_cases[{index}]")
            if use_case in use_cases:
                self.fail(item, f"{key}.use_cases[{index}]", f"duplicate use case '{use_case}'; fix: list it once")
            use_cases.append(use_case)

        flags = defaults.flags
        if "flags" in entries:
            flags = _merge(flags, self.flags(entries["flags"][1], f"{key}.flags"))

        profiles: dict[str, FrozenMap[str, Any]] = {}
        if "profiles" in entries:
            prof_node = entries["profiles"][1]
            for prof, prof_key, prof_value in self.mapping(prof_node, f"{key}.profiles", None, "profile: {flags}"):
                sub = f"{key}.profiles.{prof}"
                if prof == DEFAULT_PROFILE:
                    self.fail(prof_key, sub, "'default' is reserved for the model's own flags; fix: rename the profile")
                if not _NAME_RE.match(prof):
                    self.fail(
                        prof_key,
                        sub,
                        f"profile names appear in pytest ids and must match [a-z0-9][a-z0-9._-]*, got {prof!r}; "
                        f"fix: write {_derive_name(prof)!r}",
                    )
                profiles[prof] = self.flags(prof_value, sub)

        env = defaults.env
        if "env" in entries:
            env = _merge(env, self.env(entries["env"][1], f"{key}.env"))

        timeouts = defaults.timeouts
        if "timeouts" in entries:
            timeouts = self.timeouts(entries["timeouts"][1], f"{key}.timeouts", timeouts)

        expect: dict[UseCase, str] = {}
        if "expect" in entries:
            exp_node = entries["expect"][1]
            if not (isinstance(exp_node, ScalarNode) and self.value(exp_node, key) is None):
                for uc_name, uc_key_node, code_node in self.mapping(exp_node, f"{key}.expect", None, "use case: CODE"):
                    sub = f"{key}.expect.{uc_name}"
                    use_case = self.use_case(uc_key_node, sub)
                    self.listed(uc_key_node, sub, use_case, use_cases, "expect")
                    code = self.value(code_node, sub)
                    if code == "pass":
                        continue  # stated for the reader; a pass is the default expectation
                    if not isinstance(code, str) or code not in CODES:
                        hint = _closest(code, list(CODES)) if isinstance(code, str) else ""
                        self.fail(
                            code_node,
                            sub,
                            f"unknown failure code {_short(code)}; codes are listed in harness/codes.py "
                            f"(e.g. NO_CHAT_TEMPLATE, STOP_TOKEN, ENGINE_DIED); fix: {hint}use a code from CODES, "
                            "or 'pass'",
                        )
                    expect[use_case] = code

        required: set[UseCase] = set()
        if "required" in entries:
            req_node = entries["required"][1]
            req_value = self.value(req_node, f"{key}.required")
            if isinstance(req_value, bool):
                required = set(use_cases) if req_value else set()
            else:
                if not isinstance(req_node, SequenceNode):
                    self.expected(
                        req_node,
                        f"{key}.required",
                        "expected a list of use cases or true/false",
                        req_value,
                        "write e.g. [chat], or true for all of this model's use cases",
                    )
                for index, item in enumerate(req_node.value):
                    sub = f"{key}.required[{index}]"
                    use_case = self.use_case(item, sub)
                    self.listed(item, sub, use_case, use_cases, "required")
                    required.add(use_case)

        endpoints: dict[UseCase, Endpoint] = {}
        if "endpoints" in entries:
            for uc_name, uc_node, ep_node in self.mapping(
                entries["endpoints"][1], f"{key}.endpoints", None, "use case: {base_url, model, api_key_env}"
            ):
                sub = f"{key}.endpoints.{uc_name}"
                use_case = self.use_case(uc_node, sub)
                self.listed(uc_node, sub, use_case, use_cases, "endpoints")
                fields = {name: node for name, _k, node in self.mapping(ep_node, sub, None, "endpoint fields")}
                values = {name: self.value(node, f"{sub}.{name}") for name, node in fields.items()}
                try:
                    endpoints[use_case] = parse_endpoint(use_case, values)
                except EndpointError as error:
                    self.fail(fields.get(error.key, ep_node), f"{sub}.{error.key}".rstrip("."), str(error))

        if "semantic" in entries:
            sem_node = entries["semantic"][1]
            semantic = self.boolean(sem_node, f"{key}.semantic")
            if semantic and source == "zoo" and not _zoo_real(model_id):
                self.fail(
                    sem_node,
                    f"{key}.semantic",
                    "zoo checkpoints have random weights, so answers cannot be right, got true; "
                    "fix: remove it or write false",
                )
        elif defaults.semantic is not None:
            semantic = defaults.semantic and (source != "zoo" or _zoo_real(model_id))
        else:
            semantic = source != "zoo" or _zoo_real(model_id)

        return ModelSpec(
            id=model_id,
            revision=revision,
            name=name,
            source=source,
            path=path,
            use_cases=tuple(use_cases),
            flags=flags,
            profiles=FrozenMap(profiles),
            env=env,
            expect=FrozenMap(expect),
            required=frozenset(required),
            semantic=semantic,
            timeouts=timeouts,
            description=description,
            where=where,
            notes=notes,
            endpoints=FrozenMap(endpoints),
        )

    def listed(self, node: Node, key: str, use_case: UseCase, use_cases: list[UseCase], what: str) -> None:
        if use_case not in use_cases:
            self.fail(
                node,
                key,
                f"'{use_case}' is not among this model's use_cases ({', '.join(use_cases)}); "
                f"fix: add it to use_cases or remove it from {what}",
            )

    def source(self, node: Node, key: str, model_id: str) -> tuple[str, Path | None]:
        if not model_id:
            self.fail(node, key, "empty id; fix: write a hub id (owner/name), a path, or zoo:<member>")
        if model_id.startswith("zoo:"):
            member = model_id.removeprefix("zoo:")
            try:
                members: Mapping[str, Any] = importlib.import_module("harness.zoo.core").MEMBERS
            except (ImportError, AttributeError) as error:
                self.fail(
                    node,
                    key,
                    f"cannot check zoo member {member!r}: harness.zoo.core does not load ({error}); "
                    "fix: repair the harness installation",
                )
            if member not in members:
                names = sorted(members)
                self.fail(
                    node,
                    key,
                    f"unknown zoo member {member!r}; members: {', '.join(names)}; "
                    f"fix: {_closest(member, names)}use one of them",
                )
            return "zoo", None
        if model_id.startswith(("/", "~", "./", "../")) or model_id in (".", ".."):
            local = Path(model_id).expanduser()
            if not local.is_absolute():
                local = self.file.parent / local  # relative to the matrix file, not to wherever pytest runs
            return "local", Path(_normalise(local))
        if not _HUB_RE.match(model_id) or "--" in model_id or ".." in model_id:
            self.fail(
                node,
                key,
                f"not a hub id (owner/name) nor a local path, got {model_id!r}; "
                "fix: write owner/name, or start a local path with '/', '~', './' or '../'",
            )
        return "hub", None

    def cells(self, models: list[ModelSpec], items: list[Node]) -> tuple[Cell, ...]:
        cells: list[Cell] = []
        seen: dict[str, str] = {}
        servers: dict[str, str] = {}
        for index, (spec, item) in enumerate(zip(models, items, strict=True)):
            for profile in spec.profile_names:
                server_key = f"{spec.name}-{profile}"
                if server_key in servers:
                    self.fail(
                        item,
                        f"models[{index}]",
                        f"server {server_key!r} collides with the one from {servers[server_key]} "
                        "(servers are name-profile); fix: rename the model or the profile",
                    )
                servers[server_key] = spec.where
                flags = spec.profile_flags(profile)
                for use_case in spec.use_cases:
                    cell = Cell(
                        spec,
                        profile,
                        use_case,
                        flags,
                        spec.expect.get(use_case),
                        use_case in spec.required,
                        spec.endpoints.get(use_case),
                    )
                    if cell.id in seen:
                        self.fail(
                            item,
                            f"models[{index}]",
                            f"cell id {cell.id!r} collides with the one from {seen[cell.id]} "
                            "(ids are name-profile-use_case); fix: rename the model or the profile",
                        )
                    seen[cell.id] = spec.where
                    cells.append(cell)
        return tuple(cells)


def _normalise(path: Path) -> str:
    # Lexical normalisation (no symlink resolution): the path may not exist on the machine that reads the matrix.
    return os.path.normpath(path)
