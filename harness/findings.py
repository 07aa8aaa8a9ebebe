"""A finding: one observation about a checkpoint or a run, with a stable code, the evidence for it, and the cells
it concerns."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from harness.usecases import UseCase


class Severity(StrEnum):
    ERROR = "error"  # the cells it concerns fail without a boot
    WARNING = "warning"  # reported beside the verdict; the probe decides
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    code: str  # one of harness.codes.CODES
    severity: Severity
    message: str  # what, the rule, the actual value, the fix
    evidence: str  # where it was seen: "config.json: eos_token_id", "model.safetensors.index.json: weight_map"
    # The use cases whose cells an error fails before any boot; None: every cell of the model.
    scope: frozenset[UseCase] | None = None

    def concerns(self, use_case: UseCase) -> bool:
        """Whether this finding is about ``use_case``'s cell (every cell when it has no scope)."""
        return self.scope is None or use_case in self.scope

    def to_json(self) -> dict[str, str]:
        # The scope stays out of the JSON: records and `vllm-compat check --json` keep the shape readers know.
        return {"code": self.code, "severity": self.severity.value, "message": self.message, "evidence": self.evidence}
