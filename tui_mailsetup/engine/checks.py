"""What one sender-domain check found, and the report of them all.

A check is ok, a warning, an error, or unknown: a lookup that failed is never
a missing record, it is "unknown" with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tui_mailsetup.engine.dns_client import DnsClient, LookupFailed
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.findings import Severity
from tui_mailsetup.sanitize import untrusted_text


@dataclass(frozen=True)
class RecordCheck:
    name: str
    """MX, SPF, DKIM, DMARC, MTA-STS or TLS-RPT."""
    query: str
    """What was asked: "_dmarc.acme.example TXT"."""
    severity: Severity
    """INFO when all is well; WARNING or ERROR when receivers are likely to object."""
    message: str
    records: tuple[str, ...] = ()
    advice: str = ""
    unknown: bool = False
    """The check could not be completed (a lookup failed); severity is then WARNING."""

    def __post_init__(self) -> None:
        # Everything here may quote DNS or HTTP text: neutralise it once, at the source.
        object.__setattr__(self, "message", untrusted_text(self.message))
        object.__setattr__(self, "records", tuple(untrusted_text(r) for r in self.records))
        object.__setattr__(self, "advice", untrusted_text(self.advice))

    @property
    def ok(self) -> bool:
        return self.severity is Severity.INFO and not self.unknown

    @property
    def status(self) -> str:
        """ok, warning, error or unknown."""
        if self.unknown:
            return "unknown"
        return "ok" if self.severity is Severity.INFO else self.severity.value

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "query": self.query,
            "ok": self.ok,
            "status": self.status,
            "severity": self.severity.value,
            "message": self.message,
            "records": list(self.records),
            "advice": self.advice,
        }


def failed_lookup(name: str, query: str, exc: LookupFailed) -> RecordCheck:
    return RecordCheck(
        name,
        query,
        Severity.WARNING,
        f"Unknown: the lookup failed ({exc}); this says nothing about whether the record exists",
        advice="Check dns.nameservers, the network, or try again later.",
        unknown=True,
    )


async def txt_records(
    client: DnsClient, check: str, name: str, query: str, keep: Callable[[str], bool]
) -> list[str] | RecordCheck:
    """The TXT records at ``name`` that ``keep`` accepts; or, when the lookup failed,
    the ``check``'s unknown result for ``query`` (a failed lookup is never "no record")."""
    try:
        return [r for r in await client.records(name, "TXT") if keep(r)]
    except LookupFailed as exc:
        return failed_lookup(check, query, exc)


@dataclass
class DomainReport:
    domain: str
    checks: list[RecordCheck] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def has_errors(self) -> bool:
        return any(c.severity is Severity.ERROR and not c.unknown for c in self.checks)

    @property
    def incomplete(self) -> bool:
        return any(c.unknown for c in self.checks)

    @property
    def ok(self) -> bool:
        """No record in error and every check completed."""
        return not self.has_errors and not self.incomplete

    @property
    def exit_code(self) -> ExitCode:
        """65 when a record is in error, else 75 when a check could not be completed, else 0."""
        if self.has_errors:
            return ExitCode.DATAERR
        if self.incomplete:
            return ExitCode.TEMPFAIL
        return ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "ok": self.ok,
            "elapsed": round(self.elapsed, 3),
            "checks": [c.to_json() for c in self.checks],
        }
