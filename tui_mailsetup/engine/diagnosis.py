"""Every way an SMTP test can fail, mapped to a stage, a cause, the evidence and a fix.

Pure functions: they take what happened (a reply, an exception, the
settings) and return a :class:`Diagnosis`. The engine calls them; tests call
them directly for the cases a loopback server cannot produce (a firewall that
drops packets, SELinux). Evidence is always server text passed through
:func:`untrusted_text`; the engine's redactor runs over the result as well.
"""

from __future__ import annotations

import datetime as dt
import errno
import re
import ssl
import time
from typing import TYPE_CHECKING

from tui_mailsetup.engine.events import Diagnosis, Stage, TlsDetails
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.fixes import Fix
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings, OAuth2Flow

if TYPE_CHECKING:
    from tui_mailsetup.oauth2.providers import ProviderFacts

RATE_LIMIT_CODES = frozenset({421, 450, 451, 452})
DEFAULT_BACKOFF = 300.0
"""Seconds to wait after a rate limit whose reply names no time."""
MAX_BACKOFF = 24 * 3600.0

_FIX_TLS = Fix("use implicit TLS (encryption = tls)", {"smtp.encryption": "tls"})
_FIX_STARTTLS = Fix("use STARTTLS (encryption = starttls)", {"smtp.encryption": "starttls"})
_FIX_SUBMISSION = Fix(
    "use the submission port 587 with STARTTLS", {"smtp.port": 587, "smtp.encryption": "starttls"}
)
_FIX_465 = Fix("use implicit TLS on port 465", {"smtp.port": 465, "smtp.encryption": "tls"})


def evidence_of(code: int, message: str) -> str:
    """A reply as the server sent it (multi-line replies joined), sanitised."""
    lines = message.split("\n") if message else [""]
    return untrusted_text(" / ".join(f"{code} {line}".rstrip() for line in lines))


# --------------------------------------------------------------------------- before a reply


def resolve_failed(host: str, error: BaseException) -> Diagnosis:
    detail = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return Diagnosis(
        stage=Stage.RESOLVE,
        cause=f"The name {untrusted_text(host)} does not resolve",
        evidence=untrusted_text(detail),
        explanation=(
            "The DNS lookup for the server's name failed: a typo in smtp.host, a name that "
            "only exists on another network, or no working DNS resolver on this machine."
        ),
        exit_code=ExitCode.UNAVAILABLE,
    )


def bad_host(host: str, reason: str) -> Diagnosis:
    return Diagnosis(
        stage=Stage.RESOLVE,
        cause=f"smtp.host {untrusted_text(host)!r} is not a valid host name or address",
        evidence=untrusted_text(reason),
        exit_code=ExitCode.CONFIG,
    )


def connect_failed(host: str, port: int, error: OSError) -> Diagnosis:
    code = error.errno
    evidence = untrusted_text(f"{error.strerror or error} (errno {code})" if code else str(error))
    if isinstance(error, ConnectionRefusedError) or code == errno.ECONNREFUSED:
        return Diagnosis(
            stage=Stage.CONNECT,
            cause=f"Connection refused by {host} on port {port}",
            evidence=evidence,
            explanation=(
                "The machine answered, but nothing listens on that port (or a firewall rejects it). "
                "Check the port: 587 (STARTTLS) and 465 (implicit TLS) are the usual submission ports."
            ),
            exit_code=ExitCode.UNAVAILABLE,
        )
    if isinstance(error, PermissionError) or code in (errno.EACCES, errno.EPERM):
        return Diagnosis(
            stage=Stage.CONNECT,
            cause="Permission denied when connecting: a local security policy blocks outbound mail",
            evidence=evidence,
            explanation=(
                "The kernel refused the connection before any packet left. On SELinux systems a web "
                "server may not open mail connections until allowed: setsebool -P "
                "httpd_can_sendmail 1 (or httpd_can_network_connect 1). A local firewall "
                "(nftables/iptables owner rules) or AppArmor profile can do the same."
            ),
            exit_code=ExitCode.UNAVAILABLE,
        )
    if code in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
        return Diagnosis(
            stage=Stage.CONNECT,
            cause=f"{host} is unreachable from this machine",
            evidence=evidence,
            explanation="No route to the server: check the network, or whether the address is IPv6-only.",
            exit_code=ExitCode.UNAVAILABLE,
        )
    if isinstance(error, TimeoutError) or code == errno.ETIMEDOUT:
        return connect_timeout(host, port, evidence)
    return Diagnosis(
        stage=Stage.CONNECT,
        cause=f"Could not connect to {host} on port {port}",
        evidence=evidence,
        exit_code=ExitCode.UNAVAILABLE,
    )


