"""rerank: vLLM's /rerank (Jina / Cohere style) and /score for a cross-encoder (or an embedding model, which vLLM
scores by cosine): the answers keep to the protocol, agree with each other, and a real model ranks the relevant
document first.

vLLM 0.32.0 serves ``/rerank``, ``/v1/rerank``, ``/v2/rerank``, ``/score`` and ``/v1/score``
(vllm/entrypoints/pooling/scoring/api_router.py), registered only for a pooling model whose task is embed, or
classify with ``num_labels == 1`` (vllm/entrypoints/pooling/utils.py ``enable_scoring_api``). A generative model has
no such route: FastAPI's own 404 ``{"detail": "Not Found"}``, which is WRONG_TASK with that answer as evidence.

Protocol: one result per document, each ``index`` once, ``relevance_score`` a finite number, results sorted by it
(highest first), ``document.text`` the document sent; ``top_n`` cuts the list to the best n; /score gives one
``score`` per document in input order, the same numbers as /rerank. Semantic (a real model): the document that
answers the query scores above the unrelated ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from harness.probes.base import (
    ProbeContext,
    ProbeResult,
    Recorder,
    RequestFailed,
    error_body,
    is_missing_route,
    run_probe,
    short,
)
from harness.probes.server_api import root_url

USE_CASE = "rerank"
CODE = "RERANK"
QUERY = "What is the capital of France?"
RELEVANT = "Paris is the capital and largest city of France."
DOCUMENTS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    RELEVANT,
    "A kitten is sitting on a rug.",
)
TOP_N = 2
AGREEMENT = 1e-3  # /score and /rerank run the same pooling: the same score, up to float32 noise
ROUTES = ("/rerank", "/v1/rerank", "/v2/rerank")


def probe(ctx: ProbeContext) -> ProbeResult:
    return run_probe(USE_CASE, ctx, _run)


class _RouteMissing(Exception):
    def __init__(self, path: str, status: int, body: str) -> None:
        super().__init__(path)
        self.path, self.status, self.body = path, status, body


def _post(ctx: ProbeContext, rec: Recorder, step: str, path: str, body: dict[str, Any]) -> Any:
    """POST ``body`` to ``path`` at the server root; FastAPI's 404 for a route the server lacks is WRONG_TASK."""
    import openai

    def call() -> Any:
        try:
            return ctx.client.post(root_url(ctx, path), body=body, cast_to=object, options={"timeout": ctx.timeout})
        except openai.NotFoundError as error:
            text = error_body(error)
            if is_missing_route(text):
                raise _RouteMissing(path, error.status_code, text) from error
            raise

    try:
        return rec.request(step, call)
    except _RouteMissing as missing:
        evidence = f"POST {missing.path}: HTTP {missing.status} {missing.body}"
        rec.check(
            step,
            False,
            f"{evidence}: vLLM registers /rerank and /score only for a cross-encoder (num_labels 1) or an embedding "
            "model; this one is served for generation (a reranker checkpoint is needed)",
            code="WRONG_TASK",
            evidence=evidence,
        )
        raise RequestFailed(step) from missing


def results_problems(answer: Any, documents: Sequence[str], count: int) -> tuple[list[tuple[int, float]], list[str]]:
    """/rerank's results as (index, score), best first, and what breaks the protocol ([] when nothing)."""
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list):
        return [], [f"no results list in {short(json.dumps(answer), 120)}"]
    problems: list[str] = []
    pairs: list[tuple[int, float]] = []
    for position, item in enumerate(results):
        index = item.get("index") if isinstance(item, dict) else None
        score = item.get("relevance_score") if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < len(documents):
            problems.append(f"result {position}: index {index!r} is not one of the {len(documents)} documents")
            continue
        if not isinstance(score, int | float) or isinstance(score, bool) or not math.isfinite(score):
            problems.append(f"result {position}: relevance_score {score!r} is not a finite number")
            continue
        text = (item.get("document") or {}).get("text") if isinstance(item.get("document"), dict) else None
        if text is not None and text != documents[index]:
            problems.append(f"result {position}: document.text {short(str(text), 40)!r} is not document {index}")
        pairs.append((index, float(score)))
    if len(results) != count:
        problems.append(f"{len(results)} results for {count} expected")
    indices = [i for i, _ in pairs]
    if len(set(indices)) != len(indices):
        problems.append(f"indices {indices} repeat")
    scores = [s for _, s in pairs]
    if scores != sorted(scores, reverse=True):
        problems.append(f"results not sorted by relevance_score (highest first): {scores}")
    return pairs, problems


