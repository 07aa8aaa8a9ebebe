"""The use cases grouped for reading: the report's and the pages' grids put a group's columns side by side under one
header, so a wide matrix (dozens of models x 17 use cases) reads by what a model is for.

The table names use cases by their string values, including ones not yet in ``UseCase``: a name the table does not
know falls into ``DEFAULT_GROUP`` ("other", before "unservable"), so a new use case shows up in the grid instead of
breaking it. ``tally`` counts a run's cells per use case (or model) for the grids' "N of M working".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.usecases import ALL_USE_CASES
from harness.verdicts import Verdict

TEXT = "text"
MULTIMODAL = "multimodal"
SERVING = "serving features"
OTHER = "other"
UNSERVABLE = "unservable"
DEFAULT_GROUP = OTHER

# Group -> its use cases, in reading order. Groups print in this order; "other" (names not listed here) goes before
# "unservable", which vLLM never serves and so reads last.
GROUPS: Mapping[str, tuple[str, ...]] = {
    TEXT: ("chat", "completions", "stop_tokens", "embeddings", "rerank"),
    MULTIMODAL: ("vision", "video", "audio", "audio_chat"),
    SERVING: ("tools", "structured_output", "reasoning", "lora", "long_context", "concurrency"),
    OTHER: (),
    UNSERVABLE: ("tts", "image_generation"),
}
_GROUP_OF: Mapping[str, str] = {name: group for group, names in GROUPS.items() for name in names}
_ORDER: Mapping[str, int] = {name: i for i, name in enumerate(n for names in GROUPS.values() for n in names)}


def group_of(use_case: str) -> str:
    """The group a use case's column stands in; ``DEFAULT_GROUP`` for a name the table does not list."""
    return _GROUP_OF.get(str(use_case), DEFAULT_GROUP)


def _sort_key(use_case: str) -> tuple[int, int, str]:
    groups = list(GROUPS)
    known = _ORDER.get(use_case)
    # an unlisted name sorts by UseCase's order where it is a member, else by name
    fallback = ALL_USE_CASES.index(use_case) if use_case in ALL_USE_CASES else len(ALL_USE_CASES)
    return (groups.index(group_of(use_case)), known if known is not None else fallback, use_case)


@dataclass(frozen=True)
class Group:
    """One group of a grid: its name and the use cases of it the matrix uses, in reading order."""

    name: str
    use_cases: tuple[str, ...]


def grouped(use_cases: Iterable[str]) -> list[Group]:
    """The given use cases (duplicates ignored) as groups in reading order; groups with none of them left out."""
    ordered = sorted({str(u) for u in use_cases}, key=_sort_key)
    groups: list[Group] = []
    for name in ordered:
        group = group_of(name)
        if groups and groups[-1].name == group:
            groups[-1] = Group(group, (*groups[-1].use_cases, name))
        else:
            groups.append(Group(group, (name,)))
    return groups


@dataclass(frozen=True)
class Tally:
    """How one use case (or one model) did in a run: working means PASS, as in the headline."""

    name: str
    counts: Mapping[Verdict, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def working(self) -> int:
        return self.counts.get(Verdict.PASS, 0)

    def text(self) -> str:
        """ "3 of 5": working of all cells."""
        return f"{self.working} of {self.total}"

    def others(self) -> str:
        """The cells that are not working, by verdict in Verdict's order: "1 FAIL · 2 XFAIL"; "" when none."""
        return " · ".join(
            f"{self.counts[v]} {v.value}" for v in Verdict if v is not Verdict.PASS and self.counts.get(v)
        )


def tally(items: Iterable[tuple[str, Verdict]]) -> dict[str, Tally]:
    """(name, verdict) pairs counted per name, in the order names first appear."""
    counts: dict[str, dict[Verdict, int]] = {}
    for name, verdict in items:
        by_verdict = counts.setdefault(str(name), {})
        by_verdict[verdict] = by_verdict.get(verdict, 0) + 1
    return {name: Tally(name, by_verdict) for name, by_verdict in counts.items()}


__all__ = ["DEFAULT_GROUP", "GROUPS", "Group", "Tally", "group_of", "grouped", "tally"]
