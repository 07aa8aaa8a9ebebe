"""Which lines of a log can matter, found by the regex engine in C, so that a 100 MB log is read in a second or two.

Most of a long server log is lines that can never be a cause: vLLM's and uvicorn's INFO/DEBUG/WARNING records and
blank lines. Python's per-line work (harness/diagnose/core.py) costs microseconds a line; this module finds, with a
few compiled regexes run over large blocks of text, the lines that still need it:

- every line that does not *begin* like a quiet record or a blank line (``_NOT_SKIPPED``): tracebacks, exception
  lines, ERROR records, prints, progress bars, HTTP bodies; of these, the ones without any of core.py's markers
  (structure.interesting()) are dropped, as core.py drops them, the answer remembered for lines that differ only in
  their digits (a progress bar, a counter);
- the quiet lines that carry one of the few things core.py reads on a quiet line: the ``quiet_ok`` signatures, an
  access-log status 4xx/5xx, and a colour code pasted as text (whose removal by parse() could join a trigger). In a
  block with real colour codes a quiet line is skipped only when they are all in its head.

What is skipped could never have mattered: core.py reads a quiet record only for those triggers. The quiet-record
regex is a few of parse()'s own prefixes and headers (structure.py), kept within one line, in forms parse() strips
the same way, so a line skipped as quiet is one that parse() reads as quiet (tests/test_diagnose_scan.py checks it on
every line of every corpus log, and that every corpus log gets the answer of reading every line).

Each line read still gets the ``CONTINUATION`` lines after it (an exception message that wrapped), taken from the
block, and the log's last ``TAIL`` non-empty lines (OTHER's last resort, a traceback cut short) are found from the end
of each block. Memory is bounded: a file is read in blocks of ``BLOCK`` characters, a line longer than ``MAX_LINE`` is
cut as read_lines() cuts it.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TextIO

from harness.diagnose.signatures import SIGNATURES
from harness.diagnose.structure import CONTINUATION, MAX_LINE, interesting

BLOCK = 1 << 20  # characters read at a time from a file
TAIL = 6  # the log's last non-empty lines kept: OTHER's last resort, and a traceback the paste cut short

# The quiet records of a vLLM log as parse() reads them: a docker compose service column ("vllm-1  | ") and a docker
# timestamp ("2025-06-01T10:00:00.123456789Z "), each optional, vLLM's process prefixes ("(APIServer pid=1)
# (EngineCore_DP0 pid=68) "), then vLLM's level header or uvicorn's. These are _PREFIX's own alternatives (structure.py)
# in the order such logs have them; parse() strips exactly these prefixes (no _PREFIX alternative can match where a
# level word starts) and then reads this level: a line skipped here is quiet there. Lines with other prefixes are not
# skipped: they are read in Python, which is slower, never different.
_PROCESSES_AND_LEVEL = (
    r"(?:\(\w[\w.-]*(?: (?:rank|TP|PP|DP)=?\d+)? pid=\d+(?:, ip=[\w.:-]+)?\) ?)*"
    r"(?:(?:DEBUG|INFO|WARNING|WARN) \d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \[?[^\]\s]*\]|(?:INFO|WARNING):[^\S\n])"
)
_QUIET_HEAD = (  # the bare form first: most lines of a long log have it, and it is the cheapest to try
    rf"(?:{_PROCESSES_AND_LEVEL}|(?=[\w.-]+ +\| |\[?\d{{4}}-)"
    r"(?:[\w.-]+ +\| )?(?:\[?\d{4}-\d\d-\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?\]? ?)?"
    rf"{_PROCESSES_AND_LEVEL})"
)
_SKIPPABLE = rf"(?:[^\S\n]*(?:\n|\Z)|{_QUIET_HEAD})"  # a blank line, or a quiet record
_SKIP_AT = re.compile(_SKIPPABLE)
_NOT_SKIPPED = re.compile(rf"\n(?!{_SKIPPABLE})")
# A block holding colour codes (a terminal's capture: vLLM colours its process prefix, level, time and file, uvicorn
# its level) is read with these instead: colour codes are allowed between the head's parts, where parse() removes them
# before it reads the head, and a quiet line is skipped only when the rest of it holds none (its message is then what
# the triggers below read). Other blocks have no ESC at all.
_A = r"(?:\x1b\[[0-9;]*[A-Za-z])*"
_COLOURED_HEAD = (
    rf"{_A}(?:\(\w[\w.-]*(?: (?:rank|TP|PP|DP)=?\d+)? pid=\d+(?:, ip=[\w.:-]+)?\){_A} ?{_A})*"
    rf"(?:(?:DEBUG|INFO|WARNING|WARN){_A} {_A}\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?{_A} {_A}\[?[^\]\s]*\]"
    rf"|(?:INFO|WARNING){_A}:[^\S\n]){_A}[^\x1b\n]*+(?:\n|\Z)"
)
_SKIPPABLE_COLOURED = rf"(?:[^\S\n]*(?:\n|\Z)|{_COLOURED_HEAD})"
_SKIP_AT_COLOURED = re.compile(_SKIPPABLE_COLOURED)
_NOT_SKIPPED_COLOURED = re.compile(rf"\n(?!{_SKIPPABLE_COLOURED})")
# What core.py reads on a quiet line: an access log's 4xx/5xx, and the quiet_ok signatures (plain, case-sensitive text,
# checked here); and a colour code pasted as text (^[[, ESC[), whose removal by parse() could join a trigger it
# separated (a real ESC is handled by the coloured regexes above). The lines holding one are read in Python. A single
# rare character is found with str.find (memchr), the rest with a regex that starts with a literal (sre's fast
# search): both far faster than a regex of alternatives.
_QUIET_OK = [signature.pattern for signature in SIGNATURES if signature.quiet_ok]
_METACHARACTER = re.compile(r"(?<!\\)[.^$*+?{}\[\]|()]|\\[A-Za-z]")
assert not [p.pattern for p in _QUIET_OK if _METACHARACTER.search(p.pattern) or p.flags & re.IGNORECASE], (
    "quiet_ok signatures must be plain, case-sensitive text"
)
TRIGGER_TEXTS = ("^", *(re.sub(r"\\(.)", r"\1", p.pattern) for p in _QUIET_OK))
TRIGGER_PATTERNS = (re.compile(r'" [45]'), re.compile(r"ESC\["))
_MEMO_MAX = 4096  # distinct lines (digits aside) whose interest is remembered

Item = tuple[tuple[int, str], list[str]]  # ((number, raw line), the CONTINUATION raw lines after it)


_DIGITS = bytes.maketrans(b"123456789", b"000000000")


def _cut(piece: str) -> str:
    return piece[:MAX_LINE].rstrip("\r")


class Scan:
    """The lines of a log that may matter, each with the lines after it; ``tail`` once iterated."""

    def __init__(self, source: str | TextIO | Iterable[str]) -> None:
        self.source = source
        self.tail: deque[tuple[int, str]] = deque(maxlen=TAIL)  # the log's last non-empty lines, once iterated
        self._memo: dict[bytes, bool] = {}

    def __iter__(self) -> Iterator[Item]:
        source = self.source
        if isinstance(source, str):
            yield from self._region(source, 1, len(source), final=True)
        elif hasattr(source, "read"):
            yield from self._stream(source)  # type: ignore[arg-type]
        else:
            yield from self._lines(source)

    def _lines(self, lines: Iterable[str]) -> Iterator[Item]:
        """Lines given one by one (a list, a generator): every line is read, as they come."""
        window: deque[tuple[int, str]] = deque()
        for number, line in enumerate(lines, start=1):
            raw = _cut(line.rstrip("\n"))
            if raw.strip():
                self.tail.append((number, raw))
            window.append((number, raw))
            if len(window) > CONTINUATION:
                head = window.popleft()
                yield head, [text for _, text in window]
        while window:
            head = window.popleft()
            yield head, [text for _, text in window]

    def _stream(self, stream: TextIO) -> Iterator[Item]:
        buffer, base, skipping = "", 1, False
        while True:
            chunk = stream.read(BLOCK)
            if not chunk:
                yield from self._region(buffer, base, len(buffer), final=True)
                return
            if skipping:  # the rest of a line longer than MAX_LINE: dropped, as read_lines() drops it
                newline = chunk.find("\n")
                if newline < 0:
                    continue
                chunk, skipping = chunk[newline:], False
            buffer += chunk
            last_newline = buffer.rfind("\n")
            if len(buffer) - (last_newline + 1) > MAX_LINE:
                buffer, skipping = buffer[: last_newline + 1 + MAX_LINE], True
            # the lines whose CONTINUATION followers are complete are read now; the rest waits for the next block
            end = len(buffer)
            for _ in range(CONTINUATION + 1):
                end = buffer.rfind("\n", 0, end) if end > 0 else -1
            if end < 0:
                continue
            end += 1
            yield from self._region(buffer, base, end, final=False)
            base += buffer.count("\n", 0, end)
            buffer = buffer[end:]

    def _region(self, text: str, base: int, end: int, *, final: bool) -> Iterator[Item]:
        """The lines of ``text`` that start before ``end`` and may matter; ``base`` is the number of its first line."""
        coloured = text.find("\x1b", 0, end) >= 0
        not_skipped, skip_at = (_NOT_SKIPPED_COLOURED, _SKIP_AT_COLOURED) if coloured else (_NOT_SKIPPED, _SKIP_AT)
        starts = [found.end() for found in not_skipped.finditer(text, 0, end) if found.end() < end]
        if end > 0 and not skip_at.match(text, 0, end):
            starts.insert(0, 0)
        triggered = [text.rfind("\n", 0, m.start()) + 1 for p in TRIGGER_PATTERNS for m in p.finditer(text, 0, end)]
        for trigger in TRIGGER_TEXTS:
            at = text.find(trigger, 0, end)
            while at >= 0:
                triggered.append(text.rfind("\n", 0, at) + 1)
                at = text.find(trigger, at + 1, end)
        if triggered:
            starts = sorted({*starts, *triggered})
        number, counted = base, 0
        size = len(text)
        memo = self._memo
        for start in starts:
            stop = text.find("\n", start)
            stop = size if stop < 0 else stop
            raw = text[start:stop] if stop - start <= MAX_LINE else text[start : start + MAX_LINE]
            if raw.endswith("\r"):
                raw = raw.rstrip("\r")
            known = memo.get(raw.encode("utf-8", "surrogatepass").translate(_DIGITS))
            if known is None:
                known = self._interesting(raw)
            if not known:
                continue  # core.py reads nothing else in a line without any of its markers
            number += text.count("\n", counted, start)
            counted = start
            following: list[str] = []
            at = stop
            while len(following) < CONTINUATION and at < size:  # text[at] is a newline: another line follows
                nxt = text.find("\n", at + 1)
                nxt = size if nxt < 0 else nxt
                following.append(_cut(text[at + 1 : min(nxt, at + 1 + MAX_LINE)]))
                at = nxt
            yield (number, raw), following
        self._tail(text, base, end if not final else size, final=final)

    def _interesting(self, raw: str) -> bool:
        """structure.interesting(), remembered per line with its digits as 0: no marker holds a digit, so the answer
        is the same, and the lines a long log repeats with new numbers (progress bars, counters) are read once."""
        key = raw.encode("utf-8", "surrogatepass").translate(_DIGITS)
        known = self._memo.get(key)
        if known is None:
            known = interesting(raw)
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            self._memo[key] = known
        return known

    def _tail(self, text: str, base: int, end: int, *, final: bool) -> None:
        """The last TAIL lines starting before ``end`` with more than whitespace (read_lines()'s cut applied), added
        to ``tail`` in order."""
        stop = end if final else end - 1  # the end of the region's last line
        if stop < 0:
            return
        found: list[tuple[int, str]] = []  # (start, raw), last first
        content_end = _content_end(text, stop)
        while content_end > 0 and len(found) < TAIL:
            start = text.rfind("\n", 0, content_end) + 1
            line_end = text.find("\n", start, stop)
            raw = _cut(text[start : min(stop if line_end < 0 else line_end, start + MAX_LINE)])
            if raw.strip():
                found.append((start, raw))
            content_end = _content_end(text, max(start - 1, 0))
        if not found:
            return
        number = base + text.count("\n", 0, found[0][0])
        numbered = [(number, found[0][1])]
        for (start, raw), (later, _) in zip(found[1:], found, strict=False):
            number -= text.count("\n", start, later)
            numbered.append((number, raw))
        self.tail.extend(reversed(numbered))


def _content_end(text: str, stop: int) -> int:
    """The position after the last character before ``stop`` that is not whitespace (0: none), copying little."""
    window = 1 << 16
    while stop > 0:
        low = max(0, stop - window)
        kept = len(text[low:stop].rstrip())
        if kept:
            return low + kept
        stop = low
    return 0
