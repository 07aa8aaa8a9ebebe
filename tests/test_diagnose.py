"""diagnose: log text (+ exit code) -> root-cause code and evidence line, on real vLLM logs and HTTP error bodies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import cli
from harness.codes import CODES
from harness.diagnose import SIGNATURES, diagnose

LOGS = Path(__file__).parent / "data" / "logs"

# fixture -> (expected code, a fragment of the evidence line that proves it)
EXPECTED: dict[str, tuple[str, str]] = {
    "cpu-missing-config.log": ("CONFIG_MISSING", "Invalid repository ID or local directory specified"),
    "cpu-diffusers-pipeline.log": ("CONFIG_MISSING", "Invalid repository ID or local directory specified"),
    "cpu-unsupported-arch.log": ("ARCH_UNSUPPORTED", "['TinyImaginaryForCausalLM'] are not supported for now"),
    "cpu-remote-code.log": ("TRUST_REMOTE_CODE", "contains custom code which must be executed"),
    "cpu-incomplete-shards.log": ("WEIGHTS_INCOMPLETE", "Weight files referenced in index but missing"),
    "cpu-truncated-shard.log": ("WEIGHTS_CORRUPT", "SafetensorError: Error while deserializing header"),
    "cpu-port-in-use.log": ("PORT_CONFLICT", "[Errno 98] Address already in use"),
    "issue-gpu-contended.log": ("GPU_CONTENDED", "is less than desired GPU memory utilization"),
    "cpu-memory-fraction.log": ("GPU_CONTENDED", "is less than desired CPU memory utilization (0.97"),
    # vLLM's dump of the failing step (config, requests) is data, not a cause: the worker's RuntimeError is the line
    "cpu-head-dim-16-engine-dump.log": ("OTHER", "Unsupported CPU attention configuration: head_dim=16"),
    "issue-kv-budget.log": ("KV_BUDGET", "ValueError: No available memory for the cache blocks"),
    "issue-max-model-len-kv.log": ("MAX_MODEL_LEN", "ValueError: The model's max seq len (60000) is larger"),
    "issue-max-model-len-derived.log": ("MAX_MODEL_LEN", "User-specified max_model_len (4096) is greater"),
    "issue-oom.log": ("OOM", "torch.OutOfMemoryError: CUDA out of memory"),
    "issue-hub-auth.log": ("HUB_AUTH", "You are trying to access a gated repo"),
    "issue-env-import-arch.log": ("ENV_IMPORT_BROKEN", "undefined symbol"),
    "issue-torchvision-nms.log": ("ENV_IMPORT_BROKEN", "operator torchvision::nms does not exist"),
    "issue-transformers-mismatch.log": ("TRANSFORMERS_MISMATCH", "model type `qwen2_5_vl`"),
    "issue-weights-corrupt.log": ("WEIGHTS_CORRUPT", "MetadataIncompleteBuffer"),
    "issue-weight-name.log": ("WEIGHT_NAME_MISMATCH", "KeyError: 'layers.0.mlp.down_proj.weight_scale'"),
    "issue-config-missing.log": ("CONFIG_MISSING", "ValueError: No supported config format found"),
    "issue-port-conflict.log": ("PORT_CONFLICT", "OSError: [Errno 98] Address already in use"),
    "issue-arch-unsupported.log": ("ARCH_UNSUPPORTED", "['LlamaForCausalLM'] are not supported for now"),
    "issue-engine-core-wrapper-only.log": ("OTHER", "Engine core initialization failed"),
    "cpu-0.31-flag-unknown.log": ("FLAG_UNKNOWN", "unrecognized arguments: --custom-histogram-buckets"),
    "http-no-chat-template.log": ("NO_CHAT_TEMPLATE", "default chat template is no longer allowed"),
    "http-tool-flags.log": ("TOOL_FLAGS", "--enable-auto-tool-choice and --tool-call-parser"),
    "http-mm-limit.log": ("MM_LIMIT", "At most 1 image(s) may be provided"),
    "http-wrong-task.log": ("WRONG_TASK", "The model does not support Transcriptions API"),
    # GPU-side causes, from vLLM's public issues (the thread on each file's first line)
    "issue-dtype-bf16-t4.log": ("DTYPE_UNSUPPORTED", "Your Tesla T4 GPU has compute capability 7.5"),
    "issue-dtype-bf16-v100.log": ("DTYPE_UNSUPPORTED", "Your Tesla V100-SXM2-32GB GPU"),
    "issue-quant-awq-v100.log": ("QUANT_UNSUPPORTED", "The quantization method awq is not supported"),
    "issue-quant-fp8-a10.log": ("QUANT_UNSUPPORTED", "The quantization method fp8 is not supported"),
    "issue-quant-scheme.log": ("QUANT_UNSUPPORTED", "'Quantization scheme is not supported for '"),
    "issue-tp-indivisible-33b.log": ("TP_INDIVISIBLE", "(52) must be divisible by tensor parallel size (3)"),
    "issue-tp-indivisible-qwen2.log": ("TP_INDIVISIBLE", "must be divisible by tensor parallel size (8)"),
    "issue-nccl-unhandled-cuda.log": ("NCCL_ERROR", "NCCL error: unhandled cuda error"),
    "issue-nccl-system-error.log": ("NCCL_ERROR", "RuntimeError: NCCL error: unhandled system error"),
    "issue-no-kernel-image.log": ("GPU_ARCH_UNSUPPORTED", "no kernel image is available"),
    "issue-no-gpu-infer-device.log": ("NO_GPU", "Failed to infer device type"),
    "issue-no-gpu-cuda.log": ("NO_GPU", "No CUDA GPUs are available"),
    # collected after the signatures above were written, and diagnosed right without a change (a held-out check)
    "issue-parser-openai.log": ("PARSER_UNKNOWN", "invalid tool call parser: openai"),
    "issue-lora-qwen-v1.log": ("LORA_UNSUPPORTED", "QWenLMHeadModel does not support LoRA"),
    "issue-lora-gemma.log": ("LORA_UNSUPPORTED", "GemmaForCausalLM does not support LoRA"),
    "issue-lora-molmo.log": ("LORA_UNSUPPORTED", "MolmoForCausalLM does not support LoRA yet"),
    "issue-model-not-found-ray.log": ("MODEL_NOT_FOUND", "HFValidationError: Repo id must use alphanumeric"),
    "issue-model-not-found-gpustack.log": ("MODEL_NOT_FOUND", "HFValidationError: Repo id must be in the form"),
    "issue-quant-bnb-maxwell.log": ("QUANT_UNSUPPORTED", "The quantization method bitsandbytes is not supported"),
    "issue-no-kernel-image-5090d.log": ("GPU_ARCH_UNSUPPORTED", "no kernel image is available"),
    "issue-tp-indivisible-distill.log": ("TP_INDIVISIBLE", "(28) must be divisible by tensor parallel size (8)"),
    # a P40 (6.1) is below the 7.0 vLLM is built for: float16 would fail next, the GPU is the cause
    "issue-dtype-bf16-p40.log": ("GPU_ARCH_UNSUPPORTED", "Your Tesla P40 GPU has compute capability 6.1"),
}


def _first_line_containing(text: str, fragment: str) -> int:
    return next(number for number, line in enumerate(text.split("\n"), start=1) if fragment in line)


def test_every_fixture_is_expected_and_cites_its_source() -> None:
    """Every fixture has an expectation here and names where its text came from on its first line."""
    names = {path.name for path in LOGS.glob("*.log")}
    assert names == set(EXPECTED)
    for name in names:
        assert (LOGS / name).read_text().startswith("# source: "), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_gives_its_code_and_the_proving_line(name: str) -> None:
    """Each real log gives its expected code, and the evidence is the first line carrying the decisive message."""
    code, fragment = EXPECTED[name]
    text = (LOGS / name).read_text()
    result = diagnose(text)
    assert result.code == code
    assert fragment in result.evidence
    assert result.line == _first_line_containing(text, fragment)


def test_signature_codes_are_known() -> None:
    """The signature table only uses codes from harness.codes."""
    assert {signature.code for signature in SIGNATURES} <= set(CODES)


def test_wrapper_never_wins_over_a_preceding_cause() -> None:
    """The engine-core wrapper printed after a specific cause never becomes the answer."""
    text = (
        "(EngineCore_DP0 pid=7) ERROR 01-01 00:00:00 [core.py:1] ValueError: No available memory for the cache "
        "blocks. Try increasing `gpu_memory_utilization` when initializing the engine.\n"
        "(APIServer pid=1) RuntimeError: Engine core initialization failed. See root cause above. "
        "Failed core proc(s): {}\n"
        "Exception: WorkerProc initialization failed due to an exception in a background process.\n"
    )
    result = diagnose(text)
    assert (result.code, result.line) == ("KV_BUDGET", 1)


def test_earliest_line_wins_among_equally_specific_causes() -> None:
    """Between two equally specific causes the earlier line wins: the root cause is printed first."""
    text = "torch.OutOfMemoryError: CUDA out of memory.\nOSError: [Errno 98] Address already in use\n"
    assert diagnose(text).code == "OOM"


def test_more_specific_cause_wins_over_an_earlier_consequence() -> None:
    """A specific cause beats a vaguer message even when the vaguer one comes first."""
    text = (
        "ValueError: Invalid repository ID or local directory specified: 'meta-llama/Llama-3.2-1B'.\n"
        "huggingface_hub.errors.GatedRepoError: 401 Client Error.\n"
    )
    assert (diagnose(text).code, diagnose(text).line) == ("HUB_AUTH", 2)


def test_model_type_key_error_is_not_a_weight_name() -> None:
    """transformers' KeyError on a model type is a transformers mismatch, not a weight-name mismatch."""
    text = (
        "KeyError: 'mllama'\n"
        "ValueError: The checkpoint you are trying to load has model type `mllama` but Transformers does not "
        "recognize this architecture.\n"
    )
    assert diagnose(text).code == "TRANSFORMERS_MISMATCH"


