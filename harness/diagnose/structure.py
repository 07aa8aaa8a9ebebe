"""The structure of a log: lines read in bounded memory, each line's process and level, the message it carries.

What a line *says* is separated from how it was printed: process prefixes (``(APIServer pid=1) (EngineCore_DP0
pid=68)``, ``[rank0]:``, ``vllm-1  | ``, Ray's ``(RayWorkerWrapper pid=2, ip=10.0.0.1)``), timestamps (docker's,
buildkite's, Python logging's), vLLM's level header (``ERROR 05-23 09:31:47 [core.py:396]``), terminal colours (real or
pasted as ``^[[0;36m``) and quoting (``> ``, backticks) are stripped; what is left is matched against the signatures.

Three kinds of line are read by their structure rather than their words:

- Python exception lines (``ValueError: ...``, ``KeyError: '...'``, pydantic's ``Value error, ...``), whose message
  may wrap onto the next lines (the caller joins up to ``CONTINUATION`` of them).
- argparse usage errors (``error: argument --tool-call-parser: invalid choice: 'x'``): the code follows the flag.
- HTTP error bodies (``{'object': 'error', 'message': '...', 'code': 400}``, ``status code: 400 ... message: ...``,
  uvicorn's ``"POST /v1/chat/completions HTTP/1.1" 400``): the message inside is what counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

MAX_LINE = 16_384  # characters of a line that are read: a megabyte without a newline is not a log line
CONTINUATION = 2  # lines after an exception line that may hold the rest of its message

_ANSI = re.compile(r"(?:\x1b|\^\[|ESC)\[[0-9;]*[A-Za-z]")
_PREFIX = re.compile(
    r"^(?:"
    r"\s*\((?:\w[\w.-]*)(?: (?:rank|TP|PP|DP)=?\d+)?(?: pid=\d+)(?:, ip=[\w.:-]+)?\)"  # (EngineCore_DP0 pid=68)
    r"|\s*\[rank\d+\]:"  # torch.distributed
    r"|\s*\[?\d{4}-\d\d-\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?\]?"  # ISO / docker / buildkite timestamps
    r"|\s*\d{4}/\d\d/\d\d \d\d:\d\d:\d\d"  # Go-style timestamps of clients
    r"|\s*[\w.-]+ +\| "  # docker compose "vllm-1  | "
    r"|\s*\| "  # buildkite's column
    r"|\s*> "  # a quote in a thread
    r"|\s*\[(?:Info|Error|Warning|Debug)\] \(Process\)"  # wrapper launchers' own tags
    r")+ ?"
)
_LOG_HEADER = re.compile(
    r"^(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\s+\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?\s+\[?[^\]\s]*\] ?"
)
# Python logging's "2025-03-12 09:29:12,291 xinference.core.model 822191 ERROR    [request ...] message"
_PY_LOG = re.compile(r"^(?:[\w.]+ )?(?:\d+ )?(DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+(?:\[[^\]]*\]\s*)?")
_UVICORN = re.compile(r"^(INFO|WARNING|ERROR):\s+")
QUIET = frozenset({"DEBUG", "INFO", "WARNING", "WARN"})

# "ValueError: ...", "torch.OutOfMemoryError: ...", "KeyError: 'x'", "ray.exceptions.RayTaskError(ValueError): ..."
EXCEPTION = re.compile(
    r"^(?:raise )?(?P<type>(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Warning|Interrupt)\w*)"
    r"(?:\([\w.]*\))?: ?(?P<message>.*)$"
)
_PYDANTIC = re.compile(r"^\s*(?P<type>Value error|Assertion failed), (?P<message>.*?)(?: \[type=\w+.*)?$")
_TRACEBACK_FRAME = re.compile(
    r'^\s*(File "|\^+\s*$|~+\^*\s*$|\.\.\.<\d+ lines>\.\.\.)'
    # IPython's and Jupyter's frames quote numbered source: "    387     raise ValueError(", "--> 389   x = f()"
    r"|^(\s{4,}|\s*-+>\s*)\d+\s{2,}\S"
)
# traceback lines quoting source code; an indented "key": value is a pretty-printed JSON body's field (an HTTP error's
# "message"), not source
_SOURCE_ECHO = re.compile(r"^(\s*raise\s|\s{4,}(?!\"[\w.-]+\"\s*:\s)f?[\"'])")

ARGPARSE = re.compile(
    r"error: (?:argument (?P<flag>[^\s:/]+)(?:/\S+)?: (?P<problem>invalid choice|expected (?:one|at least one) "
    r"argument|invalid \w+ value)[^\n]*|(?P<unrecognized>unrecognized arguments: )(?P<args>.*))"
)
# The message inside an HTTP error body, JSON or Python repr or a client's "message: ..." summary.
_BODY_MESSAGE = re.compile(
    r"""["']message["']\s*:\s*(?P<q>["'])(?P<message>(?:\\.|(?!(?P=q)).)*)(?P=q)|"""
    r"""\bmessage: (?P<plain>.+)$"""
)
HTTP_STATUS = re.compile(
    r"\b(?:Error code|status code|status|code)\W{1,3}(?P<status>[45]\d\d)\b|\"\s(?P<access>[45]\d\d)\s"
)
_PYDANTIC_BODY = re.compile(r"validation error|Extra inputs are not permitted|Field required|type=|'loc':|\"loc\":")

# Lower-case words without which a line is never a cause (most of a long log): plain substring tests, which are an
# order of magnitude faster than one case-insensitive regex of alternatives.
# fmt: off
_MARKERS = (
    "rror", "xception", "killed", "sig", "fail", "invalid", "unrecognized", "annot ", "not ", "denied", "refused",
    "traceback", "above exception", "http", "xid", "uid not found", "unexpected keyword", "usage:", "too ", "exceed",
    "insufficient", "no platform", "must", "only", "out of memory", "at most", "requir", "allow", "limit", "divisib",
    "support", "unknown", "missing", "no such", "could not", "can't", "unable", "larger", "greater", "--", "memory",
    "available", "cuda", "nccl", "driver", "gpu", "template", "rank", "parser", "choice", " api", " stop",
    # a generation that does not end, in prose (signatures.py EOS_MISMATCH), and NCCL's and CUDA's peer-access words
    "n't ", "never", "keep", "kept", "repeat", "endless", "infinite", "non-stop", "nonstop", "runaway", "until", "eos",
    "stop_token", "end-of-", "end of turn", "end of sequence", "peer access", "shared memory", "|>", "</s>",
    "<end_of_turn>", "一直", "停", "无限", "重复", "循环",
    # the reasoning reported in the wrong field (signatures.py REASONING_LEAK / REASONING_MISSING)
    "reasoning", "think",
    # a requested structure the engine did not enforce, a tool call returned as text (signatures.py)
    "ignore", "dropped", "no effect", "tool_call", "tool call",
    # a multi-GPU start that hangs, an API key refused (signatures.py NCCL_ERROR, ENDPOINT_AUTH)
    "stuck", "hang", "hung", "freez", "frozen", "401",
    # a second engine or model on the same GPUs (core.py: an OOM then is GPU_CONTENDED)
    "multiple", "second", "another", "several", "two ",
    # a container that got no GPU, a missing think tag, a missing API key (signatures.py)
    "hook", "cdi", "lack", "authorization", "api_key",
    # a traceback's frames: where an exception that says little was raised (harness/diagnose/frames.py)
    '.py", line', ".py in ", "<frozen importlib",
    # a collective that never completed (signatures.py NCCL_ERROR), quoted where nothing else marks the line; the
    # API key check's own body (ENDPOINT_AUTH); gRPC's bind failure (PORT_CONFLICT)
    "timed out", "unauthori", "no address added",
)
# fmt: on


@dataclass(frozen=True)
class Line:
    """A line of the log as printed and as meant."""

    number: int  # 1-based, as editors and grep -n count (only "\n" ends a line)
    raw: str
    process: str  # "EngineCore_DP0", "APIServer", "" when the line names none
    level: str | None  # "ERROR", "INFO", ... when a logger header says so
    message: str  # the line without prefixes, header and colours; indentation kept

    @property
    def quiet(self) -> bool:
        return self.level in QUIET

    def exception(self) -> tuple[str, str] | None:
        """(type, message) when this line is a Python exception line."""
        text = self.message.strip().strip("`*")
        found = EXCEPTION.match(text) or _PYDANTIC.match(text)
        if found is None:
            return None
        return found.group("type"), found.group("message")

    def is_frame(self) -> bool:
        """A traceback frame or the source line it quotes: never the message itself."""
        return bool(_TRACEBACK_FRAME.match(self.message) or _SOURCE_ECHO.match(self.message))


def read_lines(source: str | TextIO | Iterable[str]) -> Iterator[tuple[int, str]]:
    """(number, line) for each line of a text or a file, with lines cut at MAX_LINE characters.

    A file is read in chunks, so memory stays bounded whatever the file's size (a string is sliced, not copied
    whole); only "\\n" ends a line, as ``grep -n`` counts, so a progress bar's carriage returns stay in one line."""
    if isinstance(source, str):
        yield from _split(source)
        return
    if hasattr(source, "read"):
        yield from _chunks(source)  # type: ignore[arg-type]
        return
    for number, line in enumerate(source, start=1):
        yield number, line.rstrip("\n")[:MAX_LINE].rstrip("\r")


