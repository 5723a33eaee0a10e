"""An MTA's delivery report, diagnosed by the SMTP engine's own rules.

Postfix writes why a delivery was deferred or bounced as text ("SASL
authentication failed; server x[1.2.3.4] said: 535 5.7.8 …", "connect to
x[1.2.3.4]:587: Connection refused"); msmtp prints similar lines on
standard error. This module only recognises the shape of those texts and
hands the parts (stage, reply code, reply text, errno) to
:mod:`tui_mailsetup.engine.diagnosis`, so a deferred message is explained
exactly as a failed ``send-test`` would be.
"""

from __future__ import annotations

import errno
import re
import ssl

from tui_mailsetup.engine import diagnosis
from tui_mailsetup.engine.events import Diagnosis, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings

_COMMANDS: tuple[tuple[str, Stage], ...] = (
    ("end of data", Stage.DATA),
    ("data", Stage.DATA),
    ("rcpt", Stage.RCPT),
    ("mail", Stage.MAIL),
    ("starttls", Stage.STARTTLS),
    ("auth", Stage.AUTH),
    ("ehlo", Stage.EHLO),
    ("helo", Stage.EHLO),
    ("quit", Stage.QUIT),
)
_POSTFIX_SAID = re.compile(
    r"(?:host|server) (?P<host>\S+) (?:said|refused to talk to me): "
    r"(?P<code>[245]\d\d)(?:[ -](?P<text>.*?))?"
    r"(?: \(in reply to (?P<command>.+?) command\))?\s*$",
    re.DOTALL,
)
_POSTFIX_CONNECT = re.compile(
    r"connect to (?P<host>[^\[\s]*)\[(?P<address>[^\]]*)\]:(?P<port>\d+): (?P<error>.+)$"
)
_POSTFIX_WHILE = re.compile(
    r"(?P<what>lost connection|conversation) with (?P<host>\S+)(?: timed out)? while (?P<doing>.+)$"
)
_ERRNO_WORDS = {
    "connection refused": errno.ECONNREFUSED,
    "connection timed out": errno.ETIMEDOUT,
    "no route to host": errno.EHOSTUNREACH,
    "network is unreachable": errno.ENETUNREACH,
    "permission denied": errno.EACCES,
}
_MSMTP_SERVER_MESSAGE = re.compile(r"server message: (?P<code>[245]\d\d)(?:[ -](?P<text>.*))?$")
_MSMTP_CONNECT = re.compile(r"cannot connect to (?P<host>.+?), port (?P<port>\d+): (?P<error>.+)$")


def _stage_of_command(command: str) -> Stage:
    lowered = command.lower()
    for word, stage in _COMMANDS:
        if lowered.startswith(word):
            return stage
    return Stage.GREETING


def _connect_error(host: str, port: int, error_text: str) -> Diagnosis:
    code = _ERRNO_WORDS.get(error_text.strip().lower().rstrip("."), 0)
    error = OSError(code, error_text.strip()) if code else OSError(error_text.strip())
    return diagnosis.connect_failed(untrusted_text(host), port, error)


def _certificate(text: str, host: str) -> Diagnosis:
    error = ssl.SSLCertVerificationError(text)
    error.verify_message = text
    error.verify_code = 0
    return diagnosis.certificate_rejected(Stage.TLS, error, None, host)


def _generic(text: str, *, bounced: bool) -> Diagnosis:
    return Diagnosis(
        stage=Stage.SEND,
        cause=(
            "The mail system gave up on the message"
            if bounced
            else "The mail system deferred the message"
        ),
        evidence=untrusted_text(text),
        exit_code=ExitCode.UNAVAILABLE if bounced else ExitCode.TEMPFAIL,
    )


