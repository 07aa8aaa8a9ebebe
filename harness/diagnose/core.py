"""From an engine log (or an HTTP error body) and an exit code to a root-cause CODE, the line that proves it, the vLLM
source site that printed it, and the other causes the log shows, strongest first.

Every line that may carry a cause is read for what it says (harness/diagnose/structure.py strips how it was printed),
then offered to three readers, each giving a code and a rank:

- the hand-written signatures (harness/diagnose/signatures.py): libraries, the system, older wordings;
- the installed vLLM's own messages (harness/diagnose/sites.py), when the caller passes its ``SiteIndex``: a message
  whose site a rule maps to a code is that code; any other site is still named as evidence;
- the structure: an argparse usage error is read by its flag, an HTTP 400 body by its message (with the engine's
  sites known, a message that is no vLLM message is the chat template's own ``raise_exception`` text).

The highest rank wins and, among equal ranks, the earliest line: a crash prints its root cause before the exceptions
that wrap it (a chain's root comes first), and wrappers such as "Engine core initialization failed. See root cause
above" are never an answer. When nothing matched, the exit code may still say a signal killed the process; else the
answer is OTHER with the most likely decisive line: the root of the first exception chain that is not a wrapper,
else the first error logged, else the last HTTP error, else the last line that looks like an error.

Memory stays bounded on any log: it is read in blocks, and only the lines that may matter reach the readers
(harness/diagnose/scan.py finds them with compiled regexes: a 100 MB log takes about a second).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TextIO

from harness.diagnose.boundaries import Alternative, alternative_to
from harness.diagnose.confidence import grade
from harness.diagnose.footprint import Footprint
from harness.diagnose.frames import Traceback, bare_exception
from harness.diagnose.scan import Scan
from harness.diagnose.signatures import (
    DATA_DUMPS,
    EXIT_SIGNAL,
    FRAME,
    PROSE,
    PROSE_TOPIC,
    SIGNATURES,
    SOURCE,
    SPECIFIC,
    TEMPLATE_GUESS,
    TRUNCATED,
    UNFINISHED_FRAMES,
    VAGUE,
    WORDS,
    WRAPPERS,
)
from harness.diagnose.sites import SiteIndex, classify_words
from harness.diagnose.structure import (
    Line,
    argparse_error,
    http_error,
    interesting,
    parse,
)

EVIDENCE_MAX = 300
CAUSES_KEPT = 3  # the other causes named beside the answer

# An argparse error names the flag; the flag names the cause. Any other flag's bad value or unknown flag: FLAG_UNKNOWN.
FLAG_CODES: dict[str, str] = {
    "--tool-call-parser": "PARSER_UNKNOWN",
    "--reasoning-parser": "PARSER_UNKNOWN",
    "--quantization": "QUANT_UNSUPPORTED",
    "-q": "QUANT_UNSUPPORTED",
}
# A pydantic validation error of one of vLLM's config classes names the field on the next line: the field names the
# cause, as an argparse error's flag does (the config fields are the flags with underscores)
FIELD_CODES: dict[str, str] = {
    "max_lora_rank": "LORA_RANK",
    "max_model_len": "MAX_MODEL_LEN",
    "quantization": "QUANT_UNSUPPORTED",
    "dtype": "DTYPE_UNSUPPORTED",
    "tensor_parallel_size": "TP_INDIVISIBLE",
    "tool_call_parser": "PARSER_UNKNOWN",
    "reasoning_parser": "PARSER_UNKNOWN",
    "limit_mm_per_prompt": "MM_LIMIT",
}
_VALIDATION = re.compile(r"\b\d+ validation errors? for \w*Config\b")
_FIELD = re.compile(r"^\s*(E\s+)?(?P<field>[a-z_][a-z0-9_]*)\s*$")  # "E   " a pytest failure's prefix
_QUIET_OK = tuple(signature for signature in SIGNATURES if signature.quiet_ok)
_BODY_START = re.compile(r"[\"']message[\"']\s*:\s*[\"']")  # an error body's message opens on this line
BODY_LINES = 3  # the most lines a wrapped error body is read across
_ACCESS_401 = re.compile(r"\"(GET|POST|PUT|DELETE) /\S* HTTP/[\d.]+\" 401\b")
# A second engine or model on the same GPUs, as a log or its reporter tells it: "Out of memory w/ multiple models", "a
# second LLM() in the same process", "two vLLM instances on one GPU"
# ("another model" and "several models" are left out: a reporter who tried other models says it so)
_COLOCATED = re.compile(
    r"\b(multiple|two|2|second)\s+(vllm\s+|LLM\(\)\s+)?(models?|LLMs?|LLM\(\)|vllm|instances|engines|servers)\b"
    r"(?!\s+(of|for)\b)|\b(another|several)\s+(vllm\s+)?(instances?|engines?|servers?|LLM\(\))"
    r"|\b(same|one) (process|gpu|card)\b[^\n]{0,40}\b(another|second|two|multiple)\b",
    re.IGNORECASE,
)
# An access-log line for a route this server does not have (the old demo server's /generate asked of the OpenAI
# server, a client's own route, a base URL without /v1). On vLLM's OpenAI routes a 404 is a model the server does not
# serve (WRONG_MODEL, read from the body): those are left alone.
_UNKNOWN_ROUTE = re.compile(
    r"\"(GET|POST|PUT|DELETE) (?!/v1/(chat/completions|completions|embeddings|models|audio|responses|rerank|score|"
    r"classify|load_lora_adapter|unload_lora_adapter)\b)/\S* HTTP/[\d.]+\" 40[45]\b"
)
_ERROR_LOOKING = re.compile(r"^[\w.]*(Error|Exception|Exit)\b[:(]|\b(Error|Exception)\b|Traceback", re.IGNORECASE)


@dataclass(frozen=True)
class Cause:
    """One cause the log shows: its code, the line that shows it and, when one printed it, vLLM's source site."""

    code: str
    evidence: str
    line: int | None
    site: str | None = None  # "vllm/lora/peft_helper.py:PEFTHelper.validate_legal"
    rank: int = 0
    process: str = ""  # the process that printed it ("EngineCore_DP0", "APIServer"), "" when the line names none

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "evidence": self.evidence,
            "line": self.line,
            "site": self.site,
            "process": self.process or None,
        }


