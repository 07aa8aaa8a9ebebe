"""What every probe shares: the frozen result with named checks, the context it runs in, and request plumbing.

An HTTP error answer is a failed check (its code diagnosed from the error body: NO_CHAT_TEMPLATE, MAX_MODEL_LEN...,
else HTTP_ERROR). A request that cannot reach the engine at all raises EngineUnreachable, so that the caller can ask
the server whether the engine died (ENGINE_DIED with the cause from its log) instead of blaming the model.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from harness.diagnose import diagnose
from harness.probes.streams import StreamRead

if TYPE_CHECKING:
    import openai

    from harness.checkpoint import PreflightFacts

T = TypeVar("T")

SEED = 1234
# Literal end-of-turn / end-of-text markers that must never reach the user as text.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|im_end|>",
    "<|im_start|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "</s>",
    "<end_of_turn>",
    "<start_of_turn>",
    "<|endoftext|>",
    "<|end|>",
    "<|eom_id|>",
    "[/INST]",
)
# A question with a short, well-known answer for real models (semantic checks are lenient: the word appears).
QUESTION = "What is the capital of France? Answer with one word."
QUESTION_ANSWER = "paris"
COMPLETION_PROMPT = "The capital of France is the city of"


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class ProbeResult:
    use_case: str
    checks: tuple[Check, ...]
    code: str | None  # the failure code when any check failed, else None
    message: str
    evidence: str
    usage: Mapping[str, int] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)  # probe_s, ttft_s, e2e_s where measured

    @property
    def passed(self) -> bool:
        """True only when at least one check ran and every check held: nothing passes by omission."""
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.passed)


@dataclass(frozen=True)
class ProbeContext:
    client: openai.OpenAI
    model: str  # the served model name
    semantic: bool  # a real model: check that the answer is right, leniently
    timeout: float
    end_of_turn: str | None  # from pre-flight, for messages
    eos_token_ids: tuple[int, ...]
    eos_mismatch_predicted: bool
    expected_answer: str | None = None  # zoo models: the exact greedy answer
    # What the multimodal / tools / embeddings probes need to know about the cell and the checkpoint:
    flags: Mapping[str, Any] = field(default_factory=dict)  # the cell's vLLM flags (limit-mm-per-prompt, parsers...)
    model_dir: Path | None = None  # the checkpoint on disk (config.json: hidden_size, processor configs...)
    facts: PreflightFacts | None = None  # pre-flight facts (architecture, context_length...); None: not from pre-flight
    base_url: str = ""  # server root, for endpoints the openai client does not cover
    api_key: str = ""
    # the cell's probe settings from the matrix's ``options:`` ({"streams": 16}); {}: the probe's own defaults
    options: Mapping[str, Any] = field(default_factory=dict)
    # lora: the exact greedy answers of adapters built to answer otherwise than their base (zoo adapters), by name
    lora_answers: Mapping[str, str] = field(default_factory=dict)


class EngineUnreachable(Exception):
    """The request never got an HTTP answer (connection refused or reset): ask the server whether the engine died."""

    def __init__(self, use_case: str, step: str, cause: BaseException) -> None:
        self.use_case = use_case
        self.step = step
        self.cause = cause
        super().__init__(f"{use_case}: {step}: {type(cause).__name__}: {cause}")


class RequestFailed(Exception):
    """Internal: a request got an HTTP error or timed out; already recorded as a failed check."""


class Recorder:
    """Collects checks and the failure code of a probe; ``finish`` freezes them into a ProbeResult."""

    def __init__(self, use_case: str) -> None:
        self.use_case = use_case
        self.checks: list[Check] = []
        self.code: str | None = None
        self.evidence = ""
        self.usage: dict[str, int] = {}
        self.timings: dict[str, float] = {}
        self._started = time.perf_counter()

    def check(self, name: str, passed: bool, detail: str, *, code: str = "PROBE_FAILED", evidence: str = "") -> bool:
        self.checks.append(Check(name, bool(passed), detail))
        if not passed and self.code is None:
            self.code = code
            self.evidence = evidence or detail
        return bool(passed)

    def request(self, step: str, call: Callable[[], T]) -> T:
        """Run one API call; an HTTP error or a timeout becomes the failed check ``step`` and raises RequestFailed."""
        import openai

        try:
            return call()
        except openai.APIStatusError as error:
            body = error_body(error)
            code = _http_code(body)
            self.check(step, False, f"HTTP {error.status_code}: {short(body)}", code=code, evidence=body)
            raise RequestFailed(step) from error
        except Exception as error:
            kinds = {cls.__name__ for cls in type(error).__mro__}
            # openai wraps errors of the request itself; a stream that breaks while being read raises the raw
            # transport error of whichever httpx the installed openai uses (httpx or httpx2), so match by name.
            if kinds & {"APITimeoutError", "TimeoutException"}:
                self.check(step, False, f"no answer within the timeout ({type(error).__name__})", code="PROBE_TIMEOUT")
                raise RequestFailed(step) from error
            if kinds & {"APIConnectionError", "TransportError"}:
                raise EngineUnreachable(self.use_case, step, error) from error
            raise

    def finish(self) -> ProbeResult:
        self.timings["probe_s"] = round(time.perf_counter() - self._started, 4)
        failed = [c for c in self.checks if not c.passed]
        if not self.checks:
            message = f"{self.use_case}: no check ran"
            code: str | None = "PROBE_FAILED"
        elif failed:
            message = "; ".join(f"{c.name}: {c.detail}" for c in failed)
            code = self.code
        else:
            message = f"{self.use_case}: all {len(self.checks)} checks passed"
            code = None
        return ProbeResult(
            use_case=self.use_case,
            checks=tuple(self.checks),
            code=code,
            message=message,
            evidence=self.evidence,
            usage=dict(self.usage),
            timings=dict(self.timings),
        )


def run_probe(use_case: str, ctx: ProbeContext, body: Callable[[ProbeContext, Recorder], None]) -> ProbeResult:
    """Run a probe body; a failed request ends it early (later requests would fail the same way)."""
    rec = Recorder(use_case)
    with contextlib.suppress(RequestFailed):
        body(ctx, rec)
    return rec.finish()


def error_body(error: Any) -> str:
    try:
        text = str(error.response.text)
    except Exception:  # a streamed or closed response: fall back to the parsed body
        text = ""
    return text or str(error.body or error.message)


def is_missing_route(body: str) -> bool:
    """FastAPI's own 404 (no such route on this server), as opposed to vLLM's 404 for an unknown model name."""
    import json

    try:
        return bool(json.loads(body) == {"detail": "Not Found"})
    except ValueError:
        return False


def _http_code(body: str) -> str:
    code = diagnose(body, None).code
    return "HTTP_ERROR" if code == "OTHER" else code


def short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_usage(rec: Recorder, name: str, usage: dict[str, int] | None) -> None:
    """prompt_tokens > 0, completion_tokens > 0, total = prompt + completion."""
    if usage is None:
        rec.check(name, False, "no usage in the answer")
        return
    p, c, t = usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]
    rec.check(name, p > 0 and c > 0 and t == p + c, f"prompt={p} completion={c} total={t} (need >0, >0, sum)")


def compare_stream(
    rec: Recorder, prefix: str, text: str, finish: str | None, usage: dict[str, int] | None, stream: StreamRead
) -> None:
    """The checks that make a stream trustworthy: well-formed, and identical in content to the plain answer."""
    rec.check(
        f"{prefix}stream_well_formed",
        not stream.problems,
        "; ".join(stream.problems) or f"{stream.chunks} chunks, one id, one finish_reason, usage present",
    )
    if stream.usage is not None:
        p, c, t = stream.usage["prompt_tokens"], stream.usage["completion_tokens"], stream.usage["total_tokens"]
        rec.check(f"{prefix}stream_usage", p > 0 and c > 0 and t == p + c, f"prompt={p} completion={c} total={t}")
    same_text = stream.text == text
    same_finish = stream.finish_reasons[-1:] == [finish]
    same_usage = stream.usage == usage
    rec.check(
        f"{prefix}stream_agrees",
        same_text and same_finish and same_usage,
        "streamed and non-streamed answers are identical"
        if same_text and same_finish and same_usage
        else f"text {short(text, 80)!r} vs streamed {short(stream.text, 80)!r}; finish {finish!r} vs "
        f"{stream.finish_reasons}; usage {usage} vs {stream.usage}",
    )


def find_special_tokens(text: str) -> list[str]:
    return [token for token in SPECIAL_TOKENS if token in text]


def record_stream_timings(rec: Recorder, stream: StreamRead) -> None:
    """The stream's first visible content and its end, under the names of harness.probes.streams (not ``ttft_s``:
    that name means vllm bench serve's definition, reported by the latency measurement)."""
    if stream.first_content_s is not None:
        rec.timings["first_content_s"] = round(stream.first_content_s, 4)
    rec.timings["e2e_s"] = round(stream.e2e_s, 4)
