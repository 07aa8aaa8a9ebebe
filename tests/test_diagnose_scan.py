"""The C-level pre-filter of diagnose (harness/diagnose/scan.py): the same answers as reading every line, far fewer
lines read in Python, bounded memory."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from harness.diagnose import diagnose
from harness.diagnose import scan as scan_module
from harness.diagnose.scan import _SKIP_AT, _SKIP_AT_COLOURED, Scan
from harness.diagnose.structure import MAX_LINE, parse

DATA = Path(__file__).parent / "data"
CORPORA = ("logs", "logs_real", "logs_heldout2")
LOGS = sorted(path for corpus in CORPORA for path in (DATA / corpus).glob("*.log"))

CHATTER = (
    "(APIServer pid=1) INFO 01-01 00:00:{n:02d} [loggers.py:123] Engine 000: Avg prompt throughput: {n}.3 "
    "tokens/s, GPU KV cache usage: {n}.2%, not supported: none\n"
    '(APIServer pid=1) INFO:     10.0.0.1:4{n:04d} - "POST /v1/chat/completions HTTP/1.1" 200 OK\n'
    "Loading safetensors checkpoint shards: {n}% Completed | {n}/100 [00:01<00:01,  1.{n}s/it]\r\n"
    "\n"
)
FAILURE = (
    "(EngineCore_DP0 pid=68) ERROR 01-01 00:01:00 [core.py:700] EngineCore failed to start.\n"
    "(EngineCore_DP0 pid=68) ERROR 01-01 00:01:00 [core.py:700] Traceback (most recent call last):\n"
    '(EngineCore_DP0 pid=68) ERROR 01-01 00:01:00 [core.py:700]   File "/x/vllm/worker.py", line 3, in load\n'
    "(EngineCore_DP0 pid=68) ERROR 01-01 00:01:00 [core.py:700] ValueError: The model's max seq len (32768) is\n"
    "(EngineCore_DP0 pid=68) ERROR 01-01 00:01:00 [core.py:700] larger than the maximum number of tokens that can be\n"
    "(EngineCore_DP0 pid=68) ERROR 01-01 00:01:00 [core.py:700] stored in KV cache (1000).\n"
)


def _long_log(groups: int) -> str:
    half = "".join(CHATTER.format(n=i % 100) for i in range(groups))
    return half + FAILURE + half


def _per_line(text: str) -> dict[str, object]:
    """The answer read line by line (Scan reads every line of an iterable): the reference."""
    return diagnose(text.split("\n")).to_json(explain=True)


@pytest.mark.parametrize("path", LOGS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_corpus_log_gets_the_answer_of_reading_every_line(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Skipping lines changes no answer, from a text or from a file read in blocks far smaller than the log (block
    boundaries inside lines and inside an exception's continuation)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    expected = _per_line(text)
    assert diagnose(text).to_json(explain=True) == expected
    monkeypatch.setattr(scan_module, "BLOCK", 97)
    assert diagnose(io.StringIO(text, newline="")).to_json(explain=True) == expected


def test_a_long_log_reads_only_the_lines_that_may_matter() -> None:
    """Quiet records, blank lines and lines without a marker never reach Python's per-line reading: of a log of
    4000 chatter lines around a failure, only the failure's lines (and its continuation) are read; the answer and
    its line number are those of reading every line."""
    text = _long_log(500)
    read = [number for (number, _), _ in Scan(text)]
    assert len(read) <= len(FAILURE.splitlines())
    assert diagnose(text).to_json(explain=True) == _per_line(text)
    assert diagnose(text).code == "MAX_MODEL_LEN"


def test_quiet_lines_that_carry_a_trigger_are_still_read() -> None:
    """An access log's 400 and the quiet_ok signature are read on INFO lines; a coloured line is always read."""
    text = (
        "(APIServer pid=1) INFO 01-01 00:00:01 [x.py:1] No platform detected, vLLM is running on UnspecifiedPlatform\n"
        '(APIServer pid=1) INFO:     10.0.0.1:4 - "POST /v1/chat/completions HTTP/1.1" 400 Bad Request\n'
        "(APIServer pid=1) INFO 01-01 00:00:02 [x.py:1] \x1b[31mnot supported\x1b[0m\n"
        "(APIServer pid=1) INFO 01-01 00:00:03 [x.py:1] not supported, not read\n"
    )
    assert [number for (number, _), _ in Scan(text)] == [1, 2, 3]
    assert diagnose(text).to_json(explain=True) == _per_line(text)