def _split(text: str) -> Iterator[tuple[int, str]]:
    start, number = 0, 0
    while True:
        end = text.find("\n", start)
        number += 1
        piece = text[start : (end if end >= 0 else len(text))]
        yield number, piece[:MAX_LINE].rstrip("\r")
        if end < 0:
            return
        start = end + 1


def _chunks(stream: TextIO, size: int = 1 << 20) -> Iterator[tuple[int, str]]:
    number, pending = 0, ""
    while True:
        chunk = stream.read(size)
        if not chunk:
            break
        start = 0
        while True:
            end = chunk.find("\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if len(pending) < MAX_LINE:
                pending += piece[: MAX_LINE - len(pending)]  # the rest of a giant line is skipped, not kept
            if end < 0:
                break
            number += 1
            yield number, pending.rstrip("\r")
            pending = ""
            start = end + 1
    number += 1
    yield number, pending.rstrip("\r")


def parse(number: int, raw: str) -> Line:
    """A raw line read: process, level and message."""
    text = _ANSI.sub("", raw)
    process = ""
    prefix = _PREFIX.match(text)
    if prefix and prefix.end():
        names = re.findall(r"\((\w[\w.-]*)[ ,)]", prefix.group(0))
        process = names[-1] if names else ""
        text = text[prefix.end() :]
    level = None
    header = _LOG_HEADER.match(text) or _UVICORN.match(text)
    if header is None and re.match(r"^[\w.]+ \d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL)\s", text):
        header = _PY_LOG.match(text)
    if header is not None:
        level = header.group(1)
        text = text[header.end() :]
    return Line(number, raw, process, level, text.rstrip())


def interesting(raw: str) -> bool:
    """A cheap first look: lines without any of these words are never a cause (most of a long log)."""
    low = raw.lower()
    return any(marker in low for marker in _MARKERS)


@dataclass(frozen=True)
class ArgparseError:
    flag: str | None  # "--tool-call-parser", or None for unrecognized arguments
    problem: str  # "invalid choice", "expected one argument", "unrecognized arguments"
    detail: str


def argparse_error(message: str) -> ArgparseError | None:
    """The usage error argparse printed on this line, if any."""
    found = ARGPARSE.search(message)
    if found is None:
        return None
    if found.group("unrecognized"):
        return ArgparseError(None, "unrecognized arguments", found.group("args"))
    return ArgparseError(found.group("flag"), found.group("problem"), found.group(0))


@dataclass(frozen=True)
class HttpError:
    status: int | None
    message: str | None  # None: the line shows the status only (an access log line)
    validation: bool  # the body is pydantic's request validation, not an engine message


def http_error(message: str) -> HttpError | None:
    """The HTTP error this line reports: status and the message of its body, when it carries one."""
    status_match = HTTP_STATUS.search(message)
    body = _BODY_MESSAGE.search(message)
    bad_request = "BadRequestError" in message or "Bad Request" in message
    if status_match is None and body is None:
        return None
    if status_match is None and not bad_request:
        return None
    status = None
    if status_match is not None:
        status = int(status_match.group("status") or status_match.group("access"))
    elif bad_request:
        status = 400
    text = None
    if body is not None:
        text = (body.group("message") if body.group("message") is not None else body.group("plain")).strip()
        text = text.replace("\\'", "'").replace('\\"', '"')
    return HttpError(status, text or None, bool(text and _PYDANTIC_BODY.search(text)))
