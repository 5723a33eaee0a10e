"""Authentication and the envelope, before or around a reply: no password, AUTH not offered,
a mechanism missing, an endless exchange; addresses that cannot be sent."""

from __future__ import annotations

from tui_mailsetup.engine.diagnosis.common import FIX_STARTTLS
from tui_mailsetup.engine.events import Diagnosis, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.fixes import Fix
from tui_mailsetup.sanitize import untrusted_text


def plaintext_auth_refused() -> Diagnosis:
    return Diagnosis(
        stage=Stage.AUTH,
        cause="Refusing to send credentials over an unencrypted connection",
        evidence="encryption = none and allow_plaintext_auth = false",
        explanation=(
            "Anyone on the path could read the password. Use STARTTLS or implicit TLS; only for a "
            "trusted relay on this machine or network set smtp.allow_plaintext_auth = true."
        ),
        fix=FIX_STARTTLS,
        exit_code=ExitCode.CONFIG,
    )


def no_password(username: str) -> Diagnosis:
    return Diagnosis(
        stage=Stage.AUTH,
        cause=f"No password is configured for {untrusted_text(username)}",
        evidence="smtp.username is set but no secret source has smtp.password",
        explanation=(
            "Store it with: tui-mailsetup set-secret smtp.password (or set "
            "MAILSETUP_SMTP__PASSWORD, or smtp.password_command)."
        ),
        exit_code=ExitCode.CONFIG,
    )


def auth_not_offered(encrypted: bool, evidence: str) -> Diagnosis:
    return Diagnosis(
        stage=Stage.AUTH,
        cause="The server does not offer authentication (no AUTH in its EHLO reply)",
        evidence=evidence,
        explanation=(
            "Many servers only offer AUTH inside TLS; this one did not offer it here. It may be a "
            "relay that authorises by IP address (then clear smtp.username), or the wrong port."
            if encrypted
            else "Servers offer AUTH only after STARTTLS; use encryption = starttls or tls."
        ),
        fix=None if encrypted else FIX_STARTTLS,
        exit_code=ExitCode.NOPERM,
    )


def mechanism_unavailable(wanted: str, offered: tuple[str, ...]) -> Diagnosis:
    offered_text = untrusted_text(" ".join(offered), limit=200) or "none"
    usable = [m for m in ("CRAM-MD5", "PLAIN", "LOGIN", "XOAUTH2") if m in offered]
    return Diagnosis(
        stage=Stage.AUTH,
        cause=f"The server does not offer the {untrusted_text(wanted, limit=40)} mechanism",
        evidence=f"offered: {offered_text}",
        explanation="Only one mechanism is ever tried, so that a wrong password cannot lock the account.",
        fix=Fix("let the program choose (auth = auto)", {"smtp.auth": "auto"}) if usable else None,
        exit_code=ExitCode.NOPERM,
    )


def needs_smtputf8(evidence: str) -> Diagnosis:
    return Diagnosis(
        stage=Stage.MAIL,
        cause="An address is not ASCII but the server does not support SMTPUTF8",
        evidence=evidence,
        explanation="Use an ASCII address (or the punycode form of its domain) with this server.",
        exit_code=ExitCode.DATAERR,
    )


def bad_address(stage: Stage, address: str, reason: str) -> Diagnosis:
    return Diagnosis(
        stage=stage,
        cause=f"The address {untrusted_text(address)!r} cannot be used in an SMTP command",
        evidence=untrusted_text(reason),
        exit_code=ExitCode.DATAERR,
    )


def no_sender() -> Diagnosis:
    return Diagnosis(
        stage=Stage.MAIL,
        cause="No sender address is configured (sender.address)",
        evidence="sender.address is empty",
        exit_code=ExitCode.CONFIG,
    )


def auth_exchange_endless(mechanism: str, evidence: str) -> Diagnosis:
    """334 after the client's last AUTH response: cancelled with ``*`` (RFC 4954 4)."""
    return Diagnosis(
        stage=Stage.AUTH,
        cause=(
            f"The server did not end the AUTH {mechanism} exchange: it kept asking (334) "
            "after the last response, so the exchange was cancelled with *"
        ),
        evidence=evidence,
        explanation=(
            "A server answers the client's final AUTH response with 235 (accepted) or an "
            "error; another 334 challenge is a protocol error, not a rejected password. The "
            "client cancelled the exchange as RFC 4954 prescribes (a line with *) before "
            "quitting. Check the server's SASL configuration or choose another mechanism."
        ),
        exit_code=ExitCode.PROTOCOL,
    )
