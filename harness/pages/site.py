"""The static site: an index (headline, grid, since-the-previous-run panel, environment), a page per cell, per run,
per use case and per model, rendered from the history file alone (run directories may be gone).

Links are relative and nothing is fetched: the site works from file:// and from GitHub Pages alike. Verdicts are a
symbol and a word, colour only repeats them.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from markupsafe import escape

from harness.history import (
    METRIC_LABELS,
    PANEL_ORDER,
    CellChange,
    Comparison,
    Entry,
    HistoryStore,
    PerfStatus,
    RunRow,
    comparison_of,
    short_revision,
)
from harness.matrix import LIVE_LABEL
from harness.pages.figures import figures_of
from harness.pages.grid import by_severity, grid_of
from harness.pages.logview import log_view
from harness.pages.scrub import scrub
from harness.pages.svg import Point, trend_plot
from harness.results import CellRecord
from harness.verdicts import Verdict

TEMPLATES = Path(__file__).parent / "templates"
SYMBOL: Mapping[str, str] = {
    "PASS": "✔",
    "FAIL": "✘",
    "ERROR": "⚠",
    "SKIP": "⊘",
    "XFAIL": "☒",  # not FAIL's ✘: the compact grid shows a symbol and a code, and must tell the two apart
    "XPASS": "★",
    "NOT RUN": "·",
}
TRANSITION_SYMBOL: Mapping[str, str] = {
    "NEW FAILURE": "▼",
    "FIXED": "▲",
    "FLAKY": "≈",
    "MISSING": "?",
    "RECURRING": "■",
    "NEW CELL": "+",
}
RUN_PAGES = 50  # the latest runs get a page each; older ones stay in the history file (and its cell pages)
PLOTS = (("ttft_p50", "s"), ("boot_s", "s"), ("peak_vram", "GiB"), ("peak_rss", "GiB"))
LONG_VIEWS = ("cells", "runs", "usecases", "models")  # the index's subdirectories, rewritten on every write


def slug(name: str) -> str:
    """A file name for a cell or run id that is safe on any file system and in a URL."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _verdict_html(verdict: str, code: str | None = None) -> str:
    symbol = SYMBOL.get(verdict, "?")
    css = verdict.lower().replace(" ", "-")
    code_text = f" {code}" if code and verdict != "PASS" else ""
    return f'<span class="v v-{css}">{symbol} {verdict}{code_text}</span>'


def breakable(text: str) -> markupsafe.Markup:
    """Escaped text that may wrap after each underscore: use case names and codes in narrow grid columns."""
    return escape(text).replace("_", markupsafe.Markup("_<wbr>"))


def _mark_html(entry: Entry, transition: str | None = None) -> str:
    """A grid cell: the verdict's symbol and code (breakable at underscores), and the transition's symbol."""
    verdict = entry.verdict.value
    css = verdict.lower().replace(" ", "-")
    code = f" {breakable(entry.code)}" if entry.code and entry.verdict is not Verdict.PASS else ""
    shown = transition if transition in TRANSITION_SYMBOL and transition != "NEW CELL" else None
    mark = f' <span class="t">{TRANSITION_SYMBOL[shown]}</span>' if shown else ""
    return f'<span class="v v-{css}">{SYMBOL.get(verdict, "?")}{code}</span>{mark}'


def _environment(run: RunRow) -> list[tuple[str, str]]:
    env = run.environment
    rows = [("run", run.run_id), ("started", run.run_at), ("machine", run.gpu), ("vLLM", run.vllm_version or "?")]
    if env is not None:
        rows += [
            (
                "harness",
                f"{env.harness_version or '?'} (git {env.harness_git_sha[:10] if env.harness_git_sha else '-'})",
            ),
            ("engine packages", ", ".join(f"{k} {v}" for k, v in sorted(env.engine_versions.items())) or "?"),
            ("python", env.python or "?"),
            ("platform", env.platform or "?"),
            ("driver", env.driver or "?"),
            ("matrix", f"{env.matrix or '?'} (sha256 {env.matrix_sha256[:12] if env.matrix_sha256 else '-'})"),
        ]
    return rows


