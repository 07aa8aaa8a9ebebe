"""embeddings: /v1/embeddings gives one finite vector per input, of the checkpoint's dimension, the same every time,
the same batched as alone, in float and base64; real models also put a paraphrase nearer than an unrelated sentence.

The expected dimension comes from the checkpoint, as vLLM builds the model: the last sentence-transformers Dense
module's ``out_features`` where ``modules.json`` lists one (vLLM loads those projections), else config.json's hidden
size. vLLM registers /v1/embeddings only for a model it runs as an embedding (pooling) model: a generative model
answers HTTP 404 ``{"detail":"Not Found"}`` there, which is WRONG_TASK (not a missing model, which vLLM answers 404
with "The model `x` does not exist.").
"""

from __future__ import annotations

import base64
import json
import math
import struct
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.probes.base import ProbeContext, ProbeResult, Recorder, RequestFailed, is_missing_route, run_probe

USE_CASE = "embeddings"
# Inputs of different lengths and content, for the protocol checks.
INPUTS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "vLLM serves the model; the harness tells the truth about the model.",
    "Embeddings map every sentence to a vector.",
)
# Real models: each pair is a paraphrase; the pairs share no topic, so every cross-pair sentence is unrelated.
# all-MiniLM-L6-v2 on vLLM's CPU engine: paraphrases 0.68-0.83, unrelated sentences at most 0.10.
PARAPHRASES: tuple[tuple[str, str], ...] = (
    ("How do I reset my password?", "I forgot my password and need to change it."),
    ("What is the capital of France?", "Paris is the capital city of France."),
    ("The cat sits on the mat.", "A kitten is sitting on a rug."),
)
SEMANTIC_MARGIN = 0.05  # a paraphrase must beat the nearest unrelated sentence by this much cosine
DETERMINISM_TOLERANCE = 1e-5  # max |difference| of one component between two identical requests
BATCH_MIN_COSINE = 0.999  # batched vs single vectors (batching may change the order of float sums)
DISTINCT_MAX_COSINE = 0.99999  # different inputs must not give the same vector (a constant model is broken)
# The Dense module types vLLM loads as a projection after pooling (vllm/transformers_utils/config.py).
_DENSE_SUFFIXES = (".Dense",)
_HIDDEN_KEYS = ("hidden_size", "d_model", "n_embd")


class _RouteMissing(Exception):
    """Internal: the server has no /v1/embeddings route (HTTP 404 from the framework, not from a handler)."""

    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(body)


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


# ---------------------------------------------------------------------------------------------------------------------
# what the checkpoint says


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def expected_dimension(model_dir: Path | None) -> tuple[int | None, str]:
    """The embedding size vLLM should return for the checkpoint at ``model_dir``, and where the number comes from."""
    if model_dir is None:
        return None, "no checkpoint directory in the probe context"
    modules = _read_json(model_dir / "modules.json")
    if isinstance(modules, list):
        dense = [m for m in modules if isinstance(m, dict) and str(m.get("type", "")).endswith(_DENSE_SUFFIXES)]
        if dense:
            folder = str(dense[-1].get("path") or "")
            config = _read_json(model_dir / folder / "config.json")
            out = config.get("out_features") if isinstance(config, dict) else None
            if isinstance(out, int) and out > 0:
                return out, f"{folder}/config.json out_features (the last sentence-transformers Dense module)"
            return None, f"modules.json lists a Dense module but {folder}/config.json has no out_features"
    config = _read_json(model_dir / "config.json")
    if not isinstance(config, dict):
        return None, "no readable config.json"
    for section, where in ((config, "config.json"), (config.get("text_config"), "config.json text_config")):
        if not isinstance(section, dict):
            continue
        for key in _HIDDEN_KEYS:
            value = section.get(key)
            if isinstance(value, int) and value > 0:
                return value, f"{where} {key}"
    return None, "config.json has no hidden size (" + ", ".join(_HIDDEN_KEYS) + ")"


# ---------------------------------------------------------------------------------------------------------------------
# vector arithmetic (a few short vectors: plain Python)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    return dot / norm if norm > 0 else float("nan")


def max_abs_diff(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b):
        return float("inf")
    return max((abs(x - y) for x, y in zip(a, b, strict=True)), default=0.0)


