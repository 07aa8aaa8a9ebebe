"""Render a run directory's results.jsonl into STATUS.md: the honest headline first, then the evidence."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2

from harness.deploy import (
    MemoryPicture,
    ServiceVerdict,
    Timeline,
    memory_picture,
    peak_of,
    service_verdicts,
    verdict_line,
)
from harness.deploy import timeline as boot_timeline
from harness.engine import NO_GPU
from harness.live_cells import LIVE_LABEL, is_live, live_rows
from harness.results import CellRecord, DeploymentRecord, EnvironmentRecord, RunResults, ServerRecord, read_results
from harness.usecase_groups import Group, Tally, grouped, tally
from harness.verdicts import Verdict

STATUS_FILE = "STATUS.md"
_GLYPH: dict[Verdict, str] = {
    Verdict.PASS: "✅",
    Verdict.FAIL: "❌",
    Verdict.ERROR: "💥",
    Verdict.SKIP: "⏭️",
    Verdict.XFAIL: "☑️",
    Verdict.XPASS: "⚠️",
    Verdict.NOT_RUN: "⏸️",
}


def missing_shard_names(results: RunResults) -> list[str]:
    """The shards ("K/N") a merged run lacks: recorded by merge in the environment's merged_from."""
    merged = results.environment.merged_from if results.environment is not None else ()
    return [str(entry.get("shard")) for entry in merged if entry.get("missing")]


def headline(results: RunResults) -> str:
    """One sentence a reader can trust: working means a probe ran and passed, nothing else."""
    counts = results.counts()
    total = len(results.cells)
    working = counts[Verdict.PASS]
    parts = [f"**{working} of {total} cells working**"]
    live = sum(1 for cell in results.cells if cell.live)
    if live:  # a live endpoint's verdict is about a server the run did not start: said where the count is
        parts.append(f"{live} answered by a {LIVE_LABEL}")
    if counts[Verdict.XFAIL]:
        parts.append(f"{counts[Verdict.XFAIL]} failing as the matrix expects")
    unexpected = counts[Verdict.FAIL] + counts[Verdict.ERROR] + counts[Verdict.XPASS]
    parts.append(f"{unexpected} unexpected" if unexpected else "no surprises")
    if counts[Verdict.SKIP]:
        parts.append(f"{counts[Verdict.SKIP]} skipped")
    missing = missing_shard_names(results)
    if missing:  # a merged run one of whose shards left nothing: louder than any count
        parts.insert(
            0,
            f"**shard {', '.join(missing)} MISSING: {counts[Verdict.NOT_RUN]} cells not run** (that shard left no "
            "results to merge)",
        )
    elif results.interrupted:
        parts.insert(0, f"**run interrupted: {counts[Verdict.NOT_RUN]} cells not run**")
    if results.dropped:
        parts.append(f"{len(results.dropped)} torn line(s) dropped from results.jsonl ({results.dropped[0]})")
    return " · ".join(parts)


def _cell_text(cell: CellRecord | None) -> str:
    if cell is None:
        return ""
    code = f" `{cell.code}`" if cell.code and cell.verdict is not Verdict.PASS else ""
    live = " (live endpoint)" if is_live(cell) else ""
    return f"{_GLYPH[cell.verdict]} {cell.verdict}{code}{live}"


def _md(text: object) -> str:
    """Make arbitrary text safe inside a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _known(value: object, unknown: str = "?") -> object:
    """A field an older record may lack (None) reads as unknown."""
    return unknown if value is None else value


@dataclass(frozen=True)
class _GridRow:
    model: str
    profile: str
    cells: dict[str, CellRecord]  # by use case


@dataclass(frozen=True)
class _GroupGrid:
    """One group's table of the grid: its used use cases as columns, the (model, profile) rows with a cell in it."""

    group: Group
    rows: list[_GridRow]


