"""Render a run directory's results.jsonl into STATUS.md: the honest headline first, then the evidence."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from harness.codes import describe
from harness.results import RunResults, Verdict, read_results
from harness.usecases import ALL_USE_CASES

STATUS_FILE = "STATUS.md"
_GLYPH = {"PASS": "✅", "FAIL": "❌", "ERROR": "💥", "SKIP": "⏭️", "XFAIL": "☑️", "XPASS": "⚠️"}


def headline(results: RunResults) -> str:
    """One sentence a reader can trust: working means a probe ran and passed, nothing else."""
    counts = results.counts()
    total = len(results.cells)
    working = counts["PASS"]
    parts = [f"**{working} of {total} cells working**"]
    if counts["XFAIL"]:
        parts.append(f"{counts['XFAIL']} failing as the matrix expects")
    unexpected = counts["FAIL"] + counts["ERROR"] + counts["XPASS"]
    parts.append(f"{unexpected} unexpected" if unexpected else "no surprises")
    if counts["SKIP"]:
        parts.append(f"{counts['SKIP']} skipped")
    return " · ".join(parts)


def _cell_text(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return ""
    verdict = cell["verdict"]
    code = f" `{cell['code']}`" if cell.get("code") and verdict != "PASS" else ""
    return f"{_GLYPH.get(verdict, '')} {verdict}{code}"


def _md(text: object) -> str:
    """Make arbitrary text safe inside a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _used_use_cases(cells: Iterable[dict[str, Any]]) -> list[str]:
    present = {c["use_case"] for c in cells}
    return [u for u in ALL_USE_CASES if u in present]


def _grid(results: RunResults) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for cell in results.cells:
        row = rows.setdefault((cell["model"], cell["profile"]), {"model": cell["model"], "profile": cell["profile"]})
        row[cell["use_case"]] = cell
    return list(rows.values())


def _gib(value: object) -> str:
    """Bytes as GiB (MiB below one GiB); an "n/a (...)" figure stays what it says."""
    if isinstance(value, int | float):
        return f"{value / 2**30:.2f} GiB" if value >= 2**30 else f"{value / 2**20:.1f} MiB"
    return str(value) if value is not None else ""


def _peak(resources: dict[str, Any], field: str) -> object:
    """The highest figure of one field over every phase; an "n/a" string when that is all there is."""
    values = [stats.get(field) for stats in (resources.get("phases") or {}).values()]
    numbers = [v for v in values if isinstance(v, int | float)]
    if numbers:
        return max(numbers)
    return next((v for v in values if isinstance(v, str)), None)


def _measured(server: dict[str, Any]) -> dict[str, Any]:
    """The figures a deployment decision needs, per server: boot, KV cache, VRAM (or the honest n/a) and RSS."""
    resources = server.get("resources") or {}
    phases = server.get("boot_phases") or {}
    return server | {
        "kv_tokens": f"{phases['kv_cache_tokens']:,}" if phases.get("kv_cache_tokens") else "",
        "vram_peak": _gib(_peak(resources, "process_bytes")) if resources else "",
        "device_peak": _gib(_peak(resources, "device_used_bytes")) if resources else "",
        "rss_peak": _gib(_peak(resources, "rss_bytes")) if resources else "",
        "weights": _gib(server.get("expected_weight_bytes")),
    }


def _ms(seconds: object) -> str:
    return f"{seconds * 1000:.1f} ms" if isinstance(seconds, int | float) else ""


def _arrived_in_one_burst(ttft: object, e2e: object, tpot: object, server_tpot: object) -> bool:
    """Seen on 2-core CPU boxes: the whole stream reaches the client at once (the engine's busy loop shares a core
    with the API server), so client TTFT ~ E2E and client TPOT ~ 0 while the server's own TPOT is real."""
    if isinstance(ttft, int | float) and isinstance(e2e, int | float) and e2e > 0 and ttft >= 0.8 * e2e:
        return True
    return isinstance(tpot, int | float) and isinstance(server_tpot, int | float) and tpot < 0.25 * server_tpot