def decode_base64(text: str) -> list[float]:
    """vLLM's (and OpenAI's) base64 embedding: little-endian float32."""
    raw = base64.b64decode(text)
    if len(raw) % 4:
        raise ValueError(f"{len(raw)} bytes is not a whole number of float32 values")
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def semantic_problems(vectors: Sequence[Sequence[float]], pairs: Sequence[tuple[str, str]]) -> tuple[list[str], str]:
    """For vectors of the flattened ``pairs``: each paraphrase must be nearer than every sentence of another pair."""
    problems: list[str] = []
    notes: list[str] = []
    for index in range(len(pairs)):
        a, b = 2 * index, 2 * index + 1
        together = cosine(vectors[a], vectors[b])
        others = [o for o in range(len(vectors)) if o not in (a, b)]
        nearest = max((cosine(vectors[s], vectors[o]) for s in (a, b) for o in others), default=-1.0)
        notes.append(f"{together:.3f} vs {nearest:.3f}")
        if not together > nearest + SEMANTIC_MARGIN:
            problems.append(
                f"{pairs[index][0]!r} ~ {pairs[index][1]!r}: cosine {together:.3f}, but an unrelated sentence is at "
                f"{nearest:.3f} (need a margin of {SEMANTIC_MARGIN})"
            )
    return problems, "paraphrase vs nearest unrelated: " + ", ".join(notes)


# ---------------------------------------------------------------------------------------------------------------------
# the probe


def _create(ctx: ProbeContext, inputs: str | list[str], encoding_format: str) -> Any:
    import openai

    try:
        return ctx.client.embeddings.create(
            model=ctx.model,
            input=inputs,
            encoding_format=encoding_format,  # type: ignore[arg-type]
            timeout=ctx.timeout,
        )
    except openai.NotFoundError as error:
        body = _body(error)
        if is_missing_route(body):
            raise _RouteMissing(error.status_code, body) from error
        raise


def _body(error: Any) -> str:
    try:
        return str(error.response.text)
    except Exception:
        return str(error.body or error.message)


def _request(ctx: ProbeContext, rec: Recorder, step: str, inputs: str | list[str], fmt: str = "float") -> Any:
    try:
        return rec.request(step, lambda: _create(ctx, inputs, fmt))
    except _RouteMissing as missing:
        evidence = f"POST /v1/embeddings: HTTP {missing.status} {missing.body}"
        rec.check(
            step,
            False,
            f"{evidence}: vLLM registers /v1/embeddings only for a model it runs as an embedding (pooling) model; "
            "this one is served for generation (an embedding checkpoint, or --runner pooling --convert embed, "
            "is needed)",
            code="WRONG_TASK",
            evidence=evidence,
        )
        raise RequestFailed(step) from missing


def _vectors(answer: Any, count: int) -> tuple[list[list[float]] | None, str]:
    """The answer's vectors in input order, or None with what is wrong with the answer's shape."""
    data = list(answer.data or [])
    if getattr(answer, "object", "list") != "list":
        return None, f"object={answer.object!r} (need 'list')"
    if len(data) != count:
        return None, f"{len(data)} embeddings for {count} inputs"
    if [item.index for item in data] != list(range(count)):
        return None, f"indices {[item.index for item in data]} (need {list(range(count))} in order)"
    vectors: list[list[float]] = []
    for item in data:
        if getattr(item, "object", "embedding") != "embedding":
            return None, f"item object={item.object!r} (need 'embedding')"
        vector = item.embedding
        if not isinstance(vector, list) or not vector or not all(isinstance(x, int | float) for x in vector):
            return None, f"embedding is {type(vector).__name__} {str(vector)[:60]!r}, not a non-empty list of floats"
        vectors.append([float(x) for x in vector])
    return vectors, f"{count} embedding(s) of {len(vectors[0])} floats, indices in order"