def postfix_reason(text: str, settings: MailSettings, *, bounced: bool = False) -> Diagnosis:
    """The diagnosis for Postfix's ``delay_reason`` / the ``status=… (reason)`` of its log."""
    text = text.strip()
    lowered = text.lower()
    if lowered.startswith("delivery temporarily suspended: "):
        return postfix_reason(text.split(": ", 1)[1], settings, bounced=bounced)
    if lowered.startswith("sasl authentication failed; cannot authenticate"):
        return Diagnosis(
            stage=Stage.AUTH,
            cause="Postfix has no SASL mechanism in common with the relay",
            evidence=untrusted_text(text),
            explanation=(
                "Postfix's SASL client (Cyrus SASL) needs its mechanism plug-ins: install the "
                "Debian package libsasl2-modules, then run: postfix reload"
            ),
            exit_code=ExitCode.NOPERM,
        )
    said = _POSTFIX_SAID.search(text)
    if said:
        code = int(said.group("code"))
        reply = (said.group("text") or "").strip()
        if lowered.startswith("sasl authentication failed"):
            stage = Stage.AUTH
        elif said.group("command"):
            stage = _stage_of_command(said.group("command"))
        else:
            stage = Stage.GREETING
        return diagnosis.from_reply(
            stage, code, reply, settings, authenticated=stage not in (Stage.AUTH, Stage.GREETING)
        )
    connect = _POSTFIX_CONNECT.search(text)
    if connect:
        return _connect_error(
            connect.group("host"), int(connect.group("port")), connect.group("error")
        )
    if "host or domain name not found" in lowered or "name service error" in lowered:
        return diagnosis.resolve_failed(settings.smtp.host or "the relay", Exception(text))
    if "tls is required, but was not offered" in lowered:
        return diagnosis.starttls_not_offered(settings.smtp.port, untrusted_text(text))
    if "certificate not verified" in lowered or "certificate verification failed" in lowered:
        return _certificate(text, settings.smtp.host)
    if "cannot start tls" in lowered or "tls handshake" in lowered:
        return diagnosis.tls_failed(Stage.TLS, Exception(text))
    during = _POSTFIX_WHILE.search(text)
    if during:
        doing = during.group("doing").lower()
        if "greeting" in doing:
            stage = Stage.GREETING
        elif "in reply to " in doing:
            stage = _stage_of_command(doing.split("in reply to ", 1)[1])
        elif "sending" in doing and "data" in doing:
            stage = Stage.DATA
        else:
            stage = Stage.SEND
        if during.group("what") == "lost connection":
            return diagnosis.dropped(stage, text)
        return Diagnosis(
            stage=stage,
            cause=f"The relay stopped answering during {stage.label}",
            evidence=untrusted_text(text),
            explanation="Postfix's own time limits (smtp_*_timeout) ran out waiting for the relay.",
            exit_code=ExitCode.TEMPFAIL,
        )
    return _generic(text, bounced=bounced)


def msmtp_output(output: str, returncode: int, settings: MailSettings) -> Diagnosis:
    """The diagnosis for msmtp's complaint (standard error) and exit status."""
    lines = [line.removeprefix("msmtp: ").strip() for line in output.splitlines() if line.strip()]
    joined = " ".join(lines)
    lowered = joined.lower()
    for line in lines:
        reply = _MSMTP_SERVER_MESSAGE.search(line)
        if reply:
            if "authentication failed" in lowered:
                stage = Stage.AUTH
            elif "envelope from" in lowered:
                stage = Stage.MAIL
            elif "recipient address" in lowered:
                stage = Stage.RCPT
            elif "did not accept the mail" in lowered:
                stage = Stage.DATA
            elif "starttls" in lowered:
                stage = Stage.STARTTLS
            else:
                stage = Stage.GREETING
            return diagnosis.from_reply(
                stage,
                int(reply.group("code")),
                (reply.group("text") or "").strip(),
                settings,
                authenticated=stage not in (Stage.AUTH, Stage.GREETING),
            )
    for line in lines:
        connect = _MSMTP_CONNECT.search(line)
        if connect:
            return _connect_error(
                connect.group("host"), int(connect.group("port")), connect.group("error")
            )
    if "certificate" in lowered and ("verif" in lowered or "trust" in lowered):
        return _certificate(joined, settings.smtp.host)
    if "does not support tls via the starttls" in lowered:
        return diagnosis.starttls_not_offered(settings.smtp.port, untrusted_text(joined))
    if "tls handshake failed" in lowered or "cannot start tls" in lowered:
        return diagnosis.tls_failed(Stage.TLS, Exception(joined))
    if "cannot locate host" in lowered:
        return diagnosis.resolve_failed(settings.smtp.host or "the relay", Exception(joined))
    known = {int(code) for code in ExitCode}
    return Diagnosis(
        stage=Stage.SEND,
        cause="msmtp could not send the message",
        evidence=untrusted_text(joined or f"exit status {returncode}"),
        exit_code=ExitCode(returncode) if returncode in known and returncode else ExitCode.TEMPFAIL,
    )