def score_problems(answer: Any, count: int) -> tuple[list[float], list[str]]:
    """/score's data as scores in input order, and what breaks the protocol."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list) or len(data) != count:
        return [], [f"expected {count} scores in data, got {short(json.dumps(answer), 120)}"]
    indices = [item.get("index") if isinstance(item, dict) else None for item in data]
    if sorted(i for i in indices if isinstance(i, int)) != list(range(count)):
        return [], [f"indices {indices}, expected 0..{count - 1}"]
    scores: list[float] = [0.0] * count
    problems: list[str] = []
    for item in data:
        value = item.get("score")
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            problems.append(f"index {item['index']}: score {value!r} is not a finite number")
        else:
            scores[item["index"]] = float(value)
    return scores, problems


def same_ranking(
    got: Sequence[tuple[int, float]], expected: Sequence[tuple[int, float]], scores: dict[int, float]
) -> bool:
    """``got`` is ``expected`` up to float noise: a request batched differently moves a score by ~1e-8 (measured on
    the CPU engine), so scores agree within AGREEMENT, and two documents that close may trade places."""
    return len(got) == len(expected) and all(
        abs(g - e) <= AGREEMENT and abs(scores.get(i, math.inf) - g) <= AGREEMENT
        for (i, g), (_, e) in zip(got, expected, strict=True)
    )


def _run(ctx: ProbeContext, rec: Recorder) -> None:
    documents = list(DOCUMENTS)
    answer = _post(ctx, rec, "rerank_request", "/rerank", {"model": ctx.model, "query": QUERY, "documents": documents})
    ranked, problems = results_problems(answer, documents, len(documents))
    rec.check(
        "rerank_protocol",
        not problems,
        "; ".join(problems)
        or f"{len(ranked)} results, indices {[i for i, _ in ranked]}, sorted scores {[round(s, 4) for _, s in ranked]}",
        code=CODE,
        evidence=short(json.dumps(answer), 600),
    )
    if problems:
        return
    usage = answer.get("usage") or {}
    prompt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    rec.check("rerank_usage", isinstance(prompt, int) and prompt > 0, f"usage {usage}", code=CODE)
    if isinstance(prompt, int):
        rec.usage["prompt_tokens"] = prompt

    top = _post(
        ctx,
        rec,
        "top_n_request",
        "/v1/rerank",
        {"model": ctx.model, "query": QUERY, "documents": documents, "top_n": TOP_N},
    )
    best, problems = results_problems(top, documents, TOP_N)
    same = same_ranking(best, ranked[:TOP_N], dict(ranked))
    rec.check(
        "top_n",
        not problems and same,
        "; ".join(problems)
        or (
            f"top_n={TOP_N} on /v1/rerank: the best {TOP_N} of the full ranking"
            if same
            else f"top_n={TOP_N} gave {best}, the full ranking starts {ranked[:TOP_N]}"
        ),
        code=CODE,
    )

    scored = _post(ctx, rec, "score_request", "/score", {"model": ctx.model, "queries": QUERY, "documents": documents})
    scores, problems = score_problems(scored, len(documents))
    by_index = dict(ranked)
    gap = max((abs(scores[i] - by_index[i]) for i in range(len(scores))), default=math.inf) if scores else math.inf
    rec.check(
        "score_agrees",
        not problems and gap <= AGREEMENT,
        "; ".join(problems)
        or f"/score per document {[round(s, 4) for s in scores]} vs /rerank: max |difference| {gap:.3g} "
        f"(tolerance {AGREEMENT})",
        code=CODE,
        evidence=short(json.dumps(scored), 600),
    )
    if ctx.semantic:
        relevant = documents.index(RELEVANT)
        first = ranked[0][0]
        rec.check(
            "relevant_first",
            first == relevant,
            f"ranked {[documents[i][:30] for i, _ in ranked]}: "
            + ("the relevant document first" if first == relevant else f"{documents[first]!r} above {RELEVANT!r}"),
            code=CODE,
        )