def test_warnings_do_not_count_as_causes() -> None:
    """A signature on a vLLM WARNING or INFO line is ignored, as vLLM survives what it only warns about."""
    text = (
        "WARNING 06-13 11:42:20 _custom_ops.py:11] Failed to import from vllm._C with ImportError('x')\n"
        "(APIServer pid=1) WARNING 11-21 20:16:34 [parallel.py:746] Address already in use. Retrying.\n"
        "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}\n"
    )
    assert diagnose(text).code == "OTHER"


@pytest.mark.parametrize("exit_code", [-9, 137, -11])
def test_signal_exit_alone_is_proc_killed(exit_code: int) -> None:
    """A signal exit code (negative, or 128+N) with no cause in the log gives PROC_KILLED and a sentence."""
    result = diagnose("INFO 01-01 00:00:00 [loader.py:1] Loading weights\n", exit_code=exit_code)
    assert result.code == "PROC_KILLED"
    assert str(exit_code) in result.evidence
    assert result.line is None


def test_signal_exit_does_not_hide_a_logged_cause() -> None:
    """A cause in the log beats the signal exit code that followed it."""
    text = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 MiB.\n"
    assert diagnose(text, exit_code=-9).code == "OOM"


def test_signal_exit_beats_a_wrapper() -> None:
    """When only a wrapper was logged, the signal exit code is the better answer."""
    text = "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}\n"
    assert diagnose(text, exit_code=137).code == "PROC_KILLED"