@dataclass(frozen=True)
class Diagnosis:
    code: str  # one of CODES
    evidence: str  # the proving log line (stripped, trimmed), or a sentence for exit-code-only causes
    line: int | None  # 1-based line number in the text, None when the evidence is not a line
    site: str | None = None  # the vLLM source site that printed the evidence line, when known
    causes: tuple[Cause, ...] = field(default=(), compare=False)  # the other causes found, strongest first
    # the other cause its evidence line proves as well, where the log cannot choose (harness/diagnose/boundaries.py)
    alternative: Alternative | None = field(default=None, compare=False)
    # what the answer rests on (harness/diagnose/confidence.py): "high", "medium" or "low", and in words; None for OTHER
    confidence: str | None = field(default=None, compare=False)
    basis: str | None = field(default=None, compare=False)

    def to_json(self, *, explain: bool = False) -> dict[str, object]:
        """{"code", "evidence", "line"}; with ``explain`` also "site", the other "causes", the "alternative", and the
        "confidence" with its "basis"."""
        data: dict[str, object] = {"code": self.code, "evidence": self.evidence, "line": self.line}
        if explain:
            data["confidence"] = self.confidence
            data["basis"] = self.basis
            data["site"] = self.site
            data["causes"] = [cause.to_json() for cause in self.causes]
            data["alternative"] = self.alternative.to_json() if self.alternative else None
        return data


def diagnose(
    source: str | TextIO | Iterable[str], exit_code: int | None = None, *, sites: SiteIndex | None = None
) -> Diagnosis:
    """The root cause of a failure, from the engine's log (text, an open file, or lines) and its exit code."""
    reading = _Reading(sites)
    scan = Scan(source)  # only the lines that may matter, found in C (harness/diagnose/scan.py)
    for line, following in scan:
        reading.read(line, following)
    reading.tail = list(scan.tail)  # the log's last lines, not the last lines read
    reading.last_nonempty = reading.tail[-1] if reading.tail else None
    return reading.verdict(exit_code)