def _grids(results: RunResults) -> list[_GroupGrid]:
    rows: dict[tuple[str, str], _GridRow] = {}
    for cell in results.cells:
        row = rows.setdefault((cell.model, cell.profile), _GridRow(cell.model, cell.profile, {}))
        row.cells[cell.use_case.value] = cell
    return [
        _GroupGrid(group, [row for row in rows.values() if any(u in row.cells for u in group.use_cases)])
        for group in grouped(c.use_case.value for c in results.cells)
    ]


def _use_case_summary(results: RunResults) -> list[tuple[Group, Tally]]:
    """Each used use case's tally, in the grid's group order."""
    tallies = tally((c.use_case.value, c.verdict) for c in results.cells)
    groups = grouped(tallies)
    return [(group, tallies[name]) for group in groups for name in group.use_cases]


# What a reader must act on, listed before the grid: the unexpected verdicts (XFAIL is the matrix's own expectation).
_ATTENTION = (Verdict.ERROR, Verdict.XPASS, Verdict.FAIL)
ATTENTION_MESSAGE_MAX = 200


@dataclass(frozen=True)
class _Problem:
    """Cells with one verdict and code: one line however many there are (a nightly can break dozens alike)."""

    first: CellRecord  # its message stands for the rest
    cells: list[CellRecord]


@dataclass(frozen=True)
class Since:
    """What the composer found in history for this run: the run before it on its machine, and this run's cells that
    worked there and are broken now (history's NEW FAILURE). The report itself never reads history."""

    run_id: str
    new_failures: frozenset[str]


@dataclass(frozen=True)
class _Attention:
    """The problems in short: new failures, then one line per unexpected verdict and code, NOT RUN cells per model."""

    problems: list[_Problem]
    not_run: list[tuple[str, list[str]]]  # (model, its cells' "profile/use case" or "use case")
    new: list[CellRecord]  # broken now, working in the previous run (empty without a Since)
    since: Since | None

    @property
    def any(self) -> bool:
        return bool(self.problems or self.not_run or self.new)


def _attention(results: RunResults, since: Since | None = None) -> _Attention:
    order = {v: i for i, v in enumerate(_ATTENTION)}
    alike: dict[tuple[Verdict, str], list[CellRecord]] = {}
    for cell in sorted((c for c in results.cells if c.verdict in order), key=lambda c: (order[c.verdict], c.cell_id)):
        alike.setdefault((cell.verdict, cell.code or ""), []).append(cell)
    problems = [_Problem(cells[0], cells) for cells in alike.values()]
    not_run: dict[str, list[str]] = {}
    profiles = {c.profile for c in results.cells}
    for cell in results.cells:
        if cell.verdict is Verdict.NOT_RUN:
            name = f"{cell.profile}/{cell.use_case.value}" if len(profiles) > 1 else cell.use_case.value
            not_run.setdefault(cell.model, []).append(name)
    new = [c for c in results.cells if since is not None and c.cell_id in since.new_failures]
    return _Attention(problems, list(not_run.items()), new, since)


def _first_line(text: str, limit: int = ATTENTION_MESSAGE_MAX) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _gib(value: object) -> str:
    """Bytes as GiB (MiB below one GiB); an "n/a (...)" figure stays what it says."""
    if isinstance(value, int | float):
        return f"{value / 2**30:.2f} GiB" if value >= 2**30 else f"{value / 2**20:.1f} MiB"
    return str(value) if value is not None else ""


@dataclass(frozen=True)
class _ServerRow:
    """A server with the figures a deployment decision needs: boot, KV cache, VRAM (or the honest n/a) and RSS."""

    server: ServerRecord
    kv_tokens: str
    vram_peak: str
    device_peak: str
    rss_peak: str
    weights: str
    compile_cache: str  # "warm", "cold" or "disabled" (vLLM's torch.compile cache, from the log); "" when unknown