def test_shell_killed_line_is_proc_killed() -> None:
    """The shell's "Killed" line is evidence of PROC_KILLED."""
    text = "Loading safetensors checkpoint shards:   0% Completed | 0/2\nKilled\n"
    assert diagnose(text) == diagnose(text, exit_code=1)
    assert (diagnose(text).code, diagnose(text).line) == ("PROC_KILLED", 2)


def test_ordinary_exit_code_is_not_a_kill() -> None:
    """Exit code 1 with an unknown error gives OTHER, not PROC_KILLED."""
    assert diagnose("SomethingNewError: the flux capacitor\n", exit_code=1).code == "OTHER"


def test_unknown_text_gives_other_with_the_first_real_exception() -> None:
    """Unknown failures give OTHER, evidenced by the first exception line that is not a wrapper."""
    text = (
        "INFO 01-01 00:00:00 [api_server.py:1] starting\n"
        "(EngineCore_DP0 pid=7) ERROR 01-01 00:00:01 [core.py:1] AssertionError: head size 16 not supported\n"
        "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}\n"
    )
    result = diagnose(text)
    assert result.code == "OTHER"
    assert (result.evidence, result.line) == ("AssertionError: head size 16 not supported", 2)


def test_unknown_text_without_errors_gives_the_last_line() -> None:
    """Text with no error-looking line gives OTHER with its last non-empty line."""
    result = diagnose("starting\nloading weights\n\n")
    assert (result.code, result.evidence, result.line) == ("OTHER", "loading weights", 2)


def test_empty_log_gives_other() -> None:
    """An empty log gives OTHER and says so."""
    result = diagnose("", exit_code=1)
    assert (result.code, result.line) == ("OTHER", None)
    assert "empty" in result.evidence


def test_evidence_is_trimmed() -> None:
    """Evidence is at most about 300 characters."""
    result = diagnose("ValueError: Model architectures ['X'] are not supported for now. " + "y" * 1000)
    assert result.code == "ARCH_UNSUPPORTED"
    assert len(result.evidence) <= 300


def test_to_json_has_code_evidence_line() -> None:
    """to_json gives exactly code, evidence and line."""
    assert diagnose("Killed\n").to_json() == {"code": "PROC_KILLED", "evidence": "Killed", "line": 1}


