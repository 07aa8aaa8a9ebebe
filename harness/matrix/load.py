"""matrix.yaml -> frozen, typed cells: model x flag profile x use case, with expectations and gate requirements.

Every mistake in a matrix file is a ``MatrixError`` whose message is one line naming file:line, the key path, the
rule, the actual value and the fix. The file is composed with ``yaml.compose`` so every value keeps its line.
"""

from __future__ import annotations

import hashlib
import os.path
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import Node, ScalarNode, SequenceNode

from harness import zoo
from harness.codes import CODES
from harness.matrix.deployments import DeploymentsReader
from harness.matrix.endpoints import Endpoint, EndpointError, parse_endpoint, parse_live_endpoint
from harness.matrix.options import read_options
from harness.matrix.spec import (
    DEFAULT_PROFILE,
    GATE_METRICS,
    Cell,
    FrozenMap,
    Matrix,
    MatrixError,
    ModelSpec,
    Timeouts,
    merge_flags,
)
from harness.matrix.yaml_nodes import NodeReader, closest, kind, short
from harness.server import HARNESS_OWNED_FLAGS
from harness.usecases import UseCase

DEFAULT_TIMEOUTS = (900.0, 120.0)  # boot, probe: when the matrix's defaults say nothing

TOP_KEYS = ("description", "engine", "defaults", "models", "deployments")
ENGINE_KEYS = ("vllm",)
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
    "endpoint",
    "dry_boot",
    "gate",
    "share_gpu",
    "gguf_file",
    "quant",
    "tokenizer",
    "options",
)
TIMEOUT_KEYS = ("boot", "probe")
# What a live endpoint entry cannot have: the server runs with its own checkpoint, flags and environment.
NOT_FOR_LIVE: dict[str, str] = {
    "id": "the server names its model: write it as endpoint.model",
    "revision": "the server loaded what it loaded: /v1/models' root says what",
    "flags": "the server was started with its own flags",
    "profiles": "the server was started with its own flags",
    "env": "the server was started with its own environment",
    "dry_boot": "nothing boots for a live endpoint",
    "gguf_file": "the server loaded its own checkpoint",
    "quant": "the server loaded its own checkpoint",
    "tokenizer": "the server loaded its own tokenizer",
    "endpoints": "every use case of a live endpoint entry is probed at its endpoint",
}

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_FLAG_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_VERSION_RE = re.compile(r"^\d+(\.\d+){1,3}(\.post\d+)?$")
_HUB_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*$")

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


def demo_matrix_path() -> Path:
    """The built-in demo matrix over the zoo, shipped as package data."""
    return Path(str(resources.files("harness") / "matrices" / "demo.yaml"))


def _zoo_real(model_id: str) -> bool:
    """A zoo id that points at a real checkpoint (not random weights): semantic checks are meaningful for it."""
    name = zoo.zoo_member_name(model_id)
    member = zoo.MEMBERS.get(name) if name is not None else None
    return member is not None and member.real_weights


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
    except RecursionError:  # the composer recurses once per level: thousands of nested brackets
        raise MatrixError(
            f"{shown}: invalid YAML: nested deeper than the YAML reader allows; fix: flatten the nesting",
            file=shown,
        ) from None
    except yaml.reader.ReaderError as error:  # a character YAML forbids (a control character), found by position
        line = text.count("\n", 0, error.position) + 1
        raise MatrixError(
            f"{shown}:{line}: invalid YAML: character {error.character!r} is not allowed in YAML "
            f"(offset {error.position}); fix: remove it or quote it as an escape",
            file=shown,
            line=line,
        ) from None
    except yaml.YAMLError as error:
        flat = " ".join(str(error).split())  # one line, whatever the error's own layout
        raise MatrixError(f"{shown}: invalid YAML: {flat}; fix: check the file's syntax", file=shown) from None
    _bounded(root, shown)
    loader = _Loader(shown, file.resolve())
    return loader.matrix(root, hashlib.sha256(data).hexdigest())


# --- internals ---------------------------------------------------------------------------------------------------


# A matrix of a thousand models is a few tens of thousands of nodes. YAML aliases let a few lines name billions
# (nine levels of nine aliases: 9**9 leaves), which any later walk over the values (hashing, json) would expand.
MAX_NODES = 200_000