def _measured(server: ServerRecord) -> _ServerRow:
    resources = server.resources or {}
    phases = server.boot_phases or {}
    return _ServerRow(
        server=server,
        kv_tokens=f"{phases['kv_cache_tokens']:,}" if phases.get("kv_cache_tokens") else "",
        vram_peak=_gib(peak_of(resources, "process_bytes")) if resources else "",
        device_peak=_gib(peak_of(resources, "device_used_bytes")) if resources else "",
        rss_peak=_gib(peak_of(resources, "rss_bytes")) if resources else "",
        weights=_gib(server.expected_weight_bytes),
        compile_cache=str(phases.get("compile_cache") or ""),
    )


def _ms(seconds: object) -> str:
    return f"{seconds * 1000:.1f} ms" if isinstance(seconds, int | float) else ""


def _arrived_in_one_burst(ttft: object, e2e: object, tpot: object, server_tpot: object) -> bool:
    """Seen on 2-core CPU boxes: the whole stream reaches the client at once (the engine's busy loop shares a core
    with the API server), so client TTFT ~ E2E and client TPOT ~ 0 while the server's own TPOT is real."""
    if isinstance(ttft, int | float) and isinstance(e2e, int | float) and e2e > 0 and ttft >= 0.8 * e2e:
        return True
    return isinstance(tpot, int | float) and isinstance(server_tpot, int | float) and tpot < 0.25 * server_tpot


@dataclass(frozen=True)
class _LatencyRow:
    """p50s of the client-side figures and the server's means for the same requests, as table text."""

    cell: CellRecord
    ttft: str
    tpot: str
    e2e: str
    rate: str
    server_ttft: str
    server_tpot: str
    probe: str
    note: str


def _latency_row(cell: CellRecord) -> _LatencyRow:
    latency = cell.latency or {}
    client = latency.get("client") or {}
    server = latency.get("server") or {}

    def p50(key: str) -> object:
        return (client.get(key) or {}).get("p50")

    rate = client.get("output_tokens_per_s")
    note = f"latency not measured: {latency['error']}" if latency.get("error") else ""
    if not note and _arrived_in_one_burst(p50("ttft_s"), p50("e2e_s"), p50("tpot_s"), server.get("tpot_s.mean")):
        note = "the stream arrived in one burst: client TTFT/TPOT do not describe the engine; read the server columns"
    ttft, e2e = p50("ttft_s"), p50("e2e_s")
    if cell.latency is None and "concurrent_ttft_p50_s" in cell.timings:
        # the concurrency probe's streams, all at once: the same definitions, under that load
        t = cell.timings
        ttft, e2e = t.get("concurrent_ttft_p50_s"), t.get("concurrent_e2e_p50_s")
        note = (
            f"under load, the p50 over simultaneous streams; TTFT min {_ms(t.get('concurrent_ttft_min_s'))}, max "
            f"{_ms(t.get('concurrent_ttft_max_s'))}; E2E min {_ms(t.get('concurrent_e2e_min_s'))}, max "
            f"{_ms(t.get('concurrent_e2e_max_s'))}"
        )
    return _LatencyRow(
        cell=cell,
        ttft=_ms(ttft),
        tpot=_ms(p50("tpot_s")),
        e2e=_ms(e2e),
        rate=f"{rate:.0f}" if isinstance(rate, int | float) else "",
        server_ttft=_ms(server.get("ttft_s.mean")),
        server_tpot=_ms(server.get("tpot_s.mean")),
        probe=_ms(cell.timings.get("probe_s")),
        note=note,
    )


def _vllm(environment: EnvironmentRecord | None) -> str:
    versions = environment.engine_versions if environment is not None else {}
    return versions.get("vllm", "unknown (no engine environment)")


def _gpu_text(environment: EnvironmentRecord | None) -> str:
    if environment is not None and environment.gpus:
        return ", ".join(gpu.name for gpu in environment.gpus)
    driver = environment.driver if environment is not None else None
    return driver if driver is not None else NO_GPU


