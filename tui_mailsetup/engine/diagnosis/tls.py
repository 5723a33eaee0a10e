"""TLS: STARTTLS not offered, failed or dropped handshakes, certificates and pins."""

from __future__ import annotations

import ssl

from tui_mailsetup.engine.diagnosis.common import FIX_465
from tui_mailsetup.engine.events import Diagnosis, Stage, TlsDetails
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.fixes import Fix
from tui_mailsetup.ports import IMPLICIT_TLS_PORTS
from tui_mailsetup.sanitize import untrusted_text


def starttls_not_offered(port: int, evidence: str, tls_port_answer: str | None = None) -> Diagnosis:
    """``tls_port_answer``: what a TLS handshake on the implicit-TLS port found, when one was
    tried and it answered. The port change is offered only then: a fix that was not seen to
    work is not offered as one."""
    explanation = (
        "encryption = starttls requires an encrypted connection, so the test stopped right "
        "after EHLO and nothing else was sent. Either the server needs implicit TLS (port "
        "465), or something between here and the server strips STARTTLS from its reply "
        "(a downgrade attack, or an antivirus/firewall that inspects SMTP)."
    )
    fix = None
    if port not in IMPLICIT_TLS_PORTS:
        if tls_port_answer:
            explanation += f" Tried from here: {tls_port_answer}."
            fix = FIX_465
        else:
            explanation += (
                " Port 465 of this server did not answer a TLS handshake from here either, so "
                "no port change is offered: ask the provider which port and encryption to use."
            )
    return Diagnosis(
        stage=Stage.STARTTLS,
        cause="The server does not offer STARTTLS",
        evidence=evidence,
        explanation=explanation,
        fix=fix,
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
    stage: Stage,
    error: ssl.SSLCertVerificationError,
    details: TlsDetails | None,
    host: str,
    port: int | None = None,
) -> Diagnosis:
    message = str(getattr(error, "verify_message", "") or error)
    code = getattr(error, "verify_code", None)
    lowered = message.lower()
    # ``details`` come from a second connection made after the failure (the failed
    # handshake leaves no certificate behind): it is the certificate seen *now*.
    # Where the failure says something checkable about the certificate, compare.
    differs = _inspected_differs(code, lowered, details)
    fingerprint = details.fingerprint_sha256 if details and not differs else ""
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
        return _wrong_name(stage, host, evidence, details)
    if _self_signed_leaf(code, lowered, details) and not differs:
        return _self_signed(stage, evidence, fingerprint)
    if differs:
        return Diagnosis(
            stage=stage,
            cause="The server's certificate is self-signed",
            evidence=evidence,
            explanation=(
                "This machine does not trust the certificate, and no pin is offered: the "
                "certificate fetched again on a second connection does not match what the "
                "failed handshake reported, so something on the path may be swapping "
                "certificates. Ask the server's administrator for its fingerprint."
            ),
            exit_code=ExitCode.PROTOCOL,
        )
    return _unknown_authority(stage, evidence, details, host, port)


def _self_signed_leaf(code: int | None, lowered: str, details: TlsDetails | None) -> bool:
    """The leaf signs itself (OpenSSL's code 18), as opposed to a chain that ends in an
    authority this machine does not know (19, 20, 21): only then is a pin the right fix."""
    if code == 18 or ("self-signed certificate" in lowered and "chain" not in lowered):
        return True
    if code in (2, 19, 20, 21):
        return False
    return details is not None and bool(details.subject) and details.subject == details.issuer


def _self_signed(stage: Stage, evidence: str, fingerprint: str) -> Diagnosis:
    shown = (
        f" Its SHA-256 fingerprint is {fingerprint} (fetched again on a second connection "
        "just now)."
        if fingerprint
        else ""
    )
    return Diagnosis(
        stage=stage,
        cause="The server's certificate is self-signed",
        evidence=evidence,
        explanation=(
            "The certificate signs itself, so no authority vouches for it. Pin its fingerprint "
            "after checking it with the server's administrator (for instance from "
            "`openssl x509 -noout -fingerprint -sha256` on the server)." + shown
        ),
        fix=Fix(
            "pin the fingerprint of the certificate the server shows now",
            {"smtp.fingerprint": fingerprint},
        )
        if fingerprint
        else None,
        exit_code=ExitCode.PROTOCOL,
    )


def _unknown_authority(
    stage: Stage, evidence: str, details: TlsDetails | None, host: str, port: int | None
) -> Diagnosis:
    """A chain that ends in a private CA: trusting the authority (smtp.ca_file) keeps working
    when the certificate is renewed; a pin of the leaf would break at the next renewal."""
    from tui_mailsetup.paths import ca_file_suggestion

    path = str(ca_file_suggestion(host))
    issuer = untrusted_text(details.issuer) if details and details.issuer else ""
    who = f" ({issuer})" if issuer else ""
    starttls = " -starttls smtp" if stage is Stage.STARTTLS else ""
    target = f"{untrusted_text(host)}:{port}" if port else f"{untrusted_text(host)}:PORT"
    return Diagnosis(
        stage=stage,
        cause="The server's certificate is issued by an unknown authority",
        evidence=evidence,
        explanation=(
            f"This machine does not trust the authority that signed the certificate{who}: "
            "usually a company's private CA. Trust that authority with smtp.ca_file (it keeps "
            "working when the certificate is renewed; pinning the certificate would not). "
            "Get the CA certificate (PEM) from the server's administrator, or copy the last "
            f"certificate that `openssl s_client -connect {target}{starttls} -showcerts` "
            f"prints when the server sends its chain, and save it as {path}."
        ),
        fix=Fix(f"trust the authority: save its certificate as {path}", {"smtp.ca_file": path}),
        exit_code=ExitCode.PROTOCOL,
    )


def _wrong_name(stage: Stage, host: str, evidence: str, details: TlsDetails | None) -> Diagnosis:
    names = [
        san.split(":", 1)[1] for san in (details.sans if details else ()) if san.startswith("DNS:")
    ]
    relay_names = [name for name in names if _same_organisation(name, host)]
    fix = None
    if relay_names:
        fix = Fix(
            f"connect to {relay_names[0]}, the name on the certificate",
            {"smtp.host": relay_names[0]},
        )
    explanation = (
        "smtp.host must be a name the certificate lists; providers often publish a "
        "different host name for the relay than the one behind an alias or IP address."
    )
    if names and not relay_names:
        explanation += (
            " None of the certificate's names belongs to the domain of "
            f"{untrusted_text(host)}, so none is offered: use one only if the relay's "
            "administrator confirms it is this relay (a certificate for another domain can "
            "also mean the connection is being intercepted)."
        )
    return Diagnosis(
        stage=stage,
        cause=f"The certificate is not valid for {untrusted_text(host)}",
        evidence=evidence
        + (f"; certificate names: {untrusted_text(', '.join(names))}" if names else ""),
        explanation=explanation,
        fix=fix,
        exit_code=ExitCode.PROTOCOL,
    )


def _same_organisation(name: str, host: str) -> bool:
    """Whether a certificate's name belongs to the configured relay's own domain
    (``mail.acme.co.uk`` for ``smtp.acme.co.uk``), by the Public Suffix List. A wildcard is
    no host to connect to, and an address literal has no domain to compare."""
    from tui_mailsetup.names import is_ip_literal

    if name.startswith("*") or not host or is_ip_literal(host.strip("[]")):
        return False
    from tui_mailsetup.engine.dmarc import organizational_domain

    try:
        return organizational_domain(name) == organizational_domain(host)
    except (ValueError, UnicodeError):
        return False


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
