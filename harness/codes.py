"""Stable root-cause codes: the vocabulary shared by pre-flight, diagnosis, probes, results and the report.

A code is part of the public contract (matrix ``expect:`` entries, results.jsonl, status pages): never rename one.
Each ``Code`` member is its own name as a ``str`` (a ``StrEnum``), so ``Code.OOM == "OOM"`` and code strings read from
files or written by older callers compare equal to members; ``Code("OOM")`` turns a string back into a member.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Code(StrEnum):
    """A root cause, with the one line a report prints beside it (``Code.OOM.description``)."""

    description: str

    # The default only lets type checkers accept a lookup by value, Code("OOM"): every member gives a description.
    def __new__(cls, value: str, description: str = "") -> Code:
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member

    # pre-flight (checkpoint files, no GPU)
    CONFIG_MISSING = "CONFIG_MISSING", "config.json is missing (incomplete download or not a transformers checkpoint)"
    WEIGHTS_MISSING = "WEIGHTS_MISSING", "no weight files (safetensors / bin) next to config.json"
    WEIGHTS_INCOMPLETE = (
        "WEIGHTS_INCOMPLETE",
        "a shard named by the index is absent, or a file is shorter than its header promises",
    )
    TOKENIZER_MISSING = "TOKENIZER_MISSING", "no tokenizer files"
    NO_CHAT_TEMPLATE = "NO_CHAT_TEMPLATE", "no chat template anywhere: vLLM answers chat requests with HTTP 400"
    TEMPLATE_ERROR = "TEMPLATE_ERROR", "the chat template fails to render, or tries to escape the sandbox"
    EOS_MISMATCH = (
        "EOS_MISMATCH",
        "the end-of-turn token is not among the eos ids vLLM stops on: generation never stops",
    )
    ARCH_UNSUPPORTED = "ARCH_UNSUPPORTED", "the architecture is not in the installed vLLM's model registry"
    REMOTE_CODE_REQUIRED = (
        "REMOTE_CODE_REQUIRED",
        "the checkpoint needs trust_remote_code (auto_map to code shipped with it)",
    )
    NOT_SERVABLE = (
        "NOT_SERVABLE",
        "vLLM cannot serve this (diffusers pipeline, GGUF without vllm-gguf-plugin, TTS, image generation...)",
    )
    PROCESSOR_MISSING = "PROCESSOR_MISSING", "a multimodal use case without a processor / preprocessor config"
    UNSAFE_PATH = (
        "UNSAFE_PATH",
        "a symlink loop, a link to a directory outside the checkpoint, or a FIFO/device in it: nothing of it is read",
    )
    ENGINE_UNKNOWN = "ENGINE_UNKNOWN", "no engine environment to ask: a check that needs vLLM could not be made"
    # pre-flight against a GPU (files x GPU x flags, judged by the installed vLLM's rules) and their boot-time twins
    DTYPE_UNSUPPORTED = "DTYPE_UNSUPPORTED", "the dtype is not supported on this GPU or for this model type"
    QUANT_UNSUPPORTED = (
        "QUANT_UNSUPPORTED",
        "the quantisation method needs a higher compute capability, or this vLLM does not know it",
    )
    TP_INDIVISIBLE = (
        "TP_INDIVISIBLE",
        "attention heads not divisible by the tensor-parallel size, or more GPUs asked than there are",
    )
    WEIGHTS_TOO_LARGE = "WEIGHTS_TOO_LARGE", "the weights per GPU exceed total memory x gpu-memory-utilization"
    PARSER_UNKNOWN = "PARSER_UNKNOWN", "the tool-call or reasoning parser name is not one the installed vLLM has"
    FLAG_UNKNOWN = (
        "FLAG_UNKNOWN",
        "a vLLM flag this version's server does not accept (removed, renamed or not yet added)",
    )
    LORA_UNSUPPORTED = "LORA_UNSUPPORTED", "--enable-lora on an architecture whose vLLM class does not take LoRA"
    GPU_ARCH_UNSUPPORTED = (
        "GPU_ARCH_UNSUPPORTED",
        "the engine's build has no kernels for this GPU's architecture (e.g. sm_120 on an older wheel)",
    )
    REASONING_TOKENS = (
        "REASONING_TOKENS",
        "the tokenizer lacks the think tokens the --reasoning-parser looks for: vLLM refuses the parser at startup "
        "(fix: the parser whose tags the chat template uses)",
    )
    LORA_RANK = "LORA_RANK", "a LoRA adapter's rank is above --max-lora-rank (or above the ranks this vLLM allows)"
    LORA_ADAPTER = (
        "LORA_ADAPTER",
        "a LoRA adapter vLLM will not load: no adapter_config.json or weights, target modules the architecture lacks "
        "in vLLM, modules_to_save / DoRA / bias vLLM does not implement, or --lora-modules without --enable-lora",
    )
    # boot and runtime (diagnosed from the engine log, exit code and HTTP errors)
    HUB_AUTH = "HUB_AUTH", "the hub refused the download (gated or private repository, missing token)"
    HUB_UNREACHABLE = (
        "HUB_UNREACHABLE",
        "the checkpoint is not in the HF cache and the hub cannot be reached (or offline mode is on)",
    )
    ENV_IMPORT_BROKEN = "ENV_IMPORT_BROKEN", "the engine environment cannot import what vLLM needs"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND", "no such model: the hub id or local path does not exist"
    NO_GPU = "NO_GPU", "the engine found no GPU (no driver, no device visible to the container, CUDA not initialised)"
    NCCL_ERROR = "NCCL_ERROR", "NCCL failed between the workers (multi-GPU communication)"
    CUDA_DRIVER = (
        "CUDA_DRIVER",
        "the NVIDIA driver is too old for the CUDA runtime the engine was built with (CUDA error 803/804)",
    )
    CUDA_FORK = (
        "CUDA_FORK",
        "CUDA was initialised before worker processes were forked: set VLLM_WORKER_MULTIPROC_METHOD=spawn",
    )
    GPU_FAULT = "GPU_FAULT", "the GPU faulted while running (unspecified launch failure, Xid, GPU fell off the bus)"
    NO_PASSWD_ENTRY = (
        "NO_PASSWD_ENTRY",
        "the container runs as a user id without a passwd entry (getpwuid fails): set USER/HOME or use a known uid",
    )
    TRANSFORMERS_MISMATCH = "TRANSFORMERS_MISMATCH", "the installed transformers does not know this model type"
    WEIGHTS_CORRUPT = "WEIGHTS_CORRUPT", "a weight file cannot be read"
    WEIGHT_NAME_MISMATCH = (
        "WEIGHT_NAME_MISMATCH",
        "weight names in the checkpoint do not match what vLLM's model expects",
    )
    KV_BUDGET = "KV_BUDGET", "not enough memory left for the KV cache"
    MAX_MODEL_LEN = "MAX_MODEL_LEN", "max-model-len larger than the model or the KV cache allows"
    GPU_CONTENDED = (
        "GPU_CONTENDED",
        "the free memory (the GPU's, or the host's on the CPU backend) is below what gpu-memory-utilization asks "
        "(another process holds it)",
    )
    OOM = "OOM", "out of memory"
    PROC_KILLED = "PROC_KILLED", "the engine was killed by a signal"
    TOOL_FLAGS = "TOOL_FLAGS", "tool calls need --enable-auto-tool-choice and --tool-call-parser"
    MM_LIMIT = "MM_LIMIT", "more multimodal items than --limit-mm-per-prompt allows"
    WRONG_TASK = "WRONG_TASK", "the model does not serve this API (e.g. a text model asked for transcription)"
    PORT_CONFLICT = "PORT_CONFLICT", "the port was taken"
    TRUST_REMOTE_CODE = "TRUST_REMOTE_CODE", "the engine refused to load a model that needs --trust-remote-code"
    BOOT_TIMEOUT = "BOOT_TIMEOUT", "the engine did not become ready within the boot timeout"
    ENGINE_DIED = "ENGINE_DIED", "the engine process died while cells were being probed"
    FOREIGN_SERVER = "FOREIGN_SERVER", "the server answering on our port is not the one we started"
    # live endpoints (servers this run did not start)
    ENDPOINT_UNREACHABLE = (
        "ENDPOINT_UNREACHABLE",
        "a live endpoint did not answer at all (connection refused, unknown host, timeout)",
    )
    ENDPOINT_AUTH = "ENDPOINT_AUTH", "a live endpoint refused the API key (HTTP 401/403): missing or wrong key"
    WRONG_MODEL = (
        "WRONG_MODEL",
        "the server's /v1/models does not list the model the matrix names: another model answers there",
    )
    # measurement
    LEAK = "LEAK", "GPU memory (or server processes) did not return to the baseline after teardown"
    # probes
    STOP_TOKEN = "STOP_TOKEN", "generation did not stop on the end-of-turn token"
    STRUCTURED_OUTPUT = (
        "STRUCTURED_OUTPUT",
        "the answer breaks the requested response_format / structured-output constraint: the engine did not enforce it",
    )
    CONTEXT_LIMIT = (
        "CONTEXT_LIMIT",
        "a prompt within max-model-len was refused, or one past it was not refused with HTTP 400",
    )
    NEEDLE_MISSED = "NEEDLE_MISSED", "a fact placed at the start of a long prompt was not recalled at its end"
    CONCURRENCY = (
        "CONCURRENCY",
        "simultaneous streams failed, stalled, came back malformed or answered each other's requests",
    )
    REASONING_LEAK = (
        "REASONING_LEAK",
        "think tags or the reasoning reached the answer's content: the reasoning parser does not match the model "
        "(fix: the --reasoning-parser whose tags the chat template uses)",
    )
    REASONING_MISSING = (
        "REASONING_MISSING",
        "no reasoning field beside the content, or no content after the reasoning: the server runs without "
        "--reasoning-parser, or the parser took the whole answer as reasoning",
    )
    RERANK = (
        "RERANK",
        "/rerank or /score answered out of protocol (order, indices, scores), or ranked an unrelated document above "
        "the relevant one",
    )
    LORA_SERVING = (
        "LORA_SERVING",
        "a served LoRA adapter is not listed under its base by /v1/models, answers like the base model where it is "
        "built not to, or an unknown adapter name is not refused",
    )
    PROBE_FAILED = "PROBE_FAILED", "a probe's check did not hold"
    PROBE_TIMEOUT = "PROBE_TIMEOUT", "the engine did not answer a request within the probe timeout (hung or stopped)"
    HTTP_ERROR = "HTTP_ERROR", "the API answered with an HTTP error"
    OTHER = "OTHER", "a failure with no known signature"


# The vocabulary as plain strings: what the matrix validates ``expect:`` against and suggests close matches from.
CODES: Mapping[str, str] = {code.value: code.description for code in Code}


def describe(code: str) -> str:
    """The one-line description of a code; "unknown code" for a string outside the vocabulary."""
    return CODES.get(code, "unknown code")
