"""Probing a detection candidate: does this host and port speak SMTP with the encryption claimed?

One run of the engine's own ladder (:func:`tui_mailsetup.engine.smtp.run_smtp`)
without a username and without a message: connect, TLS (implicit) or
greeting, EHLO, STARTTLS, EHLO again, QUIT. Never AUTH, never MAIL. The
certificate is verified (system trust store plus ``smtp.ca_file``), and the
host name is resolved by the detection's resolver, not the system's.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import dns.asyncresolver

from tui_mailsetup.engine.dns_client import LookupFailed, resolve_addresses
from tui_mailsetup.engine.events import Outcome, Stage, TlsDetails
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import Encryption, MailSettings


class Verdict(StrEnum):
    VERIFIED = "verified"
    """SMTP answered and TLS is up with a verified certificate."""
    UNVERIFIED = "unverified"
    """SMTP answered, but the certificate was not trusted (or there is no TLS at all)."""
    FAILED = "failed"
    """No SMTP with that encryption there: no address, no connection, no STARTTLS, …"""
    NOT_PROBED = "not-probed"


@dataclass(frozen=True)
class ProbeResult:
    verdict: Verdict
    stage: str
    """The last stage reached, or the one that failed ("resolve", "connect", "starttls", …)."""
    elapsed: float
    detail: str
    """What happened, for a person: "TLSv1.3, verified", "connection refused"."""
    dns_failed: bool = False
    """The host's lookup failed (timeout, SERVFAIL): unknown, not absent."""
    exit_code: int = 0
    """What ``check`` would exit with for the same failure (76 for a protocol fault, …)."""

    @property
    def answered(self) -> bool:
        """Something answered at the address: the failure came after the TCP connection
        (TLS, greeting, EHLO, STARTTLS), not from a name that does not resolve or a port
        where nothing listens."""
        if self.verdict is Verdict.UNVERIFIED:
            return True
        try:
            stage = Stage(self.stage)
        except ValueError:
            return False
        return stage.order > Stage.CONNECT.order

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "stage": self.stage,
            "elapsed": round(self.elapsed, 3),
            "detail": self.detail,
            "exit_code": self.exit_code,
        }


NOT_PROBED = ProbeResult(Verdict.NOT_PROBED, "", 0.0, "not probed")


async def probe(
    host: str,
    port: int,
    encryption: Encryption,
    *,
    resolver: dns.asyncresolver.Resolver,
    limit: float,
    ca_file: str = "",
    addresses: list[str] | None = None,
    context: ssl.SSLContext | None = None,
) -> ProbeResult:
    """Try ``host:port`` with ``encryption``; never raises for a network failure.

    ``context``: a :func:`~tui_mailsetup.engine.fetch.verified_context` for
    ``ca_file``, shared between probes (built here otherwise).
    """
    from tui_mailsetup.engine.smtp import run_smtp

    started = time.monotonic()
    if addresses is None:
        try:
            addresses = await resolve_addresses(resolver, host)
        except LookupFailed as exc:
            return ProbeResult(
                Verdict.FAILED,
                Stage.RESOLVE.value,
                time.monotonic() - started,
                f"lookup failed: {exc}",
                dns_failed=True,
                exit_code=ExitCode.TEMPFAIL,
            )
    if not addresses:
        return ProbeResult(
            Verdict.FAILED,
            Stage.RESOLVE.value,
            time.monotonic() - started,
            f"{host} does not resolve",
            exit_code=ExitCode.UNAVAILABLE,
        )
    settings = MailSettings(
        smtp={
            "host": host,
            "port": port,
            "encryption": encryption,
            "timeout": max(0.1, limit),
            "ca_file": ca_file,
            "verify": True,
        }
    )
    tls_details: TlsDetails | None = None
    outcome: Outcome | None = None
    async for event in run_smtp(settings, None, None, [], addresses=addresses, tls_context=context):
        if isinstance(event, TlsDetails):
            tls_details = event
        elif isinstance(event, Outcome):
            outcome = event
    elapsed = time.monotonic() - started
    if outcome is None:  # pragma: no cover - run_smtp always ends with an Outcome
        return ProbeResult(Verdict.FAILED, "", elapsed, "no outcome")
    if outcome.ok:
        if encryption is Encryption.NONE:
            return ProbeResult(
                Verdict.UNVERIFIED,
                outcome.stage.value,
                elapsed,
                "plain text only (no encryption)",
                exit_code=ExitCode.PROTOCOL,
            )
        version = tls_details.version if tls_details else "TLS"
        return ProbeResult(
            Verdict.VERIFIED, outcome.stage.value, elapsed, f"{version}, certificate verified"
        )
    diagnosis = outcome.diagnosis
    # Detection prints it beside the candidate and in its own cause: one line, terminal-safe
    # (a cause may quote a certificate's names or a reply).
    cause = untrusted_text(diagnosis.cause) if diagnosis else "failed"
    certificate = (
        diagnosis is not None
        and diagnosis.exit_code == ExitCode.PROTOCOL
        and outcome.stage in (Stage.TLS, Stage.STARTTLS)
        and tls_details is not None
        and not tls_details.verified
    )
    return ProbeResult(
        Verdict.UNVERIFIED if certificate else Verdict.FAILED,
        outcome.stage.value,
        elapsed,
        cause,
        # The diagnosis's fix is not carried: it is advice for a configuration (a pin, another
        # encryption), and detection must not talk anyone into adopting a failed server.
        exit_code=diagnosis.exit_code if diagnosis else ExitCode.PROTOCOL,
    )
