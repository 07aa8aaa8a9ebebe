"""diagnose reads a log's structure: prefixes, levels, wrapped messages, chains, argparse errors, HTTP bodies, files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from harness.diagnose import Site, SiteIndex, diagnose
from harness.diagnose.structure import MAX_LINE, argparse_error, http_error, parse, read_lines


def test_prefixes_levels_and_colours_are_stripped_from_the_message() -> None:
    """Nested process prefixes, a pasted colour code and vLLM's level header leave only the message."""
    raw = "^[[0;36m(APIServer pid=1) (EngineCore_DP0 pid=68)^[[0;0m ERROR 02-06 16:34:06 [core.py:936] ValueError: boom"
    line = parse(7, raw)
    assert (line.number, line.process, line.level, line.message) == (7, "EngineCore_DP0", "ERROR", "ValueError: boom")
    assert line.exception() == ("ValueError", "boom")


def test_ray_and_timestamp_prefixes_are_stripped() -> None:
    """Ray's actor prefix with an ip and a docker timestamp are prefixes, not message."""
    line = parse(1, "2026-02-24T20:21:58Z (RayWorkerWrapper pid=2, ip=10.0.0.1) KeyError: 'x'")
    assert (line.process, line.message) == ("RayWorkerWrapper", "KeyError: 'x'")


def test_read_lines_counts_like_grep_and_cuts_giant_lines() -> None:
    """Only "\\n" ends a line (a progress bar's "\\r" does not), and a line is cut at MAX_LINE characters."""
    text = "a\rb\n" + "x" * (MAX_LINE + 50) + "\nlast"
    from_text = list(read_lines(text))
    from_file = list(read_lines(io.StringIO(text)))
    assert from_text == from_file
    assert [number for number, _ in from_text] == [1, 2, 3]
    assert from_text[0][1] == "a\rb"
    assert len(from_text[1][1]) == MAX_LINE


def test_file_read_in_small_chunks_gives_the_same_lines() -> None:
    """Chunk boundaries inside a line change nothing."""
    from harness.diagnose.structure import _chunks

    text = "first line\nsecond, longer line\n\nfourth"
    assert list(_chunks(io.StringIO(text), size=3)) == list(read_lines(text))


@pytest.mark.parametrize(
    ("message", "flag", "problem"),
    [
        (
            "vllm serve: error: argument --tool-call-parser: invalid choice: 'glm45' (choose from 'x')",
            "--tool-call-parser",
            "invalid choice",
        ),
        ("api_server.py: error: argument --dtype: expected one argument", "--dtype", "expected one argument"),
        ("vllm: error: unrecognized arguments: --enable-reasoning", None, "unrecognized arguments"),
    ],
)
def test_argparse_errors_are_read_by_flag(message: str, flag: str | None, problem: str) -> None:
    """argparse's usage errors give the flag and the problem."""
    error = argparse_error(message)
    assert error is not None
    assert (error.flag, error.problem) == (flag, problem)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (
            "vllm serve: error: argument --tool-call-parser: invalid choice: 'glm45' (choose from 'hermes')",
            "PARSER_UNKNOWN",
        ),
        (
            "vllm serve: error: argument --reasoning-parser: invalid choice: 'r1' (choose from 'deepseek_r1')",
            "PARSER_UNKNOWN",
        ),
        (
            "vllm serve: error: argument --quantization/-q: invalid choice: 'nvfp5' (choose from 'awq')",
            "QUANT_UNSUPPORTED",
        ),
        ("vllm serve: error: argument --kv-cache-dtype: invalid choice: 'fp3' (choose from 'auto')", "FLAG_UNKNOWN"),
        ("vllm serve: error: argument --max-model-len: expected one argument", "FLAG_UNKNOWN"),
    ],
)
def test_an_invalid_choice_takes_the_code_of_its_flag(text: str, code: str) -> None:
    """An invalid parser choice is PARSER_UNKNOWN, a quantization QUANT_UNSUPPORTED, any other flag FLAG_UNKNOWN."""
    result = diagnose("usage: vllm serve [-h] ...\n" + text + "\n")
    assert (result.code, result.line) == (code, 2)


def test_http_body_message_is_read_from_json_and_repr() -> None:
    """The message inside a JSON body and inside an openai client's repr of it is found, with its status."""
    json_body = '{"error":{"message":"boom \\"quoted\\"","type":"BadRequestError","param":null,"code":400}}'
    repr_body = "openai.BadRequestError: Error code: 400 - {'object': 'error', 'message': 'boom', 'code': 400}"
    first, second = http_error(json_body), http_error(repr_body)
    assert first is not None and second is not None
    assert (first.status, first.message) == (400, 'boom "quoted"')
    assert (second.status, second.message) == (400, "boom")


_ENGINE = SiteIndex(
    "vllm", "0", [Site("vllm/audio.py", "load", "ValueError", "Invalid audio format for this model", None)]
)


def test_a_400_carrying_a_template_message_is_template_error() -> None:
    """Knowing the engine's messages, a 400 body whose message is none of them (a chat template's raise_exception
    text) is TEMPLATE_ERROR; without them it stays OTHER (an HTTP error), never a guess."""
    text = (
        "openai.BadRequestError: Error code: 400 - {'object': 'error', 'message': 'System role not supported', "
        "'type': 'BadRequestError', 'param': None, 'code': 400}\n"
    )
    assert diagnose(text, sites=_ENGINE).code == "TEMPLATE_ERROR"
    assert diagnose(text).code == "OTHER"