@pytest.fixture
def only_diagnose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMANDS", {"diagnose": "harness.commands.diagnose"})


@pytest.mark.usefixtures("only_diagnose")
def test_cli_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    """`diagnose LOG --json` prints the diagnosis as one JSON object and exits 0."""
    assert cli.main(["diagnose", str(LOGS / "cpu-remote-code.log"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["code"] == "TRUST_REMOTE_CODE"
    assert set(printed) == {"code", "evidence", "line"}


@pytest.mark.usefixtures("only_diagnose")
def test_cli_other_still_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An undiagnosed log is still an answer: OTHER, readable output, exit code 0."""
    log = tmp_path / "engine.log"
    log.write_text("weird\n")
    assert cli.main(["diagnose", str(log)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OTHER")
    assert f"{log}:1: weird" in out


@pytest.mark.usefixtures("only_diagnose")
def test_cli_exit_code_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--exit-code feeds the engine's exit code to the diagnosis."""
    log = tmp_path / "engine.log"
    log.write_text("INFO 01-01 00:00:00 [loader.py:1] Loading weights\n")
    assert cli.main(["diagnose", str(log), "--exit-code", "-9", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["code"] == "PROC_KILLED"


@pytest.mark.usefixtures("only_diagnose")
def test_cli_missing_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A log file that cannot be read gives exit code 2 and a one-line error."""
    assert cli.main(["diagnose", str(tmp_path / "absent.log")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot read" in err


def test_media_sent_to_a_text_model_is_wrong_task() -> None:
    """vLLM 0.32's HTTP 400 body for audio in chat to a text-only model (measured on the CPU engine) is WRONG_TASK."""
    body = (
        '{"error":{"message":"chat-ok-e2e-audio is not a multimodal model","type":"BadRequestError",'
        '"param":null,"code":400}}'
    )
    assert diagnose(body).code == "WRONG_TASK"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("KeyError: 'invalid tool call parser: qwen25 (chose from { hermes,mistral })'", "PARSER_UNKNOWN"),
        ("api_server.py: error: unrecognized arguments: --custom-histogram-buckets", "FLAG_UNKNOWN"),
        ("KeyError: \"Reasoning parser 'deepseek-r1' not found. Available parsers: deepseek_r1\"", "PARSER_UNKNOWN"),
        ("ValueError: GPT2LMHeadModel does not support LoRA yet.", "LORA_UNSUPPORTED"),
        (
            "huggingface_hub.errors.HFValidationError: Repo id must be in the form 'repo_name' or "
            "'namespace/repo_name': '/models/nope'. Use `repo_type` argument if needed.",
            "MODEL_NOT_FOUND",
        ),
        (
            "ValueError: The model type 'gemma3' does not support float16. Reason: Numerical instability.",
            "DTYPE_UNSUPPORTED",
        ),
    ],
)
def test_gpu_and_flag_causes_from_vllms_own_messages(text: str, code: str) -> None:
    """The messages vLLM 0.32 raises for parsers, LoRA, dtype and a missing model (its source) give their codes."""
    wrapped = f"{text}\nRuntimeError: Engine process failed to start. See stack trace for the root cause.\n"
    assert diagnose(wrapped).code == code


def test_engine_process_failed_to_start_alone_is_other_never_a_guess() -> None:
    """A log holding only the wrapper lines is OTHER, with a wrapper as the evidence, never a guessed cause."""
    text = "RuntimeError: Engine process failed to start. See stack trace for the root cause.\nWorker failed\n"
    assert diagnose(text).code == "OTHER"


# Library and older-engine wordings, written from their sources (not from any held-out log): each line alone.
@pytest.mark.parametrize(
    ("line", "code"),
    [
        # cupy names NCCL's results NCCL_ERROR_*; the CUDA one stays below what CUDA itself said
        ("cupy_backends.cuda.libs.nccl.NcclError: NCCL_ERROR_REMOTE_ERROR: remote process exited", "NCCL_ERROR"),
        # vLLM <= 0.6 serving_chat.py logged the template's own exception under this wording
        ("ERROR 01-01 00:00:00 serving_chat.py:1] Error in applying chat template from request: No", "TEMPLATE_ERROR"),
        # transformers utils/hub.py: neither a folder nor a hub id
        ("OSError: org/typo is not a local folder and is not a valid model identifier listed on", "MODEL_NOT_FOUND"),
        # a processor lookup by a model_type this transformers predates (dev log qwen25vl-unknown-image-model-type)
        ("TypeError: Unknown image model type: qwen2_5_vl", "TRANSFORMERS_MISMATCH"),
        # the symptom of EOS_MISMATCH as a person reports it (dev log llama3-eot-id-never-stops)
        ("When I did, it was not stopping generation for a while when `max_tokens=None`.", "EOS_MISMATCH"),
        ("the generation never stops, it runs to max_tokens", "EOS_MISMATCH"),
    ],
)
def test_library_and_older_engine_wordings(line: str, code: str) -> None:
    assert diagnose(line).code == code


def test_a_gated_repo_outranks_the_not_a_valid_identifier_oserror_that_follows_it() -> None:
    """transformers raises the same OSError for a private repository after the hub's 401: the refusal is the cause."""
    log = (
        "huggingface_hub.errors.GatedRepoError: 401 Client Error. Cannot access gated repo for url https://x\n"
        "OSError: meta/llama is not a local folder and is not a valid model identifier listed on 'https://hf.co'\n"
    )
    assert diagnose(log).code == "HUB_AUTH"


def test_a_stop_without_generation_is_no_eos_complaint_and_an_error_line_outranks_the_prose() -> None:
    assert diagnose("The server did not stop when I pressed Ctrl-C").code == "OTHER"
    log = "generation never stops\nValueError: No available memory for the cache blocks. Try increasing\n"
    assert diagnose(log).code == "KV_BUDGET"


@pytest.mark.parametrize(("capability", "code"), [("6.1", "GPU_ARCH_UNSUPPORTED"), ("7.5", "DTYPE_UNSUPPORTED")])
def test_a_gpu_below_what_vllm_is_built_for_outranks_the_dtype_error_it_causes(capability: str, code: str) -> None:
    """Below compute capability 7.0 float16 would fail too: the GPU is the cause. From 7.0 the dtype is."""
    line = (
        "ValueError: Bfloat16 is only supported on GPUs with compute capability of at least 8.0. "
        f"Your Tesla X GPU has compute capability {capability}. You can use float16 instead"
    )
    assert diagnose(line).code == code


_KV_LINE = (
    "ValueError: The model's max seq len (65536) is larger than the maximum number of tokens that can be stored in KV "
    "cache (41232). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine."
)


@pytest.mark.usefixtures("only_diagnose")
def test_a_line_that_proves_either_of_two_causes_names_the_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The KV cache line is fixed by a shorter context or by more cache memory: the answer is one, the other is named
    with its fix, in the text output and in --explain's JSON."""
    log = tmp_path / "engine.log"
    log.write_text(_KV_LINE + "\n")
    assert cli.main(["diagnose", str(log), "--no-sites"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("MAX_MODEL_LEN")
    assert "  or: KV_BUDGET (" in out and "--gpu-memory-utilization" in out
    assert cli.main(["diagnose", str(log), "--no-sites", "--json", "--explain"]) == 0
    assert json.loads(capsys.readouterr().out)["alternative"]["code"] == "KV_BUDGET"


def test_a_kill_with_no_log_names_the_oom_killer_as_the_alternative() -> None:
    found = diagnose("INFO 01-01 00:00:00 [loader.py:1] Loading weights\n", exit_code=-9)
    assert found.code == "PROC_KILLED"
    assert found.alternative is not None and found.alternative.code == "OOM"


def test_a_line_with_one_reading_names_no_alternative() -> None:
    found = diagnose("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
    assert found.code == "OOM" and found.alternative is None
    assert diagnose(_KV_LINE.replace("KV cache", "the cache") + "\n").alternative is None


@pytest.mark.parametrize(
    ("log", "code", "confidence"),
    [
        ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n", "OOM", "high"),
        (
            "Traceback (most recent call last):\n"
            '  File "/v/lib/python3.12/site-packages/vllm/config.py", line 9, in f\n'
            "    x = d[\"kind\"]\nKeyError: 'kind'\n",
            "ARCH_UNSUPPORTED",
            "medium",
        ),
        ("The model never stops generating: it repeats the answer until max_tokens.\n", "EOS_MISMATCH", "low"),
        ("weird\n", "OTHER", None),
    ],
)
def test_an_answer_says_what_it_rests_on(log: str, code: str, confidence: str | None) -> None:
    found = diagnose(log)
    assert (found.code, found.confidence) == (code, confidence)
    assert (found.basis is None) == (confidence is None)


@pytest.mark.usefixtures("only_diagnose")
def test_cli_prints_the_confidence_and_its_basis(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "engine.log"
    log.write_text("The model never stops generating: it repeats the answer until max_tokens.\n")
    assert cli.main(["diagnose", str(log), "--no-sites"]) == 0
    assert "  confidence: low (a person's account" in capsys.readouterr().out
