"""MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) of a domain.

The ``_mta-sts`` TXT record is checked for its syntax and ``id``; the policy is
fetched from ``https://mta-sts.<domain>/.well-known/mta-sts.txt`` by
:mod:`.fetch` with certificate verification (the system trust store, or
``SSL_CERT_FILE``), the name resolved through the run's own resolver, no
redirects followed; its ``version``, ``mode`` and ``max_age`` are checked and
every MX must match one of its ``mx`` patterns.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from tui_mailsetup.engine.checks import RecordCheck, txt_records
from tui_mailsetup.engine.dns_client import DnsClient
from tui_mailsetup.engine.fetch import FetchFailed, https_get, verified_context
from tui_mailsetup.findings import Severity

POLICY_PATH = "/.well-known/mta-sts.txt"
MAX_POLICY_BYTES = 64 * 1024
MAX_AGE_LIMIT = 31557600
_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")


def _tags(text: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            tags[name.strip().lower()] = value.strip()
    return tags


@dataclass
class Policy:
    version: str = ""
    mode: str = ""
    max_age: str = ""
    mx: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse_policy(text: str) -> Policy:
    policy = Policy()
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            policy.errors.append(f"{line[:60]!r} is not a key: value line")
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "mx":
            policy.mx.append(value.lower().rstrip("."))
        elif key in ("version", "mode", "max_age"):
            setattr(policy, key, value)
    if policy.version != "STSv1":
        policy.errors.append(f"version is {policy.version or 'missing'}, not STSv1")
    if policy.mode not in ("enforce", "testing", "none"):
        policy.errors.append(f"mode is {policy.mode or 'missing'}, not enforce, testing or none")
    if not re.fullmatch(r"\d{1,10}", policy.max_age) or int(policy.max_age) > MAX_AGE_LIMIT:
        policy.errors.append(
            f"max_age is {policy.max_age or 'missing'}, not a number of seconds up to {MAX_AGE_LIMIT}"
        )
    if policy.mode in ("enforce", "testing") and not policy.mx:
        policy.errors.append("no mx: line, so no mail exchanger is allowed")
    return policy


def mx_matches(host: str, pattern: str) -> bool:
    """RFC 8461 §4.1: exact, or ``*.example.net`` for exactly one more label."""
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        label, _, rest = host.partition(".")
        return bool(label) and rest == pattern[2:]
    return host == pattern


class PolicyUnusable(Exception):
    """The policy could not be had: ``unknown`` when that says nothing about the domain
    (the name server or the web server did not answer in time)."""

    def __init__(self, message: str, *, unknown: bool = False) -> None:
        super().__init__(message)
        self.unknown = unknown


async def fetch_policy(domain: str, client: DnsClient, base_url: str = "") -> str:
    """The policy text, fetched by :func:`~tui_mailsetup.engine.fetch.https_get` with no
    redirect followed. ``base_url`` (``dns.https_base_url``) replaces the address connected
    to, for tests; the certificate is still verified for ``mta-sts.<domain>``."""
    host = f"mta-sts.{domain}"
    url = f"https://{host}{POLICY_PATH}"
    try:
        context = await asyncio.to_thread(verified_context)
        fetched = await https_get(
            url,
            resolve=client.addresses,
            context=context,
            limit=max(0.1, client.remaining()),
            follow_redirects=False,
            max_body=MAX_POLICY_BYTES,
            truncate=True,
            connect_to=base_url,
        )
    except FetchFailed as exc:
        if exc.timed_out:
            raise PolicyUnusable(f"fetching {url} timed out", unknown=True) from exc
        if exc.dns_failed:
            raise PolicyUnusable(f"{host} could not be resolved: {exc}", unknown=True) from exc
        if exc.unresolved:
            raise PolicyUnusable(
                f"{host} does not resolve, so the policy cannot be fetched"
            ) from exc
        if exc.certificate:
            raise PolicyUnusable(
                f"the certificate of https://{host} is not valid for {host}: {exc}"
            ) from exc
        raise PolicyUnusable(f"{url} could not be fetched: {exc}") from exc
    except TimeoutError as exc:
        raise PolicyUnusable(f"fetching {url} timed out", unknown=True) from exc
    if fetched.status != 200:
        raise PolicyUnusable(
            f"{url} answered HTTP {fetched.status}, not 200"
            + (" (redirects are not followed, RFC 8461 §3.3)" if fetched.is_redirect else "")
        )
    if fetched.content_type != "text/plain":
        raise PolicyUnusable(
            f"the policy is served as {fetched.content_type or 'no type'}, not text/plain"
        )
    return fetched.body.decode("utf-8", errors="replace")


async def check_mta_sts(
    domain: str, client: DnsClient, mx_hosts: list[str] | None, base_url: str = ""
) -> RecordCheck:
    """``mx_hosts``: the domain's MX names (None when their lookup failed)."""
    name = f"_mta-sts.{domain}"
    query = f"{name} TXT"
    records = await txt_records(client, "MTA-STS", name, query, lambda r: r.startswith("v=STSv1"))
    if isinstance(records, RecordCheck):
        return records
    if not records:
        # MTA-STS protects mail coming in to the domain; its absence does not hurt sending.
        return RecordCheck(
            "MTA-STS",
            query,
            Severity.INFO,
            "No MTA-STS policy (optional: it protects mail coming in to this domain from downgrade attacks)",
        )
    if len(records) > 1:
        return RecordCheck(
            "MTA-STS",
            query,
            Severity.ERROR,
            "Several MTA-STS records: senders treat that as no policy (RFC 8461 §3.1)",
            tuple(records),
            advice="Keep exactly one.",
        )
    tags = _tags(records[0])
    if not _ID.fullmatch(tags.get("id", "")):
        return RecordCheck(
            "MTA-STS",
            query,
            Severity.ERROR,
            "The MTA-STS record has no valid id= (1 to 32 letters and digits), so senders ignore it",
            tuple(records),
            advice=f'Publish "v=STSv1; id=YYYYMMDDNN" at {name} and change the id with each policy change.',
        )
    query += f", https://mta-sts.{domain}{POLICY_PATH}"
    try:
        text = await fetch_policy(domain, client, base_url)
    except PolicyUnusable as exc:
        if exc.unknown:
            return RecordCheck(
                "MTA-STS",
                query,
                Severity.WARNING,
                f"Unknown: the policy could not be fetched ({exc})",
                tuple(records),
                unknown=True,
            )
        return RecordCheck(
            "MTA-STS",
            query,
            Severity.ERROR,
            f"MTA-STS is announced but the policy is unusable: {exc}",
            tuple(records),
            advice=f"Serve the policy as text/plain at https://mta-sts.{domain}{POLICY_PATH} "
            "with a certificate valid for that name, or remove the TXT record.",
        )
    policy = parse_policy(text)
    shown = (*records, *[line for line in text.splitlines() if line.strip()][:12])
    if policy.errors:
        return RecordCheck(
            "MTA-STS",
            query,
            Severity.ERROR,
            "The MTA-STS policy is invalid: " + "; ".join(policy.errors),
            shown,
        )
    if mx_hosts is None:
        return RecordCheck(
            "MTA-STS",
            query,
            Severity.WARNING,
            f"Unknown: MTA-STS policy mode {policy.mode}, but the MX lookup failed, so the mx patterns could not be matched",
            shown,
            unknown=True,
        )
    unmatched = [h for h in mx_hosts if not any(mx_matches(h, p) for p in policy.mx)]
    if unmatched and policy.mode != "none":
        return RecordCheck(
            "MTA-STS",
            query,
            Severity.ERROR if policy.mode == "enforce" else Severity.WARNING,
            f"MTA-STS policy mode {policy.mode}: the MX {', '.join(unmatched)} matches no mx pattern "
            f"({', '.join(policy.mx)}), so senders {'refuse to deliver to it' if policy.mode == 'enforce' else 'report failures for it'}",
            shown,
            advice="Add an mx: line for each mail exchanger to the policy, and change the TXT id.",
        )
    return RecordCheck(
        "MTA-STS",
        query,
        Severity.INFO,
        f"MTA-STS policy mode {policy.mode}, max_age {policy.max_age} s, every MX matches",
        shown,
    )