def test_a_400_carrying_an_engine_message_is_not_a_template_error() -> None:
    """A 400 body carrying one of the engine's own messages (without a code) is OTHER with that site named."""
    body = '{"error":{"message":"Invalid audio format for this model","type":"BadRequestError","code":400}}'
    result = diagnose(body, sites=_ENGINE)
    assert (result.code, result.site) == ("OTHER", "vllm/audio.py:load")


def test_a_400_of_request_validation_is_not_a_template_error() -> None:
    """pydantic's request validation in a 400 body is the client's request shape, not the template: HTTP_ERROR (the
    API refused the request), graded low (it says nothing of why the client sent that shape)."""
    text = (
        "openai.BadRequestError: Error code: 400 - {'object': 'error', 'message': \"[{'type': 'extra_forbidden', "
        "'loc': ('body', 'functions'), 'msg': 'Extra inputs are not permitted'}]\", 'code': 400}\n"
    )
    found = diagnose(text)
    assert (found.code, found.confidence) == ("HTTP_ERROR", "low")


def test_a_jinja_error_is_template_error() -> None:
    """jinja2's own exception in a traceback is TEMPLATE_ERROR."""
    text = "Traceback (most recent call last):\njinja2.exceptions.TemplateError: Conversation roles must alternate\n"
    assert (diagnose(text).code, diagnose(text).line) == ("TEMPLATE_ERROR", 2)


def test_a_message_wrapped_over_lines_is_joined() -> None:
    """An exception message that a terminal wrapped mid-word onto the next lines is still recognised."""
    text = (
        "(EngineCore pid=3) ValueError: To serve at least one request with the model's max seq len (100000), (4.26 GiB "
        "KV cach\n(EngineCore pid=3) e is needed, which is larger than the available KV cache memory (4.25 GiB).\n"
    )
    assert (diagnose(text).code, diagnose(text).line) == ("MAX_MODEL_LEN", 1)


def test_a_new_log_record_is_never_joined_to_the_exception_before_it() -> None:
    """The line after an exception that opens a new log record is not part of its message."""
    text = (
        "OSError: [Errno 98] Address already in use\n"
        "WARNING 10-10 10:22:58 _custom_ops.py:18] Failed to import from vllm._C with ImportError('libcuda.so.1: "
        "cannot open shared object file')\n"
    )
    assert diagnose(text).code == "PORT_CONFLICT"


def test_the_cause_inside_a_wrapper_is_found() -> None:
    """A worker's re-raise that quotes the error ('Worker failed with error ...') still gives the quoted cause."""
    text = (
        "(EngineCore_DP0 pid=1) ERROR 11-19 12:54:26 [core.py:710] RuntimeError: Worker failed with error 'CUDA "
        "error: unspecified launch failure', please check the stack trace above for the root cause\n"
    )
    assert diagnose(text).code == "GPU_FAULT"


def test_other_names_the_root_of_the_chain_not_the_wrapper() -> None:
    """OTHER's evidence is the first exception of the chain, not the re-raise that ends it."""
    text = (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n'
        "ZeroDivisionError: division by zero\n"
        "\n"
        "The above exception was the direct cause of the following exception:\n"
        "\n"
        "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}\n"
    )
    result = diagnose(text)
    assert (result.code, result.line, result.evidence) == ("OTHER", 3, "ZeroDivisionError: division by zero")


def test_other_falls_back_to_an_http_error_line() -> None:
    """With only access lines, OTHER names the last failing request rather than an arbitrary line."""
    text = (
        'INFO:     10.0.0.1:1 - "POST /v1/chat/completions HTTP/1.1" 400 Bad Request\n'
        'INFO:     10.0.0.1:2 - "GET /health HTTP/1.1" 200 OK\n'
    )
    assert (diagnose(text).code, diagnose(text).line) == ("OTHER", 1)


def test_two_causes_are_ranked() -> None:
    """NCCL's report of a CUDA failure ranks below the CUDA failure it reports; both are named."""
    text = (
        "torch.distributed.DistBackendError: NCCL error in: NCCLUtils.hpp:121, unhandled cuda error, NCCL 2.18.1\n"
        "ncclUnhandledCudaError: Call to CUDA function failed.\n"
        "Cuda failure 'CUDA driver version is insufficient for CUDA runtime version'\n"
    )
    result = diagnose(text)
    assert (result.code, result.line) == ("CUDA_DRIVER", 3)
    assert [cause.code for cause in result.causes] == ["NCCL_ERROR"]


def test_causes_name_the_process_that_printed_them() -> None:
    """Each other cause says which process printed it: the engine core's error, the API server's re-raise."""
    text = (
        "(EngineCore_DP0 pid=9) ERROR 01-01 00:00:00 [core.py:1] ValueError: No available memory for the cache "
        "blocks.\n"
        "(APIServer pid=1) ERROR 01-01 00:00:01 [utils.py:2] KeyError: 'getpwuid(): uid not found: 1000'\n"
    )
    result = diagnose(text)
    assert result.code == "KV_BUDGET"
    assert [(cause.code, cause.process) for cause in result.causes] == [("NO_PASSWD_ENTRY", "APIServer")]


def test_the_cli_reads_a_file_without_loading_it_whole(tmp_path: Path) -> None:
    """A file given as an open stream is diagnosed the same as its text."""
    log = tmp_path / "engine.log"
    text = "INFO 01-01 00:00:00 [x.py:1] start\n" * 1000 + "KeyError: 'getpwuid(): uid not found: 1000770000'\n"
    log.write_text(text)
    with log.open(newline="") as stream:
        from_file = diagnose(stream)
    assert from_file == diagnose(text)
    assert (from_file.code, from_file.line) == ("NO_PASSWD_ENTRY", 1001)
