"""The index's model x use case grid, built to be read at a glance at 50 models x 17 use cases x profiles.

Columns are the use cases the run has, grouped (``harness.usecase_groups``); rows are (model, profile); a cell is a
verdict symbol and its code, everything else is one click away on the cell page. Each use case and each row carries
its tally ("3 of 5" working), and the long view of one use case or one model is a page of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from harness.history import Entry
from harness.usecase_groups import Group, Tally, grouped, tally
from harness.verdicts import Verdict

# Which cells a use case's or a model's page lists first: what needs a reader, then what is as expected.
SEVERITY: tuple[Verdict, ...] = (
    Verdict.ERROR,
    Verdict.XPASS,
    Verdict.FAIL,
    Verdict.NOT_RUN,
    Verdict.XFAIL,
    Verdict.SKIP,
    Verdict.PASS,
)


@dataclass(frozen=True)
class GridRow:
    model: str
    profile: str
    cells: Mapping[str, Entry]  # by use case
    tally: Tally


@dataclass(frozen=True)
class Grid:
    groups: list[Group]
    rows: list[GridRow]
    use_cases: Mapping[str, Tally]  # by use case
    models: Mapping[str, Tally]  # by model, every profile
    profiles: list[str]
    group_starts: frozenset[str] = field(default=frozenset())  # the first use case of each group: a rule before it

    @property
    def columns(self) -> list[str]:
        return [u for group in self.groups for u in group.use_cases]

    @property
    def show_profile(self) -> bool:
        """A profile column only when the run has more than one profile (the one profile is named above)."""
        return len(self.profiles) > 1


def grid_of(entries: Iterable[Entry]) -> Grid:
    listed = list(entries)
    by_row: dict[tuple[str, str], dict[str, Entry]] = {}
    for entry in listed:
        by_row.setdefault((entry.model, entry.profile), {})[entry.use_case] = entry
    rows = [
        GridRow(model, profile, cells, tally((model, e.verdict) for e in cells.values())[model])
        for (model, profile), cells in sorted(by_row.items(), key=lambda item: (item[0][0].lower(), item[0]))
    ]
    groups = grouped(e.use_case for e in listed)
    return Grid(
        groups=groups,
        rows=rows,
        use_cases=tally((e.use_case, e.verdict) for e in listed),
        models=tally((e.model, e.verdict) for e in listed),
        profiles=sorted({e.profile for e in listed}),
        group_starts=frozenset(group.use_cases[0] for group in groups),
    )


def by_severity(entries: Iterable[Entry]) -> list[Entry]:
    """Entries with the ones that need a reader first, then by cell id."""
    return sorted(entries, key=lambda e: (SEVERITY.index(e.verdict), e.key.cell_id))


__all__ = ["SEVERITY", "Grid", "GridRow", "by_severity", "grid_of"]