def connect_timeout(host: str, port: int, evidence: str = "") -> Diagnosis:
    fix = None
    explanation = (
        "Nothing answered: a firewall is dropping the packets, or the host is down. "
        "Check outbound firewall rules for this port."
    )
    if port == 25:
        fix = _FIX_SUBMISSION
        explanation = (
            "Port 25 is blocked for outbound traffic by most cloud and residential providers "
            "(AWS, GCP, Azure, DigitalOcean, …). Relays accept authenticated submissions on "
            "587 (STARTTLS) or 2525."
        )
    return Diagnosis(
        stage=Stage.CONNECT,
        cause=f"Connection to {host} on port {port} timed out",
        evidence=evidence or "no answer to the connection attempt",
        explanation=explanation,
        fix=fix,
        exit_code=ExitCode.TEMPFAIL,
    )


def port_speaks_tls(port: int, evidence: str) -> Diagnosis:
    return Diagnosis(
        stage=Stage.GREETING,
        cause=f"Port {port} speaks implicit TLS: set encryption = tls",
        evidence=evidence,
        explanation=(
            "The server waits for a TLS handshake before it says anything, so a plain-text "
            "client hears nothing. Implicit TLS (often called SSL) is the norm on port 465."
        ),
        fix=_FIX_TLS,
        exit_code=ExitCode.PROTOCOL,
    )


def port_speaks_plain(port: int, evidence: str) -> Diagnosis:
    return Diagnosis(
        stage=Stage.TLS,
        cause=f"Port {port} speaks plain SMTP (STARTTLS), not implicit TLS: set encryption = starttls",
        evidence=evidence,
        explanation=(
            "The server greeted in plain text instead of answering the TLS handshake. Ports 587, "
            "25 and 2525 start in plain text and upgrade with STARTTLS."
        ),
        fix=_FIX_STARTTLS,
        exit_code=ExitCode.PROTOCOL,
    )


def no_greeting(port: int, received: str, timeout: float, *, probed: bool = True) -> Diagnosis:
    if probed:
        explanation = (
            "An SMTP server greets immediately. Silence usually means the port expects a TLS "
            "handshake first (implicit TLS), a proxy or firewall holds the connection, or the "
            "server is overloaded. The implicit-TLS probe on this port did not succeed either."
        )
    else:
        explanation = (
            "An SMTP server greets immediately. After the TLS handshake this one said nothing: "
            "a TLS-terminating proxy with nothing behind it, or an overloaded server."
        )
    return Diagnosis(
        stage=Stage.GREETING,
        cause=f"The server accepted the connection but sent no greeting within {timeout:g} s",
        evidence=received or "nothing received",
        explanation=explanation,
        exit_code=ExitCode.TEMPFAIL,
    )


def resolve_timeout(host: str, timeout: float) -> Diagnosis:
    return Diagnosis(
        stage=Stage.RESOLVE,
        cause=f"The DNS lookup for {untrusted_text(host)} did not answer within {timeout:g} s",
        evidence="no answer from the resolver",
        explanation=(
            "No connection was attempted: the name server this machine uses is unreachable or "
            "very slow (check /etc/resolv.conf, or resolvectl status), or a firewall drops DNS."
        ),
        exit_code=ExitCode.TEMPFAIL,
    )


def timed_out(stage: Stage, timeout: float, received: str = "") -> Diagnosis:
    return Diagnosis(
        stage=stage,
        cause=f"The server stopped answering during {stage.label} (timeout {timeout:g} s)",
        evidence=received or "no complete reply",
        explanation=(
            "The whole conversation has one deadline (smtp.timeout). A server that answers this "
            "slowly is overloaded, rate limiting, or something between here and there holds the "
            "connection."
        ),
        exit_code=ExitCode.TEMPFAIL,
    )