def _latency_row(cell: dict[str, Any]) -> dict[str, str]:
    """p50s of the client-side figures and the server's means for the same requests, as table text."""
    latency = cell.get("latency") or {}
    client = latency.get("client") or {}
    server = latency.get("server") or {}

    def p50(key: str) -> object:
        return (client.get(key) or {}).get("p50")

    rate = client.get("output_tokens_per_s")
    note = f"latency not measured: {latency['error']}" if latency.get("error") else ""
    if not note and _arrived_in_one_burst(p50("ttft_s"), p50("e2e_s"), p50("tpot_s"), server.get("tpot_s.mean")):
        note = "the stream arrived in one burst: client TTFT/TPOT do not describe the engine; read the server columns"
    return {
        "ttft": _ms(p50("ttft_s")),
        "tpot": _ms(p50("tpot_s")),
        "e2e": _ms(p50("e2e_s")),
        "rate": f"{rate:.0f}" if isinstance(rate, int | float) else "",
        "server_ttft": _ms(server.get("ttft_s.mean")),
        "server_tpot": _ms(server.get("tpot_s.mean")),
        "probe": _ms((cell.get("timings") or {}).get("probe_s")),
        "note": note,
    }


def _environment(results: RunResults) -> dict[str, Any]:
    env = dict(results.environment)
    versions = env.get("engine_versions") or {}
    env["vllm"] = versions.get("vllm", "unknown (no engine environment)")
    gpus = env.get("gpus") or []
    env["gpu_text"] = ", ".join(g["name"] for g in gpus) if gpus else env.get("driver", "n/a (no NVIDIA GPU)")
    return env


_CELL_DEFAULTS: dict[str, Any] = {
    "code": None,
    "expected": None,
    "message": "",
    "evidence": "",
    "checks": [],
    "log_tail": None,
    "server": None,
    "timings": {},
    "latency": None,
}
_SERVER_DEFAULTS: dict[str, Any] = {"code": None, "boot_s": None, "port": None, "version": None, "log": ""}


def _complete(records: Iterable[dict[str, Any]], defaults: dict[str, Any]) -> list[dict[str, Any]]:
    """Older or partial records lack some keys; the template is strict, so fill them in explicitly."""
    return [defaults | record for record in records]


def render_status(results: RunResults) -> str:
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
    env.globals["describe"] = describe
    template = env.get_template("status.md.j2")
    results = RunResults(
        run_dir=results.run_dir,
        environment=results.environment,
        servers=[_measured(s) for s in _complete(results.servers, _SERVER_DEFAULTS)],
        cells=_complete(results.cells, _CELL_DEFAULTS),
    )
    order = {v.value: i for i, v in enumerate([Verdict.ERROR, Verdict.XPASS, Verdict.FAIL, Verdict.XFAIL])}
    problems = sorted(
        (c for c in results.cells if c["verdict"] in order), key=lambda c: (order[c["verdict"]], c["cell_id"])
    )
    boot_failures = [s for s in results.servers if s.get("outcome") not in (None, "ready", "stopped")]
    return template.render(
        headline=headline(results),
        counts=results.counts(),
        total=len(results.cells),
        use_cases=_used_use_cases(results.cells),
        grid=_grid(results),
        problems=problems,
        timed=[
            c | {"lat": _latency_row(c)} for c in results.cells if (c.get("timings") or {}).get("probe_s") is not None
        ],
        servers=results.servers,
        boot_failures=boot_failures,
        environment=_environment(results),
        run_dir=results.run_dir,
    )


def write_reports(run_dir: Path, status_path: Path | None = None) -> Path:
    """Render STATUS.md into the run directory and, when asked, to the published location too."""
    text = render_status(read_results(run_dir))
    (run_dir / STATUS_FILE).write_text(text, encoding="utf-8")
    if status_path is not None:
        status_path.parent.mkdir(parents=True, exist_ok=True)
        status_path.write_text(text, encoding="utf-8")
        return status_path
    return run_dir / STATUS_FILE