def _scrubbed(value: Any) -> Any:
    """Every printed value is scrubbed; markup the site built itself stays markup."""
    if isinstance(value, markupsafe.Markup):
        return markupsafe.Markup(scrub(str(value)))
    return scrub(value) if isinstance(value, str) else value


class _Loaded:
    """The whole history read once, so that fifty run pages do not each query every cell's history."""

    def __init__(self, entries: list[Entry], runs: list[RunRow]) -> None:
        self.by_cell: dict[tuple[str, str], list[Entry]] = {}
        self.by_run: dict[str, list[Entry]] = {}
        self.position: dict[tuple[str, str], int] = {}  # (run id, cell id) -> index in its cell's list
        for entry in entries:  # ordered by cell, machine, time
            same = self.by_cell.setdefault((entry.key.cell_id, entry.key.gpu), [])
            self.position[(entry.run_id, entry.key.cell_id)] = len(same)
            same.append(entry)
            self.by_run.setdefault(entry.run_id, []).append(entry)
        self.previous: dict[str, RunRow | None] = {}
        last: dict[str, RunRow] = {}
        for run in runs:  # oldest first
            self.previous[run.run_id] = last.get(run.gpu)
            last[run.gpu] = run

    def history(self, cell_id: str, run: RunRow) -> list[Entry]:
        """The cell's results on the run's machine up to the run (all of them when the cell is missing from it)."""
        same = self.by_cell.get((cell_id, run.gpu), [])
        position = self.position.get((run.run_id, cell_id))
        if position is not None:
            return same[: position + 1]
        return [e for e in same if (e.run_at, e.run_id) <= (run.run_at, run.run_id)]

    def comparison(self, run: RunRow) -> Comparison:
        previous = self.previous.get(run.run_id)
        histories = {e.key.cell_id: self.history(e.key.cell_id, run) for e in self.by_run.get(run.run_id, [])}
        before = self.by_run.get(previous.run_id, []) if previous is not None else []
        return comparison_of(run, previous, histories, before)


