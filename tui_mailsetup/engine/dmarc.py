"""DMARC per RFC 7489: the policy that applies to a domain, its tags, its report addresses.

The policy record is looked up at ``_dmarc.<domain>``, then, when there is none,
at the organisational domain found with the Public Suffix List (the
``publicsuffixlist`` package bundles it: no network at run time). Advice never
weakens a policy that applies today.
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tui_mailsetup.engine.checks import RecordCheck, failed_lookup, txt_records
from tui_mailsetup.engine.dns_client import DnsClient, LookupFailed
from tui_mailsetup.findings import Severity

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

POLICIES = ("none", "quarantine", "reject")


_PSL_LOCK = threading.Lock()


@functools.cache
def _psl_unlocked() -> PublicSuffixList:
    from publicsuffixlist import PublicSuffixList

    # Rules are kept in Unicode (encoding every IDN rule up front triples the load time);
    # organizational_domain() decodes A-labels before it asks.
    return PublicSuffixList(accept_encoded_idn=False)


def _psl() -> PublicSuffixList:
    with _PSL_LOCK:
        return _psl_unlocked()


def organizational_domain(domain: str) -> str:
    """RFC 7489 §3.2: the public suffix plus one label (``mail.acme.co.uk`` → ``acme.co.uk``)."""
    domain = domain.lower().rstrip(".")
    if "xn--" in domain:
        import idna

        try:
            found = _psl().privatesuffix(idna.decode(domain))
            return idna.encode(found).decode("ascii") if found else domain
        except idna.IDNAError:
            pass
    return _psl().privatesuffix(domain) or domain


_VERSION = re.compile(r"^v\s*=\s*DMARC1\s*(;|$)", re.IGNORECASE)


def is_dmarc_record(text: str) -> bool:
    """RFC 7489 §6.3/§6.4: the tag name ``v`` in any case, its value ``DMARC1`` exactly."""
    match = _VERSION.match(text)
    return match is not None and "DMARC1" in match.group(0)


def is_ignored_dmarc_record(text: str) -> bool:
    """A record meant as DMARC that receivers discard: ``v=dmarc1`` in the wrong case."""
    return _VERSION.match(text) is not None and not is_dmarc_record(text)


@dataclass
class DmarcRecord:
    tags: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    """What makes receivers discard the record."""
    warnings: list[str] = field(default_factory=list)
    """What receivers ignore or default, with the reason."""
    default_policy: bool = False
    """p= is missing or invalid but rua= is valid: receivers apply p=none (§6.6.3)."""

    @property
    def policy(self) -> str:
        return "none" if self.default_policy else self.tags.get("p", "").lower()

    @property
    def subdomain_policy(self) -> str:
        sp = self.tags.get("sp", "").lower()
        return sp if sp in POLICIES else self.policy

    def report_addresses(self) -> list[str]:
        addresses: list[str] = []
        for tag in ("rua", "ruf"):
            for uri in _split_uris(self.tags.get(tag, "")):
                if uri.lower().startswith("mailto:") and _URI.fullmatch(uri):
                    addresses.append(uri[7:].partition("!")[0])
        return addresses


def _split_uris(value: str) -> list[str]:
    return [u.strip() for u in value.split(",") if u.strip()]


_URI = re.compile(
    r"^(mailto:[^@\s!,;]+@[A-Za-z0-9.\-]+\.[A-Za-z0-9\-]+|https?://\S+)(![0-9]+[kmgt]?)?$",
    re.IGNORECASE,
)
# What receivers apply when an optional tag is absent or invalid (RFC 7489 §6.3).
_DEFAULTS = {
    "sp": "the p= policy applies to subdomains",
    "adkim": "relaxed (r) applies",
    "aspf": "relaxed (r) applies",
    "pct": "100 applies",
    "fo": "0 applies",
    "rf": "afrf applies",
    "ri": "86400 s applies",
}


def parse_dmarc(text: str) -> DmarcRecord:
    """Tags of a DMARC record: what makes receivers discard it (errors) and what they
    ignore or default (warnings, with the reason), per RFC 7489 §6.3 and §6.6.3."""
    record = DmarcRecord()
    parts = [p.strip() for p in text.split(";")]
    for index, part in enumerate(parts):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not sep:
            record.errors.append(f"{part!r} is not a tag=value pair")
            continue
        if index == 0 and name != "v":
            record.errors.append("the record must start with v=DMARC1")
        if name in record.tags:
            record.errors.append(f"the tag {name} appears twice")
        record.tags[name] = value
    tags = record.tags

    def ignored(tag: str, why: str) -> None:
        record.warnings.append(f"{tag}={tags[tag]} {why}: receivers ignore it ({_DEFAULTS[tag]})")

    if "sp" in tags and tags["sp"].lower() not in POLICIES:
        ignored("sp", "is not none, quarantine or reject")
    for tag in ("adkim", "aspf"):
        if tag in tags and tags[tag].lower() not in ("r", "s"):
            ignored(tag, "is not r (relaxed) or s (strict)")
    if "pct" in tags:
        if not re.fullmatch(r"\d{1,3}", tags["pct"]) or int(tags["pct"]) > 100:
            ignored("pct", "is not a whole number from 0 to 100")
        elif int(tags["pct"]) < 100:
            record.warnings.append(
                f"pct={tags['pct']}: the policy applies to only {tags['pct']}% of failing mail"
            )
    if "fo" in tags and not all(o.strip() in ("0", "1", "d", "s") for o in tags["fo"].split(":")):
        ignored("fo", "is not a colon-separated list of 0, 1, d, s")
    if "rf" in tags and tags["rf"].lower() != "afrf":
        ignored("rf", "is not afrf")
    if "ri" in tags and not re.fullmatch(r"\d{1,10}", tags["ri"]):
        ignored("ri", "is not a number of seconds")
    valid_rua = False
    for tag in ("rua", "ruf"):
        for uri in _split_uris(tags.get(tag, "")):
            if _URI.fullmatch(uri):
                valid_rua = valid_rua or tag == "rua"
            else:
                record.warnings.append(
                    f"{tag}: {uri!r} is not a mailto: or https: address: receivers send no "
                    "reports there"
                )
    if "p" in tags and tags["p"].lower() in POLICIES:
        pass
    elif valid_rua:
        # RFC 7489 §6.6.3: with a valid rua, receivers act as if p=none had been published.
        record.default_policy = True
        what = "p= (the policy) is missing" if "p" not in tags else f"p={tags['p']} is invalid"
        record.warnings.append(
            f"{what}: receivers apply p=none because rua= is valid (RFC 7489 §6.6.3)"
        )
    elif "p" not in tags:
        record.errors.append(
            "p= (the policy) is missing and there is no valid rua=: receivers discard the "
            "record (RFC 7489 §6.6.3)"
        )
    else:
        record.errors.append(
            f"p={tags['p']} is not none, quarantine or reject and there is no valid rua=: "
            "receivers discard the record (RFC 7489 §6.6.3)"
        )
    known = {
        "v",
        "p",
        "sp",
        "adkim",
        "aspf",
        "pct",
        "fo",
        "rf",
        "ri",
        "rua",
        "ruf",
        "np",
        "psd",
        "t",
    }
    record.warnings.extend(
        f"unknown tag {name}= (ignored by receivers)" for name in tags if name not in known
    )
    return record


async def check_dmarc(domain: str, client: DnsClient) -> RecordCheck:
    name = f"_dmarc.{domain}"
    query = f"{name} TXT"
    # Records meant as DMARC that receivers discard (v=dmarc1): said so, with the reason.
    ignored: list[str] = []

    def keep(text: str) -> bool:
        if is_ignored_dmarc_record(text):
            ignored.append(text)
        return is_dmarc_record(text)

    records = await txt_records(client, "DMARC", name, query, keep)
    if isinstance(records, RecordCheck):
        return records
    applies_from = domain
    # The Public Suffix List is loaded (in a thread) only when a question needs it.
    organizational = domain if records else await asyncio.to_thread(organizational_domain, domain)
    if not records and organizational != domain:
        query = f"{query}, then _dmarc.{organizational} TXT (organisational domain)"
        records = await txt_records(client, "DMARC", f"_dmarc.{organizational}", query, keep)
        if isinstance(records, RecordCheck):
            return records
        applies_from = organizational
    not_dmarc = [
        f"{text[:40]!r} is not a DMARC record: receivers ignore it (RFC 7489 §6.3: the "
        "version must be exactly v=DMARC1, in capitals)"
        for text in ignored
    ]
    if not records and not_dmarc:
        return RecordCheck(
            "DMARC",
            query,
            Severity.ERROR,
            "No DMARC record that receivers accept: " + "; ".join(not_dmarc),
            tuple(ignored),
            advice='Write the version exactly as "v=DMARC1" (the tag values are case-sensitive).',
        )
    if not records:
        return RecordCheck(
            "DMARC",
            query,
            Severity.WARNING,
            "No DMARC record: Gmail and Yahoo require one from bulk senders, and receivers cannot tell what to do with forged mail",
            advice=f'Publish a TXT record at {name}: "v=DMARC1; p=none; rua=mailto:dmarc@{organizational}"',
        )
    if len(records) > 1:
        return RecordCheck(
            "DMARC",
            query,
            Severity.ERROR,
            f"Several DMARC records at _dmarc.{applies_from}: receivers ignore them all (RFC 7489 §6.6.3)",
            tuple(records),
            advice="Keep exactly one.",
        )
    record = parse_dmarc(records[0])
    if record.errors:
        return RecordCheck(
            "DMARC",
            query,
            Severity.ERROR,
            f"The DMARC record{'' if applies_from == domain else f' of the organisational domain {applies_from}'} "
            "is invalid: " + "; ".join(record.errors),
            tuple(records),
            advice="Correct the record: receivers discard it as it is.",
        )
    inherited = applies_from != domain
    policy = record.subdomain_policy if inherited else record.policy
    problems = [*not_dmarc, *record.warnings]
    try:
        unauthorised = await _unauthorised_destinations(client, applies_from, record)
    except LookupFailed as exc:
        return failed_lookup("DMARC", f"{query} (report authorisation)", exc)
    problems += unauthorised
    if inherited:
        message = (
            f"DMARC policy {policy}, from the organisational domain {applies_from} "
            f"({'sp' if 'sp' in record.tags else 'p'}={policy}); {domain} has no record of its own"
        )
        advice = (
            f"Nothing to publish: {applies_from}'s policy covers {domain}. A record at {name} "
            f"would replace it; if you publish one, keep p={policy} or stronger."
        )
    else:
        message = f"DMARC policy {policy}"
        advice = ""
    if problems:
        return RecordCheck(
            "DMARC",
            query,
            Severity.WARNING,
            f"{message}; " + "; ".join(problems),
            tuple(records),
            advice=advice
            or (
                "Have each report address's domain publish the authorisation record, or use an address in this domain."
                if unauthorised
                else "Correct the tags receivers ignore or default, so the record says what you mean."
            ),
        )
    return RecordCheck("DMARC", query, Severity.INFO, message, tuple(records), advice=advice)


async def _unauthorised_destinations(
    client: DnsClient, policy_domain: str, record: DmarcRecord
) -> list[str]:
    """RFC 7489 §7.1: a report address at another organisational domain must be authorised."""
    destinations = {a.rpartition("@")[2].lower().rstrip(".") for a in record.report_addresses()}
    # The policy domain itself and its subdomains share its organisational domain.
    others = {d for d in destinations if d != policy_domain and not d.endswith("." + policy_domain)}
    if others:
        own = await asyncio.to_thread(organizational_domain, policy_domain)
        others = {d for d in others if organizational_domain(d) != own}
    external = sorted(others)

    async def authorised(destination: str) -> bool:
        name = f"{policy_domain}._report._dmarc.{destination}"
        return any(is_dmarc_record(r) for r in await client.records(name, "TXT"))

    results = await asyncio.gather(*(authorised(d) for d in external))
    return [
        f"reports to {d} are not sent: {policy_domain}._report._dmarc.{d} authorises nothing"
        for d, ok in zip(external, results, strict=True)
        if not ok
    ]