# The findings pre-flight makes against a GPU (harness/checkpoint/gpu.py): shown under a failed cell, with their
# severity, even when another finding failed it.
GPU_CODES = frozenset(
    {
        "DTYPE_UNSUPPORTED",
        "QUANT_UNSUPPORTED",
        "TP_INDIVISIBLE",
        "WEIGHTS_TOO_LARGE",
        "MAX_MODEL_LEN",
        "KV_BUDGET",
        "PARSER_UNKNOWN",
        "LORA_UNSUPPORTED",
        "GPU_ARCH_UNSUPPORTED",
    }
)


@dataclass(frozen=True)
class _DeploymentView:
    """What the report opens with for a deployment run: the verdict, the memory picture, the boot sequence."""

    record: DeploymentRecord
    line: str
    verdicts: tuple[ServiceVerdict, ...]
    memory: MemoryPicture
    timeline: Timeline
    alone: dict[tuple[str, str], float]  # (cell model, use case) -> the cell's probe seconds while all were up


def _deployments(results: RunResults) -> list[_DeploymentView]:
    views = []
    for record in results.deployments:
        verdicts = service_verdicts(record, results.cells)
        views.append(
            _DeploymentView(
                record,
                verdict_line(record, verdicts),
                verdicts,
                memory_picture(record, results.servers),
                boot_timeline(record),
                {
                    (c.model, c.use_case.value): float(c.timings["probe_s"])
                    for c in results.cells
                    if isinstance(c.timings.get("probe_s"), int | float)
                },
            )
        )
    return views


def deployment_lines(results: RunResults) -> list[str]:
    """Each deployment's verdict line ("1 of 2 services working", who fails and why), for the terminal summary."""
    return [view.line for view in _deployments(results)]


def render_status(results: RunResults, since: Since | None = None) -> str:
    """STATUS.md of a run; ``since`` adds the new failures against the previous run (from history, by the caller)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("harness") / "templates")),
        autoescape=False,  # markdown, not HTML: values are escaped for tables with the md filter
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = _md
    env.filters["cell"] = _cell_text
    env.filters["known"] = _known
    env.filters["gib"] = _gib
    env.filters["first_line"] = _first_line
    template = env.get_template("status.md.j2")
    order = {v: i for i, v in enumerate([Verdict.ERROR, Verdict.XPASS, Verdict.FAIL, Verdict.XFAIL])}
    problems = sorted((c for c in results.cells if c.verdict in order), key=lambda c: (order[c.verdict], c.cell_id))
    servers = [_measured(s) for s in results.servers]
    return template.render(
        headline=headline(results),
        deployments=_deployments(results),
        counts=results.counts(),
        total=len(results.cells),
        summary=_use_case_summary(results),
        attention=_attention(results, since),
        grids=_grids(results),
        problems=problems,
        timed=[_latency_row(c) for c in results.cells if c.timings.get("probe_s") is not None],
        servers=servers,
        environment=results.environment or EnvironmentRecord(run_id="?"),
        vllm=_vllm(results.environment),
        gpu_text=_gpu_text(results.environment),
        run_dir=results.run_dir,
        gpu_codes=GPU_CODES,
        live=live_rows(results),
        live_label=LIVE_LABEL,
        not_run_why=(
            f"shard {', '.join(missing)} of the split left no results to merge (crashed, cancelled or never started)"
            if (missing := missing_shard_names(results))
            else "the run was interrupted before it reached them"
        ),
    )


def write_reports(run_dir: Path, status_path: Path | None = None, since: Since | None = None) -> Path:
    """Render STATUS.md into the run directory and, when asked, to the published location too."""
    text = render_status(read_results(run_dir), since)
    (run_dir / STATUS_FILE).write_text(text, encoding="utf-8")
    if status_path is not None:
        status_path.parent.mkdir(parents=True, exist_ok=True)
        status_path.write_text(text, encoding="utf-8")
        return status_path
    return run_dir / STATUS_FILE