async def check_tls_rpt(domain: str, client: DnsClient) -> RecordCheck:
    name = f"_smtp._tls.{domain}"
    query = f"{name} TXT"
    ignored: list[str] = []

    def keep(text: str) -> bool:
        # RFC 8460 §3: %s"v=TLSRPTv1", case-sensitive; anything else is discarded.
        if re.match(r"(?i)v\s*=\s*tlsrptv1\s*(;|$)", text) and not text.startswith("v=TLSRPTv1"):
            ignored.append(text)
        return re.match(r"v=TLSRPTv1\s*(;|$)", text) is not None

    records = await txt_records(client, "TLS-RPT", name, query, keep)
    if isinstance(records, RecordCheck):
        return records
    if not records and ignored:
        return RecordCheck(
            "TLS-RPT",
            query,
            Severity.WARNING,
            f"{ignored[0][:40]!r} is not a TLS-RPT record: senders ignore it (RFC 8460 §3: the "
            "version must be exactly v=TLSRPTv1), so no TLS reports are sent",
            tuple(ignored),
            advice='Write the version exactly as "v=TLSRPTv1".',
        )
    if not records:
        return RecordCheck(
            "TLS-RPT",
            query,
            Severity.INFO,
            "No TLS-RPT record (optional: senders report TLS failures to the address it names)",
        )
    if len(records) > 1:
        return RecordCheck(
            "TLS-RPT",
            query,
            Severity.ERROR,
            "Several TLS-RPT records: senders ignore them all (RFC 8460 §3)",
            tuple(records),
        )
    tags = _tags(records[0])
    uris = [u.strip() for u in tags.get("rua", "").split(",") if u.strip()]
    bad = [
        u for u in uris if not re.fullmatch(r"(?i)(mailto:[^@\s]+@[A-Za-z0-9.\-]+|https://\S+)", u)
    ]
    if len(bad) == len(uris):
        return RecordCheck(
            "TLS-RPT",
            query,
            Severity.ERROR,
            "The TLS-RPT record needs rua= with mailto: or https: addresses"
            + (f"; not valid: {', '.join(bad)}" if bad else ""),
            tuple(records),
        )
    if bad:
        # Senders report to the valid addresses and skip the others (RFC 8460 §3).
        good = [u for u in uris if u not in bad]
        return RecordCheck(
            "TLS-RPT",
            query,
            Severity.WARNING,
            f"TLS reports go to {', '.join(good)}; senders skip {', '.join(bad)} "
            "(not a mailto: or https: address)",
            tuple(records),
            advice="Remove or correct the addresses senders skip.",
        )
    return RecordCheck(
        "TLS-RPT", query, Severity.INFO, f"TLS reports go to {', '.join(uris)}", tuple(records)
    )