@pytest.mark.parametrize(
    "line",
    [
        "(APIServer pid=1) INFO 01-01 00:00:00 [a.py:1] x",
        "(APIServer pid=1) (EngineCore_DP0 pid=68) WARNING 01-01 00:00:00 [a.py:1] y",
        "(RayWorkerWrapper pid=2, ip=10.0.0.1) DEBUG 01-01 00:00:00.123 [a.py:1] z",
        'INFO:     10.0.0.1:1 - "GET /health HTTP/1.1" 200 OK',
        "vllm-1  | (APIServer pid=1) INFO 01-01 00:00:00 [a.py:1] docker compose",
        "2025-06-01T10:00:00.123456789Z INFO 01-01 00:00:00 [a.py:1] docker logs -t",
        'vllm-1  | 2025-06-01T10:00:00.123Z (APIServer pid=1) INFO:     10.0.0.1:1 - "GET /health HTTP/1.1" 200 OK',
        "   ",
        "",
    ],
)
def test_a_line_skipped_as_quiet_is_quiet_or_blank_for_parse(line: str) -> None:
    """The skip regex never skips what parse() would read as a cause."""
    assert _SKIP_AT.match(line + "\n")
    parsed = parse(1, line)
    assert parsed.quiet or not line.strip()


@pytest.mark.parametrize(
    "line",
    [
        "(APIServer pid=1) ERROR 01-01 00:00:00 [a.py:1] x",
        "(APIServer pid=1) INFO",  # a header cut short: not quiet for parse()
        "INFO:boom",
        "[Info] (Process) INFO 01-01 00:00:00 [a.py:1] x",  # a prefix the fast regex leaves to Python
        "a | b | INFO 01-01 00:00:00 [a.py:1] x",
        "vllm-1  | ERROR 01-01 00:00:00 [a.py:1] x",
        "\x1b[32mINFO\x1b[0m 01-01 00:00:00 [a.py:1] x",
    ],
)
def test_lines_not_certainly_quiet_are_not_skipped(line: str) -> None:
    assert not _SKIP_AT.match(line + "\n")


def test_every_quiet_line_of_the_corpora_that_is_skipped_is_quiet_for_parse() -> None:
    """Over every line of every corpus log: the fast regex agrees with parse() wherever it skips."""
    for path in LOGS:
        for raw in path.read_text(encoding="utf-8", errors="replace").split("\n"):
            if _SKIP_AT.match(raw + "\n"):
                assert parse(1, raw).quiet or not raw.strip(), (path.name, raw)


def test_giant_lines_and_the_last_line_are_read_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """A line longer than MAX_LINE is cut as read_lines() cuts it, in a file read in small blocks, and OTHER's last
    resort (the last non-empty line) is the log's, not the last line read."""
    monkeypatch.setattr(scan_module, "BLOCK", 1000)
    text = "RuntimeError: " + "x" * (MAX_LINE * 3) + "\nplain words\n\n   \n"
    expected = _per_line(text)
    assert diagnose(io.StringIO(text, newline="")).to_json(explain=True) == expected
    only_chatter = "plain words\n(APIServer pid=1) INFO 01-01 00:00:00 [a.py:1] last\n\n"
    assert diagnose(only_chatter).line == _per_line(only_chatter)["line"] == 2


_COLOURED = (
    "\x1b[0;36m(APIServer pid=1)\x1b[0;0m \x1b[32mINFO\x1b[0m \x1b[90m01-01 00:00:{n:02d}\x1b[0m "
    "\x1b[90m[loggers.py:123]\x1b[0m Engine 000: Avg prompt throughput: {n}.3 tokens/s, not supported: none\n"
    "\x1b[0;36m(APIServer pid=1)\x1b[0;0m \x1b[32mINFO\x1b[0m:     10.0.0.1:4{n:04d} - "
    '"POST /v1/chat/completions HTTP/1.1" 200 OK\n'
)


def test_a_terminal_capture_with_vllm_colours_is_skipped_like_a_bare_one() -> None:
    """vLLM colours its process prefix, level, time and file in a terminal: such quiet lines are skipped too (they
    are quiet for parse()), and the answer is the one of reading every line."""
    text = "".join(_COLOURED.format(n=i % 60) for i in range(200)) + FAILURE
    assert all(_SKIP_AT_COLOURED.match(line + "\n") for line in _COLOURED.format(n=1).splitlines())
    assert all(parse(1, line).quiet for line in _COLOURED.format(n=1).splitlines())
    assert len([number for (number, _), _ in Scan(text)]) <= len(FAILURE.splitlines())
    assert diagnose(text).to_json(explain=True) == _per_line(text)


def test_a_coloured_quiet_line_with_a_colour_code_in_its_message_is_still_read() -> None:
    """uvicorn colours an access line's status: removing the code joins '" 4' (a 400 read on a quiet line)."""
    line = '\x1b[32mINFO\x1b[0m:     10.0.0.1:1 - "POST /v1/chat/completions HTTP/1.1" \x1b[31m400 Bad Request\x1b[0m'
    assert not _SKIP_AT_COLOURED.match(line + "\n")
    text = _COLOURED.format(n=1) + line + "\n"
    assert [number for (number, _), _ in Scan(text)] == [3]
    assert diagnose(text).to_json(explain=True) == _per_line(text)
