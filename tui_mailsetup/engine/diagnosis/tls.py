"""TLS: STARTTLS not offered, failed or dropped handshakes, certificates and pins."""

from __future__ import annotations

import ssl

from tui_mailsetup.engine.diagnosis.common import FIX_465
from tui_mailsetup.engine.events import Diagnosis, Stage, TlsDetails
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.fixes import Fix
from tui_mailsetup.sanitize import untrusted_text


def starttls_not_offered(port: int, evidence: str) -> Diagnosis:
    return Diagnosis(
        stage=Stage.STARTTLS,
        cause="The server does not offer STARTTLS",
        evidence=evidence,
        explanation=(
            "encryption = starttls requires an encrypted connection, so the test stopped right "
            "after EHLO and nothing else was sent. Either the server needs implicit TLS (port "
            "465), or something between here and the server strips STARTTLS from its reply "
            "(a downgrade attack, or an antivirus/firewall that inspects SMTP)."
        ),
        fix=FIX_465 if port != 465 else None,
        exit_code=ExitCode.PROTOCOL,
    )


def tls_failed(stage: Stage, error: BaseException) -> Diagnosis:
    return Diagnosis(
        stage=stage,
        cause="The TLS handshake failed",
        evidence=untrusted_text(str(error) or type(error).__name__),
        explanation=(
            "Client and server could not agree on a secure connection: the server may only "
            "support outdated TLS versions (below 1.2) or ciphers, or it is not speaking TLS."
        ),
        exit_code=ExitCode.PROTOCOL,
    )


def certificate_rejected(
    stage: Stage, error: ssl.SSLCertVerificationError, details: TlsDetails | None, host: str
) -> Diagnosis:
    message = str(getattr(error, "verify_message", "") or error)
    code = getattr(error, "verify_code", None)
    lowered = message.lower()
    # ``details`` come from a second connection made after the failure (the failed
    # handshake leaves no certificate behind): it is the certificate seen *now*.
    # Where the failure says something checkable about the certificate, compare.
    differs = _inspected_differs(code, lowered, details)
    fingerprint = details.fingerprint_sha256 if details and not differs else ""
    pin = (
        Fix(
            "pin the fingerprint of the certificate the server shows now",
            {"smtp.fingerprint": fingerprint},
        )
        if fingerprint
        else None
    )
    shown = (
        f" (SHA-256 {fingerprint}, fetched again on a second connection just now)"
        if fingerprint
        else ""
    )
    if differs:
        shown = (
            " (not offered here: the certificate fetched again on a second connection does "
            "not match what the failed handshake reported, so something on the path may be "
            "swapping certificates)"
        )
    evidence = untrusted_text(f"{message} (verify code {code})" if code is not None else message)
    if code == 10 or "expired" in lowered:
        return Diagnosis(
            stage=stage,
            cause="The server's certificate has expired",
            evidence=evidence
            + (f"; valid until {details.not_after}" if details and details.not_after else ""),
            explanation=(
                "The certificate's validity ended; the server's administrator must renew it. "
                "Check this machine's clock too. Verification is never switched off silently."
            ),
            exit_code=ExitCode.PROTOCOL,
        )
    if code == 62 or "hostname mismatch" in lowered or "ip address mismatch" in lowered:
        names = [
            san.split(":", 1)[1]
            for san in (details.sans if details else ())
            if san.startswith("DNS:")
        ]
        fix = None
        if names and not names[0].startswith("*"):
            fix = Fix(
                f"connect to {names[0]}, the name on the certificate", {"smtp.host": names[0]}
            )
        return Diagnosis(
            stage=stage,
            cause=f"The certificate is not valid for {untrusted_text(host)}",
            evidence=evidence + (f"; certificate names: {', '.join(names)}" if names else ""),
            explanation=(
                "smtp.host must be a name the certificate lists; providers often publish a "
                "different host name for the relay than the one behind an alias or IP address."
            ),
            fix=fix,
            exit_code=ExitCode.PROTOCOL,
        )
    if code in (18, 19) or "self-signed" in lowered or "self signed" in lowered:
        cause = "The server's certificate is self-signed"
    else:
        cause = "The server's certificate is issued by an unknown authority"
    return Diagnosis(
        stage=stage,
        cause=cause,
        evidence=evidence,
        explanation=(
            "This machine does not trust who signed the certificate. For a private authority set "
            "smtp.ca_file to its CA certificate (PEM); for a self-signed server, pin the "
            f"certificate's fingerprint{shown} after checking it with the server's administrator."
        ),
        fix=pin,
        exit_code=ExitCode.PROTOCOL,
    )


def _inspected_differs(code: int | None, lowered: str, details: TlsDetails | None) -> bool:
    """Whether the re-fetched certificate contradicts the verification failure.

    Only "self-signed" says something checkable about the leaf (subject is its
    own issuer); other failures cannot be compared without the failed certificate.
    """
    if details is None or not details.subject or not details.issuer:
        return False
    if code == 18 or ("self-signed certificate" in lowered and "chain" not in lowered):
        return details.subject != details.issuer
    return False


def pin_mismatch(stage: Stage, expected: str, actual: str) -> Diagnosis:
    return Diagnosis(
        stage=stage,
        cause="The server's certificate does not match the pinned fingerprint",
        evidence=f"expected {expected}, got {actual}",
        explanation=(
            "Either the server's certificate was replaced (renewed), or someone is intercepting "
            "the connection. Confirm the new fingerprint with the server's administrator before "
            "pinning it."
        ),
        exit_code=ExitCode.PROTOCOL,
    )


def bad_fingerprint(value: str, reason: str) -> Diagnosis:
    return Diagnosis(
        stage=Stage.CONFIG,
        cause="smtp.fingerprint is malformed",
        evidence=untrusted_text(f"{value}: {reason}", limit=300),
        explanation=(
            "A pinned fingerprint replaces certificate verification, so a value that cannot be "
            "compared is refused before connecting. Copy it from "
            "`openssl x509 -noout -fingerprint -sha256`, or clear it."
        ),
        fix=Fix("clear the pinned fingerprint", {"smtp.fingerprint": ""}),
        exit_code=ExitCode.CONFIG,
    )


def tls_dropped(stage: Stage, detail: str) -> Diagnosis:
    """The server hung up in the middle of the TLS handshake: a TLS failure, not a timeout."""
    return Diagnosis(
        stage=stage,
        cause="The TLS handshake failed: the server closed the connection during it",
        evidence=untrusted_text(detail) if detail else "connection closed during the handshake",
        explanation=(
            "A server that drops the connection instead of completing the handshake usually "
            "supports only TLS versions this client refuses (TLS 1.0 or 1.1; at least 1.2 is "
            "required) or no cipher in common. Upgrade the server's TLS configuration; "
            "encryption is never switched off to get around it."
        ),
        exit_code=ExitCode.PROTOCOL,
    )
