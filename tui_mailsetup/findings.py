"""What validation says about a configuration."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tui_mailsetup.fixes import Fix


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Finding:
    severity: Severity
    field: str
    """Dotted key the finding is about (``smtp.port``); the first of several for a combination."""
    message: str
    fix: Fix | None = None
    related: tuple[str, ...] = ()
    """Other keys involved (port and encryption are checked together)."""
    code: str = ""
    """Stable identifier for tests and tools (``port-encryption-mismatch``)."""

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.field, *self.related)

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "field": self.field,
            "related": list(self.related),
            "message": self.message,
            "code": self.code,
            "fix": self.fix.to_json() if self.fix else None,
        }


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)
