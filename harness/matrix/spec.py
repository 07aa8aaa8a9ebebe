"""The matrix's typed values: frozen models, cells and the matrix itself, as the later stages read them.

Everything here is immutable and hashable (FrozenMap for flags and env), so cells can key caches and reach xdist
workers unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from harness.matrix.endpoints import Endpoint
from harness.server import flags_to_argv
from harness.usecases import UseCase
from harness.zoo import zoo_member_name

K = TypeVar("K")
V = TypeVar("V")

DEFAULT_PROFILE = "default"


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


def merge_flags(base: Mapping[str, Any], over: Mapping[str, Any]) -> FrozenMap[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return FrozenMap(merged)


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
    # gate tolerances: figure -> relative regression allowed before the gate blocks ({"ttft_p50": 0.10})
    gate: Mapping[str, float] = field(default_factory=FrozenMap)
    # boot on dummy weights before fetching any: True/False as the matrix says; None: hub models not yet cached
    dry_boot: bool | None = None
    # a small model co-located on one GPU beside other sharers, taking its gpu-memory-utilization as its fraction
    share_gpu: bool = False
    # GGUF: which file of a directory or repo of GGUF files (by name, or by quant tag), and the transformers tokenizer
    # vLLM is given with --tokenizer (a hub id, zoo:<member>, or a local path resolved against the matrix file).
    gguf_file: str | None = None
    quant: str | None = None
    tokenizer: str | None = None
    # per-use-case settings of the probes (``options:``, harness.matrix.options), e.g. {concurrency: {streams: 16}}
    options: Mapping[UseCase, Mapping[str, Any]] = field(default_factory=FrozenMap)

    @property
    def zoo_member(self) -> str | None:
        return zoo_member_name(self.id)

    @property
    def profile_names(self) -> tuple[str, ...]:
        return (DEFAULT_PROFILE, *self.profiles)

    def profile_flags(self, profile: str) -> Mapping[str, Any]:
        """The fully merged flags for one profile: model flags updated with the profile's (None removes)."""
        if profile == DEFAULT_PROFILE:
            return self.flags
        return merge_flags(self.flags, self.profiles[profile])


# The figures a model's `gate:` may bound (history keeps them per cell; lower is better for all of them).
GATE_METRICS: tuple[str, ...] = ("ttft_p50", "tpot_p50", "e2e_p50", "boot_s", "peak_vram", "peak_rss")


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
    def options(self) -> Mapping[str, Any]:
        """The probe's settings from the model's ``options:`` for this use case ({} : the probe's defaults)."""
        return self.model.options.get(self.use_case, FrozenMap())

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
    engine_version: str | None = None  # ``engine: {vllm: ...}``: the vLLM version named by the matrix, if any
    deployments: Mapping[str, Deployment] = field(default_factory=FrozenMap)  # `deployments:`, by name

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


@dataclass(frozen=True)
class Service:
    """One service of a deployment: a model entry of the matrix as the stack runs it (its share of the GPU, the GPUs
    it is pinned to, the use cases it must serve). ``model`` is that entry with the service's flags and env merged in
    (as its only flag set) and the service's own name, ``<deployment>.<service>``, so its cells and its server are
    its own."""

    name: str
    model: ModelSpec
    source_model: str  # the name of the `models:` entry it runs
    profile: str  # the profile of that entry whose flags it starts from
    share: float | None  # gpu-memory-utilization: the fraction of each of its GPUs vLLM budgets for it
    gpus: tuple[int, ...] | None  # pinned through CUDA_VISIBLE_DEVICES; None: vLLM's own choice (the first ones)
    port: int | None  # the stack's port for it (informational: the harness boots on a port it owns)
    where: str

    @property
    def devices(self) -> tuple[int, ...]:
        """The GPUs it lands on: the pinned ones, else the first tensor-parallel-size GPUs, as vLLM picks them."""
        if self.gpus is not None:
            return self.gpus
        return tuple(range(int(self.model.flags.get("tensor-parallel-size") or 1)))

    @property
    def cells(self) -> tuple[Cell, ...]:
        m = self.model
        return tuple(
            Cell(m, DEFAULT_PROFILE, u, m.flags, m.expect.get(u), u in m.required, m.endpoints.get(u))
            for u in m.use_cases
        )

    @property
    def server_key(self) -> str:
        return f"{self.model.name}-{DEFAULT_PROFILE}"


@dataclass(frozen=True)
class Deployment:
    """A stack: services that run together on shared GPUs, booted one after another and probed while all are up."""

    name: str
    services: tuple[Service, ...]
    where: str
    description: str = ""

    @property
    def cells(self) -> tuple[Cell, ...]:
        return tuple(cell for service in self.services for cell in service.cells)

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)
