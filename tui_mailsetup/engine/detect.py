"""Autodetection of host, port and encryption from an email address or a domain.

In the order a careful person would look: a provider known for the mailbox
domain (gmail.com), the RFC 6186 / RFC 8314 SRV records the domain publishes
for mail submission, the provider its MX records reveal, then the usual
names (smtp.<domain>, mail.<domain>) when they resolve.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import dns.asyncresolver

from tui_mailsetup.engine.dns import LookupFailed, query_text
from tui_mailsetup.names import host_to_ascii
from tui_mailsetup.presets import preset_for_mail_domain, preset_for_mx
from tui_mailsetup.settings import Encryption


@dataclass(frozen=True)
class Candidate:
    host: str
    port: int
    encryption: Encryption
    source: str
    """Why it is a candidate: "SRV _submissions._tcp.acme.example", "MX: Google Workspace"."""
    confidence: int
    """0-100; the best candidate has the highest."""
    preset_id: str = ""
    username_hint: str = ""
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "encryption": self.encryption.value,
            "source": self.source,
            "confidence": self.confidence,
            "preset": self.preset_id or None,
            "username_hint": self.username_hint,
            "notes": self.notes,
        }


@dataclass
class Detection:
    query: str
    domain: str
    candidates: list[Candidate] = field(default_factory=list)
    elapsed: float = 0.0
    problems: list[str] = field(default_factory=list)
    """Lookups that failed (as opposed to records that do not exist)."""

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def to_json(self) -> dict[str, Any]:
        best = self.best
        return {
            "ok": best is not None,
            "stage": "detect",
            "elapsed": round(self.elapsed, 3),
            "query": self.query,
            "domain": self.domain,
            "smtp": (
                {"host": best.host, "port": best.port, "encryption": best.encryption.value}
                if best
                else None
            ),
            "candidates": [c.to_json() for c in self.candidates],
            "problems": self.problems,
            "diagnosis": None
            if best
            else {
                "stage": "detect",
                "cause": f"No mail submission server found for {self.domain}",
                "fix": None,
            },
        }


def domain_of(address_or_domain: str) -> str:
    """The A-label domain of an address or a domain; ValueError when it is neither."""
    text = address_or_domain.strip()
    domain = text.rpartition("@")[2] if "@" in text else text
    if not domain:
        raise ValueError(f"{address_or_domain!r} has no domain")
    return host_to_ascii(domain)


async def detect(address_or_domain: str, *, resolver: dns.asyncresolver.Resolver) -> Detection:
    started = time.monotonic()
    domain = domain_of(address_or_domain)
    result = Detection(address_or_domain, domain)
    found: list[Candidate] = []

    if preset := preset_for_mail_domain(domain):
        found.append(
            Candidate(
                preset.host,
                preset.port,
                preset.encryption,
                f"{domain} is {preset.name}",
                100,
                preset.id,
                preset.username_hint,
                preset.notes,
            )
        )

    async def lookup(name: str, rdtype: str) -> list[str]:
        try:
            return await query_text(resolver, name, rdtype)
        except LookupFailed as exc:
            result.problems.append(str(exc))
            return []

    submissions, submission, mx, smtp_a, mail_a = await asyncio.gather(
        lookup(f"_submissions._tcp.{domain}", "SRV"),
        lookup(f"_submission._tcp.{domain}", "SRV"),
        lookup(domain, "MX"),
        lookup(f"smtp.{domain}", "A"),
        lookup(f"mail.{domain}", "A"),
    )
    for records, encryption, confidence, service in (
        (submissions, Encryption.TLS, 92, "_submissions"),
        (submission, Encryption.STARTTLS, 90, "_submission"),
    ):
        for priority, weight, port, target in _parse_srv(records):
            # RFC 6186: a target of "." says the service is deliberately not offered.
            if target == ".":
                continue
            rank = confidence - min(priority, 9) + min(weight, 1)
            found.append(
                Candidate(
                    target.rstrip("."), port, encryption, f"SRV {service}._tcp.{domain}", rank
                )
            )

    for exchange in _parse_mx(mx):
        if preset := preset_for_mx(exchange):
            found.append(
                Candidate(
                    preset.host,
                    preset.port,
                    preset.encryption,
                    f"MX {exchange} is {preset.name}",
                    80,
                    preset.id,
                    preset.username_hint,
                    preset.notes,
                )
            )
            break
    for name, addresses in ((f"smtp.{domain}", smtp_a), (f"mail.{domain}", mail_a)):
        if addresses:
            found.append(
                Candidate(
                    name,
                    587,
                    Encryption.STARTTLS,
                    f"{name} exists (a guess: confirm with check)",
                    30,
                )
            )

    unique: dict[tuple[str, int], Candidate] = {}
    for candidate in sorted(found, key=lambda c: -c.confidence):
        unique.setdefault((candidate.host.lower(), candidate.port), candidate)
    result.candidates = list(unique.values())
    result.elapsed = time.monotonic() - started
    return result


def _parse_srv(records: list[str]) -> list[tuple[int, int, int, str]]:
    parsed = []
    for record in records:
        parts = record.split()
        if len(parts) == 4 and all(p.isdigit() for p in parts[:3]):
            parsed.append((int(parts[0]), int(parts[1]), int(parts[2]), parts[3].lower()))
    return sorted(parsed)


def _parse_mx(records: list[str]) -> list[str]:
    parsed = []
    for record in records:
        parts = record.split()
        if len(parts) == 2 and parts[0].isdigit():
            parsed.append((int(parts[0]), parts[1].lower().rstrip(".")))
    return [host for _, host in sorted(parsed)]
