"""A model entry's ``options:``: per-use-case settings of the probe (how many simultaneous streams, how long a needle
prompt), as opposed to ``flags:``, which go to vLLM.

    options:
      concurrency: {streams: 16}
      long_context: {needle_tokens: 2000}

Each use case that takes options names them here with their bounds; the probe holds the default (so a cell without
``options:`` and a live endpoint probe the same way). Every mistake names file:line, the key, the rule, the value and
the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from yaml.nodes import Node, ScalarNode

from harness.matrix.spec import FrozenMap
from harness.matrix.yaml_nodes import NodeReader, closest, short
from harness.usecases import UseCase


@dataclass(frozen=True)
class IntOption:
    """A whole-number option with its bounds: an example for the fix, and what it means for the error text."""

    minimum: int
    maximum: int
    example: int
    meaning: str


# The options each use case's probe reads (its default lives in the probe: harness.probes.<use case>).
OPTIONS: Mapping[UseCase, Mapping[str, IntOption]] = {
    # 256 simultaneous streams is already more than one engine batches by default (max-num-seqs 256 on a GPU)
    UseCase.CONCURRENCY: {"streams": IntOption(1, 256, 8, "simultaneous streams")},
    UseCase.LONG_CONTEXT: {
        "needle_tokens": IntOption(64, 10_000_000, 1000, "the needle prompt's length in tokens (capped at the context)")
    },
}


def read_options(
    reader: NodeReader, node: Node, key: str, use_cases: tuple[UseCase, ...] | list[UseCase]
) -> FrozenMap[UseCase, FrozenMap[str, int]]:
    """``options:`` of one model entry: use case -> {option: value}; MatrixError (file:line) on any mistake."""
    if isinstance(node, ScalarNode) and reader.value(node, key) is None:
        return FrozenMap()
    takes = ", ".join(u.value for u in OPTIONS)
    out: dict[UseCase, FrozenMap[str, int]] = {}
    for name, name_node, value_node in reader.mapping(node, key, None, "use case: {option: value}"):
        sub = f"{key}.{name}"
        valid = [u.value for u in UseCase]
        if name not in valid:
            reader.fail(
                name_node, sub, f"unknown use case {short(name)}; fix: {closest(name, valid)}use one of: {takes}"
            )
        use_case = UseCase(name)
        if use_case not in use_cases:
            reader.fail(
                name_node,
                sub,
                f"'{use_case}' is not among this model's use_cases ({', '.join(use_cases)}); "
                "fix: add it to use_cases or remove its options",
            )
        rules = OPTIONS.get(use_case)
        if rules is None:
            reader.fail(name_node, sub, f"{use_case} takes no options (those with options: {takes}); fix: remove it")
        values: dict[str, int] = {}
        for option, option_node, option_value in reader.mapping(value_node, sub, None, "option: value"):
            where = f"{sub}.{option}"
            rule = rules.get(option)
            if rule is None:
                known = list(rules)
                reader.fail(
                    option_node,
                    where,
                    f"unknown option; {use_case} takes {', '.join(known)}; fix: {closest(option, known)}"
                    "use one of them",
                )
            value = reader.value(option_value, where)
            if isinstance(value, bool) or not isinstance(value, int) or not rule.minimum <= value <= rule.maximum:
                reader.expected(
                    option_value,
                    where,
                    f"expected a whole number of {rule.meaning} from {rule.minimum} to {rule.maximum}",
                    value,
                    f"write e.g. {option}: {rule.example}",
                )
            values[option] = value
        out[use_case] = FrozenMap(values)
    return FrozenMap(out)