class _Reading:
    """The state of one pass over a log: the best offer per code and what OTHER would fall back to."""

    def __init__(self, sites: SiteIndex | None) -> None:
        self.sites = sites
        # (code, told in prose) -> its strongest, earliest showing: a person's account is kept apart from the log's
        # own evidence of the same code, so that dropping the account (below) never drops the evidence with it
        self.offers: dict[tuple[str, bool], Cause] = {}
        self.first_exception: Line | None = None
        self.first_error_log: Line | None = None
        self.last_http: Line | None = None
        self.last_error_looking: Line | None = None
        self.last_nonempty: tuple[int, str] | None = None
        self.tail: list[tuple[int, str]] = []
        self.footprint = Footprint()  # the model's size, its split and the GPU's memory, where the log says them
        self.colocated: Line | None = None  # a line that tells of a second engine or model on the same GPUs
        self.traceback = Traceback()  # the frames of the traceback being read: where its exception was raised

    # --- reading ------------------------------------------------------------------------------------------------

    def read(self, item: tuple[int, str], following: list[str]) -> None:
        number, raw = item
        if raw.strip():
            self.last_nonempty = (number, raw)
        if not interesting(raw):
            return
        line = parse(number, raw)
        self.footprint.read(line.message)
        if self.colocated is None and _COLOCATED.search(line.message):
            self.colocated = line
        self.traceback.add(number, line.message, following)  # a frame is kept: where the exception was raised
        if line.is_frame():
            return  # a traceback frame, or the source it quotes: the exception line follows
        if line.message.lstrip().startswith("Traceback (most recent call last)"):
            self.traceback.clear()
        if DATA_DUMPS.search(line.message):
            return  # the failing step's config and requests, dumped: data, not a cause
        if line.quiet:
            # vLLM warns about things it then survives ("Retrying with a new port"): only the few signatures that are
            # a cause's sole trace, and a failed request in the access log, are read on INFO/WARNING lines
            for signature in _QUIET_OK:
                if signature.pattern.search(line.message):
                    self._offer(signature.code, signature.rank, line, None)
            if '" 4' in line.message or '" 5' in line.message:
                self._http(line, True, None)
            return
        texts = self._texts(line, following)
        site = self._site(line, texts)
        matched = self._signatures(line, texts, site)
        matched = self._argparse(line, site) or matched
        matched = self._validation(line, following) or matched
        if site is not None and site.code is not None:
            self._offer(site.code, SOURCE, line, site.where)
            matched = True
        elif site is None and (line.exception() is not None or line.level in {"ERROR", "CRITICAL"}):
            # no site of this vLLM printed it (another version did): the rules still read its words
            code = next((c for c in map(classify_words, texts) if c is not None), None)
            if code is not None:
                self._offer(code, WORDS, line, None)
                matched = True
        self._http(line, matched, site.where if site else None, following)
        self._frames(line, matched)
        self._fallbacks(line)

    def _frames(self, line: Line, matched: bool) -> None:
        """An exception line nothing recognised: where it was raised may say the cause (harness/diagnose/frames.py)."""
        exception = line.exception()
        exception_type = exception[0] if exception is not None else bare_exception(line.message)
        if exception_type is None:
            return
        if not matched and not WRAPPERS.search(line.message):
            found = self.traceback.cause(exception_type, line.number, exception[1] if exception else "")
            if found is not None:
                self._offer(found.code, VAGUE if found.vague else FRAME, line, found.where)
        self.traceback.clear()  # a chained exception's next traceback starts afresh

    def _texts(self, line: Line, following: list[str]) -> list[str]:
        """The line's message, and for an exception line its message joined with the lines it wrapped onto."""
        texts = [line.message]
        if line.exception() is None:
            return texts
        joined = line.message.rstrip()
        for raw in following:
            nxt = parse(0, raw)
            words = nxt.message.strip()
            if (
                not words
                or nxt.level is not None  # a new log record
                or nxt.process != line.process
                or nxt.is_frame()
                or nxt.exception()
                or words.startswith(("Traceback", "The above", "During"))
            ):
                break
            texts.append(joined + " " + words)  # a message wrapped at a word: the paste lost the space
            texts.append(joined + words)  # wrapped mid-word by the terminal
            joined = joined + " " + words
        return texts

    def _site(self, line: Line, texts: list[str]) -> _SiteHit | None:
        if self.sites is None:
            return None
        for text in texts:
            site = self.sites.match(text)
            if site is not None:
                return _SiteHit(site.where, site.code)
        return None

    def _signatures(self, line: Line, texts: list[str], site: _SiteHit | None) -> bool:
        where = site.where if site else None
        for candidates in (texts[:1], texts[1:]):  # the joined lines only when the line alone says nothing
            matched = False
            for signature in SIGNATURES:
                if any(signature.pattern.search(text) for text in candidates):
                    self._offer(signature.code, signature.rank, line, where)
                    matched = True
            if matched:
                return True
        return False

    def _argparse(self, line: Line, site: _SiteHit | None) -> bool:
        error = argparse_error(line.message)
        if error is None or error.problem == "unrecognized arguments":
            return False  # unrecognized arguments: the FLAG_UNKNOWN signature has it
        code = FLAG_CODES.get(error.flag or "", "FLAG_UNKNOWN") if error.problem == "invalid choice" else "FLAG_UNKNOWN"
        self._offer(code, SPECIFIC, line, site.where if site else None)
        return True

    def _validation(self, line: Line, following: list[str]) -> bool:
        """A pydantic ValidationError of a vLLM config class, read by the field named on the line after it."""
        if not _VALIDATION.search(line.message) or not following:
            return False
        field = _FIELD.match(parse(0, following[0]).message)
        code = FIELD_CODES.get(field.group("field")) if field else None
        if code is None:
            return False
        self._offer(code, SPECIFIC, line, None)
        return True

    def _http(self, line: Line, matched: bool, where: str | None, following: list[str] | None = None) -> None:
        error = http_error(line.message)
        if (error is None or error.message is None) and _BODY_START.search(line.message):
            # a JSON body the terminal or the paste wrapped: its message (and status) end on the next lines
            joined = line.message.rstrip()
            for raw in (following or [])[:BODY_LINES]:
                joined += " " + parse(0, raw).message.strip()
                error = http_error(joined) or error
                if error is not None and error.message is not None:
                    break
        if error is None:
            return
        self.last_http = line
        if error.status in {404, 405} and _UNKNOWN_ROUTE.search(line.message):
            self._offer("HTTP_ERROR", VAGUE, line, None)
        if error.status == 400 and error.validation and not matched:
            # pydantic's refusal of the request's shape ("tools: Input should be a valid list"): the client sent a
            # request this server's API does not take
            self._offer("HTTP_ERROR", VAGUE, line, None)
        if error.status == 401 and _ACCESS_401.search(line.message):
            self._offer("ENDPOINT_AUTH", SPECIFIC, line, None)  # the server refused the request's API key
        if (
            not matched
            and self.sites is not None  # "no vLLM message" can only be said knowing vLLM's messages
            and error.status == 400
            and error.message is not None
            and not error.validation
            and where is None
            and len(error.message) >= 12
        ):
            # A 400 whose message is neither a known signature nor any vLLM message: the chat template raised it.
            self._offer("TEMPLATE_ERROR", TEMPLATE_GUESS, line, None)

    def _fallbacks(self, line: Line) -> None:
        wrapper = WRAPPERS.search(line.message) is not None
        if self.first_exception is None and not wrapper and line.exception() is not None:
            self.first_exception = line
        if self.first_error_log is None and not wrapper and line.level in {"ERROR", "CRITICAL"}:
            self.first_error_log = line
        if _ERROR_LOOKING.search(line.message):
            self.last_error_looking = line

    def _offer(self, code: str, rank: int, line: Line, where: str | None) -> None:
        key = (code, _is_prose(rank))
        known = self.offers.get(key)
        if known is None or rank > known.rank:
            self.offers[key] = Cause(code, _evidence(line), line.number, where, rank, line.process)

    # --- verdict ------------------------------------------------------------------------------------------------

    def verdict(self, exit_code: int | None) -> Diagnosis:
        self._unfinished_traceback()
        ranked = sorted(self.offers.values(), key=lambda cause: (-cause.rank, cause.line or 0))
        prose = [cause for cause in ranked if _is_prose(cause.rank)]
        if prose and (
            len(prose) < len(ranked)
            or self.first_exception is not None
            or self.first_error_log is not None
            or _killed_by_signal(exit_code) is not None
        ):
            # a person's account of a symptom is the cause only in a log that shows no failure: beside a traceback,
            # an ERROR record, any other cause (however vague) or a kill, that is what failed (and, unrecognised, an
            # honest OTHER names it)
            ranked = [cause for cause in ranked if cause not in prose]
        ranked = [cause for number, cause in enumerate(ranked) if cause.code not in {c.code for c in ranked[:number]}]
        killed = _killed_by_signal(exit_code)
        if ranked and ranked[0].code == "OOM" and self.footprint.weights_exceed_gpus():
            # the weights alone are more than the GPUs they were split over: that OOM is WEIGHTS_TOO_LARGE
            ranked[0] = replace(ranked[0], code="WEIGHTS_TOO_LARGE")
        elif ranked and ranked[0].code == "OOM" and self.colocated is not None:
            # the memory ran out with a second engine or model on the same GPUs (a second LLM() in one process, two
            # servers on one card): the first one holds what the second needs
            ranked[0] = replace(ranked[0], code="GPU_CONTENDED")
        if ranked and (killed is None or ranked[0].rank > EXIT_SIGNAL):
            best = ranked[0]
            return Diagnosis(
                best.code,
                best.evidence,
                best.line,
                best.site,
                tuple(ranked[1 : 1 + CAUSES_KEPT]),
                alternative_to(best.code, best.evidence),
                *grade(best.rank),
            )
        if killed is not None:
            alternative = alternative_to("PROC_KILLED", killed)
            return Diagnosis(
                "PROC_KILLED", killed, None, None, tuple(ranked[:CAUSES_KEPT]), alternative, *grade(EXIT_SIGNAL)
            )
        return self._other(exit_code)

    def _unfinished_traceback(self) -> None:
        """A log that ends inside a traceback (a frame, then at most its source and caret lines): the innermost frame
        names the failed step (signatures.UNFINISHED_FRAMES)."""
        lines = [parse(number, raw) for number, raw in self.tail]
        frames = [i for i, line in enumerate(lines) if line.message.lstrip().startswith('File "')]
        innermost = frames[-1] if frames else None
        if innermost is None or len(lines) - innermost > 3:
            return
        for after in lines[innermost + 1 :]:
            if after.exception() is not None or not (after.is_frame() or after.message[:1].isspace()):
                return  # the exception line (or anything else) came after the frames: the traceback finished
        frame = lines[innermost]
        for after in lines[innermost + 1 :]:
            # the source line the innermost frame quotes is the raise statement itself: its message is a site's
            statement = after.message.strip()
            site = self.sites.match(statement) if self.sites is not None and statement.startswith("raise ") else None
            if site is not None and site.code is not None:
                self._offer(site.code, TRUNCATED, after, site.where)
                return
        for code, pattern in UNFINISHED_FRAMES:
            if pattern.search(frame.message):
                self._offer(code, TRUNCATED, frame, None)
                return

    def _other(self, exit_code: int | None) -> Diagnosis:
        for line in (self.first_exception, self.first_error_log, self.last_http, self.last_error_looking):
            if line is not None:
                return Diagnosis("OTHER", _evidence(line), line.number, self._site_of(line))
        if self.last_nonempty is not None:
            number, raw = self.last_nonempty
            line = parse(number, raw)
            return Diagnosis("OTHER", _evidence(line), number, self._site_of(line))
        suffix = f" (exit code {exit_code})" if exit_code is not None else ""
        return Diagnosis("OTHER", f"the log is empty{suffix}", None)

    def _site_of(self, line: Line) -> str | None:
        if self.sites is None:
            return None
        site = self.sites.match(line.message)
        return site.where if site else None


def _is_prose(rank: int) -> bool:
    return PROSE_TOPIC <= rank <= PROSE


@dataclass(frozen=True)
class _SiteHit:
    where: str
    code: str | None


def _killed_by_signal(exit_code: int | None) -> str | None:
    """A sentence when the exit code says a signal ended the process (Popen: -N; shells and containers: 128+N)."""
    if exit_code is None:
        return None
    if exit_code < 0:
        number = -exit_code
    elif 128 < exit_code < 160:
        number = exit_code - 128
    else:
        return None
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    return f"the engine exited with code {exit_code}: killed by {name} with no error in its log"


def _evidence(line: Line) -> str:
    """The message of a log line, at most EVIDENCE_MAX characters."""
    message = line.message.strip() or line.raw.strip()
    return message if len(message) <= EVIDENCE_MAX else message[: EVIDENCE_MAX - 3] + "..."
