"""DNS: the sender domain's checks, run together under one resolver and one time budget.

MX, SPF (evaluated, :mod:`.spf`), DKIM, DMARC (:mod:`.dmarc`), MTA-STS and
TLS-RPT (:mod:`.mta_sts`) for the sender's domain: what receivers look at
before they accept or trust mail from it. Nothing here sends mail. The
resolver and its time budget live in :mod:`.dns_client`; what a check found,
in :mod:`.checks`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence

import dns.asyncresolver
import dns.exception
import dns.resolver

from tui_mailsetup.engine import spf
from tui_mailsetup.engine.checks import DomainReport, RecordCheck, failed_lookup, txt_records
from tui_mailsetup.engine.dkim import parse_dkim_key
from tui_mailsetup.engine.dmarc import check_dmarc
from tui_mailsetup.engine.dns_client import (
    DEFAULT_TIMEOUT,
    DnsClient,
    LookupFailed,
    make_resolver,
)
from tui_mailsetup.engine.mta_sts import check_mta_sts, check_tls_rpt
from tui_mailsetup.findings import Severity
from tui_mailsetup.presets import Preset, get_preset, match_preset
from tui_mailsetup.settings import Driver, MailSettings

# make_resolver and LookupFailed live in .dns_client; the names stay importable
# from here for the TUI's form screen.
__all__ = [
    "DomainReport",
    "LookupFailed",
    "RecordCheck",
    "check_domain",
    "check_sender_domain",
    "make_resolver",
    "sender_domain",
]
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


# --------------------------------------------------------------------------- domain checks


def sender_domain(settings: MailSettings) -> str:
    return settings.sender.address.rpartition("@")[2].strip().lower()


def relay_of(settings: MailSettings) -> tuple[Preset | None, str]:
    """The provider that sends for the configuration, and the SMTP host whose addresses SPF
    must authorise ("" for the API drivers, whose provider's documented include is checked)."""
    if settings.driver is Driver.MAILGUN:
        return get_preset(f"mailgun-{settings.mailgun.region.value}"), ""
    if settings.driver is Driver.SES:
        return get_preset(f"ses-{settings.ses.region}"), ""
    if settings.driver is Driver.GRAPH:
        # Graph's mail leaves through Exchange Online, as Microsoft 365's SMTP does.
        return get_preset("microsoft-365"), ""
    if settings.driver is Driver.SMTP:
        host = settings.smtp.host.strip().strip("[]")
        return match_preset(host), host
    return None, ""


async def check_domain(
    domain: str,
    *,
    resolver: dns.asyncresolver.Resolver | None = None,
    client: DnsClient | None = None,
    relay: Preset | None = None,
    relay_host: str = "",
    sender: str = "",
    dkim_selectors: Sequence[str] = COMMON_DKIM_SELECTORS,
    https_base_url: str = "",
    dns_timeout: float = DEFAULT_TIMEOUT,
) -> DomainReport:
    """Run every check for ``domain`` concurrently, within one DNS time budget.

    ``relay`` is the provider that sends for it (its SPF include is checked);
    ``relay_host`` the SMTP host whose addresses SPF must authorise.
    """
    started = time.monotonic()
    client = client or DnsClient(resolver=resolver, timeout=dns_timeout)
    mx_task = asyncio.ensure_future(_check_mx(domain, client))

    async def mta_sts() -> RecordCheck:
        _, hosts = await asyncio.shield(mx_task)
        return await check_mta_sts(domain, client, hosts, https_base_url)

    results = await asyncio.gather(
        _check_spf(domain, client, relay, relay_host, sender),
        _check_dkim(domain, client, dkim_selectors),
        check_dmarc(domain, client),
        mta_sts(),
        check_tls_rpt(domain, client),
    )
    mx_check, _ = await mx_task
    return DomainReport(domain, [mx_check, *results], time.monotonic() - started)


async def check_sender_domain(
    settings: MailSettings, dkim_selectors: Sequence[str] = (), domain: str = ""
) -> DomainReport:
    """The checks for the configured sender's domain (or ``domain``), as the settings say:
    dns.nameservers, dns.timeout, dns.https_base_url, and the relay the driver uses."""
    relay, relay_host = relay_of(settings)
    own = sender_domain(settings)
    domain = domain or own
    return await check_domain(
        domain,
        client=DnsClient.from_settings(settings.dns),
        relay=relay,
        relay_host=relay_host,
        sender=settings.sender.address if domain == own else "",
        dkim_selectors=tuple(dkim_selectors) or COMMON_DKIM_SELECTORS,
        https_base_url=settings.dns.https_base_url,
        dns_timeout=settings.dns.timeout,
    )


# --------------------------------------------------------------------------- MX


async def _check_mx(domain: str, client: DnsClient) -> tuple[RecordCheck, list[str] | None]:
    """The check, and the MX host names (None when the lookup failed)."""
    query = f"{domain} MX"
    try:
        answer = await client.query(domain, "MX")
    except LookupFailed as exc:
        return failed_lookup("MX", query, exc), None
    if answer.nxdomain:
        return (
            RecordCheck(
                "MX",
                query,
                Severity.ERROR,
                f"The domain {domain} does not exist (NXDOMAIN): receivers reject mail from it",
                advice="Send from an address in a domain that exists, or register and publish this one.",
            ),
            [],
        )
    records = list(answer.records)
    hosts = [r.split()[-1].lower().rstrip(".") for r in records]
    if records and all(h == "" for h in hosts):
        # RFC 7505: one MX of preference 0 and target "." declares that no mail is accepted.
        return (
            RecordCheck(
                "MX",
                query,
                Severity.WARNING,
                "Null MX (RFC 7505): the domain declares that it receives no mail, so replies and "
                "bounces are lost and receivers may reject its mail (550 5.7.27)",
                tuple(records),
                advice="Send from an address whose domain receives mail, or publish real MX records.",
            ),
            [],
        )
    if records:
        return (
            RecordCheck(
                "MX",
                query,
                Severity.INFO,
                f"{len(records)} mail exchanger(s)",
                tuple(sorted(records)),
            ),
            [h for h in hosts if h],
        )
    try:
        addresses = await client.records(domain, "A") + await client.records(domain, "AAAA")
    except LookupFailed as exc:
        return failed_lookup("MX", f"{query}, then {domain} A/AAAA", exc), None
    if addresses:
        return (
            RecordCheck(
                "MX",
                query,
                Severity.INFO,
                f"No MX record; mail goes to the domain's own address ({', '.join(addresses[:3])}), "
                "the implicit MX of RFC 5321 §5.1",
                advice=f"Optional: publish an MX record for {domain} to say so explicitly.",
            ),
            [domain],
        )
    return (
        RecordCheck(
            "MX",
            query,
            Severity.WARNING,
            "No MX record and no address: replies and bounces to the sender address cannot be "
            "delivered, and some receivers reject such senders",
            advice="Publish an MX record for the domain, or send from an address whose domain receives mail.",
        ),
        [],
    )


# --------------------------------------------------------------------------- SPF

# An address no one authorises (RFC 5737 TEST-NET-1): evaluating it walks the whole record,
# so every lookup limit, syntax error and missing include shows, whatever the relay.
_PROBE_IP = "192.0.2.1"


def spf_lookup(client: DnsClient) -> spf.Lookup:
    """check_host()'s resolver seam on top of the run's client."""

    async def lookup(name: str, rdtype: str) -> list[str]:
        try:
            return await client.records(name, rdtype)
        except LookupFailed as exc:
            raise spf.TempFail(str(exc)) from exc

    return lookup


async def _check_spf(
    domain: str, client: DnsClient, relay: Preset | None, relay_host: str, sender: str
) -> RecordCheck:
    query = f"{domain} TXT (SPF)"
    lookup = spf_lookup(client)
    include = relay.spf_include if relay else ""
    suggestion = f"v=spf1 include:{include} ~all" if include else "v=spf1 mx ~all"
    records = await txt_records(client, "SPF", domain, query, spf.is_spf_record)
    if isinstance(records, RecordCheck):
        return records
    if not records:
        return RecordCheck(
            "SPF",
            query,
            Severity.WARNING,
            "No SPF record: receivers cannot tell which servers may send for this domain, and often file such mail as spam",
            advice=f'Publish a TXT record: "{suggestion}"',
        )
    sender = sender if "@" in sender else f"postmaster@{domain}"
    walk = await spf.check_host(_PROBE_IP, domain, lookup=lookup, sender=sender)
    record = records[0]
    counted = f"{walk.lookups} DNS-querying terms, {walk.void_lookups} void lookups"
    if walk.result == "temperror":
        return RecordCheck(
            "SPF",
            query,
            Severity.WARNING,
            f"Unknown: the SPF record could not be evaluated ({walk.explanation})",
            tuple(records),
            advice="Check dns.nameservers, the network, or try again later.",
            unknown=True,
        )
    if walk.result == "permerror":
        return RecordCheck(
            "SPF",
            query,
            Severity.ERROR,
            f"SPF evaluates to permerror: {walk.explanation}. Receivers treat the domain's mail as failing SPF",
            tuple(records),
            advice="Correct the record (RFC 7208): at most 10 DNS-querying terms (include, a, mx, ptr, exists, redirect) and 2 that find nothing.",
        )
    terms = record.split()
    bodies = [t.lower().lstrip("+-~?") for t in terms]
    notes: list[str] = []
    if "all" in bodies:
        index = bodies.index("all")
        if terms[index].lower() in ("all", "+all"):
            return RecordCheck(
                "SPF",
                query,
                Severity.ERROR,
                "The SPF record ends in +all: any server on the internet may send as this domain",
                (record,),
                advice="End it with ~all or -all.",
            )
        if index < len(terms) - 1:
            notes.append(
                f"terms after {terms[index]} are never evaluated: {' '.join(terms[index + 1 :])}"
            )
    if any(b == "ptr" or b.startswith("ptr:") for b in bodies):
        notes.append("ptr is slow and unreliable and RFC 7208 says not to use it (§5.5)")
    verdict: RecordCheck | None = None
    if include and relay is not None:
        verdict = await _relay_by_include(domain, lookup, sender, include, relay, record)
    elif relay_host:
        verdict = await _relay_by_address(domain, client, lookup, sender, relay_host, record)
    if verdict is not None and not verdict.ok:
        return RecordCheck(
            verdict.name,
            verdict.query or query,
            verdict.severity,
            "; ".join([verdict.message, *notes]),
            verdict.records or (record,),
            verdict.advice,
            verdict.unknown,
        )
    message = verdict.message if verdict is not None else f"SPF record valid ({counted})"
    if notes:
        return RecordCheck(
            "SPF",
            query,
            Severity.WARNING,
            "; ".join([message, *notes]),
            (record,),
            advice="Move every term before the final all, and replace ptr with ip4/ip6 or a.",
        )
    return RecordCheck("SPF", query, Severity.INFO, message, (record,))


async def _relay_by_include(
    domain: str, lookup: spf.Lookup, sender: str, include: str, relay: Preset, record: str
) -> RecordCheck:
    """Does the evaluation reach the provider's documented include?"""
    reached: list[str] = []

    async def watching(name: str, rdtype: str) -> list[str]:
        if rdtype == "TXT":
            reached.append(name.lower().rstrip("."))
        result: list[str] = await lookup(name, rdtype)
        return result

    result = await spf.check_host(_PROBE_IP, domain, lookup=watching, sender=sender)
    if include.lower() in reached:
        return RecordCheck(
            "SPF",
            "",
            Severity.INFO,
            f"SPF authorises {relay.name}: evaluating the record reaches include:{include} "
            f"({result.lookups} DNS-querying terms, {result.void_lookups} void lookups)",
        )
    return RecordCheck(
        "SPF",
        "",
        Severity.WARNING,
        f"The SPF record does not include {include}, so mail sent through {relay.name} fails SPF",
        advice=f'Add include:{include} before the final all: "{spf.fix_for_fail(record, include=include)}"',
    )


async def _relay_by_address(
    domain: str,
    client: DnsClient,
    lookup: spf.Lookup,
    sender: str,
    relay_host: str,
    record: str,
) -> RecordCheck | None:
    """check_host() for each address of smtp.host."""
    import ipaddress

    from tui_mailsetup.names import is_loopback

    try:
        addresses = [str(ipaddress.ip_address(relay_host))]
    except ValueError:
        try:
            addresses = await client.records(relay_host, "A") + await client.records(
                relay_host, "AAAA"
            )
        except LookupFailed as exc:
            return failed_lookup("SPF", f"{relay_host} A/AAAA (the relay)", exc)
    if not addresses:
        return None  # the relay does not resolve: the SMTP checks say so
    if all(is_loopback(a) for a in addresses):
        return None  # a local relay hands mail on; its own smarthost is what SPF sees
    results = await asyncio.gather(
        *(spf.check_host(a, domain, lookup=lookup, sender=sender) for a in addresses)
    )
    failing = [(a, r) for a, r in zip(addresses, results, strict=True) if r.result != "pass"]
    if not failing:
        return RecordCheck(
            "SPF",
            "",
            Severity.INFO,
            f"SPF passes for the relay {relay_host} ({', '.join(addresses)})",
        )
    if any(r.result == "temperror" for _, r in failing):
        reason = next(r.explanation for _, r in failing if r.result == "temperror")
        return RecordCheck(
            "SPF",
            "",
            Severity.WARNING,
            f"Unknown: SPF for the relay could not be evaluated ({reason})",
            unknown=True,
        )
    fixed = record
    for address, _ in failing:
        fixed = spf.fix_for_fail(fixed, address=address)
    worst = "fail" if any(r.result == "fail" for _, r in failing) else failing[0][1].result
    shown = ", ".join(f"{a}: {r.result}" for a, r in failing)
    return RecordCheck(
        "SPF",
        "",
        Severity.ERROR if worst == "fail" else Severity.WARNING,
        f"SPF does not authorise the relay {relay_host} ({shown}): receivers "
        + (
            "reject or junk its mail"
            if worst == "fail"
            else "cannot tell it may send for the domain"
        ),
        advice=f'Change the record to "{fixed}"',
    )


# --------------------------------------------------------------------------- DKIM


async def _check_dkim(domain: str, client: DnsClient, selectors: Sequence[str]) -> RecordCheck:
    query = f"<selector>._domainkey.{domain} TXT"

    async def lookup(selector: str) -> tuple[str, list[str], LookupFailed | None]:
        name = f"{selector}._domainkey.{domain}"
        try:
            records = await client.records(name, "TXT")
        except LookupFailed as exc:
            return selector, [], exc
        keys = [
            r for r in records if re.search(r"(^|;)\s*p\s*=", r) or r.lower().startswith("v=dkim1")
        ]
        return selector, keys, None

    answers = await asyncio.gather(*(lookup(s) for s in selectors))
    found = [(s, r) for s, r, _ in answers if r]
    failures = [(s, exc) for s, _, exc in answers if exc is not None]
    if not found and failures:
        return RecordCheck(
            "DKIM",
            query,
            Severity.WARNING,
            f"Unknown: {len(failures)} of the {len(selectors)} selector lookups failed "
            f"({failures[0][1].reason}); whether a DKIM key is published cannot be told",
            advice="Check dns.nameservers, the network, or try again later.",
            unknown=True,
        )
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
    # Each selector's key judged as a receiver would (one record per selector is used).
    judged = [(s, parse_dkim_key(records[0])) for s, records in found]
    listed = tuple(f"{s}: {records[0][:120]}" for s, records in found)
    described = "; ".join(f"{s}: {key.description}" for s, key in judged)
    if all(key.revoked for _, key in judged):
        return RecordCheck(
            "DKIM",
            query,
            Severity.WARNING,
            f"The DKIM key at {', '.join(s for s, _ in judged)} is revoked (empty p=)",
            listed,
        )
    worst = min((key.severity for _, key in judged if not key.revoked), key=lambda s: s.rank)
    if worst is Severity.INFO:
        return RecordCheck(
            "DKIM",
            query,
            Severity.INFO,
            f"DKIM key found at selector {', '.join(s for s, _ in found)} ({described})",
            listed,
        )
    return RecordCheck(
        "DKIM",
        query,
        worst,
        f"DKIM key records with problems: {described}",
        listed,
        advice="Publish the key your provider or signer gives you, whole (RSA of 2048 bits, "
        "or Ed25519), without t=y once signing works.",
    )