def _bounded(root: Node | None, shown: str) -> None:
    """MatrixError when the document, its aliases expanded, holds more than MAX_NODES nodes (counted up to it)."""
    stack: list[Node] = [root] if root is not None else []
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            line = node.start_mark.line + 1
            raise MatrixError(
                f"{shown}:{line}: the document expands to more than {MAX_NODES} YAML nodes (aliases multiply what "
                "they name); fix: write the values out instead of nesting aliases",
                file=shown,
                line=line,
            )
        if isinstance(node.value, list):
            for item in node.value:
                stack.extend(item if isinstance(item, tuple) else (item,))


def _derive_name(model_id: str) -> str:
    tail = (zoo.zoo_member_name(model_id) or model_id).rstrip("/").rsplit("/", 1)[-1]
    name = re.sub(r"[^a-z0-9._-]+", "-", tail.lower()).strip("-._")
    return name or "model"


@dataclass
class _Defaults:
    flags: FrozenMap[str, Any]
    env: FrozenMap[str, Any]
    timeouts: Timeouts
    semantic: bool | None


class _Loader(NodeReader):
    """The matrix's rules over the node tree, section by section."""

    # -- sections --

    def matrix(self, root: Node | None, sha256: str) -> Matrix:
        if root is None:
            raise MatrixError(
                f"{self.shown}:1: empty matrix; fix: write 'models:' with at least one entry", file=self.shown, line=1
            )
        description = ""
        engine_version: str | None = None
        defaults = _Defaults(FrozenMap(), FrozenMap(), Timeouts(*DEFAULT_TIMEOUTS), None)
        models_node: Node | None = None
        entries = self.mapping(root, "", TOP_KEYS, "matrix sections (engine, defaults, models)")
        for name, _key_node, node in entries:
            if name == "description":
                description = self.text(node, "description", "write free text")
            elif name == "engine":
                engine_version = self.engine(node)
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
        spec_items: list[Node] = []  # each spec's entry (a live entry with several models gives several specs)
        for index, item in enumerate(items):
            for spec in self.model(item, f"models[{index}]", defaults):
                if spec.name in names:
                    self.fail(
                        item,
                        f"models[{index}].name",
                        f"duplicate model name {spec.name!r} (also models[{names[spec.name]}]); "
                        "fix: give one of them a distinct 'name:'",
                    )
                names[spec.name] = index
                models.append(spec)
                spec_items.append(item)
        cells = self.cells(models, spec_items)
        servers: dict[str, tuple[Cell, ...]] = {}
        for cell in cells:
            servers[cell.server_key] = (*servers.get(cell.server_key, ()), cell)
        deployments = FrozenMap[str, Any]()
        for name, _key_node, node in entries:
            if name == "deployments":
                reader = DeploymentsReader(self, flags=self.flags, env=self.env, use_case=self.use_case)
                deployments = reader.deployments(node, tuple(models))
        return Matrix(
            self.file, sha256, tuple(models), cells, description, FrozenMap(servers), engine_version, deployments
        )

    def engine(self, node: Node) -> str | None:
        """``engine: {vllm: VERSION}``: the vLLM version the matrix is run on (``--engine-version`` overrides it)."""
        if isinstance(node, ScalarNode) and self.value(node, "engine") is None:
            return None
        version: str | None = None
        for _name, _key_node, value in self.mapping(node, "engine", ENGINE_KEYS, "engine settings (vllm)"):
            if not isinstance(value, ScalarNode) or not isinstance(self.value(value, "engine.vllm"), str):
                shown = self.value(value, "engine.vllm")
                fix = f"quote the version, e.g. vllm: '{shown}.0'" if isinstance(shown, float) else "e.g. vllm: 0.31.0"
                self.expected(value, "engine.vllm", "expected a vLLM version string such as 0.31.0", shown, fix)
            version = str(value.value).strip()
            if not _VERSION_RE.match(version):
                self.expected(
                    value, "engine.vllm", "expected a released vLLM version (digits and dots)", version, "e.g. 0.31.0"
                )
        return version

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
                flags = merge_flags({}, self.flags(value, key))
            elif name == "env":
                env = merge_flags({}, self.env(value, key))
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
            if name in HARNESS_OWNED_FLAGS:
                self.fail(key_node, sub, f"managed by the harness ({HARNESS_OWNED_FLAGS[name]}); fix: remove it")
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
            node, key, f"expected bool, int, float, str, list or mapping, not a {kind(value)}", value, "quote it"
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
            hint = closest(value, valid) if isinstance(value, str) else ""
            self.fail(
                node, key, f"unknown use case {short(value)}; valid: {', '.join(valid)}; fix: {hint}use one of them"
            )
        return UseCase(value)

    def model(self, node: Node, key: str, defaults: _Defaults) -> list[ModelSpec]:
        """The entry's model; a live endpoint entry with ``models:`` gives one per served model."""
        entries = {
            name: (key_node, value) for name, key_node, value in self.mapping(node, key, MODEL_KEYS, "model keys")
        }
        where = f"{self.shown}:{node.start_mark.line + 1}"
        live_node = entries["endpoint"][1] if "endpoint" in entries else None
        if live_node is not None:
            for banned, why in NOT_FOR_LIVE.items():
                if banned in entries:
                    self.fail(
                        entries[banned][0],
                        f"{key}.{banned}",
                        f"a live endpoint is a server this run does not start ({why}); fix: remove '{banned}'",
                    )
            live_fields = {n: v for n, _k, v in self.mapping(live_node, f"{key}.endpoint", None, "endpoint fields")}
            served = self.value(live_fields["model"], f"{key}.endpoint.model") if "model" in live_fields else None
            model_id = served if isinstance(served, str) and served.strip() else "endpoint"
            source, path = "endpoint", None
        else:
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
            flags = merge_flags(flags, self.flags(entries["flags"][1], f"{key}.flags"))

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
            env = merge_flags(env, self.env(entries["env"][1], f"{key}.env"))

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
                        hint = closest(code, list(CODES)) if isinstance(code, str) else ""
                        self.fail(
                            code_node,
                            sub,
                            f"unknown failure code {short(code)}; codes are listed in harness/codes.py "
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

        gate: dict[str, float] = {}
        if "gate" in entries:
            for metric, metric_node, limit_node in self.mapping(
                entries["gate"][1], f"{key}.gate", None, "figure: 'N%' (e.g. ttft_p50: 10%)"
            ):
                sub = f"{key}.gate.{metric}"
                if metric not in GATE_METRICS:
                    hint = closest(metric, list(GATE_METRICS))
                    self.fail(
                        metric_node, sub, f"unknown figure; the gate bounds {', '.join(GATE_METRICS)}; fix: {hint}"
                    )
                limit = self.value(limit_node, sub)
                match = _PERCENT_RE.match(limit) if isinstance(limit, str) else None
                if match is None:
                    self.expected(limit_node, sub, "expected a percentage", limit, "write e.g. '10%'")
                gate[metric] = float(match.group(1)) / 100

        options: FrozenMap[UseCase, FrozenMap[str, int]] = FrozenMap()
        if "options" in entries:
            options = read_options(self, entries["options"][1], f"{key}.options", use_cases)
        dry_boot = self.boolean(entries["dry_boot"][1], f"{key}.dry_boot") if "dry_boot" in entries else None
        share_gpu = "share_gpu" in entries and self.share_gpu(entries["share_gpu"][1], key, flags, profiles)
        gguf_file, quant, tokenizer = self.gguf(entries, key, flags, profiles)

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

        spec = ModelSpec(
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
            gate=FrozenMap(gate),
            dry_boot=dry_boot,
            share_gpu=share_gpu,
            gguf_file=gguf_file,
            quant=quant,
            tokenizer=tokenizer,
            options=options,
        )
        if live_node is None:
            return [spec]
        values = {name: self.value(value, f"{key}.endpoint.{name}") for name, value in live_fields.items()}
        try:
            served_models = parse_live_endpoint(values, use_cases, semantic)
        except EndpointError as error:
            self.fail(live_fields.get(error.key, live_node), f"{key}.endpoint.{error.key}".rstrip("."), str(error))
        if len(served_models) == 1:
            return [replace(spec, endpoints=FrozenMap(by_use_case)) for by_use_case in served_models.values()]
        prefix = f"{name}." if "name" in entries else ""
        return [
            replace(spec, id=served, name=prefix + _derive_name(served), endpoints=FrozenMap(by_use_case))
            for served, by_use_case in served_models.items()
        ]

    def share_gpu(
        self, node: Node, key: str, flags: Mapping[str, Any], profiles: Mapping[str, Mapping[str, Any]]
    ) -> bool:
        """``share_gpu: true``: every profile runs on one GPU with an explicit gpu-memory-utilization, its fraction."""
        if not self.boolean(node, f"{key}.share_gpu"):
            return False
        for profile in (DEFAULT_PROFILE, *profiles):
            merged = flags if profile == DEFAULT_PROFILE else merge_flags(flags, profiles[profile])
            where = f"{key}.share_gpu" + (f" (profile {profile})" if profile != DEFAULT_PROFILE else "")
            if merged.get("gpu-memory-utilization") is None:
                self.fail(
                    node,
                    where,
                    "a model that shares a GPU takes its gpu-memory-utilization as its fraction of the GPU, got no "
                    "gpu-memory-utilization flag (vLLM's default would claim nearly all of it); fix: add e.g. "
                    "flags: {gpu-memory-utilization: 0.3}, or remove share_gpu",
                )
            gpus = [
                (name, merged.get(name))
                for name in ("tensor-parallel-size", "pipeline-parallel-size", "data-parallel-size")
                if isinstance(merged.get(name), int) and merged.get(name, 1) > 1
            ]
            if gpus:
                asked = ", ".join(f"{name} {value}" for name, value in gpus)
                self.fail(
                    node,
                    where,
                    f"a model that shares a GPU runs on one GPU, got {asked}; fix: remove share_gpu, or those flags",
                )
        return True

    def gguf(
        self,
        entries: dict[str, tuple[Node, Node]],
        key: str,
        flags: FrozenMap[str, Any],
        profiles: dict[str, FrozenMap[str, Any]],
    ) -> tuple[str | None, str | None, str | None]:
        """``gguf_file`` / ``quant`` (which GGUF file of a directory or repo) and ``tokenizer`` (the transformers
        tokenizer vLLM is given with --tokenizer: a hub id, a path or zoo:<member>, resolved like a model id)."""
        gguf_file = quant = tokenizer = None
        if "gguf_file" in entries:
            node = entries["gguf_file"][1]
            gguf_file = self.text(node, f"{key}.gguf_file", "write the file's name, e.g. model-Q4_K_M.gguf").strip()
            if not gguf_file.endswith(".gguf") or gguf_file.startswith("/") or ".." in gguf_file.split("/"):
                self.expected(
                    node,
                    f"{key}.gguf_file",
                    "a .gguf file's path inside the model's directory or repository",
                    gguf_file,
                    "write e.g. 'model-Q4_K_M.gguf' (or give the file itself as the id)",
                )
        if "quant" in entries:
            node = entries["quant"][1]
            quant = self.text(node, f"{key}.quant", "write a quant tag such as Q4_K_M").strip()
            if not re.fullmatch(r"[A-Za-z0-9_]+", quant):
                self.expected(node, f"{key}.quant", "a GGUF quant tag (letters, digits, _)", quant, "write e.g. Q4_K_M")
            if gguf_file is not None:
                self.fail(node, f"{key}.quant", "gguf_file already names the file; fix: keep one of the two")
        if "tokenizer" in entries:
            node = entries["tokenizer"][1]
            tokenizer = self.text(node, f"{key}.tokenizer", "write a hub id, a path or zoo:<member>").strip()
            setters = ["flags"] if "tokenizer" in flags else []
            setters += [f"profiles.{p}" for p, f in profiles.items() if "tokenizer" in f]
            if setters:
                self.fail(
                    node,
                    f"{key}.tokenizer",
                    f"the tokenizer is also set in {setters[0]}; fix: keep the model's 'tokenizer:' only",
                )
            _source, path = self.source(node, f"{key}.tokenizer", tokenizer)
            tokenizer = str(path) if path is not None else tokenizer
        return gguf_file, quant, tokenizer

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
        member = zoo.zoo_member_name(model_id)
        if member is not None:
            if member not in zoo.MEMBERS:
                names = sorted(zoo.MEMBERS)
                self.fail(
                    node,
                    key,
                    f"unknown zoo member {member!r}; members: {', '.join(names)}; "
                    f"fix: {closest(member, names)}use one of them",
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
        # The models of one live entry (several behind one URL) go use case by use case, a, b, a, b: the server
        # must switch between them from one cell to the next.
        groups: list[tuple[Node, list[ModelSpec]]] = []
        for spec, item in zip(models, items, strict=True):
            if groups and groups[-1][0] is item:
                groups[-1][1].append(spec)
            else:
                groups.append((item, [spec]))
        for index, (item, specs) in enumerate(groups):
            for profile in specs[0].profile_names:
                for spec in specs:
                    server_key = f"{spec.name}-{profile}"
                    if server_key in servers:
                        self.fail(
                            item,
                            f"models[{index}]",
                            f"server {server_key!r} collides with the one from {servers[server_key]} "
                            "(servers are name-profile); fix: rename the model or the profile",
                        )
                    servers[server_key] = spec.where
                for use_case in specs[0].use_cases:
                    for spec in specs:
                        cell = Cell(
                            spec,
                            profile,
                            use_case,
                            spec.profile_flags(profile),
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
