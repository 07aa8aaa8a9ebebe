"""The runner hands a cell's matrix ``options:`` to its probe, so the probe runs with the matrix's settings."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness.checkpoint import PreflightFacts, PreflightReport
from harness.matrix import load_matrix
from harness.probes import ProbeContext, ProbeResult
from harness.probes.base import Check
from harness.runner import CellRunner
from harness.verdicts import Verdict


def test_the_probe_context_carries_the_cells_options(tmp_path: Path) -> None:
    """A concurrency cell with options {streams: 3} reaches its probe with ctx.options == {"streams": 3}."""
    matrix_file = tmp_path / "matrix.yaml"
    matrix_file.write_text(
        "models:\n  - id: org/m\n    use_cases: [chat, concurrency]\n    options: {concurrency: {streams: 3}}\n"
    )
    cells = {cell.use_case.value: cell for cell in load_matrix(matrix_file).cells}
    server: Any = SimpleNamespace(
        port=1,
        version={},
        log_path=tmp_path / "server.log",
        log_text=lambda: "",
        boot_seconds=1.0,
        death_report=lambda: None,
        client=lambda timeout: None,
        served_model_name="m-1",
        base_url="http://127.0.0.1:1",
        api_key="k",
    )
    seen: list[ProbeContext] = []

    def probe(ctx: ProbeContext) -> ProbeResult:
        seen.append(ctx)
        return ProbeResult(ctx.model, (Check("ran", True, "ok"),), None, "ok", "")

    runner = CellRunner(run_id="t", run_dir=tmp_path, engine_python=None, offline=True, boot_timeout=None)
    report = PreflightReport(model="org/m", path=None, findings=(), facts=PreflightFacts())
    for name in ("concurrency", "chat"):
        outcome = runner._probe(cells[name], server, probe, report, (), latency=False)
        assert outcome.verdict is Verdict.PASS
    assert [dict(ctx.options) for ctx in seen] == [{"streams": 3}, {}]