def page_environment() -> jinja2.Environment:
    """The pages' templates with their filters; every value rendered is scrubbed of secrets."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_scrubbed,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["verdict"] = lambda v, code=None: markupsafe.Markup(_verdict_html(str(v), code))
    env.filters["mark"] = lambda e, transition=None: markupsafe.Markup(_mark_html(e, transition))
    env.filters["breakable"] = lambda text: breakable(str(text))
    env.filters["slug"] = slug
    env.filters["rev"] = short_revision
    env.globals["TRANSITION_SYMBOL"] = TRANSITION_SYMBOL
    env.globals["METRIC_LABELS"] = METRIC_LABELS
    env.globals["LIVE_LABEL"] = LIVE_LABEL
    return env


class Site:
    """Writes the site for one run (the latest by default) of a history file into ``out``."""

    def __init__(self, store: HistoryStore, out: Path) -> None:
        self.store = store
        self.out = out
        self.env = page_environment()

    def write(self, run_id: str | None = None) -> Path:
        run = self.store.run(run_id) if run_id else self.store.latest()
        if run is None:
            raise ValueError(f"{run_id or 'no run'} in {self.store.path}: add a run first (vllm-compat history add)")
        for sub in LONG_VIEWS:
            shutil.rmtree(self.out / sub, ignore_errors=True)
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        self.runs = self.store.runs()
        self.loaded = _Loaded(self.store.everything(), self.runs)
        comparison = self.loaded.comparison(run)
        entries = self.loaded.by_run.get(run.run_id, [])
        context = self._run_context(run, comparison, entries, prefix="")
        self._page("index.html", "index.html.j2", context | {"long_view": True})
        self._long_views(context)
        for other in self.runs[-RUN_PAGES:]:
            if other.run_id == run.run_id:
                context = self._run_context(run, comparison, entries, prefix="../")
            else:
                other_entries = self.loaded.by_run.get(other.run_id, [])
                context = self._run_context(other, self.loaded.comparison(other), other_entries, prefix="../")
            self._page(f"runs/{slug(other.run_id)}.html", "run.html.j2", context)
        for change in comparison.cells:
            self._cell_page(run, change)
        return self.out / "index.html"

    def _run_context(self, run: RunRow, comparison: Comparison, entries: list[Entry], prefix: str) -> dict[str, Any]:
        working = sum(1 for e in entries if e.verdict is Verdict.PASS)
        live = sum(1 for e in entries if e.live)
        headline = f"{working} of {len(entries)} cells working"
        if live:  # a live endpoint's PASS is about a server this run did not start: the headline says so
            live_working = sum(1 for e in entries if e.live and e.verdict is Verdict.PASS)
            headline += f" ({live} answered by a {LIVE_LABEL}, {live_working} of them working)"
        counts: dict[str, int] = {}
        for entry in entries:
            counts[entry.verdict.value] = counts.get(entry.verdict.value, 0) + 1
        flagged = (PerfStatus.REGRESSION, PerfStatus.IMPROVEMENT)  # noisy / unconfirmed: on the cell pages only
        regressions = [(c, d) for c in comparison.cells for d in c.perf if d.status in flagged]
        moved: dict[str, int] = {}  # transitions counted for the line under the headline: the news before the grid
        for change in comparison.panel():
            if change.transition.value != "NEW CELL":
                moved[change.transition.value] = moved.get(change.transition.value, 0) + 1
        return {
            "prefix": prefix,
            "run": run,
            "headline": headline,
            "counts": sorted(counts.items()),
            "grid": grid_of(entries),
            "long_view": False,  # the use case and model pages are the index run's: run pages do not link them
            "changes": comparison.by_cell(),
            "panel": comparison.panel(),
            "moved": list(moved.items()) if comparison.previous is not None else [],
            "panel_order": [t.value for t in PANEL_ORDER],
            "perf": regressions,
            "previous": comparison.previous,
            "environment": _environment(run),
            "runs": list(reversed(self.runs))[:RUN_PAGES],
            "entries": entries,
        }

    def _long_views(self, context: dict[str, Any]) -> None:
        """A page per use case and per model of the index's run: every cell in full, the ones to read first first."""
        entries: list[Entry] = context["entries"]
        grid = context["grid"]
        for use_case, summary in grid.use_cases.items():
            listed = by_severity(e for e in entries if e.use_case == use_case)
            page = {"kind": "use case", "name": use_case, "tally": summary, "listed": listed, "show": "model"}
            self._page(f"usecases/{slug(use_case)}.html", "list.html.j2", context | page | {"prefix": "../"})
        for model, summary in grid.models.items():
            listed = by_severity(e for e in entries if e.model == model)
            page = {"kind": "model", "name": model, "tally": summary, "listed": listed, "show": "use case"}
            self._page(f"models/{slug(model)}.html", "list.html.j2", context | page | {"prefix": "../"})

    def _cell_page(self, run: RunRow, change: CellChange) -> None:
        entry = change.now or change.before
        if entry is None:
            return
        history = self.loaded.history(change.cell_id, run)
        record: CellRecord | None = self.store.record(entry.run_id, change.cell_id)
        plots = []
        for metric, unit in PLOTS:
            points = []
            for past in history:
                value = past.figures.get(metric)
                if value is None:
                    continue
                shown = value / 2**30 if unit == "GiB" else value
                label = f"vLLM {past.key.vllm_version or '?'} · {short_revision(past.key.revision)}"
                tooltip = f"{past.run_id}: {past.verdict} {shown:.4g} {unit} ({label})"
                points.append(Point(label, shown, tooltip))
            if points:
                plots.append(markupsafe.Markup(trend_plot(METRIC_LABELS[metric], points, unit)))
        self._page(
            f"cells/{slug(change.cell_id)}.html",
            "cell.html.j2",
            {
                "prefix": "../",
                "run": run,
                "change": change,
                "entry": entry,
                "record": record,
                "history": list(reversed(history)),
                "strip": history[-30:],
                "plots": plots,
                "figures": figures_of(entry, record),
                "log": log_view(entry.log_tail, entry.verdict, record.evidence if record is not None else ""),
            },
        )

    def _page(self, name: str, template: str, context: dict[str, Any]) -> None:
        html = self.env.get_template(template).render(**context)
        (self.out / name).write_text(scrub(html), encoding="utf-8")


def write_site(store: HistoryStore, out: Path, run_id: str | None = None) -> Path:
    """Write the pages for ``run_id`` (default: the latest run) and return the index's path."""
    return Site(store, out).write(run_id)
