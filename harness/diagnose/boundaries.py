"""Lines that prove one of two causes, and which the log alone cannot choose between: the other one is named too.

"The model's max seq len (32768) is larger than the maximum number of tokens that can be stored in KV cache (20000)"
is fixed by a shorter ``--max-model-len`` (MAX_MODEL_LEN) or by more memory for the cache (KV_BUDGET); what fixed the
thread, not the line, tells which. Nine held-out sets labelled by nine people, each from what fixed its thread, split
every pair below both ways (tests/data/logs_heldout*/README.md, "Judgement calls"). The answer stays the reading most
of them gave; the alternative is named beside it, with the fix it implies, so that a reader who knows the other fix
applies does not have to guess that it is the same failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Alternative:
    code: str  # the other cause the same line proves
    why: str  # what would make it that one: the fix it implies

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "why": self.why}


@dataclass(frozen=True)
class _Boundary:
    code: str  # the answer given
    says: re.Pattern[str]  # on its evidence line
    alternative: Alternative


def _boundary(code: str, says: str, alternative: str, why: str) -> _Boundary:
    return _Boundary(code, re.compile(says, re.IGNORECASE), Alternative(alternative, why))


BOUNDARIES: tuple[_Boundary, ...] = (
    _boundary(
        "MAX_MODEL_LEN",
        r"larger than the maximum number of tokens that can be stored in KV cache",
        "KV_BUDGET",
        "if the context length is needed: give the KV cache more memory (--gpu-memory-utilization, fewer "
        "--max-num-seqs, more GPUs)",
    ),
    _boundary(
        "KV_BUDGET",
        r"larger than the maximum number of tokens that can be stored in KV cache",
        "MAX_MODEL_LEN",
        "if a shorter context will do: lower --max-model-len",
    ),
    _boundary(
        "TRANSFORMERS_MISMATCH",
        r"does not recognize this architecture|model type `?\S*`? but transformers",
        "ARCH_UNSUPPORTED",
        "if the installed vLLM predates the model: a newer vLLM brings the transformers it needs",
    ),
    _boundary(
        "GPU_ARCH_UNSUPPORTED",
        r"bfloat16 is only supported on GPUs with compute capability",
        "DTYPE_UNSUPPORTED",
        "the same GPU serves the model in float16: --dtype half",
    ),
    _boundary(
        "DTYPE_UNSUPPORTED",
        r"bfloat16 is only supported on GPUs with compute capability",
        "GPU_ARCH_UNSUPPORTED",
        "if the model must run in bfloat16: a GPU of compute capability 8.0 or newer",
    ),
    _boundary(
        "FLAG_UNKNOWN",
        r"\w\(\) got an unexpected keyword argument",
        "ENV_IMPORT_BROKEN",
        "if a program passed it (an integrator built for another vLLM): install the vLLM version it supports",
    ),
    _boundary(
        "ENDPOINT_UNREACHABLE",
        r".",
        "BOOT_TIMEOUT",
        "if the server was still starting: wait for /health (or /v1/models) to answer before sending requests",
    ),
    _boundary(
        "PROC_KILLED",
        r"^Killed\b|killed by SIGKILL",
        "OOM",
        "if the kernel's OOM killer sent it (dmesg says so): the host ran out of RAM",
    ),
    _boundary(
        "WEIGHTS_CORRUPT",
        r"HeaderTooLarge|incomplete metadata|MetadataIncompleteBuffer",
        "WEIGHTS_INCOMPLETE",
        "if the download was cut short: fetch the shard again",
    ),
    _boundary(
        "NOT_SERVABLE",
        r"gguf",
        "QUANT_UNSUPPORTED",
        "vLLM serves a GGUF file (a single .gguf, with --tokenizer of the base model), not a repository of them",
    ),
)


def alternative_to(code: str, evidence: str) -> Alternative | None:
    """The other cause the answer's evidence line proves as well, when it is one of the pairs above."""
    for boundary in BOUNDARIES:
        if boundary.code == code and boundary.says.search(evidence):
            return boundary.alternative
    return None