def _prompt_tokens(answer: Any) -> int:
    usage = getattr(answer, "usage", None)
    return int(getattr(usage, "prompt_tokens", 0) or 0)


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    first = INPUTS[0]
    sent = time.perf_counter()
    answer = _request(ctx, rec, "request", first)
    rec.timings["e2e_s"] = round(time.perf_counter() - sent, 4)
    vectors, shape = _vectors(answer, 1)
    if not rec.check("well_formed", vectors is not None and answer.model == ctx.model, _model_note(answer, ctx, shape)):
        return
    assert vectors is not None
    vector = vectors[0]

    expected, source = expected_dimension(ctx.model_dir)
    if expected is None:
        rec.check("dimension", False, f"got {len(vector)}; cannot tell the expected dimension: {source}")
    else:
        rec.check("dimension", len(vector) == expected, f"got {len(vector)}, expected {expected} ({source})")
    bad = [i for i, x in enumerate(vector) if not math.isfinite(x)]
    rec.check("finite", not bad, f"{len(bad)} non-finite values, first at {bad[:5]}" if bad else "all values finite")
    norm = math.sqrt(math.fsum(x * x for x in vector)) if not bad else float("nan")
    rec.check("nonzero", norm > 0, f"L2 norm {norm:.6g}")

    usage = answer.usage
    prompt, total = _prompt_tokens(answer), int(getattr(usage, "total_tokens", 0) or 0)
    rec.usage.update({"prompt_tokens": prompt, "total_tokens": total})
    rec.check("usage", prompt > 0 and total == prompt, f"prompt_tokens={prompt} total_tokens={total} (need >0, equal)")

    again = _request(ctx, rec, "repeat_request", first)
    repeated, _ = _vectors(again, 1)
    drift = max_abs_diff(vector, repeated[0]) if repeated else float("inf")
    rec.check(
        "deterministic",
        drift <= DETERMINISM_TOLERANCE,
        f"same input twice: max |difference| {drift:.3g} (tolerance {DETERMINISM_TOLERANCE})",
    )

    encoded = _request(ctx, rec, "base64_request", first, "base64")
    raw = encoded.data[0].embedding if encoded.data else None
    try:
        decoded = decode_base64(raw) if isinstance(raw, str) else None
        detail = "" if decoded is not None else f"embedding is {type(raw).__name__}, not a base64 string"
    except ValueError as error:
        decoded, detail = None, f"undecodable base64: {error}"
    gap = max_abs_diff(vector, decoded) if decoded is not None else float("inf")
    rec.check(
        "base64_agrees",
        gap <= DETERMINISM_TOLERANCE,
        detail or f"base64 (float32) vs float: {len(decoded or [])} values, max |difference| {gap:.3g}",
    )

    _batch(ctx, rec, vector, prompt)
    if ctx.semantic:
        _semantic(ctx, rec)


def _model_note(answer: Any, ctx: ProbeContext, shape: str) -> str:
    if answer.model != ctx.model:
        return f"model={answer.model!r}, expected the served name {ctx.model!r}; {shape}"
    return shape


def _batch(ctx: ProbeContext, rec: Recorder, first_vector: list[float], first_tokens: int) -> None:
    singles = [first_vector]
    tokens = [first_tokens]
    for index, text in enumerate(INPUTS[1:], start=1):
        alone = _request(ctx, rec, f"single_request_{index}", text)
        vectors, shape = _vectors(alone, 1)
        if not rec.check(f"single_well_formed_{index}", vectors is not None, shape):
            return
        assert vectors is not None
        singles.append(vectors[0])
        tokens.append(_prompt_tokens(alone))

    sent = time.perf_counter()
    batch = _request(ctx, rec, "batch_request", list(INPUTS))
    rec.timings["batch_s"] = round(time.perf_counter() - sent, 4)
    vectors, shape = _vectors(batch, len(INPUTS))
    if not rec.check("batch_well_formed", vectors is not None, shape):
        return
    assert vectors is not None
    cosines = [cosine(b, s) if len(b) == len(s) else float("nan") for b, s in zip(vectors, singles, strict=True)]
    rec.check(
        "batch_matches_single",
        all(c > BATCH_MIN_COSINE for c in cosines),
        f"cosine(batched, alone) per input: {', '.join(f'{c:.6f}' for c in cosines)} (need > {BATCH_MIN_COSINE})",
    )
    batch_tokens = _prompt_tokens(batch)
    rec.check(
        "batch_usage",
        batch_tokens == sum(tokens),
        f"batch prompt_tokens={batch_tokens}, single requests {tokens} sum to {sum(tokens)}",
    )
    nearest = max(cosine(singles[i], singles[j]) for i in range(len(singles)) for j in range(i + 1, len(singles)))
    rec.check(
        "distinct",
        nearest < DISTINCT_MAX_COSINE,
        f"highest cosine between different inputs {nearest:.6f} (need < {DISTINCT_MAX_COSINE})",
    )


def _semantic(ctx: ProbeContext, rec: Recorder) -> None:
    sentences = [text for pair in PARAPHRASES for text in pair]
    answer = _request(ctx, rec, "semantic_request", sentences)
    vectors, shape = _vectors(answer, len(sentences))
    if vectors is None:
        rec.check("semantic", False, shape)
        return
    problems, notes = semantic_problems(vectors, PARAPHRASES)
    rec.check("semantic", not problems, "; ".join(problems) or notes)
