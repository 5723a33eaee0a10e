"""DNS: a resolver built from the settings, and the sender domain's checks.

MX, SPF, DKIM, DMARC and MTA-STS for the sender's domain: what receivers
look at before they accept or trust mail from it. Nothing here sends mail.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

from tui_mailsetup.findings import Severity
from tui_mailsetup.presets import Preset, match_preset
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings

DEFAULT_LIFETIME = 5.0
COMMON_DKIM_SELECTORS = (
    "default",
    "google",
    "selector1",
    "selector2",
    "s1",
    "s2",
    "k1",
    "k2",
    "mx",
    "dkim",
    "mail",
    "smtp",
    "pm",
    "mandrill",
    "sig1",
    "zmail",
    "fm1",
)


def parse_nameserver(entry: str) -> tuple[str, int]:
    """``127.0.0.1:5353``, ``[::1]:53``, ``::1`` or ``192.0.2.53`` → (address, port)."""
    entry = entry.strip()
    if entry.startswith("["):
        address, _, rest = entry[1:].partition("]")
        return address, int(rest.removeprefix(":") or 53)
    if entry.count(":") == 1:
        address, _, port = entry.partition(":")
        return address, int(port)
    return entry, 53


def make_resolver(
    nameservers: Sequence[str] = (), *, lifetime: float = DEFAULT_LIFETIME
) -> dns.asyncresolver.Resolver:
    """The system resolver, or the configured nameservers (``dns.nameservers``)."""
    if nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(address, port)
            for address, port in (parse_nameserver(entry) for entry in nameservers)
        ]
    else:
        resolver = dns.asyncresolver.Resolver()
    resolver.lifetime = lifetime
    resolver.timeout = min(lifetime, 2.0)
    return resolver


class LookupFailed(Exception):
    """The lookup itself failed (timeout, no answering server), as opposed to 'no such record'."""


async def query_text(resolver: dns.asyncresolver.Resolver, name: str, rdtype: str) -> list[str]:
    """Records of one type as text; [] when the name or the type does not exist."""
    try:
        answer = await resolver.resolve(name, rdtype, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        raise LookupFailed(f"{name} {rdtype}: {exc.__class__.__name__}: {exc}") from exc
    except dns.exception.DNSException as exc:
        raise LookupFailed(f"{name} {rdtype}: {exc}") from exc
    records: list[str] = []
    for rdata in answer:
        if rdtype == "TXT":
            strings: Iterable[bytes] = rdata.strings
            records.append(untrusted_text(b"".join(strings)))
        else:
            records.append(untrusted_text(rdata.to_text()))
    return records


# --------------------------------------------------------------------------- domain checks


@dataclass(frozen=True)
class RecordCheck:
    name: str
    """MX, SPF, DKIM, DMARC or MTA-STS."""
    query: str
    """What was asked: "_dmarc.acme.example TXT"."""
    severity: Severity
    """INFO when all is well; WARNING or ERROR when receivers are likely to object."""
    message: str
    records: tuple[str, ...] = ()
    advice: str = ""

    @property
    def ok(self) -> bool:
        return self.severity is Severity.INFO

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "query": self.query,
            "ok": self.ok,
            "severity": self.severity.value,
            "message": self.message,
            "records": list(self.records),
            "advice": self.advice,
        }


@dataclass
class DomainReport:
    domain: str
    checks: list[RecordCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.severity is not Severity.ERROR for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"domain": self.domain, "ok": self.ok, "checks": [c.to_json() for c in self.checks]}


def sender_domain(settings: MailSettings) -> str:
    return settings.sender.address.rpartition("@")[2].strip().lower()


async def check_domain(
    domain: str,
    *,
    resolver: dns.asyncresolver.Resolver,
    relay: Preset | None = None,
    dkim_selectors: Sequence[str] = COMMON_DKIM_SELECTORS,
) -> DomainReport:
    """Run every check for ``domain`` concurrently; ``relay`` is the provider that sends for it."""
    results = await asyncio.gather(
        _check_mx(domain, resolver),
        _check_spf(domain, resolver, relay),
        _check_dkim(domain, resolver, dkim_selectors),
        _check_dmarc(domain, resolver),
        _check_mta_sts(domain, resolver),
    )
    return DomainReport(domain, list(results))


async def check_sender_domain(
    settings: MailSettings, dkim_selectors: Sequence[str] = ()
) -> DomainReport:
    resolver = make_resolver(settings.dns.nameservers)
    return await check_domain(
        sender_domain(settings),
        resolver=resolver,
        relay=match_preset(settings.smtp.host),
        dkim_selectors=tuple(dkim_selectors) or COMMON_DKIM_SELECTORS,
    )


def _failed(name: str, query: str, exc: LookupFailed) -> RecordCheck:
    return RecordCheck(
        name,
        query,
        Severity.WARNING,
        f"The lookup failed: {exc}",
        advice="Check dns.nameservers or the network.",
    )


async def _check_mx(domain: str, resolver: dns.asyncresolver.Resolver) -> RecordCheck:
    query = f"{domain} MX"
    try:
        records = await query_text(resolver, domain, "MX")
    except LookupFailed as exc:
        return _failed("MX", query, exc)
    if not records:
        return RecordCheck(
            "MX",
            query,
            Severity.WARNING,
            "No MX record: replies and bounces to the sender address cannot be delivered, and some receivers reject such senders",
            advice="Publish an MX record for the domain, or send from an address whose domain receives mail.",
        )
    if any(r.split()[-1] == "." for r in records):
        return RecordCheck(
            "MX",
            query,
            Severity.WARNING,
            "A null MX record: the domain declares it receives no mail",
            tuple(records),
        )
    return RecordCheck(
        "MX", query, Severity.INFO, f"{len(records)} mail exchanger(s)", tuple(sorted(records))
    )


_SPF_MECHANISM = re.compile(r"^([+\-~?]?)(include|redirect)[:=](\S+)$", re.IGNORECASE)


def _spf_records(records: list[str]) -> list[str]:
    return [r for r in records if r.lower() == "v=spf1" or r.lower().startswith("v=spf1 ")]


async def _spf_includes(
    resolver: dns.asyncresolver.Resolver, record: str, depth: int = 2
) -> set[str]:
    """Domains the record includes or redirects to, followed ``depth`` levels deep."""
    found: set[str] = set()
    for term in record.split()[1:]:
        if match := _SPF_MECHANISM.match(term):
            target = match.group(3).lower().rstrip(".")
            found.add(target)
            if depth > 0:
                try:
                    nested = _spf_records(await query_text(resolver, target, "TXT"))
                except LookupFailed:
                    nested = []
                for child in nested[:1]:
                    found |= await _spf_includes(resolver, child, depth - 1)
    return found


async def _check_spf(
    domain: str, resolver: dns.asyncresolver.Resolver, relay: Preset | None
) -> RecordCheck:
    query = f"{domain} TXT (SPF)"
    try:
        records = _spf_records(await query_text(resolver, domain, "TXT"))
    except LookupFailed as exc:
        return _failed("SPF", query, exc)
    suggestion = (
        f"v=spf1 include:{relay.spf_include} ~all"
        if relay and relay.spf_include
        else "v=spf1 mx ~all"
    )
    if not records:
        return RecordCheck(
            "SPF",
            query,
            Severity.WARNING,
            "No SPF record: receivers cannot tell which servers may send for this domain, and often file such mail as spam",
            advice=f'Publish a TXT record: "{suggestion}"',
        )
    if len(records) > 1:
        return RecordCheck(
            "SPF",
            query,
            Severity.ERROR,
            "Several SPF records: receivers treat that as a permanent error (RFC 7208 §4.5) and SPF fails",
            tuple(records),
            advice="Merge them into one record.",
        )
    record = records[0]
    all_term = next((t for t in record.split() if t.lower().lstrip("+-~?") == "all"), "")
    if all_term in {"all", "+all"}:
        return RecordCheck(
            "SPF",
            query,
            Severity.ERROR,
            "The SPF record ends in +all: any server on the internet may send as this domain",
            (record,),
            advice="End it with ~all or -all.",
        )
    if relay and relay.spf_include:
        includes = await _spf_includes(resolver, record)
        if relay.spf_include not in includes:
            return RecordCheck(
                "SPF",
                query,
                Severity.WARNING,
                f"The SPF record does not include {relay.spf_include}, so mail relayed through {relay.name} fails SPF",
                (record,),
                advice=f"Add include:{relay.spf_include} before the final all.",
            )
    return RecordCheck("SPF", query, Severity.INFO, "SPF record present", (record,))


async def _check_dkim(
    domain: str, resolver: dns.asyncresolver.Resolver, selectors: Sequence[str]
) -> RecordCheck:
    query = f"<selector>._domainkey.{domain} TXT"

    async def lookup(selector: str) -> tuple[str, list[str]]:
        name = f"{selector}._domainkey.{domain}"
        try:
            records = await query_text(resolver, name, "TXT")
        except LookupFailed:
            records = []
        return selector, [r for r in records if "p=" in r or r.lower().startswith("v=dkim1")]

    found = [(s, r) for s, r in await asyncio.gather(*(lookup(s) for s in selectors)) if r]
    if not found:
        return RecordCheck(
            "DKIM",
            query,
            Severity.WARNING,
            f"No DKIM key found at the {len(selectors)} common selectors tried; unsigned mail is often treated as spam",
            advice="Enable DKIM signing at your provider and publish the key it gives you. "
            "If one is published under a less common selector, "
            "`tui-mailsetup dns --dkim-selector NAME` checks it.",
        )
    revoked = [s for s, records in found if any(re.search(r"\bp=\s*(;|$)", r) for r in records)]
    listed = tuple(f"{s}: {records[0][:120]}" for s, records in found)
    if revoked and len(revoked) == len(found):
        return RecordCheck(
            "DKIM",
            query,
            Severity.WARNING,
            f"The DKIM key at {', '.join(revoked)} is revoked (empty p=)",
            listed,
        )
    return RecordCheck(
        "DKIM",
        query,
        Severity.INFO,
        f"DKIM key found at selector {', '.join(s for s, _ in found)}",
        listed,
    )


async def _check_dmarc(domain: str, resolver: dns.asyncresolver.Resolver) -> RecordCheck:
    name = f"_dmarc.{domain}"
    query = f"{name} TXT"
    try:
        records = [
            r for r in await query_text(resolver, name, "TXT") if r.lower().startswith("v=dmarc1")
        ]
    except LookupFailed as exc:
        return _failed("DMARC", query, exc)
    if not records:
        return RecordCheck(
            "DMARC",
            query,
            Severity.WARNING,
            "No DMARC record: Gmail and Yahoo require one from bulk senders, and receivers cannot tell what to do with forged mail",
            advice=f'Publish a TXT record at {name}: "v=DMARC1; p=none; rua=mailto:dmarc@{domain}"',
        )
    if len(records) > 1:
        return RecordCheck(
            "DMARC",
            query,
            Severity.ERROR,
            "Several DMARC records: receivers ignore them all",
            tuple(records),
        )
    tags = dict(
        (part.split("=", 1)[0].strip().lower(), part.split("=", 1)[1].strip())
        for part in records[0].split(";")
        if "=" in part
    )
    policy = tags.get("p", "")
    if policy.lower() not in {"none", "quarantine", "reject"}:
        return RecordCheck(
            "DMARC",
            query,
            Severity.ERROR,
            f"The DMARC policy p={policy!r} is not none, quarantine or reject",
            tuple(records),
        )
    return RecordCheck(
        "DMARC", query, Severity.INFO, f"DMARC policy {policy.lower()}", tuple(records)
    )


async def _check_mta_sts(domain: str, resolver: dns.asyncresolver.Resolver) -> RecordCheck:
    name = f"_mta-sts.{domain}"
    query = f"{name} TXT"
    try:
        records = [
            r for r in await query_text(resolver, name, "TXT") if r.lower().startswith("v=stsv1")
        ]
    except LookupFailed as exc:
        return _failed("MTA-STS", query, exc)
    if not records:
        # MTA-STS protects mail coming in to the domain; its absence does not hurt sending.
        return RecordCheck(
            "MTA-STS",
            query,
            Severity.INFO,
            "No MTA-STS policy (optional: it protects mail coming in to this domain from downgrade attacks)",
        )
    return RecordCheck("MTA-STS", query, Severity.INFO, "MTA-STS policy announced", tuple(records))