def dropped(stage: Stage, detail: str = "") -> Diagnosis:
    return Diagnosis(
        stage=stage,
        cause=f"The server closed the connection during {stage.label}",
        evidence=untrusted_text(detail) if detail else "connection closed without a reply",
        explanation=(
            "The server hung up without an SMTP reply: it may be rate limiting or blocking this "
            "client, or it crashed. Try again later; if it persists, ask the provider."
        ),
        exit_code=ExitCode.TEMPFAIL,
    )


def malformed_reply(stage: Stage, detail: str) -> Diagnosis:
    return Diagnosis(
        stage=stage,
        cause="The server's reply is not valid SMTP (malformed, or over the size limits)",
        evidence=untrusted_text(detail),
        explanation=(
            "Replies are limited to 8 KB a line and 32 KB in all. Something that is not an SMTP "
            "server (an HTTP server, a proxy) may be listening on this port."
        ),
        exit_code=ExitCode.PROTOCOL,
    )


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
        fix=_FIX_465 if port != 465 else None,
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


def plaintext_auth_refused() -> Diagnosis:
    return Diagnosis(
        stage=Stage.AUTH,
        cause="Refusing to send credentials over an unencrypted connection",
        evidence="encryption = none and allow_plaintext_auth = false",
        explanation=(
            "Anyone on the path could read the password. Use STARTTLS or implicit TLS; only for a "
            "trusted relay on this machine or network set smtp.allow_plaintext_auth = true."
        ),
        fix=_FIX_STARTTLS,
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
        fix=None if encrypted else _FIX_STARTTLS,
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


# --------------------------------------------------------------------------- replies


_RATE_TEXT = re.compile(
    r"\b(?:rate|rate[- ]limit(?:ed|ing)?|limit(?:ed|s)?|too many|throttl\w*|quota|exceeded"
    r"|try again later)\b",
    re.IGNORECASE,
)
"""Words that make a 4xx reply a rate limit (whole words: "generate" is not "rate")."""
_RATE_ONLY_TEXT = re.compile(
    r"\b(?:rate|rate[- ]limit(?:ed|ing)?|limit(?:ed|s)?|too many|throttl\w*|quota|exceeded)\b",
    re.IGNORECASE,
)
_DURATION = re.compile(
    # A number that stands alone ("in 10 minutes", "90s"), never the tail of a
    # token such as a queue id ("9f3e2a4h-77") or a status code ("4.7.1").
    r"(?<![\w.:-])(\d+(?:\.\d+)?)\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)(?![\w-])",
    re.IGNORECASE,
)


def explicit_retry_after(message: str, *, now: float | None = None) -> float | None:
    """Unix time the reply names (a timestamp, or "in 10 minutes"); None when it names none."""
    now = time.time() if now is None else now
    stamp = re.search(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:?\d{2})?", message)
    if stamp:
        try:
            moment = dt.datetime.fromisoformat(
                stamp.group().replace(" ", "T").replace("Z", "+00:00")
            )
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            value = moment.timestamp()
            if now < value <= now + MAX_BACKOFF:
                return value
        except ValueError:
            pass
    duration = _DURATION.search(message)
    if duration:
        amount = float(duration.group(1))
        unit = duration.group(2).lower()
        factor = 3600.0 if unit.startswith("h") else 60.0 if unit.startswith("m") else 1.0
        seconds = amount * factor
        if 0 < seconds <= MAX_BACKOFF:
            return now + seconds
    return None


def retry_after_from(message: str, *, now: float | None = None) -> float:
    """Unix time before which another attempt is pointless: the reply's, else a back-off."""
    now = time.time() if now is None else now
    explicit = explicit_retry_after(message, now=now)
    return explicit if explicit is not None else now + DEFAULT_BACKOFF


def is_rate_limit(code: int, message: str) -> bool:
    """A rate-limit code (421, 450, 451, 452), or another 4xx that says it is one."""
    return code in RATE_LIMIT_CODES or (400 <= code < 500 and bool(_RATE_TEXT.search(message)))


def from_reply(
    stage: Stage,
    code: int,
    message: str,
    settings: MailSettings,
    *,
    mechanism: str = "",
    authenticated: bool = False,
    now: float | None = None,
) -> Diagnosis:
    """The diagnosis for an unexpected reply at ``stage``."""
    evidence = evidence_of(code, message)
    text = message.lower()
    smtp = settings.smtp

    if "5.7.57" in text:
        return microsoft_not_authenticated(stage, evidence, settings)
    if "5.7.139" in text:
        return Diagnosis(
            stage=stage,
            cause="Microsoft 365 has SMTP AUTH disabled for this tenant or mailbox",
            evidence=evidence,
            explanation=(
                "Microsoft 365 turns authenticated SMTP off by default. An administrator enables it "
                "for the mailbox (Microsoft 365 admin center: Active users → Mail → Manage email "
                "apps → Authenticated SMTP) or tenant-wide (Set-TransportConfig "
                "-SmtpClientAuthenticationDisabled $false); security defaults also block it."
            ),
            exit_code=ExitCode.NOPERM,
        )
    if "5.7.30" in text:
        return Diagnosis(
            stage=stage,
            cause="Microsoft 365 does not accept basic authentication here",
            evidence=evidence,
            explanation=(
                "Basic authentication (username and password) is disabled for this tenant (and "
                f"for every tenant from the end of {_microsoft().basic_auth_cutoff}); sign in with OAuth2: set "
                "auth = xoauth2 and oauth2.client_id, then run `tui-mailsetup oauth2 login` "
                "(or use a relay connector)."
            ),
            fix=Fix(
                "authenticate with OAuth2 (auth = xoauth2), then run tui-mailsetup oauth2 login",
                {"smtp.auth": "xoauth2", "oauth2.provider": "microsoft"},
            ),
            exit_code=ExitCode.NOPERM,
        )

    if code == 530:
        if "starttls" in text or "tls" in text:
            return Diagnosis(
                stage=stage,
                cause="The server requires STARTTLS before this command (530)",
                evidence=evidence,
                fix=_FIX_STARTTLS,
                exit_code=ExitCode.PROTOCOL,
            )
        return Diagnosis(
            stage=stage,
            cause="The server requires authentication (530)",
            evidence=evidence,
            explanation=(
                "Set smtp.username and store the password with: tui-mailsetup set-secret smtp.password"
                if not smtp.username
                else "Authentication did not take effect; check the account and mechanism."
            ),
            exit_code=ExitCode.NOPERM,
        )

    if stage == Stage.STARTTLS and code != 421:
        return Diagnosis(
            stage=stage,
            cause=(
                "The server refused to start TLS (454: TLS temporarily unavailable)"
                if code == 454
                else f"The server refused STARTTLS ({code})"
            ),
            evidence=evidence,
            explanation=(
                "It offered STARTTLS but could not start it, usually a certificate or "
                "configuration problem on the server. The test does not continue without "
                "encryption."
            ),
            exit_code=ExitCode.PROTOCOL,
        )

    if stage == Stage.AUTH:
        if code == 535 and re.match(r"email-smtp(-fips)?\.[a-z0-9-]+\.amazonaws\.com$", smtp.host):
            return Diagnosis(
                stage=stage,
                cause="Amazon SES refused the SMTP credentials",
                evidence=evidence,
                explanation=(
                    "The SES SMTP interface needs SMTP credentials (created in the SES console "
                    "for this region: a username like an access key ID and a 44-character "
                    "password), not the IAM access key and secret key; SMTP credentials made "
                    "for another region fail too. Create SMTP credentials for this region, or "
                    "use the IAM keys with the API: tui-mailsetup set driver ses."
                ),
                exit_code=ExitCode.NOPERM,
            )
        if (
            "5.7.8" in text and ("google" in text or "gmail" in text or "badcredentials" in text)
        ) or (code == 534 and "5.7.9" in text):
            return Diagnosis(
                stage=stage,
                cause="Gmail rejected the password: an app password is needed",
                evidence=evidence,
                explanation=(
                    "Google accounts do not accept the normal account password over SMTP. Turn on "
                    "2-Step Verification, create an app password (Google Account → Security → App "
                    "passwords) and store it with: tui-mailsetup set-secret smtp.password"
                ),
                exit_code=ExitCode.NOPERM,
            )
        if code in (504, 502) or ("mechanism" in text and code >= 500 and code != 535):
            return Diagnosis(
                stage=stage,
                cause=f"The server does not accept the {mechanism or 'chosen'} mechanism ({code})",
                evidence=evidence,
                fix=Fix("let the program choose (auth = auto)", {"smtp.auth": "auto"})
                if smtp.auth.value != "auto"
                else None,
                exit_code=ExitCode.NOPERM,
            )
        if 400 <= code < 500:
            limited = is_rate_limit(code, text)
            return Diagnosis(
                stage=stage,
                cause=(
                    f"Rate limited by the server during authentication ({code})"
                    if limited and _RATE_ONLY_TEXT.search(text)
                    else f"Temporary authentication failure ({code})"
                ),
                evidence=evidence,
                explanation=(
                    "The server could not check the credentials just now (its authentication "
                    "back end is unavailable, or too many attempts were made). Try again later; "
                    "the password was not rejected."
                ),
                exit_code=ExitCode.TEMPFAIL,
                retry_after=(
                    retry_after_from(message, now=now)
                    if limited
                    else explicit_retry_after(message, now=now)
                ),
            )
        return Diagnosis(
            stage=stage,
            cause=f"Authentication failed: the server rejected the username or password ({code})",
            evidence=evidence,
            explanation=(
                f"One attempt was made ({mechanism or 'AUTH'} as {untrusted_text(smtp.username)}); "
                "no other mechanism was tried, so the account is not locked by retries. Check the "
                "username (often the full address) and the password; many providers require an "
                "app-specific password or an API key instead of the account password."
            ),
            exit_code=ExitCode.NOPERM,
        )

    if is_rate_limit(code, text):
        if code == 421 and stage == Stage.GREETING:
            cause = "The server is refusing connections for now (421)"
        elif code == 452:
            cause = (
                "The server is throttling: too many recipients or messages, or out of storage (452)"
            )
        elif _RATE_ONLY_TEXT.search(text):
            cause = f"Rate limited by the server ({code})"
        else:
            cause = (
                f"Temporary failure at {stage.label} ({code}): the server asks to try again later"
            )
        return Diagnosis(
            stage=stage,
            cause=cause,
            evidence=evidence,
            explanation=(
                "A temporary refusal: sending limits per minute/hour/day, greylisting, or an "
                "overloaded server. Wait before the next test; the time is remembered."
            ),
            exit_code=ExitCode.TEMPFAIL,
            retry_after=retry_after_from(message, now=now),
        )

    if stage == Stage.GREETING:
        return Diagnosis(
            stage=stage,
            cause=f"The server refused the session in its greeting ({code})",
            evidence=evidence,
            explanation=(
                "A 554 greeting means the server will not talk to this client: the IP address may "
                "be on a block list, or the server only accepts mail from certain networks."
            ),
            exit_code=ExitCode.UNAVAILABLE if code >= 500 else ExitCode.TEMPFAIL,
        )

    if stage in (Stage.EHLO, Stage.EHLO_AGAIN):
        return Diagnosis(
            stage=stage,
            cause=f"The server rejected EHLO ({code})",
            evidence=evidence,
            explanation=(
                "Some servers require the EHLO name to be this machine's real, resolvable name; "
                "set smtp.ehlo_name to it."
            ),
            exit_code=ExitCode.PROTOCOL,
        )

    relay = "relay" in text
    sender_denied = (
        "5.2.252" in text
        or "sendasdenied" in text
        or (
            stage == Stage.MAIL
            and ("5.7.1" in text or "not permitted" in text or "not allowed" in text)
        )
    )
    if sender_denied and not relay:
        fix = None
        if "@" in smtp.username and smtp.username.lower() != settings.sender.address.lower():
            fix = Fix("send as the account's own address", {"sender.address": smtp.username})
        return Diagnosis(
            stage=stage,
            cause="The server does not let this account send as the sender address",
            evidence=evidence,
            explanation=(
                "Providers only accept sender addresses the account owns or has verified (a "
                "verified domain or 'send as' permission)."
            ),
            fix=fix,
            exit_code=ExitCode.NOPERM,
        )
    if relay or (stage == Stage.RCPT and "5.7.1" in text):
        return Diagnosis(
            stage=stage,
            cause="Relaying denied: the server does not accept mail for this recipient from this client",
            evidence=evidence,
            explanation=(
                "The server only delivers to its own domains unless the client authenticates."
                if not authenticated
                else "Even authenticated, this account may not relay to that domain."
            ),
            exit_code=ExitCode.NOPERM if not authenticated else ExitCode.NOUSER,
        )
    if code == 552 and stage != Stage.RCPT:
        return Diagnosis(
            stage=stage,
            cause="The server says the message is too large (552)",
            evidence=evidence,
            explanation="The message exceeds the size the server accepts (see SIZE in its EHLO reply).",
            exit_code=ExitCode.DATAERR,
        )
    if stage == Stage.RCPT and code >= 500:
        return Diagnosis(
            stage=stage,
            cause=f"The recipient was refused ({code})",
            evidence=evidence,
            explanation="The server does not accept mail for that address: a typo, or no such mailbox.",
            exit_code=ExitCode.NOUSER,
        )
    if stage == Stage.DATA and code >= 500:
        return Diagnosis(
            stage=stage,
            cause=f"The server rejected the message content ({code})",
            evidence=evidence,
            explanation=(
                "The envelope was accepted but the message itself was refused after DATA: a "
                "content or spam filter, a policy on headers (From must match the account or a "
                "verified domain), or a malformed message. The server's text says which."
            ),
            exit_code=ExitCode.DATAERR,
        )
    return Diagnosis(
        stage=stage,
        cause=f"The server refused {stage.label} ({code})",
        evidence=evidence,
        exit_code=ExitCode.TEMPFAIL if 400 <= code < 500 else ExitCode.UNAVAILABLE,
        retry_after=explicit_retry_after(message, now=now) if 400 <= code < 500 else None,
    )


# --------------------------------------------------------------------------- protocol breaches


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


def unexpected_greeting(code: int, message: str) -> Diagnosis:
    """A greeting that is neither 220 nor a refusal (4xx/5xx): not SMTP as expected."""
    return Diagnosis(
        stage=Stage.GREETING,
        cause=f"The server's greeting is {code}, not 220: a protocol error",
        evidence=evidence_of(code, message),
        explanation=(
            "An SMTP server opens with 220 (or 421/554 when it refuses the session). Another "
            "code means something other than a mail server answers on this port, or its "
            "replies are out of step with the conversation."
        ),
        exit_code=ExitCode.PROTOCOL,
    )


def out_of_step(stage: Stage, stray: str) -> Diagnosis:
    """The server sent a reply nothing asked for: every later reply would be misread."""
    return Diagnosis(
        stage=stage,
        cause=(
            "The server's replies are out of step with the commands: it sent a reply "
            f"before {stage.label} was sent"
        ),
        evidence=f"unsolicited: {untrusted_text(stray, limit=300)}",
        explanation=(
            "Each SMTP command gets exactly one reply. An extra reply (here one that arrived "
            "with or before the previous one) would be read as the answer to the next command, "
            "so the test stopped instead of misreading the server. A broken server, or "
            "something between this machine and the server injecting text, does this."
        ),
        exit_code=ExitCode.PROTOCOL,
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


# --------------------------------------------------------------------------- OAuth2 (XOAUTH2, OAUTHBEARER)

_LOGIN_AGAIN = "run `tui-mailsetup oauth2 login` (a new sign-in), then test again"


def _microsoft() -> ProviderFacts:
    # The provider facts live in the presets data; read only when an OAuth2 rule fires.
    from tui_mailsetup.oauth2.providers import provider_facts

    return provider_facts("microsoft")


def microsoft_not_authenticated(stage: Stage, evidence: str, settings: MailSettings) -> Diagnosis:
    """Microsoft's 530 5.7.57: a message was offered without a successful AUTH."""
    return Diagnosis(
        stage=stage,
        cause="Microsoft 365 accepts mail on this port only after authentication (5.7.57)",
        evidence=evidence,
        explanation=(
            "smtp.office365.com is a submission service: every message needs AUTH first. Set "
            "smtp.username to the mailbox and sign in with OAuth2 (auth = xoauth2, "
            "`tui-mailsetup oauth2 login`); to send without authentication use a connector and "
            "the tenant's MX endpoint (…mail.protection.outlook.com, port 25) instead."
            if not settings.smtp.username
            else "The AUTH step did not succeed or was skipped; run `tui-mailsetup check` to see it."
        ),
        exit_code=ExitCode.NOPERM,
    )


def bearer_refused(
    code: int,
    message: str,
    settings: MailSettings,
    *,
    mechanism: str,
    server_error: dict[str, str] | None = None,
) -> Diagnosis:
    """An OAuth2 access token refused at AUTH (XOAUTH2/OAUTHBEARER), with the provider's fix."""
    stage = Stage.AUTH
    evidence = evidence_of(code, message)
    if server_error:
        evidence += " / decoded: " + ", ".join(f"{k}={v}" for k, v in server_error.items())
    text = message.lower()
    user = untrusted_text(settings.smtp.username)
    app_only = settings.oauth2.flow.value == "client-credentials"
    status = (server_error or {}).get("status", "")
    from tui_mailsetup.oauth2.providers import provider_facts

    gmail_scope = " ".join(provider_facts("google").default_scopes(OAuth2Flow.SERVICE_ACCOUNT))

    def refused(cause: str, explanation: str, fix: Fix | None = None) -> Diagnosis:
        return Diagnosis(
            stage=stage,
            cause=cause,
            evidence=evidence,
            explanation=explanation,
            fix=fix,
            exit_code=ExitCode.NOPERM,
        )

    if "5.7.139" in text:
        return refused(
            "Microsoft 365 has SMTP AUTH disabled for this mailbox or tenant (535 5.7.139)",
            "OAuth2 still needs SMTP AUTH switched on: Microsoft 365 admin center → Active users → "
            f"{user} → Mail → Manage email apps → Authenticated SMTP, or Set-CASMailbox -Identity "
            f"{user} -SmtpClientAuthenticationDisabled $false (security defaults also block it).",
        )
    if "5.7.30" in text:
        return refused(
            "Microsoft 365 refused the login as basic authentication (550 5.7.30)",
            "The server did not take the credentials as an OAuth2 token. Check that smtp.auth is "
            "xoauth2 and that the token comes from `tui-mailsetup oauth2 token`.",
        )
    if re.search(r"\b5\.7\.3\b", text):
        if app_only:
            return refused(
                "Exchange Online refused the app-only token (535 5.7.3)",
                "The token is valid but Exchange does not let this app send as "
                f"{user}. Register the app's service principal in Exchange Online "
                "(New-ServicePrincipal -AppId CLIENT_ID -ObjectId ENTERPRISE_APP_OBJECT_ID), give "
                f"it the mailbox (Add-MailboxPermission -Identity {user} -User SERVICE_PRINCIPAL_ID "
                "-AccessRights FullAccess), grant SMTP.SendAsApp with admin consent, and make "
                "smtp.username the mailbox's address.",
            )
        return refused(
            "Microsoft 365 refused the OAuth2 token (535 5.7.3 Authentication unsuccessful)",
            "Usual causes: the token expired or was revoked, smtp.username is not the mailbox "
            f"the token was issued for (sign in as {user}), the token lacks the SMTP.Send scope "
            f"(oauth2.scopes empty gives {' '.join(_microsoft().default_scopes(OAuth2Flow.DEVICE_CODE))}), or "
            f"SMTP AUTH is disabled for the mailbox. Fix: {_LOGIN_AGAIN}.",
        )
    if ("5.7.8" in text and code == 535) or "badcredentials" in text:
        return refused(
            "Google refused the OAuth2 token (535-5.7.8)",
            f"The token has expired or was revoked, lacks the {gmail_scope} scope, or "
            f"was issued for another account than {user}. For a service account, the Admin "
            f"console must authorise its client ID for {gmail_scope} (domain-wide "
            f"delegation) and oauth2.user must be a mailbox in the domain. Otherwise: {_LOGIN_AGAIN}.",
        )
    if "5.7.9" in text and code == 534:
        return refused(
            "Google wants a stronger sign-in for this account (534-5.7.9)",
            "Google asks for an app password or OAuth2 here; with OAuth2 the token must be for "
            f"{user} with the {gmail_scope} scope. {_LOGIN_AGAIN}.",
        )
    if code == 535 or status in {"400", "401"}:
        scope = (server_error or {}).get("scope", "")
        return refused(
            "The server refused the OAuth2 access token"
            + (f" (status {status})" if status else f" ({code})"),
            "The token has expired or was revoked, or it lacks the scope the server wants"
            + (f" ({untrusted_text(scope)})" if scope else "")
            + f", or it was issued for another account than {user}. "
            + ("Check the app's permissions." if app_only else f"Fix: {_LOGIN_AGAIN}."),
        )
    return from_reply(stage, code, message, settings, mechanism=mechanism)
