"""A pre-flight finding: one observation about a checkpoint, with a stable code and the evidence for it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


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

    def to_json(self) -> dict[str, str]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data
